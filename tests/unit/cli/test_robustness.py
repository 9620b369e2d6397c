"""The CLI under misuse and mishap: usage errors exit 2 with typer's message, Ctrl-C exits 130 and keeps the partial
run (marked), an unexpected error is one line (exit 1, traceback only with --debug), and arguments are checked before
any work. Usage errors and Ctrl-C go through the installed `market-sim` console script in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import warnings
from pathlib import Path

import pandas as pd
import pytest

import market_sim
from market_sim.cli.main import main
from market_sim.simulation.results import INDEX_NAME, PartialRunWarning, RunIndex, load_run, table_hash

WORKTREE = Path(__file__).resolve().parents[3]
MARKET_SIM = shutil.which("market-sim", path=str(Path(sys.executable).parent))

needs_script = pytest.mark.skipif(MARKET_SIM is None, reason="the market-sim console script is not installed")

# A plug-in agent that, at simulated time `at`, prints a marker line on stderr and then waits for a signal
# (action "wait"), raises an exception that is not a MarketSimError (action "raise"), or does nothing ("none").
TRIPWIRE = textwrap.dedent('''
    import signal, sys
    from dataclasses import dataclass
    from market_sim.simulation.agents.base import Agent, register_agent_type
    from market_sim.simulation.params import param

    @dataclass(frozen=True, slots=True)
    class TripwireParams:
        at: int = param(1, duration=True, min=1)
        action: str = param("wait", choices=("wait", "raise", "chain", "none"))

    @register_agent_type
    class Tripwire(Agent):
        kind = "tripwire"
        Params = TripwireParams

        def on_start(self):
            self.wake_up_in(self.params.at)

        def on_wakeup(self):
            if self.params.action == "raise":
                raise RuntimeError("the RPC node went away")
            if self.params.action == "chain":
                from market_sim.core.errors import RpcConnectionError
                raise RpcConnectionError("http://127.0.0.1:8545 stopped answering")
            if self.params.action == "wait":
                print("TRIPWIRE reached", file=sys.stderr, flush=True)
                while True:
                    signal.pause()
''')

SCENARIO = textwrap.dedent('''
    [scenario]
    name = "trip"
    seed = 3
    duration = "60s"
    plugins = ["tripwire"]

    [[instruments]]
    symbol = "XYZ"
    tick_size = "0.01"
    initial_price = 50.0

    [processes.XYZ]
    kind = "gbm"
    s0 = 50.0
    sigma = 0.2
    dt = "1s"

    [[agents]]
    type = "market_maker"
    name = "maker"
    count = 1

    [[agents]]
    type = "noise"
    name = "noise"
    count = 4
    interval = "500ms"

    [[agents]]
    type = "tripwire"
    name = "trip"
    at = "20s"
''')
TRIP_AT = 20 * 10**9


@pytest.fixture
def trip(tmp_path, monkeypatch):
    """The tripwire plug-in (importable here and in subprocesses) and a scenario file that loads it."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "tripwire.py").write_text(TRIPWIRE)
    monkeypatch.syspath_prepend(str(plugins))
    scenario = tmp_path / "trip.toml"
    scenario.write_text(SCENARIO)
    return scenario, plugins


def _env(*extra: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(WORKTREE), *map(str, extra)])
    env["COLUMNS"] = "200"
    return env


def _default_sigint() -> None:  # a child inherits an ignored SIGINT from a background parent; undo that
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# ----- usage errors and --version, through the console script -----

USAGE = {
    ("run", "random-market", "--foo"): "Error: No such option: --foo",
    ("run",): "Error: Missing argument 'scenario'.",
    ("run", "random-market", "--seed", "abc"): "Error: Invalid value for '--seed'",
    ("consensus", "--nodes", "abc"): "Error: Invalid value for '--nodes'",
    ("run", "random-market", "--realtime", "fast"): "Error: Invalid value for '--realtime'",
    ("bogus",): "Error: No such command 'bogus'.",
}


def _check_usage_error(args: tuple[str, ...], code: int, out: str, err: str) -> None:
    assert code == 2, (args, err)
    assert "Traceback" not in err and out == "", (args, err)
    assert err.startswith("Usage: market-sim"), (args, err)
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and errors[0].startswith(USAGE[args]), (args, err)


