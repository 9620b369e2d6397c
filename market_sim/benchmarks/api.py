"""`market-sim bench api`: the API server on loopback under load.

The server (uvicorn configured as `market-sim serve` runs it: market_sim.api.server) runs in this process with
random-market paced at 10x real time. A separate client process (spawned, so it never shares the server's event
loop or GIL) opens CLIENTS WebSocket connections (200; 20 with --quick) subscribed to the AAPL book deltas
(`?batch=1`) and receives for SECONDS of wall time; each connection is an asyncio.Protocol over the websockets
library's sans-I/O client, parsing with orjson, so that the load generator measures the server, not itself.
Measured:
  - messages and frames per second delivered to all clients, and the snapshots sent (the slow-client rule's resyncs);
  - publish -> receipt latency of book deltas: the server stamps each delta's publish time on the bus (a bus
    subscriber on the simulation's thread), the client stamps receipt, both on CLOCK_MONOTONIC (shared by the two
    processes); p50 / p99 / max over every delta every client received;
  - the server process's resident memory at the start, middle and end of the streaming phase (flat: bounded queues);
  - the simulation's pace (simulated s per wall s, target 10) and its own speed (events per CPU second of its
    thread, what it would reach unpaced) without and with the subscribers;
  - REST: GET /book/l2 from the client process at a fixed 1,000 requests/s, open loop (request i is due at
    t0 + i/1000 on one of 16 keep-alive connections, whatever the earlier ones did; latency counts from when it was
    due): p50 / p99 / max and the rate achieved;
  - CPU seconds of each process in each phase, and the seconds their threads were runnable but waited for a CPU
    (Linux schedstat): the share of the figures owed to the machine's other load. The 1-minute load average too.
Targets (issue 19): delta p99 <= 50 ms at 200 clients; REST p99 <= 10 ms at 1,000 requests/s. Loopback only,
bounded in count and time.
"""

from __future__ import annotations

import asyncio
import gc
import json
import multiprocessing as mp
import os
import resource
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
REST_POOL = 16  # keep-alive connections of the REST load generator (open loop: a late response never delays the next request)
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


def _run_wait_s() -> float:
    """Seconds this process's threads have spent runnable but waiting for a CPU (Linux schedstat; NaN elsewhere):
    how much the machine's other load delayed the process."""
    total = 0
    try:
        for tid in os.listdir("/proc/self/task"):
            try:
                total += int(Path(f"/proc/self/task/{tid}/schedstat").read_text().split()[1])
            except (OSError, IndexError, ValueError):
                pass
    except OSError:
        return float("nan")
    return total / 1e9


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
# The load generator is kept light so that it measures the server, not itself: each WebSocket connection is an
# asyncio.Protocol driving the websockets library's sans-I/O client (no task or future per message), frames are
# parsed with orjson when it is installed, and REST requests are written as raw HTTP/1.1 on keep-alive connections.
def _loads() -> Any:
    try:
        import orjson

        return orjson.loads
    except ImportError:  # pragma: no cover
        return json.loads


class _WsConn(asyncio.Protocol):
    """One WebSocket client subscribed to the AAPL book: records (seq, receipt ns) of each delta."""

    def __init__(self, url: str, stats: dict[str, Any], opened: Any) -> None:
        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri

        self.proto = ClientProtocol(parse_uri(url), max_size=2**24)
        self.stats, self.opened = stats, opened
        self.transport: Any = None
        self.recording = False
        self.loads = _loads()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        req = self.proto.connect()
        req.headers["Authorization"] = f"Bearer {TOKEN}"
        self.proto.send_request(req)
        self._flush()

    def _flush(self) -> None:
        for data in self.proto.data_to_send():
            if data:
                self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        from websockets.frames import Frame, Opcode
        from websockets.http11 import Response

        t = time.monotonic_ns()
        self.proto.receive_data(data)
        stats = self.stats
        for ev in self.proto.events_received():
            if type(ev) is Frame:
                if ev.opcode is not Opcode.TEXT or not self.recording:
                    continue
                stats["frames"] += 1
                msgs = self.loads(ev.data)
                if type(msgs) is not list:
                    msgs = [msgs]
                stats["messages"] += len(msgs)
                receipts = stats["receipts"]
                for m in msgs:
                    kind = m["type"]
                    if kind == "book_delta":
                        receipts.append((m["seq"], t))
                    elif kind == "book_snapshot":
                        stats["snapshots"] += 1
            elif isinstance(ev, Response):
                if ev.status_code != 101:
                    stats["closed_early"] += 1
                else:
                    self.proto.send_text(json.dumps({"op": "subscribe", "channel": "book",
                                                     "symbol": "AAPL"}).encode())
                self.opened()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.recording:
            self.stats["closed_early"] += 1


