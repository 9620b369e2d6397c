"""The optional compiled build (market_sim/_native.py, scripts/native_build.py).

- The import hook loads an extension module only while its .py has the sha256 recorded at build time; an edited
  .py runs as Python with a one-line warning, `MARKET_SIM_PURE=1` forces pure Python everywhere.
- Compiled and pure modules give byte-identical results: replay output files, and the recorder's trades, orders and
  order_events tables of random-market and flash-crash (the pure side runs in a subprocess with MARKET_SIM_PURE=1).
The tests that need a build skip when there is none (no compiler, or `MARKET_SIM_PURE=1`); `make test-pure` runs the
engine, replay and simulation tests against the pure modules.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES, ExtensionFileLoader, SourceFileLoader
from pathlib import Path

import pytest

import market_sim
from market_sim import _native

PACKAGE = Path(market_sim.__file__).resolve().parent
COMPILED = [name for name, state in _native.status().items() if state == "compiled"]
needs_build = pytest.mark.skipif(not COMPILED, reason="no current compiled build (`make native`; needs a C compiler)")


def _fake_package(tmp: Path, recorded: str) -> tuple[Path, Path]:
    pkg = tmp / "pkg"
    pkg.mkdir()
    src = pkg / "mod.py"
    src.write_text("X = 1\n")
    ext = pkg / ("mod" + EXTENSION_SUFFIXES[0])
    ext.write_bytes(b"not a real extension: never loaded by these tests")
    (pkg / _native.MANIFEST).write_text(json.dumps({"modules": {"pkg.mod": recorded}}))
    return src, ext


def test_finder_uses_the_extension_only_while_the_source_hash_matches(tmp_path, capsys):
    src, ext = _fake_package(tmp_path, hashlib.sha256(b"X = 1\n").hexdigest())
    finder = _native.NativeFinder(str(src.parent), modules=("pkg.mod",), pure=False)
    spec = finder.find_spec("pkg.mod")
    assert isinstance(spec.loader, ExtensionFileLoader) and spec.origin == str(ext)
    assert finder.find_spec("pkg.other") is None  # not ours: the normal import system decides

    src.write_text("X = 2\n")  # edited after the build
    spec = finder.find_spec("pkg.mod")
    assert isinstance(spec.loader, SourceFileLoader) and spec.origin == str(src)
    assert finder.loaded["pkg.mod"] == "stale"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pkg/mod.py changed since it was compiled" in err and "make native" in err
    finder.find_spec("pkg.mod")
    assert capsys.readouterr().err == ""  # warned once


def test_finder_forced_pure_and_unrecorded_extension(tmp_path, capsys):
    src, ext = _fake_package(tmp_path, hashlib.sha256(b"X = 1\n").hexdigest())
    spec = _native.NativeFinder(str(src.parent), modules=("pkg.mod",), pure=True).find_spec("pkg.mod")
    assert isinstance(spec.loader, SourceFileLoader)
    assert capsys.readouterr().err == ""  # asked for: no warning

    (src.parent / _native.MANIFEST).unlink()  # an extension nobody recorded cannot be trusted
    finder = _native.NativeFinder(str(src.parent), modules=("pkg.mod",), pure=False)
    assert isinstance(finder.find_spec("pkg.mod").loader, SourceFileLoader)
    assert finder.loaded["pkg.mod"] == "stale" and "changed since it was compiled" in capsys.readouterr().err

    ext.unlink()  # no build at all: the .py, silently
    finder = _native.NativeFinder(str(src.parent), modules=("pkg.mod",), pure=False)
    assert isinstance(finder.find_spec("pkg.mod").loader, SourceFileLoader)
    assert finder.loaded["pkg.mod"] == "pure" and "changed" not in capsys.readouterr().err


def test_native_modules_exist_and_market_sim_installs_the_finder_first():
    for name in _native.NATIVE:
        assert PACKAGE.joinpath(*name.split(".")[1:]).with_suffix(".py").is_file(), name
    assert any(isinstance(f, _native.NativeFinder) for f in sys.meta_path)


def _python(code: str, cwd: Path, pure: bool = False, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != _native.PURE_ENV}
    if pure:
        env[_native.PURE_ENV] = "1"
    env["PYTHONPATH"] = str(pythonpath or PACKAGE.parent)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600, check=False)


@needs_build
def test_an_edited_copy_of_a_compiled_module_runs_its_py(tmp_path):
    copy = tmp_path / "market_sim"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    probe = "import market_sim.market.level as m, market_sim.market.engine as e; print(m.__file__); print(e.__file__)"
    done = _python(probe, tmp_path, pythonpath=tmp_path)
    level_file, engine_file = done.stdout.split()
    assert level_file.startswith(str(copy)) and not level_file.endswith(".py")
    assert done.stderr == ""

    level = copy / "market" / "level.py"
    level.write_text(level.read_text() + "\nEDITED = True\n")
    done = _python(probe + "; print(m.EDITED)", tmp_path, pythonpath=tmp_path)
    level_file, engine_file, edited = done.stdout.split()
    assert level_file == str(level) and edited == "True"
    assert not engine_file.endswith(".py")  # the unedited modules stay compiled
    assert done.stderr.splitlines() == [
        "market_sim: market_sim/market/level.py changed since it was compiled; running the .py instead "
        "(run `make native` to rebuild)"]

    done = _python(probe, tmp_path, pure=True, pythonpath=tmp_path)
    assert all(f.endswith(".py") for f in done.stdout.split()) and done.stderr == ""


@needs_build
def test_compiled_and_pure_replay_write_identical_files(tmp_path):
    from market_sim.benchmarks.replay import make_csv
    from market_sim.market.replay import replay

    orders = tmp_path / "orders.csv"
    make_csv(orders, 20_000)
    replay(orders, tmp_path / "compiled")
    code = ("from pathlib import Path; from market_sim.market.replay import replay; import market_sim.market.replay as r;"
            f"assert r.__file__.endswith('.py'); replay(Path({str(orders)!r}), Path({str(tmp_path / 'pure')!r}))")
    done = _python(code, tmp_path, pure=True)
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in (tmp_path / "compiled").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "pure").iterdir()) and "events.csv" in names
    for name in names:
        assert (tmp_path / "compiled" / name).read_bytes() == (tmp_path / "pure" / name).read_bytes(), name


TABLES = """
import hashlib, json
from market_sim import _native
from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import load_scenario
out = {"compiled": sorted(k for k, v in _native.status().items() if v == "compiled")}
for name, duration in (("random-market", "3min"), ("flash-crash", "10min")):
    sim = Simulation(load_scenario(resolve_scenario(name), [f"scenario.duration={duration}"]))
    sim.run()
    tables = sim.recorder.tables()
    out[name] = {t: hashlib.sha256(repr(tables[t]).encode()).hexdigest() for t in ("trades", "orders", "order_events")}
    out[name]["n_trades"] = len(next(iter(tables["trades"].values())))