@needs_script
def test_usage_errors_through_the_console_script_exit_2_without_a_traceback(tmp_path):
    cases = [("run", "random-market", "--foo"), ("consensus", "--nodes", "abc"), ("bogus",)]
    procs = {args: subprocess.Popen([MARKET_SIM, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=_env(), cwd=tmp_path) for args in cases}
    for args, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        _check_usage_error(args, proc.returncode, out, err)
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("args", list(USAGE))
def test_usage_errors_exit_2_with_typers_message(args, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(list(args))
    out, err = capsys.readouterr()
    _check_usage_error(args, code, out, err)
    assert not any(tmp_path.iterdir())


@needs_script
def test_version_prints_the_package_version():
    proc = subprocess.run([MARKET_SIM, "--version"], capture_output=True, text=True, env=_env(), timeout=300)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"market-sim {market_sim.__version__}\n", "")


@pytest.mark.parametrize("args, message", [
    (["--seed", str(2**63)], "Invalid value for '--seed'"),
    (["--seed", "-1"], "Invalid value for '--seed'"),
    (["--realtime", "0"], "'--realtime': must be a positive, finite speed factor (got 0.0)"),
    (["--realtime", "inf"], "'--realtime': must be a positive, finite speed factor (got inf)"),
    (["--realtime", "nan"], "'--realtime': must be a positive, finite speed factor (got nan)"),
])
def test_out_of_range_values_are_usage_errors(args, message, tmp_path, capsys):
    assert main(["run", "random-market", "--out", str(tmp_path / "runs"), *args]) == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split()) and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


# ----- every argument is checked before any work -----

@pytest.fixture
def no_simulation(monkeypatch):
    """Fail the test if a simulation is built: the error must come before any work."""
    from market_sim.simulation.runner import Simulation

    def refuse(self):  # noqa: ANN001, ANN202
        raise AssertionError("the simulation was built before the arguments were checked")

    monkeypatch.setattr(Simulation, "build", refuse)


