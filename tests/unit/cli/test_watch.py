"""`market-sim watch`: a stored run's final book, trades and PnL; a live simulation on a `market-sim serve` server
(the console script in subprocesses, --once); bad ids, unreachable servers and Ctrl-C."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

from market_sim.cli.main import main

WORKTREE = Path(__file__).resolve().parents[3]
MARKET_SIM = shutil.which("market-sim", path=str(Path(sys.executable).parent))
needs_script = pytest.mark.skipif(MARKET_SIM is None, reason="the market-sim console script is not installed")
TOKEN = "watch-read-token-0123456789"
ADMIN = "watch-admin-token-0123456789"


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MARKET_SIM_TOKEN", None)
    env["PYTHONPATH"] = str(WORKTREE)
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def _watch(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([MARKET_SIM, "watch", *args], capture_output=True, text=True, env=_env(**env),
                          timeout=120)


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A 10 s random-market run: (runs dir, run id, RunData)."""
    from market_sim.simulation.catalog import resolve_scenario
    from market_sim.simulation.results import RunWriter, load_run
    from market_sim.simulation.runner import Simulation
    from market_sim.simulation.scenario import load_scenario

    root = tmp_path_factory.mktemp("runs")
    sc = load_scenario(resolve_scenario("random-market"), ["scenario.duration=10s", "output.format=csv"], 5)
    record = RunWriter(root, sc).write(Simulation(sc, tune_gc=False).run(), plots=False)
    return root, record.run_id, load_run(record.run_id, root)


def test_run_frame_is_the_runs_final_state(stored):
    from market_sim.cli.watch import run_frame

    _, run_id, data = stored
    frame = run_frame(data, trades=5, agents=4)
    snaps = data.tables["book_snapshots"]
    last = snaps[snaps["ts"] == snaps["ts"].max()]
    assert [(b.venue, b.symbol) for b in frame.books] == list(zip(last["venue"], last["symbol"]))
    for b, row in zip(frame.books, last.itertuples()):
        assert b.bids == [(int(row.bid), int(row.bid_qty))] and b.asks == [(int(row.ask), int(row.ask_qty))]
    trades = data.tables["trades"].tail(5)
    assert [(t["ts"], t["price"], t["buyer"]) for t in frame.trades] == \
        list(zip(trades["ts"], trades["price"], trades["buyer"]))
    pnl = data.tables["agent_pnl"].groupby("agent")["pnl_value"].sum().sort_values(ascending=False)
    assert [a for a, *_ in frame.pnl] == [*pnl.index[:2], *pnl.index[-2:]]
    assert "best 2 and worst 2 of" in frame.note


@needs_script
def test_watch_a_stored_run(stored):
    root, run_id, data = stored
    proc = _watch(run_id[:12], "--runs", str(root), "--trades", "3")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"run {run_id}" in out and "AAPL @ exchange" in out and "PnL per agent" in out
    last = data.tables["trades"].iloc[-1]
    tick = next(Decimal(str(i["tick_size"])) for i in data.scenario["instruments"] if i["symbol"] == last["symbol"])
    assert str(int(last["price"]) * tick) in out and last["buyer"] in out and proc.stderr == ""


@needs_script
def test_a_bad_run_is_one_line_and_exit_2(tmp_path):
    proc = _watch("no-such-run", "--runs", str(tmp_path))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


@needs_script
def test_an_unreachable_server_is_one_line_and_exit_1():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _watch("sim-1", "--url", f"http://127.0.0.1:{port}", "--once")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == f"error: cannot reach http://127.0.0.1:{port}: [Errno 111] Connection refused\n"
    proc = _watch("sim-1", "--url", "ftp://x", "--once")
    assert proc.returncode == 1 and "must be an http(s) URL" in proc.stderr and proc.stderr.count("\n") == 1