print(json.dumps(out))
"""


@needs_build
def test_compiled_and_pure_simulations_record_identical_tables(tmp_path):
    compiled, pure = _python(TABLES, tmp_path), _python(TABLES, tmp_path, pure=True)
    assert compiled.returncode == 0 and pure.returncode == 0, compiled.stderr + pure.stderr
    a, b = json.loads(compiled.stdout), json.loads(pure.stdout)
    assert "market_sim.simulation.runner" in a.pop("compiled") and b.pop("compiled") == []
    assert a["random-market"]["n_trades"] > 1000 and a["flash-crash"]["n_trades"] > 1000
    assert a == b


def test_market_sim_pure_names_modules_or_packages(monkeypatch):
    monkeypatch.setenv(_native.PURE_ENV, "market_sim.market, market_sim.simulation.kernel")
    assert _native.pure_modules() == {"market_sim.market", "market_sim.simulation.kernel"} and not _native.pure_forced()
    finder = _native.NativeFinder(str(PACKAGE))
    assert finder._named_pure("market_sim.market.engine") and finder._named_pure("market_sim.simulation.kernel")
    assert not finder._named_pure("market_sim.marketx") and not finder._named_pure("market_sim.simulation.runner")
    assert finder.state("market_sim.market.engine") == "pure"
    monkeypatch.setenv(_native.PURE_ENV, "1")
    assert _native.pure_forced() and _native.pure_modules() == frozenset()