def test_out_that_is_a_file_is_refused_before_the_run(tmp_path, capsys, no_simulation):
    target = tmp_path / "taken"
    target.write_text("x")
    assert main(["run", "random-market", "--out", str(target)]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert f"cannot write runs to {target}: it exists and is not a folder" in err
    assert target.read_text() == "x"


def test_out_below_a_file_is_refused_before_the_run(tmp_path, capsys, no_simulation):
    (tmp_path / "file").write_text("x")
    assert main(["run", "random-market", "--out", str(tmp_path / "file" / "runs")]) == 1
    assert f"{tmp_path / 'file'} is not a folder" in " ".join(capsys.readouterr().err.split())


def test_a_broken_run_index_is_refused_before_the_run(tmp_path, capsys, no_simulation):
    (tmp_path / INDEX_NAME).write_bytes(b"not a database, at all" * 10)
    assert main(["run", "random-market", "--out", str(tmp_path)]) == 1
    assert "cannot use the run index" in capsys.readouterr().err


def test_a_seed_beyond_64_bits_from_set_is_refused_before_the_run(tmp_path, capsys, no_simulation):
    assert main(["run", "random-market", "--out", str(tmp_path / "runs"), "--set", f"scenario.seed={2**63}"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "scenario.seed: must be an integer from 0 to 2^63-1 (got 9223372036854775808)" in err
    assert not (tmp_path / "runs").exists()  # nothing created


@pytest.mark.parametrize("override, message", [
    ("output.format=xls", "output.format: must be one of parquet, csv"),
    ("nosuch.key=1", "nosuch: unknown section"),
])
def test_bad_overrides_are_refused_before_anything_is_written(override, message, tmp_path, capsys, no_simulation):
    assert main(["run", "random-market", "--out", str(tmp_path / "runs"), "--set", override]) == 1
    assert message in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "runs").exists()


def test_bench_out_is_checked_before_the_benchmark(tmp_path, capsys, monkeypatch):
    import market_sim.cli.bench as bench

    monkeypatch.setattr(bench, "run_benchmark", lambda *a, **k: pytest.fail("the benchmark ran"))
    (tmp_path / "dir").mkdir()
    assert main(["bench", "matching", "--out", str(tmp_path / "dir")]) == 1
    assert f"cannot write {tmp_path / 'dir'}: it is a folder" in " ".join(capsys.readouterr().err.split())


# ----- errors that are not MarketSimError -----

def test_an_unexpected_error_mid_run_is_one_line_and_keeps_the_partial_run(trip, tmp_path, capsys):
    scenario, _ = trip
    runs = tmp_path / "runs"
    code = main(["run", str(scenario), "--out", str(runs), "--no-plots", "--quiet", "--set",
                 "agents.trip.action=raise"])
    assert code == 1
    err = capsys.readouterr().err
    lines = [" ".join(line.split()) for line in err.strip().splitlines()]
    assert "Traceback" not in err
    assert lines[0] == ("error: unexpected RuntimeError: the RPC node went away (run with --debug for the "
                        "traceback)")
    (rec,) = RunIndex(runs / INDEX_NAME).list()
    assert (rec.status, rec.error) == ("failed", "RuntimeError: the RPC node went away")
    assert " ".join(lines[1:]).startswith("partial results (simulated 20.000 of 60 s, ")
    assert f"kept in {rec.path}, marked failed" in " ".join(lines[1:])
    with pytest.warns(PartialRunWarning, match="failed: simulated 20.000 of 60 s; RuntimeError"):
        data = load_run(rec.run_id, runs)
    assert not data.complete and data.status == "failed"
    assert len(data["trades"]) == rec.metrics["trades"] > 0
    assert data["trades"]["ts"].max() <= TRIP_AT


def test_a_market_sim_error_mid_run_keeps_the_partial_run_too(trip, tmp_path, capsys):
    scenario, _ = trip
    runs = tmp_path / "runs"
    assert main(["run", str(scenario), "--out", str(runs), "--no-plots", "--quiet", "--set",
                 "agents.trip.action=chain"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == "error: http://127.0.0.1:8545 stopped answering"
    (rec,) = RunIndex(runs / INDEX_NAME).list()
    assert (rec.status, rec.error) == ("failed", "http://127.0.0.1:8545 stopped answering")
    assert " ".join(" ".join(lines[1:]).split()).endswith(f"kept in {rec.path}, marked failed")


def test_ctrl_c_in_another_command_exits_130(monkeypatch, capsys):
    import market_sim.consensus.workload as workload  # the command imports simulate from it when it runs

    def interrupted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise KeyboardInterrupt

    monkeypatch.setattr(workload, "simulate", interrupted)
    assert main(["consensus", "--trades", "5"]) == 130
    assert capsys.readouterr().err.strip() == "interrupted"


def test_debug_shows_the_traceback(trip, tmp_path, capsys):
    scenario, _ = trip
    assert main(["--debug", "run", str(scenario), "--out", str(tmp_path / "runs"), "--no-plots", "--quiet",
                 "--set", "agents.trip.action=raise"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "RuntimeError: the RPC node went away" in err


def test_an_unreadable_price_file_is_one_line(tmp_path, capsys):
    (tmp_path / "prices.csv").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "s.toml").write_text(textwrap.dedent('''
        [scenario]
        duration = "10s"
        [[instruments]]
        symbol = "XYZ"
        initial_price = 50.0
        [processes.XYZ]
        kind = "csv"
        path = "prices.csv"
        [[agents]]
        type = "noise"
    '''))
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "runs"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith("error: unexpected UnicodeDecodeError:")


# ----- Ctrl-C -----

@needs_script
def test_ctrl_c_mid_run_exits_130_and_keeps_the_partial_run_marked(trip, tmp_path):
    scenario, plugins = trip
    runs = tmp_path / "runs"
    proc = subprocess.Popen([MARKET_SIM, "run", str(scenario), "--out", str(runs), "--no-plots"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(plugins),
                            cwd=tmp_path, preexec_fn=_default_sigint)
    watchdog = threading.Timer(300, proc.kill)  # only so that a hung child cannot hang the test run
    watchdog.start()
    try:
        seen = []
        for line in proc.stderr:  # the tripwire agent announces simulated time 20 s and waits there
            seen.append(line)
            if line.startswith("TRIPWIRE reached"):
                break
        else:
            pytest.fail(f"the run ended before the tripwire: {''.join(seen)}")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    (rec,) = RunIndex(runs / INDEX_NAME).list()
    line = " ".join(err.split())
    assert line.startswith("interrupted; partial results (simulated 20.000 of 60 s, ")
    assert line.endswith(f"trades) kept in {rec.path}, marked interrupted")
    assert rec.status == "interrupted" and Path(rec.path) == runs / rec.run_id
    assert [p.name for p in runs.iterdir() if p.is_dir()] == [rec.run_id]  # no temporary folder left
    info = json.loads((runs / rec.run_id / "run.json").read_text())
    assert (info["status"], info["simulated_ns"], info["duration_ns"]) == ("interrupted", TRIP_AT, 60 * 10**9)

    with pytest.warns(PartialRunWarning, match="interrupted: simulated 20.000 of 60 s"):
        partial = load_run(rec.run_id, runs)
    # What was kept is exactly the first 20 s of the same run left to finish.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["run", str(scenario), "--out", str(tmp_path / "full"), "--no-plots", "--quiet", "--set",
                     "agents.trip.action=none"]) == 0
    (full_rec,) = RunIndex(tmp_path / "full" / INDEX_NAME).list()
    full = load_run(full_rec.run_id, tmp_path / "full")
    assert full.complete and full_rec.status == "complete"
    kept = partial["trades"]
    assert len(kept) > 0 and kept["ts"].max() <= TRIP_AT
    before = full["trades"][full["trades"]["ts"] < TRIP_AT].reset_index(drop=True)
    assert table_hash(kept[kept["ts"] < TRIP_AT].reset_index(drop=True)) == table_hash(before)


def test_show_and_runs_mark_a_partial_run(trip, tmp_path, capsys):
    scenario, _ = trip
    runs = tmp_path / "runs"
    assert main(["run", str(scenario), "--out", str(runs), "--no-plots", "--quiet", "--set",
                 "agents.trip.action=raise"]) == 1
    (rec,) = RunIndex(runs / INDEX_NAME).list()
    capsys.readouterr()
    assert main(["show", rec.run_id, "--out", str(runs)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith("partial run (failed: simulated 20.000 of 60 s; RuntimeError: the RPC node went away); "
                          "its tables end where it stopped")
    assert main(["runs", "--out", str(runs)]) == 0
    assert "(failed)" in capsys.readouterr().out


def test_ctrl_c_while_writing_keeps_an_incomplete_folder_that_never_passes_for_a_run(trip, tmp_path, capsys,
                                                                                     monkeypatch):
    import market_sim.simulation.results as results

    real = results.write_tables

    def cut_short(tables, folder, fmt):  # noqa: ANN001, ANN202
        real(dict(list(tables.items())[:2]), folder, fmt)
        raise KeyboardInterrupt

    monkeypatch.setattr(results, "write_tables", cut_short)
    scenario, _ = trip
    runs = tmp_path / "runs"
    assert main(["run", str(scenario), "--out", str(runs), "--no-plots", "--quiet", "--set",
                 "agents.trip.action=none"]) == 130
    (rec,) = RunIndex(runs / INDEX_NAME).list()
    tmp = runs / (rec.run_id + ".incomplete")
    assert rec.status == "incomplete" and Path(rec.path) == tmp.resolve()
    assert " ".join(capsys.readouterr().err.split()) == (
        f"interrupted while writing the results; what was written is kept in {tmp}, marked incomplete")
    assert not (runs / rec.run_id).exists() and len(list(tmp.iterdir())) == 2
    with pytest.raises(results.IncompleteRunError, match="is incomplete: writing its results was interrupted"):
        load_run(rec.run_id, runs)
    with pytest.raises(results.IncompleteRunError):
        load_run(tmp)
    assert main(["show", rec.run_id[:15], "--out", str(runs)]) == 1
    assert f"run {rec.run_id} is incomplete" in " ".join(capsys.readouterr().err.split())
    assert main(["runs", "--out", str(runs)]) == 0
    assert "(incomplete)" in capsys.readouterr().out


def test_ctrl_c_before_the_run_starts_keeps_nothing(tmp_path, capsys, monkeypatch):
    from market_sim.simulation.runner import Simulation

    def interrupted(self):  # noqa: ANN001, ANN202
        raise KeyboardInterrupt

    monkeypatch.setattr(Simulation, "build", interrupted)
    runs = tmp_path / "runs"
    assert main(["run", "flash-crash", "--out", str(runs), "--quiet"]) == 130
    assert capsys.readouterr().err.strip() == "interrupted while setting up the run; nothing was kept"
    assert [p.name for p in runs.iterdir()] == [INDEX_NAME] and RunIndex(runs / INDEX_NAME).list() == []


def test_a_complete_run_says_so(tmp_path):
    from market_sim.simulation.catalog import resolve_scenario
    from market_sim.simulation.results import write_run
    from market_sim.simulation.runner import Simulation
    from market_sim.simulation.scenario import load_scenario

    sc = load_scenario(resolve_scenario("flash-crash"), ["scenario.duration=5s"])
    rec = write_run(Simulation(sc).run(), tmp_path, plots=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = load_run(rec.run_id, tmp_path)
    assert data.complete and data.status == "complete" and rec.status == "complete"
    assert isinstance(data["trades"], pd.DataFrame)
    assert {p.name for p in tmp_path.iterdir()} == {INDEX_NAME, rec.run_id}