# ---- a live server ----------------------------------------------------------------------------------------------
def _call(url: str, method: str = "GET", body: dict | None = None, token: str = ADMIN) -> dict:
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`market-sim serve` on a free loopback port with a read and an admin token, and a paused random-market
    simulation stepped to 5 s: (base url, sim id)."""
    if MARKET_SIM is None:
        pytest.skip("the market-sim console script is not installed")
    folder = tmp_path_factory.mktemp("serve")
    (folder / "tokens.txt").write_text(f"{TOKEN} read\n{ADMIN} admin\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([MARKET_SIM, "serve", "--port", str(port), "--token-file", str(folder / "tokens.txt"),
                             "--out", str(folder / "runs")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env(), preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:  # wait until it listens (readiness only: nothing below depends on timing)
        try:
            urllib.request.urlopen(base + "/v1/health", timeout=1).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"market-sim serve did not start: {proc.communicate()[1]}")
            time.sleep(0.05)
    sim = _call(base + "/v1/sims", "POST", {"scenario": "random-market", "paused": True})["id"]
    _call(f"{base}/v1/sims/{sim}/step", "POST", {"until_ns": 5_000_000_000})
    yield base, sim
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.slow
def test_watch_a_live_simulation_once(server):
    base, sim = server
    proc = _watch(sim, "--url", base, "--once", "--levels", "3", "--trades", "4", MARKET_SIM_TOKEN=TOKEN)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"simulation {sim} on {base}" in out and "paused" in out and "00:00:05.000" in out
    tick = Decimal("0.01")
    for symbol in ("AAPL", "MSFT"):
        l2 = _call(f"{base}/v1/sims/{sim}/book/l2?symbol={symbol}&depth=3", token=TOKEN)
        assert f"{symbol} @ exchange" in out
        for level in l2["bids"] + l2["asks"]:
            assert str(level["price"] * tick) in out
    last = _call(f"{base}/v1/sims/{sim}/trades?limit=1", token=TOKEN)[0]
    assert last["buyer"] in out and last["seller"] in out
    pnl = _call(f"{base}/v1/sims/{sim}/pnl", token=TOKEN)
    best = max(pnl, key=lambda r: r["pnl_value"])
    assert best["agent"] in out and f"{best['pnl_value']:,.2f}" in out
    assert TOKEN not in out and TOKEN not in proc.stderr


@pytest.mark.slow
def test_watch_errors_against_a_live_server(server):
    base, sim = server
    proc = _watch("sim-999", "--url", base, "--once", MARKET_SIM_TOKEN=TOKEN)
    assert proc.returncode == 2 and proc.stderr == f"error: {base} answered 404: no simulation 'sim-999'\n"
    proc = _watch(sim, "--url", base, "--once")  # no token
    assert proc.returncode == 1 and "answered 401" in proc.stderr and proc.stderr.count("\n") == 1
    proc = _watch(sim, "--url", base, "--once", "--token", "wrong-token-0123456789")
    assert proc.returncode == 1 and "answered 401" in proc.stderr and "wrong-token" not in proc.stderr


@pytest.mark.slow
def test_ctrl_c_while_watching_exits_130(server, monkeypatch, capsys):
    import market_sim.cli.watch as watch

    base, sim = server
    polls = []

    def interrupt(seconds: float) -> None:
        polls.append(seconds)
        raise KeyboardInterrupt

    monkeypatch.setattr(watch, "_sleep", interrupt)
    monkeypatch.setenv("MARKET_SIM_TOKEN", TOKEN)
    assert main(["watch", sim, "--url", base, "--interval", "0.25"]) == 130
    assert polls == [0.25]
    err = capsys.readouterr().err
    assert err.strip().endswith("interrupted") and "Traceback" not in err


@pytest.mark.slow
def test_watching_a_finished_simulation_shows_its_end_and_exits(server):
    base, _ = server
    sim = _call(base + "/v1/sims", "POST", {"scenario": "random-market", "paused": True,
                                           "overrides": ["scenario.duration=3s"]})["id"]
    info = _call(f"{base}/v1/sims/{sim}/step", "POST", {"until_ns": 3_000_000_000})
    assert info["state"] == "finished"
    proc = _watch(sim, "--url", base, MARKET_SIM_TOKEN=TOKEN)  # no --once: it ends because the simulation has
    assert proc.returncode == 0, proc.stderr
    assert f"simulation {sim} on {base}" in proc.stdout and "finished" in proc.stdout
    assert "00:00:03.000 of 00:00:03.000" in proc.stdout