async def _ws_clients(host: str, port: int, path: str, n: int, seconds: float, ready: Any, go: Any
                      ) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    stats: dict[str, Any] = {"messages": 0, "frames": 0, "snapshots": 0, "closed_early": 0, "receipts": []}
    opened = asyncio.Event()
    count = [0]

    def one_open() -> None:
        count[0] += 1
        if count[0] == n:
            opened.set()

    conns: list[_WsConn] = []
    for _ in range(n):  # connect in small groups: the server's accept queue stays short
        _, proto = await loop.create_connection(lambda: _WsConn(f"ws://{host}:{port}{path}", stats, one_open),
                                                host, port)
        conns.append(proto)
    await asyncio.wait_for(opened.wait(), 120)
    await asyncio.sleep(0.5)  # the subscriptions' snapshots arrive
    ready.set()
    while not go.is_set():
        await asyncio.sleep(0.005)
    ru0, w0 = resource.getrusage(resource.RUSAGE_SELF), _run_wait_s()
    for c in conns:
        c.recording = True
    await asyncio.sleep(seconds)
    for c in conns:
        c.recording = False
    ru1, w1 = resource.getrusage(resource.RUSAGE_SELF), _run_wait_s()
    for c in conns:
        c.transport.close()
    stats["cpu_s"] = _cpu(ru1) - _cpu(ru0)
    stats["wait_s"] = w1 - w0
    return stats


class _HttpConn(asyncio.Protocol):
    """A keep-alive HTTP/1.1 connection: one request at a time; `done(status)` on each complete response."""

    def __init__(self, done: Any) -> None:
        self.done, self.buf, self.transport, self.busy = done, b"", None, False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            length = 0
            for line in self.buf[:head_end].split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            total = head_end + 4 + length
            if len(self.buf) < total:
                return
            status = int(self.buf[9:12])
            self.buf = self.buf[total:]
            self.busy = False
            self.done(self, status)


async def _rest_load(host: str, port: int, path: str, count: int, rate: float, pool: int) -> dict[str, Any]:
    """Open loop: request i is due at t0 + i / rate whatever the earlier ones did; its latency is counted from when
    it was due (a request waiting for a free connection is late, and that wait is in its latency)."""
    loop = asyncio.get_running_loop()
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
               f"\r\n").encode()
    lat: list[float] = []
    bad = [0]
    free: list[_HttpConn] = []
    due_of: dict[int, float] = {}
    finished = asyncio.Event()

    def done(conn: _HttpConn, status: int) -> None:
        lat.append((time.perf_counter() - due_of.pop(id(conn))) * 1000)
        if status != 200:
            bad[0] += 1
        free.append(conn)
        if len(lat) == count:
            finished.set()

    conns = []
    for _ in range(pool):
        _, c = await loop.create_connection(lambda: _HttpConn(done), host, port)
        conns.append(c)
    # warm-up: one request per connection
    for c in conns:
        due_of[id(c)] = time.perf_counter()
        c.transport.write(request)
    while len(lat) < pool:
        await asyncio.sleep(0.01)
    lat.clear()
    bad[0] = 0
    ru0, w0 = resource.getrusage(resource.RUSAGE_SELF), _run_wait_s()
    t0 = time.perf_counter()
    i = 0
    waiting: list[float] = []  # due times of requests with no free connection yet
    while i < count or waiting:
        now = time.perf_counter()
        while i < count and t0 + i / rate <= now:
            waiting.append(t0 + i / rate)
            i += 1
        while waiting and free:
            c = free.pop()
            due_of[id(c)] = waiting.pop(0)
            c.transport.write(request)
        if i < count:
            await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
        else:
            await asyncio.sleep(0.0005)
    await asyncio.wait_for(finished.wait(), 60)
    wall = time.perf_counter() - t0
    ru1, w1 = resource.getrusage(resource.RUSAGE_SELF), _run_wait_s()
    for c in conns:
        c.transport.close()
    return {"rest_ms": lat, "rest_wall": wall, "rest_bad": bad[0], "rest_cpu_s": _cpu(ru1) - _cpu(ru0),
            "rest_wait_s": w1 - w0}


