"""Optional compiled builds of the hot modules, and the import hook that keeps them honest.

The `.py` files are the source of truth. Where a C compiler exists, the normal install (`pip install -e .`, `make
setup`) or `make native` compiles the modules in `NATIVE` with Cython (pure-Python mode: the same source, unchanged)
into extension modules next to them, and records each source's sha256 in `_native.json` beside this file.

Python's own import system prefers an extension module to a `.py` of the same name, so a compiled module left
behind by an older build would silently shadow an edited `.py`. `install()` (called first thing by
`market_sim/__init__.py`, so before any of these modules can be imported) puts a finder in front of it that, for
each name in `NATIVE`, loads:

- the extension, when it exists for this interpreter and the `.py` still has the sha256 it was built from;
- the `.py` otherwise: no build, a failed build, `MARKET_SIM_PURE=1` in the environment (or the module named in
  `MARKET_SIM_PURE=name,package,...`), or a `.py` edited since the build (then with a one-line warning on stderr naming `make native`, once per module).

Nothing here imports the rest of market_sim: the build (`scripts/native_build.py`) reads `NATIVE` from this file.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES, ExtensionFileLoader, SourceFileLoader
from importlib.util import spec_from_file_location

# Compiled when a compiler exists (chosen by profile, docs/benchmarks.md "Compiled modules"). Each must stay plain
# Python that runs unchanged without the build.
NATIVE: tuple[str, ...] = (
    "market_sim.market.engine",
    "market_sim.market.book",
    "market_sim.market.level",
    "market_sim.market.order",
    "market_sim.market.validation",
    "market_sim.market.replay",
    "market_sim.core.accounts",
    "market_sim.core.bus",
    "market_sim.simulation.kernel",
    "market_sim.simulation.latency",
    "market_sim.simulation.processes",
    "market_sim.simulation.recorder",
    "market_sim.simulation.runner",
    "market_sim.simulation.venues",
    "market_sim.simulation.agents.base",
    "market_sim.simulation.agents.fundamental",
    "market_sim.simulation.agents.market_maker",
    "market_sim.simulation.agents.momentum",
    "market_sim.simulation.agents.noise",
)

MANIFEST = "_native.json"
PURE_ENV = "MARKET_SIM_PURE"
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def source_sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def pure_forced() -> bool:
    """`MARKET_SIM_PURE=1`: every module runs as Python."""
    return os.environ.get(PURE_ENV, "").strip() == "1"


def pure_modules() -> frozenset[str]:
    """`MARKET_SIM_PURE=market_sim.market.engine,market_sim.simulation` (names or packages, comma-separated): only
    those run as Python, e.g. to debug or profile one of them."""
    value = os.environ.get(PURE_ENV, "").strip()
    return frozenset() if value in ("", "0", "1") else frozenset(p.strip() for p in value.split(",") if p.strip())


class NativeFinder:
    """Meta-path finder for the modules in `NATIVE` under one package folder (see the module docstring)."""

    def __init__(self, package_dir: str, modules: tuple[str, ...] = NATIVE, pure: bool | None = None) -> None:
        self.package_dir = package_dir
        self.modules = frozenset(modules)
        self.pure = pure_forced() if pure is None else pure
        self.pure_names = pure_modules() if pure is None else frozenset()
        self.built: dict[str, str] = {}  # module -> sha256 of the source it was compiled from
        try:
            with open(os.path.join(package_dir, MANIFEST), encoding="utf-8") as f:
                self.built = dict(json.load(f).get("modules", {}))
        except (OSError, ValueError, AttributeError):
            pass
        self.loaded: dict[str, str] = {}  # module -> "compiled" | "pure" | "stale"
        self._warned: set[str] = set()

    def paths(self, fullname: str) -> tuple[str, str | None]:
        """(the .py, the extension module built for this interpreter or None)."""
        base = os.path.join(self.package_dir, *fullname.split(".")[1:])
        for suffix in EXTENSION_SUFFIXES:
            if os.path.exists(base + suffix):
                return base + ".py", base + suffix
        return base + ".py", None

    def state(self, fullname: str) -> str:
        """"compiled" (the extension is current), "stale" (the .py changed since the build), "pure" (no build, or
        the build is not to be used)."""
        source, ext = self.paths(fullname)
        if ext is None or self.pure or not os.path.exists(source) or self._named_pure(fullname):
            return "pure"
        recorded = self.built.get(fullname)
        return "compiled" if recorded is not None and recorded == source_sha256(source) else "stale"

    def _named_pure(self, fullname: str) -> bool:
        return any(fullname == p or fullname.startswith(p + ".") for p in self.pure_names)

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.modules:
            return None
        state = self.state(fullname)
        self.loaded[fullname] = state
        source, ext = self.paths(fullname)
        if state == "compiled":
            return spec_from_file_location(fullname, ext, loader=ExtensionFileLoader(fullname, ext))
        if state == "stale" and fullname not in self._warned:
            self._warned.add(fullname)
            rel = os.path.relpath(source, os.path.dirname(self.package_dir))
            sys.stderr.write(f"market_sim: {rel} changed since it was compiled; running the .py instead "
                             f"(run `make native` to rebuild)\n")
        if not os.path.exists(source):
            return None
        return spec_from_file_location(fullname, source, loader=SourceFileLoader(fullname, source))


def install() -> NativeFinder:
    """Put the finder for this package first on `sys.meta_path` (once)."""
    for finder in sys.meta_path:
        if isinstance(finder, NativeFinder) and finder.package_dir == _PACKAGE_DIR:
            return finder
    finder = NativeFinder(_PACKAGE_DIR)
    sys.meta_path.insert(0, finder)
    return finder


def status() -> dict[str, str]:
    """Each module of `NATIVE` and how it is (or would be) loaded in this process: compiled, pure or stale."""
    finder = install()
    return {name: finder.loaded.get(name) or finder.state(name) for name in NATIVE}
