#!/usr/bin/env python3
"""Compile the hot modules listed in market_sim/_native.py with Cython (optional; see that module's docstring).

Used two ways:
- by setup.py, so the normal install (`pip install -e .`, `pip install .`, `make setup`) builds them where a C
  compiler and Cython (pinned in pyproject's build-system requires) exist;
- as `python scripts/native_build.py` (`make native`): rebuild in place, e.g. after editing one of the modules.

It never fails the install: a module that does not cythonize or compile is left out (a warning says which) and
runs as plain Python. Each built module's source sha256 goes into market_sim/_native.json; the import hook loads a
compiled module only while its .py still has that hash. `MARKET_SIM_PURE=1` at build time builds nothing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
from pathlib import Path

from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "market_sim"
CYTHON_VERSION = "3.3.1"  # the pin in pyproject.toml ([build-system] requires and the dev extra)
DIRECTIVES = {
    "language_level": 3,
    "binding": True,  # functions keep signatures, __doc__, introspection
    # annotations stay documentation: `x: int` must not become a C type or an exact-type check (ints are unbounded
    # money amounts here); typed locals are declared explicitly with cython.locals where measured to pay
    "annotation_typing": False,
}


def _native_module():
    spec = importlib.util.spec_from_file_location("_market_sim_native", ROOT / PACKAGE / "_native.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _warn(msg: str) -> None:
    sys.stderr.write(f"market_sim native build: {msg}\n")


def extensions(root: Path = ROOT) -> list:
    """The Cython extensions, one per module that cythonizes; [] without Cython or with MARKET_SIM_PURE=1."""
    native = _native_module()
    if native.pure_forced():
        _warn(f"{native.PURE_ENV} is set: nothing compiled (pure Python)")
        return []
    try:
        import Cython
        from Cython.Build import cythonize
    except ImportError:
        _warn(f"Cython not installed: the modules run as plain Python (pip install Cython=={CYTHON_VERSION})")
        return []
    if Cython.__version__ != CYTHON_VERSION:
        _warn(f"Cython {Cython.__version__} found, {CYTHON_VERSION} pinned: nothing compiled")
        return []
    recorded = native.NativeFinder(str(root / PACKAGE)).built
    out = []
    for name in native.NATIVE:
        source = root.joinpath(*name.split(".")).with_suffix(".py")
        sha = native.source_sha256(str(source))
        try:
            # timestamps decide what cythonize and build_ext redo; a source whose hash is not the recorded one is
            # regenerated whatever its timestamp says (a fresh .c makes build_ext recompile it)
            (ext,) = cythonize([_extension(name, source.relative_to(root))], build_dir=str(root / "build" / "cython"),
                               compiler_directives=DIRECTIVES, quiet=True, force=recorded.get(name) != sha)
        except Exception as exc:  # any Cython failure leaves this module pure; the install goes on
            _warn(f"{name} not compiled ({type(exc).__name__}: {exc}); it runs as plain Python")
            continue
        ext.optional = True  # a C compiler error is a warning (setuptools), not a failed install
        ext._market_sim_sha256 = sha
        out.append(ext)
    return out


def _extension(name: str, source: Path):
    from setuptools import Extension

    return Extension(name, [str(source)])


class BuildNative(build_ext):
    """build_ext that never fails and records what it built in market_sim/_native.json."""

    def run(self) -> None:
        self._built: dict[str, str] = {}
        self._lock = threading.Lock()
        try:
            super().run()
        except Exception as exc:  # no compiler at all, missing Python headers...: pure Python it is
            _warn(f"compiling failed ({type(exc).__name__}: {exc}); the modules run as plain Python")
        self._write_manifests()

    def build_extension(self, ext) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            _warn(f"{ext.name} not compiled ({type(exc).__name__}: {exc}); it runs as plain Python")
            return
        with self._lock:
            self._built[ext.name] = ext._market_sim_sha256

    def _write_manifests(self) -> None:
        names = {ext.name for ext in self.extensions}
        folders = [Path(self.build_lib) / PACKAGE]
        if self.inplace or getattr(self, "editable_mode", False):
            folders.append(Path(self.get_finalized_command("build_py").get_package_dir(PACKAGE)).resolve())
        for folder in folders:
            path = folder / "_native.json"
            try:
                old = json.loads(path.read_text(encoding="utf-8")).get("modules", {})
            except (OSError, ValueError, AttributeError):
                old = {}
            # a module that was to be built and was not loses its entry: an older extension left beside it then
            # counts as stale and is never loaded
            modules = {k: v for k, v in old.items() if k not in names} | self._built
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"cython": CYTHON_VERSION, "modules": dict(sorted(modules.items()))},
                                       indent=1) + "\n", encoding="utf-8")


def main() -> int:
    from setuptools import Distribution

    os.chdir(ROOT)
    exts = extensions()
    if not exts:
        return 0
    jobs = str(max(1, min(4, os.cpu_count() or 1)))
    quiet = [a for a in sys.argv[1:] if a in ("-q", "--quiet")]  # global options go before the command
    rest = [a for a in sys.argv[1:] if a not in quiet]
    dist = Distribution({"ext_modules": exts, "cmdclass": {"build_ext": BuildNative}, "script_name": "native_build",
                         "script_args": [*quiet, "build_ext", "--inplace", "-j", jobs, *rest]})
    dist.parse_command_line()
    dist.run_commands()
    native = _native_module()
    finder = native.NativeFinder(str(ROOT / PACKAGE))
    states = {name: finder.state(name) for name in native.NATIVE}
    compiled = sum(s == "compiled" for s in states.values())
    print(f"market_sim native build: {compiled} of {len(states)} modules compiled"
          + "".join(f"\n  {n}: {s}" for n, s in states.items() if s != "compiled"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
