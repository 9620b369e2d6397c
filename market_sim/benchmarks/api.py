"""`market-sim bench api`: the API server on loopback under load.

The server (uvicorn, in this process) runs random-market paced at 10x real time. A client process opens CLIENTS
WebSocket connections (200; 20 with --quick) subscribed to the AAPL book deltas and receives for SECONDS of wall
time. Measured:
  - messages per second delivered to all clients, and the deltas conflated into snapshots (the slow-client rule);
  - publish -> receipt latency of book deltas: the server stamps each delta's publish time on the bus (a bus
    subscriber on the simulation's thread), the client stamps receipt, both on CLOCK_MONOTONIC (shared by the two
    processes); p50 / p99 / max over every delta every client received;
  - the server process's resident memory at the start and end of the streaming phase (flat: bounded queues);
  - the simulation's achieved pace (simulated s per wall s, target 10) without and with the subscribers;
  - REST: sequential GET /book/l2 requests from the client process paced at 1,000 requests/s: p50 / p99 latency
    and the rate achieved.
Targets (issue 19): delta p99 <= 50 ms; REST p99 <= 10 ms at 1,000 requests/s. Loopback only, bounded in count
and time.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from market_sim.core.errors import ConfigError

CLIENTS_FULL, CLIENTS_QUICK = 200, 20
SECONDS_FULL, SECONDS_QUICK = 10.0, 3.0
REST_FULL, REST_QUICK = 2000, 300
REST_RATE = 1000.0
PACE = 10.0
TOKEN = "bench-admin-token-" + "x" * 16
TARGET_DELTA_P99_MS = 50.0
TARGET_REST_P99_MS = 10.0


def _rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(round(q * len(values) + 0.5)) - 1))]


# ---- the client process ---------------------------------------------------------------------------------------------
async def _ws_clients(url: str, n: int, seconds: float, ready: Any, go: Any, out: Path) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    receipts: list[tuple[int, int]] = []
    counts = {"messages": 0, "frames": 0, "snapshots": 0, "closed_early": 0}

    async def one(i: int, opened: asyncio.Event, done: list[int]) -> None:
        try:
            async with connect(url, additional_headers={"Authorization": f"Bearer {TOKEN}"},
                               max_size=2**24, open_timeout=30, compression=None) as ws:
                await ws.send(json.dumps({"op": "subscribe", "channel": "book", "symbol": "AAPL"}))
                done[0] += 1
                if done[0] == n:
                    opened.set()
                while not go.is_set():
                    await asyncio.sleep(0.01)
                end = time.monotonic() + seconds
                while True:
                    left = end - time.monotonic()
                    if left <= 0:
                        break
                    try:
                        msg = await asyncio.wait_for(ws.recv(), timeout=left)
                    except TimeoutError:
                        break
                    t = time.monotonic_ns()
                    counts["frames"] += 1
                    for m in json.loads(msg):
                        counts["messages"] += 1
                        kind = m["type"]
                        if kind == "book_delta":
                            receipts.append((m["seq"], t))
                        elif kind == "book_snapshot":
                            counts["snapshots"] += 1
        except Exception:  # noqa: BLE001  (a connection the server closed: counted)
            counts["closed_early"] += 1
            if done[0] < n:
                done[0] += 1
                if done[0] == n:
                    opened.set()

    opened = asyncio.Event()
    done = [0]
    tasks = [asyncio.create_task(one(i, opened, done)) for i in range(n)]
    await opened.wait()
    ready.set()
    await asyncio.gather(*tasks)
    out.write_text(json.dumps(receipts))
    return counts


def _client_main(base: str, sim_id: str, n: int, seconds: float, rest: int, ready: Any, go: Any, rest_go: Any,
                 out: str, results: Any) -> None:
    import httpx

    counts = asyncio.run(_ws_clients(base.replace("http", "ws") + f"/v1/sims/{sim_id}/stream?batch=1", n, seconds, ready,
                                     go, Path(out)))
    rest_go.wait()
    lat: list[float] = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        url = f"/v1/sims/{sim_id}/book/l2"
        params = {"symbol": "AAPL", "depth": 20}
        c.get(url, params=params)  # warm-up
        t0 = time.perf_counter()
        for i in range(rest):
            due = t0 + i / REST_RATE
            now = time.perf_counter()
            if due > now:
                time.sleep(due - now)
            s = time.perf_counter()
            r = c.get(url, params=params)
            lat.append((time.perf_counter() - s) * 1000)
            if r.status_code != 200:
                raise RuntimeError(f"REST book query answered {r.status_code}")
        wall = time.perf_counter() - t0
    results.put({**counts, "rest_ms": lat, "rest_wall": wall})


# ---- the server side ------------------------------------------------------------------------------------------------
def run(quick: bool = False, progress: bool = True) -> dict[str, Any]:
    try:
        import httpx
        import uvicorn
    except ImportError as exc:
        raise ConfigError(f"bench api needs the api extra (fastapi, uvicorn, httpx): {exc}") from None
    from market_sim.api.app import create_app
    from market_sim.api.auth import TokenStore
    from market_sim.simulation.venues import BookDelta

    n = CLIENTS_QUICK if quick else CLIENTS_FULL
    seconds = SECONDS_QUICK if quick else SECONDS_FULL
    rest = REST_QUICK if quick else REST_FULL

    def say(msg: str) -> None:
        if progress:
            print(msg, file=sys.stderr, flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="market-sim-bench-api-"))
    app = create_app(TokenStore([(TOKEN, "admin", None)]), runs_dir=tmp, rate=1e9, burst=10**9)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, ws_max_queue=32,
                                           ws_per_message_deflate=False))  # loopback: compression only costs CPU
    thread = threading.Thread(target=server.run, name="bench-api-server", daemon=True)
    thread.start()
    for _ in range(1000):
        if server.started:
            break
        time.sleep(0.01)
    if not server.started:
        raise ConfigError("the API server did not start on loopback")
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
            sim_id = c.post("/v1/sims", json={"scenario": "random-market", "paused": True,
                                              "realtime": PACE}).json()["id"]
        live = app.state.sims.get(sim_id)
        published: dict[int, int] = {}
        with live.lock:
            live.sim.bus.subscribe(BookDelta, lambda ev: published.__setitem__(ev.seq, time.monotonic_ns()),
                                   ("exchange", "AAPL"))

        def pace(wall: float) -> tuple[float, float]:
            with live.lock:
                s0, e0 = live.sim.now, live.sim.kernel.events_processed
            time.sleep(wall)
            with live.lock:
                s1, e1 = live.sim.now, live.sim.kernel.events_processed
            return (s1 - s0) / 1e9 / wall, (e1 - e0) / wall

        live.resume()
        say(f"pace without subscribers ({seconds:g} s)...")
        alone = pace(seconds)
        ctx = mp.get_context("spawn")
        ready, go, rest_go, results = ctx.Event(), ctx.Event(), ctx.Event(), ctx.Queue()
        receipts_file = tmp / "receipts.json"
        child = ctx.Process(target=_client_main, args=(base, sim_id, n, seconds, rest, ready, go, rest_go,
                                                        str(receipts_file), results), daemon=True)
        child.start()
        say(f"{n} WebSocket clients connecting...")
        if not ready.wait(120):
            raise ConfigError("the WebSocket clients did not connect in 120 s")
        rss0 = _rss_mb()
        go.set()
        say(f"streaming for {seconds:g} s...")
        rss = [rss0]
        with_clients = pace(seconds / 2)
        rss.append(_rss_mb())
        with_clients2 = pace(seconds / 2)
        rss.append(_rss_mb())
        say(f"REST: {rest} book queries at {REST_RATE:g}/s...")
        rest_go.set()
        got = results.get(timeout=300)
        child.join(60)
        live.stop()
        receipts = json.loads(receipts_file.read_text())
        lat_ms = [(t - published[seq]) / 1e6 for seq, t in receipts if seq in published]
        p99 = _pct(lat_ms, 0.99)
        rest_ms = got["rest_ms"]
        rest_p99 = _pct(rest_ms, 0.99)
        result = {
            "benchmark": "api", "quick": quick, "clients": n, "stream_seconds": seconds, "pace_target": PACE,
            "messages_delivered": got["messages"], "frames": got["frames"], "messages_per_second": round(got["messages"] / seconds),
            "book_deltas_received": len(receipts), "snapshots_received": got["snapshots"],
            "clients_closed_early": got["closed_early"],
            "delta_latency_ms": {"p50": _r(_pct(lat_ms, 0.5)), "p99": _r(p99), "max": _r(max(lat_ms, default=None))},
            "delta_p99_target_ms": TARGET_DELTA_P99_MS,
            "delta_p99_met": p99 is not None and p99 <= TARGET_DELTA_P99_MS,
            "server_rss_mb": {"start": round(rss[0], 1), "middle": round(rss[1], 1), "end": round(rss[2], 1)},
            "pace_without_subscribers": round(alone[0], 2),
            "pace_with_subscribers": round((with_clients[0] + with_clients2[0]) / 2, 2),
            "sim_events_per_second_without": round(alone[1]),
            "sim_events_per_second_with": round((with_clients[1] + with_clients2[1]) / 2),
            "rest_requests": len(rest_ms), "rest_rate_achieved": round(len(rest_ms) / got["rest_wall"]),
            "rest_latency_ms": {"p50": _r(_pct(rest_ms, 0.5)), "p99": _r(rest_p99), "max": _r(max(rest_ms))},
            "rest_p99_target_ms": TARGET_REST_P99_MS,
            "rest_p99_met": rest_p99 is not None and rest_p99 <= TARGET_REST_P99_MS,
            "cpus": os.cpu_count(), "python": sys.version.split()[0],
        }
        return result
    finally:
        app.state.sims.shutdown()
        server.should_exit = True
        thread.join(10)


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
