"""`market-sim sweep`: the sweep folder (table, runs, index, summary, plots), resuming, failures retried once and
reported, Ctrl-C, bad input refused before anything is written, and the same table in-process and on Dask."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pandas as pd
import pytest

from market_sim.cli.main import main
from market_sim.core.errors import ConfigError
from market_sim.simulation.results import INDEX_NAME, RunIndex, load_run
from market_sim.sweep import make_tasks
from market_sim.sweep.spec import read_sweep_section

WORKTREE = Path(__file__).resolve().parents[3]
MARKET_SIM = shutil.which("market-sim", path=str(Path(sys.executable).parent))
needs_script = pytest.mark.skipif(MARKET_SIM is None, reason="the market-sim console script is not installed")
SHORT = ["--set", 'scenario.duration="3s"']
VOLATILE = ["run_id", "run_dir", "task_seconds"]  # differ between two runs of the same sweep; nothing else may

# A plug-in agent: at simulated time `at` it does `action` -- "none"; "raise" (appending a line to $TRIP_LOG
# first, so the test can count attempts); "wait" (only when $TRIP_WAIT is set: print a marker, wait for a signal).
TRIPWIRE = textwrap.dedent('''
    import os, signal, sys
    from dataclasses import dataclass
    from market_sim.simulation.agents.base import Agent, register_agent_type
    from market_sim.simulation.params import param

    @dataclass(frozen=True, slots=True)
    class SweepTripwireParams:
        at: int = param(1, duration=True, min=1)
        action: str = param("none", choices=("wait", "raise", "none"))

    @register_agent_type
    class SweepTripwire(Agent):
        kind = "sweep_tripwire"
        Params = SweepTripwireParams

        def on_start(self):
            self.wake_up_in(self.params.at)

        def on_wakeup(self):
            if self.params.action == "raise":
                with open(os.environ["TRIP_LOG"], "a") as f:
                    f.write("attempt\\n")
                raise RuntimeError("the RPC node went away")
            if self.params.action == "wait" and os.environ.get("TRIP_WAIT"):
                print("TRIPWIRE reached", file=sys.stderr, flush=True)
                while True:
                    signal.pause()
''')

SCENARIO = textwrap.dedent('''
    [scenario]
    name = "trip"
    seed = 3
    duration = "10s"
    plugins = ["sweep_tripwire"]

    [[instruments]]
    symbol = "XYZ"
    tick_size = "0.01"
    initial_price = 50.0

    [[agents]]
    type = "market_maker"
    name = "maker"
    count = 1

    [[agents]]
    type = "noise"
    name = "noise"
    count = 3
    interval = "500ms"

    [[agents]]
    type = "sweep_tripwire"
    name = "trip"
    at = "5s"

    [sweep]
    seeds = 1

    [sweep.grid]
    "agents.trip.action" = {actions}
''')


@pytest.fixture
def trip(tmp_path, monkeypatch):
    """Write the tripwire plug-in (importable here and in subprocesses); returns a function making a scenario file
    whose [sweep.grid] runs the given actions."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "sweep_tripwire.py").write_text(TRIPWIRE)
    monkeypatch.syspath_prepend(str(plugins))
    monkeypatch.setenv("TRIP_LOG", str(tmp_path / "attempts.log"))

    def make(actions: list[str]) -> Path:
        path = tmp_path / "trip.toml"
        path.write_text(SCENARIO.replace("{actions}", json.dumps(actions)))
        return path

    make.plugins = plugins
    return make


def _env(*extra: Path, **set_: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(WORKTREE), *map(str, extra)])
    env["COLUMNS"] = "200"
    env.update(set_)
    return env


def _table(out: Path, partial: bool = False) -> pd.DataFrame:
    if partial:
        assert not (out / "results.parquet").exists()  # a partial sweep has only its partial table
        return pd.read_parquet(out / "results.partial.parquet")
    assert not (out / "results.partial.parquet").exists()
    return pd.read_parquet(out / "results.parquet")


def _meta(out: Path) -> dict:
    return json.loads((out / "sweep.json").read_text())


# ----- the sweep folder -----