def _cpu(ru: Any) -> float:
    return ru.ru_utime + ru.ru_stime


def _client_main(host: str, port: int, sim_id: str, n: int, seconds: float, rest: int, ready: Any, go: Any,
                 rest_go: Any, out: str, results: Any) -> None:
    try:
        import uvloop

        run = uvloop.run
    except ImportError:  # pragma: no cover
        run = asyncio.run
    counts = run(_ws_clients(host, port, f"/v1/sims/{sim_id}/stream?batch=1", n, seconds, ready, go))
    Path(out).write_text(json.dumps(counts.pop("receipts")))
    rest_go.wait()
    got = run(_rest_load(host, port, f"/v1/sims/{sim_id}/book/l2?symbol=AAPL&depth=20", rest, REST_RATE,
                         REST_POOL))
    results.put({**counts, **got})


# ---- the server side ------------------------------------------------------------------------------------------------
def run(quick: bool = False, progress: bool = True) -> dict[str, Any]:
    try:
        import httpx
        import uvicorn
    except ImportError as exc:
        raise ConfigError(f"bench api needs the api extra (fastapi, uvicorn, httpx): {exc}") from None
    from market_sim.api.app import create_app
    from market_sim.api.auth import TokenStore
    from market_sim.api.server import tune_gc, uvicorn_config
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
    config = uvicorn_config(app, "127.0.0.1", port, ws_max_queue=32)  # as `market-sim serve` runs it
    gc_before = tune_gc()
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="bench-api-server", daemon=True)
    thread.start()
    for _ in range(1000):
        if server.started:
            break
        time.sleep(0.01)
    if not server.started:
        raise ConfigError("the API server did not start on loopback")
    base = f"http://127.0.0.1:{port}"
    load = [os.getloadavg()[0]]
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
            sim_id = c.post("/v1/sims", json={"scenario": "random-market", "paused": True,
                                              "realtime": PACE}).json()["id"]
        live = app.state.sims.get(sim_id)
        published: dict[int, int] = {}
        with live.lock:
            live.sim.bus.subscribe(BookDelta, lambda ev: published.__setitem__(ev.seq, time.monotonic_ns()),
                                   ("exchange", "AAPL"))

        def pace(wall: float) -> dict[str, float]:
            """The simulation's pace (simulated s per wall s), events/s, and its own speed: events per second of
            the simulation thread's CPU time (what it would reach unpaced), and the server process's CPU time."""
            with live.lock:
                s0, e0, b0 = live.sim.now, live.sim.kernel.events_processed, live.busy_cpu
            c0, w0 = time.process_time(), _run_wait_s()
            time.sleep(wall)
            with live.lock:
                s1, e1, b1 = live.sim.now, live.sim.kernel.events_processed, live.busy_cpu
            return {"pace": (s1 - s0) / 1e9 / wall, "events": e1 - e0, "wall": wall, "sim_cpu": b1 - b0,
                    "server_cpu": time.process_time() - c0, "server_wait": _run_wait_s() - w0}

        live.resume()
        say(f"pace without subscribers ({seconds:g} s)...")
        alone = pace(seconds)
        ctx = mp.get_context("spawn")
        ready, go, rest_go, results = ctx.Event(), ctx.Event(), ctx.Event(), ctx.Queue()
        receipts_file = tmp / "receipts.json"
        child = ctx.Process(target=_client_main, args=("127.0.0.1", port, sim_id, n, seconds, rest, ready, go,
                                                        rest_go, str(receipts_file), results), daemon=True)
        child.start()
        say(f"{n} WebSocket clients connecting...")
        if not ready.wait(180):
            raise ConfigError("the WebSocket clients did not connect in 180 s")
        rss0 = _rss_mb()
        load.append(os.getloadavg()[0])
        go.set()
        say(f"streaming for {seconds:g} s...")
        rss = [rss0]
        half1 = pace(seconds / 2)
        rss.append(_rss_mb())
        half2 = pace(seconds / 2)
        rss.append(_rss_mb())
        streaming = {k: half1[k] + half2[k] for k in half1}
        streaming["pace"] /= 2
        load.append(os.getloadavg()[0])
        say(f"REST: {rest} book queries at {REST_RATE:g}/s (open loop)...")
        time.sleep(0.5)  # the WebSocket clients' connections close
        c_rest, w_rest = time.process_time(), _run_wait_s()
        rest_go.set()
        got = results.get(timeout=300)
        rest_server_cpu, rest_server_wait = time.process_time() - c_rest, _run_wait_s() - w_rest
        load.append(os.getloadavg()[0])
        child.join(60)
        live.stop()
        receipts = json.loads(receipts_file.read_text())
        lat_ms = [(t - published[seq]) / 1e6 for seq, t in receipts if seq in published]
        p99 = _pct(lat_ms, 0.99)
        rest_ms = got["rest_ms"]
        rest_p99 = _pct(rest_ms, 0.99)

        def speed(p: dict[str, float]) -> float | None:
            return round(p["events"] / p["sim_cpu"]) if p["sim_cpu"] > 0 else None

        result = {
            "benchmark": "api", "quick": quick, "clients": n, "stream_seconds": seconds, "pace_target": PACE,
            "messages_delivered": got["messages"], "frames": got["frames"],
            "messages_per_second": round(got["messages"] / seconds), "frames_per_second": round(got["frames"] / seconds),
            "book_deltas_received": len(receipts), "snapshots_received": got["snapshots"],
            "clients_closed_early": got["closed_early"],
            "delta_latency_ms": {"p50": _r(_pct(lat_ms, 0.5)), "p99": _r(p99), "max": _r(max(lat_ms, default=None))},
            "delta_p99_target_ms": TARGET_DELTA_P99_MS,
            "delta_p99_met": p99 is not None and p99 <= TARGET_DELTA_P99_MS,
            "server_rss_mb": {"start": round(rss[0], 1), "middle": round(rss[1], 1), "end": round(rss[2], 1)},
            "pace_without_subscribers": round(alone["pace"], 2),
            "pace_with_subscribers": round(streaming["pace"], 2),
            "sim_events_per_second_without": round(alone["events"] / alone["wall"]),
            "sim_events_per_second_with": round(streaming["events"] / streaming["wall"]),
            "sim_events_per_cpu_second_without": speed(alone),
            "sim_events_per_cpu_second_with": speed(streaming),
            "cpu_seconds": {"server_alone": round(alone["server_cpu"], 2),
                            "server_streaming": round(streaming["server_cpu"], 2),
                            "clients_streaming": round(got["cpu_s"], 2),
                            "server_rest": round(rest_server_cpu, 2), "client_rest": round(got["rest_cpu_s"], 2)},
            # seconds the threads were runnable but waited for a CPU (the other load on the machine)
            "cpu_wait_seconds": {"server_alone": round(alone["server_wait"], 2),
                                 "server_streaming": round(streaming["server_wait"], 2),
                                 "clients_streaming": round(got["wait_s"], 2),
                                 "server_rest": round(rest_server_wait, 2), "client_rest": round(got["rest_wait_s"], 2)},
            "rest_requests": len(rest_ms), "rest_errors": got["rest_bad"], "rest_connections": REST_POOL,
            "rest_rate_target": REST_RATE, "rest_rate_achieved": round(len(rest_ms) / got["rest_wall"]),
            "rest_latency_ms": {"p50": _r(_pct(rest_ms, 0.5)), "p99": _r(rest_p99), "max": _r(max(rest_ms))},
            "rest_p99_target_ms": TARGET_REST_P99_MS,
            "rest_p99_met": rest_p99 is not None and rest_p99 <= TARGET_REST_P99_MS,
            "load_average_1min": {"start": round(load[0], 2), "streaming_start": round(load[1], 2),
                                  "streaming_end": round(load[2], 2), "rest_end": round(load[3], 2)},
            "cpus": os.cpu_count(), "python": sys.version.split()[0],
            "server": {"http": config.http, "ws": config.ws, "loop": config.loop,
                       "ws_per_message_deflate": config.ws_per_message_deflate, "gc_thresholds": list(gc.get_threshold())},
            "rest_fast_path_answers": _fast_path_answers(app),
        }
        return result
    finally:
        app.state.sims.shutdown()
        server.should_exit = True
        thread.join(10)
        gc.set_threshold(*gc_before)
        gc.unfreeze()


def _fast_path_answers(app: Any) -> int | None:
    """Requests answered by the REST book fast path (market_sim.api.fastpath), found in the built middleware stack."""
    node = getattr(app, "middleware_stack", None)
    while node is not None:
        if hasattr(node, "answered"):
            return node.answered
        node = getattr(node, "app", None)
    return None


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