def test_a_sweep_writes_its_table_runs_index_summary_and_plots(tmp_path, capsys):
    out = tmp_path / "sw"
    assert main(["sweep", "random-market", "--grid", "agents.noise.count=2,4", "--seeds", "2", "--seed", "5",
                 *SHORT, "--out", str(out), "--quiet"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "4 tasks: 4 ran, 0 failed, 0 skipped (done before); backend local" in text
    frame = _table(out)
    tasks = make_tasks({"agents.noise.count": [2, 4]}, 2, 5)
    assert list(frame["agents.noise.count"]) == [2, 2, 4, 4] and list(frame["replicate"]) == [0, 1, 0, 1]
    assert list(frame["seed"]) == [t.seed for t in tasks]  # derived from the sweep seed, in task order
    assert set(frame["status"]) == {"complete"} and frame["error"].isna().all()
    assert list(frame.columns[:9]) == ["agents.noise.count", "replicate", "seed", "status", "error", "run_id",
                                       "run_dir", "task_seconds", "trades"]
    # each row's run folder holds that run, and the run index lists every run
    for row in frame.itertuples():
        run = load_run(out / row.run_dir)
        assert run.metrics["trades"] == row.trades and run.info["seed"] == row.seed
    assert sorted(r.run_id for r in RunIndex(out / "runs" / INDEX_NAME).list()) == sorted(frame["run_id"])
    meta = _meta(out)
    assert meta["status"] == "complete"
    assert meta["counts"] == {"tasks": 4, "ran": 4, "failed": 0, "skipped": 0, "complete": 4}
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["agents.noise.count"]) == [2, 4] and list(summary["runs"]) == [2, 2]
    first = frame[frame["agents.noise.count"] == 2]["trades"]
    assert summary["trades mean"][0] == pytest.approx(first.mean())
    assert summary["trades ci95_low"][0] < first.mean() < summary["trades ci95_high"][0]
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["trades__vs__agents.noise.count.png",
                                                               "volume__vs__agents.noise.count.png"]


def test_rerunning_a_complete_sweep_runs_nothing(tmp_path, capsys):
    out = tmp_path / "sw"
    args = ["sweep", "random-market", "--grid", "agents.noise.count=2", *SHORT, "--out", str(out), "--quiet"]
    assert main(args) == 0
    before = _table(out)
    capsys.readouterr()
    assert main(args) == 0
    assert "1 tasks: 0 ran, 0 failed, 1 skipped (done before)" in " ".join(capsys.readouterr().out.split())
    pd.testing.assert_frame_equal(_table(out), before)


def test_a_resumed_sweep_runs_only_the_missing_tasks(tmp_path, capsys):
    out = tmp_path / "sw"
    args = ["sweep", "random-market", "--grid", "agents.noise.count=2,4", "--seeds", "2", *SHORT, "--out",
            str(out), "--quiet"]
    assert main(args) == 0
    full = _table(out)
    # as if the sweep had stopped after its first two tasks
    rows = (out / "rows.jsonl").read_text().splitlines()
    (out / "rows.jsonl").write_text("\n".join(rows[:2]) + "\n" + rows[2][:40])  # and a line cut short
    capsys.readouterr()
    assert main(args) == 0
    assert "4 tasks: 2 ran, 0 failed, 2 skipped (done before)" in " ".join(capsys.readouterr().out.split())
    again = _table(out)
    assert list(again["run_id"][:2]) == list(full["run_id"][:2])  # kept, not rerun
    pd.testing.assert_frame_equal(again.drop(columns=VOLATILE), full.drop(columns=VOLATILE))
    assert len(RunIndex(out / "runs" / INDEX_NAME).list()) == 6


def test_a_different_sweep_in_the_same_folder_is_refused(tmp_path, capsys):
    out = tmp_path / "sw"
    assert main(["sweep", "random-market", "--grid", "agents.noise.count=2", *SHORT, "--out", str(out),
                 "--quiet"]) == 0
    before = (out / "rows.jsonl").read_text()
    capsys.readouterr()
    assert main(["sweep", "random-market", "--grid", "agents.noise.count=3", *SHORT, "--out", str(out)]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert f"{out} holds a different sweep (its grid differ)" in err
    assert (out / "rows.jsonl").read_text() == before
    scenario = tmp_path / "edited.toml"  # the same sweep of a scenario file edited since
    scenario.write_text((WORKTREE / "market_sim/simulation/scenarios/random-market.toml").read_text())
    assert main(["sweep", str(scenario), "--grid", "agents.noise.count=2", *SHORT, "--out", str(tmp_path / "e"),
                 "--quiet"]) == 0
    scenario.write_text(scenario.read_text() + "\n# edited\n")
    capsys.readouterr()
    assert main(["sweep", str(scenario), "--grid", "agents.noise.count=2", *SHORT, "--out", str(tmp_path / "e")]) == 1
    assert "holds a different sweep (its scenario file contents differ)" in " ".join(capsys.readouterr().err.split())


def test_a_failed_task_is_retried_once_and_reported_with_its_parameters(trip, tmp_path, capsys):
    scenario = trip(["none", "raise"])
    out = tmp_path / "sw"
    assert main(["sweep", str(scenario), "--out", str(out), "--quiet"]) == 1
    captured = capsys.readouterr()
    err = " ".join(captured.err.split())
    assert err == (f"error: 1 of 2 tasks failed twice (their rows in {out / 'results.parquet'} say why); run the "
                   "same command again to retry them")
    out_text = " ".join(captured.out.split())
    assert "task failed twice (agents.trip.action=raise, replicate 0, seed" in out_text
    assert "RuntimeError: the RPC node went away" in out_text
    assert "2 tasks: 1 ran, 1 failed, 0 skipped" in out_text
    assert (tmp_path / "attempts.log").read_text() == "attempt\nattempt\n"  # tried, then retried once
    frame = _table(out)
    assert list(frame["status"]) == ["complete", "failed"]
    assert frame["error"][1] == "RuntimeError: the RPC node went away" and frame["run_id"][1] == ""
    assert _meta(out)["status"] == "complete" and _meta(out)["counts"]["failed"] == 1
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["runs"]) == [1, 0] and list(summary["failed"]) == [0, 1]


def test_the_sweep_section_gives_grid_seeds_and_figures(tmp_path, capsys):
    scenario = tmp_path / "s.toml"
    base = (WORKTREE / "market_sim" / "simulation" / "scenarios" / "random-market.toml").read_text()
    scenario.write_text(base + textwrap.dedent('''
        [sweep]
        seeds = 2
        seed = 9
        metrics = ["trades"]
        [sweep.grid]
        "agents.noise.count" = [2, 3]
        [sweep.labels]
        trades = "trades (per 3 s run)"
    '''))
    out = tmp_path / "sw"
    assert main(["sweep", str(scenario), *SHORT, "--out", str(out), "--quiet"]) == 0
    frame = _table(out)
    assert list(frame["seed"]) == [t.seed for t in make_tasks({"agents.noise.count": [2, 3]}, 2, 9)]
    assert [p.name for p in (out / "plots").iterdir()] == ["trades__vs__agents.noise.count.png"]
    assert "trades (per 3 s run)" in capsys.readouterr().out
    # --grid replaces the file's grid; a run of the same file ignores [sweep]
    assert main(["sweep", str(scenario), "--grid", "agents.noise.count=5", *SHORT, "--out",
                 str(tmp_path / "sw2"), "--quiet"]) == 0
    assert list(_table(tmp_path / "sw2")["agents.noise.count"]) == [5, 5]
    assert main(["run", str(scenario), *SHORT, "--out", str(tmp_path / "runs"), "--quiet", "--no-plots"]) == 0


@pytest.mark.parametrize(("table", "message"), [
    ({"grid": {"a": []}}, "sweep.grid.a: must be a non-empty list of values"),
    ({"seeds": 0}, "sweep.seeds: must be an integer >= 1"),
    ({"backend": "ray"}, "sweep.backend: must be one of local, dask"),
    ({"sedes": 3}, "sweep.sedes: unknown key"),
    ({"metrics": "lvr.measured"}, "sweep.metrics: must be a list of dotted figure names"),
])
def test_a_bad_sweep_section_is_a_config_error(table, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        read_sweep_section({"sweep": table})


# ----- bad input: one line, the right exit code, no sweep folder -----

BAD = [
    (["no-such-scenario", "--grid", "a=1,2"], 1, "error: scenario: no scenario or file by this name"),
    (["random-market", "--grid", "agents.noise.count"], 2, "Error: Invalid value for '--grid': --grid needs "
                                                           "KEY=V1,V2,..."),
    (["random-market", "--grid", "agents.noise.count=2,2"], 2, "Error: Invalid value for '--grid': "
                                                               "agents.noise.count: a grid axis lists a value twice"),
    (["random-market"], 2, "Error: Invalid value for '--grid': a sweep needs at least one axis"),
    (["random-market", "--grid", "agents.noise.cnt=2,4"], 1, "error: grid point agents.noise.cnt=2: "
                                                             "agents.noise.cnt: unknown key"),
    (["random-market", "--grid", "agents.noise.count=two,four"], 1, "error: grid point agents.noise.count=\"two\": "
                                                                    "agents.noise.count: must be an integer >= 0"),
    (["random-market", "--grid", "agents.nobody.count=2"], 1, "error: grid point agents.nobody.count=2: "
                                                              "agents.nobody: no array entry"),
    (["random-market", "--grid", "agents.noise.count=2", "--backend", "ray"], 2,
     "Error: Invalid value for '--backend': 'ray' is not one of local, dask"),
    (["random-market", "--grid", "agents.noise.count=2", "--backend", "local", "--address", "tcp://h:1"], 2,
     "Error: Invalid value for '--address': --address needs --backend dask"),
    (["random-market", "--grid", "agents.noise.count=2", "--workers", "2"], 2,
     "Error: Invalid value for '--workers': --workers applies to --backend dask"),
    (["random-market", "--grid", "agents.noise.count=2", "--seeds", "0"], 2, "Error: Invalid value for '--seeds'"),
    (["random-market", "--grid", "agents.noise.count=2", "--address", "nonsense"], 1,
     "error: --address: cannot reach the Dask scheduler (missing port number in address 'nonsense')"),
]


@pytest.mark.parametrize(("args", "code", "message"), BAD)
def test_bad_input_is_one_line_and_leaves_no_sweep_folder(args, code, message, tmp_path, capsys):
    out = tmp_path / "sw"
    assert main(["sweep", *args, "--out", str(out)]) == code
    captured = capsys.readouterr()
    err = captured.err
    assert "Traceback" not in err and captured.out == ""
    lines = [line for line in err.splitlines() if line.lower().startswith("error")]
    assert len(lines) == 1 and " ".join(err.split()[err.split().index(message.split()[0]):]).startswith(message), err
    if code == 2:
        assert err.startswith("Usage: market-sim sweep")
    assert not out.exists()


def test_an_out_that_is_a_file_or_a_foreign_folder_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    for out, message in ((tmp_path / "file", "it exists and is not a folder"),
                         (tmp_path / "other", "the folder is not empty and holds no sweep")):
        assert main(["sweep", "random-market", "--grid", "agents.noise.count=2", "--out", str(out)]) == 1
        assert message in " ".join(capsys.readouterr().err.split())
    assert [p.name for p in (tmp_path / "other").iterdir()] == ["notes.txt"]


@needs_script
@pytest.mark.slow  # three console-script start-ups (~5 s on 2 shared cores); main() covers the cases above
def test_bad_input_through_the_console_script(tmp_path):
    cases = {("random-market", "--grid", "agents.noise.count"): 2, ("no-such-scenario", "--grid", "a=1"): 1,
             ("random-market", "--grid", "agents.noise.count=two"): 1}
    procs = {args: subprocess.Popen([MARKET_SIM, "sweep", *args, "--out", str(tmp_path / "sw")],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
                                    cwd=tmp_path) for args in cases}
    for args, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == cases[args], (args, err)
        assert "Traceback" not in err and out == ""
        assert len([line for line in err.splitlines() if line.lower().startswith("error")]) == 1
    assert [p.name for p in tmp_path.iterdir()] == []


@needs_script
@pytest.mark.slow  # the Dask client waits its 10 s connect timeout
def test_an_unreachable_scheduler_is_one_line_exit_1_and_no_folder(tmp_path):
    proc = subprocess.run([MARKET_SIM, "sweep", "random-market", "--grid", "agents.noise.count=2", "--address",
                           "tcp://127.0.0.1:1", "--out", str(tmp_path / "sw")], capture_output=True, text=True,
                          env=_env(), cwd=tmp_path, timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and proc.stdout == ""
    assert " ".join(proc.stderr.split()) == ("error: --address: cannot reach the Dask scheduler (Timed out trying to "
                                             "connect to tcp://127.0.0.1:1 after 10 s) (got 'tcp://127.0.0.1:1')")
    assert not (tmp_path / "sw").exists()


# ----- Ctrl-C -----

def _default_sigint() -> None:  # a child inherits an ignored SIGINT from a background parent; undo that
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@needs_script
@pytest.mark.slow  # two console-script sweeps (~4 s)
def test_ctrl_c_exits_130_with_one_line_and_the_rerun_runs_only_the_rest(trip, tmp_path):
    scenario = trip(["none", "wait", "raise"])
    out = tmp_path / "sw"
    cmd = [MARKET_SIM, "sweep", str(scenario), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(trip.plugins, TRIP_WAIT="1", TRIP_LOG=str(tmp_path / "attempts.log")),
                            cwd=tmp_path, preexec_fn=_default_sigint)
    watchdog = threading.Timer(300, proc.kill)  # only so that a hung child cannot hang the test run
    watchdog.start()
    try:
        for line in proc.stderr:  # the second task's tripwire announces it is waiting
            if line.startswith("TRIPWIRE reached"):
                break
        else:
            pytest.fail("the sweep ended before the tripwire")
        proc.send_signal(signal.SIGINT)
        stdout, err = proc.communicate(timeout=120)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and stdout == ""
    assert err.strip() == (f"interrupted; 1 of 3 tasks done, kept in {out} (run the same command again to run the "
                           "other 2)")
    meta = _meta(out)
    assert meta["status"] == "interrupted" and meta["counts"]["complete"] == 1
    assert list(_table(out, partial=True)["agents.trip.action"]) == ["none"]
    # the rerun (the tripwire no longer waits) runs the two missing tasks only
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(trip.plugins,
                          TRIP_LOG=str(tmp_path / "attempts.log")), cwd=tmp_path, timeout=300)
    assert proc.returncode == 1  # the "raise" task failed twice
    assert "3 tasks: 1 ran, 1 failed, 1 skipped (done before)" in " ".join(proc.stdout.split())
    assert list(_table(out)["status"]) == ["complete", "complete", "failed"]
    assert _meta(out)["status"] == "complete"


# ----- determinism across backends -----

@pytest.mark.sweep  # starts a 2-worker Dask LocalCluster (several seconds)
def test_the_same_sweep_gives_the_same_table_in_process_and_on_dask(tmp_path):
    pytest.importorskip("dask.distributed")
    common = ["sweep", "random-market", "--grid", "agents.noise.count=2,4", "--grid",
              "agents.momentum.count=0,2", "--seeds", "2", *SHORT, "--quiet"]
    assert main([*common, "--out", str(tmp_path / "local")]) == 0
    assert main([*common, "--backend", "dask", "--workers", "2", "--out", str(tmp_path / "dask")]) == 0
    local, dask = _table(tmp_path / "local"), _table(tmp_path / "dask")
    assert len(local) == 8 and set(local["status"]) == {"complete"}
    pd.testing.assert_frame_equal(local.drop(columns=VOLATILE), dask.drop(columns=VOLATILE))
    assert (tmp_path / "local" / "summary.csv").read_text() == (tmp_path / "dask" / "summary.csv").read_text()


def _new_group() -> None:  # Ctrl-C in a terminal signals the whole foreground process group: the workers too
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.setsid()


@needs_script
@pytest.mark.sweep  # a 2-worker Dask LocalCluster in a console-script sweep
def test_ctrl_c_of_a_dask_sweep_exits_130_with_one_line_and_stops_the_workers(trip, tmp_path):
    pytest.importorskip("dask.distributed")
    scenario = trip(["wait", "none"])
    out = tmp_path / "sw"
    proc = subprocess.Popen([MARKET_SIM, "sweep", str(scenario), "--out", str(out), "--quiet", "--backend", "dask",
                             "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(trip.plugins, TRIP_WAIT="1"), cwd=tmp_path, preexec_fn=_new_group)
    watchdog = threading.Timer(300, lambda: os.killpg(proc.pid, signal.SIGKILL))
    watchdog.start()
    try:
        for line in proc.stderr:  # a worker's tripwire announces it is waiting
            if line.startswith("TRIPWIRE reached"):
                break
        else:
            pytest.fail("the sweep ended before the tripwire")
        os.killpg(proc.pid, signal.SIGINT)
        stdout, err = proc.communicate(timeout=120)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and stdout == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("interrupted; ") and line.endswith(f"of 2 tasks done, kept in {out} (run the same "
                                                              f"command again to run the other {2 - int(line.split()[1])})")
    assert _meta(out)["status"] == "interrupted"
    ps = subprocess.run(["ps", "-o", "stat=,cmd=", "-g", str(proc.pid)], capture_output=True, text=True).stdout
    assert [p for p in ps.splitlines() if not p.startswith("Z")] == []  # no worker is left running (exited ones
    # may linger as zombies where the container's init does not reap them)
