"""`market-sim bench matching`: throughput, latency and memory of the matching engine on a seeded order stream.

The stream (per run): 60% GTC limit adds 1..LEVELS ticks from a fixed mid (on one instrument the levels grow to
thousands of orders), 25% cancels of a random earlier add (already filled ones are rejected: still an operation),
10% marketable orders (half market, half IOC limits a few ticks through the mid), 5% modifies (half quantity, half
price). Commands are generated before timing starts (and frozen out of the cyclic GC). One pass measures
throughput (wall and CPU time, GC on as in normal use), one the same with the GC off (for reference), and a third
on a fresh engine times every `engine.process` call for the latency percentiles (GC on). Memory is measured in a
fresh process: RSS growth while 1,000,000 non-crossing limit orders are added, divided by the resting orders.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import random
import resource
import sys
import time
from array import array

import numpy as np

from market_sim.core.instruments import Instrument
from market_sim.core.orders import CancelOrder, ModifyOrder, NewOrder, OrderType, Side, TimeInForce
from market_sim.market.engine import MatchingEngine

SEED = 20260601
MID = 10_000
LEVELS = 20          # passive adds land 1..LEVELS ticks from the mid
TRADERS = [f"T{i}" for i in range(100)]
OPS_FULL, OPS_QUICK = 1_000_000, 20_000
RESTING_FULL, RESTING_QUICK = 1_000_000, 20_000
TARGET_OPS_PER_SEC = 300_000
TARGET_BYTES_PER_ORDER = 300


def _symbols(n: int) -> list[str]:
    return [f"SYM{i}" for i in range(n)]


def _engine(n_instruments: int) -> MatchingEngine:
    return MatchingEngine([Instrument(s) for s in _symbols(n_instruments)])


def make_stream(n_ops: int, n_instruments: int, seed: int = SEED) -> list[NewOrder | CancelOrder | ModifyOrder]:
    """The seeded mixed command stream (same seed, same commands)."""
    rng = random.Random(seed)
    rand, randint = rng.random, rng.randint
    symbols = _symbols(n_instruments)
    live: list[tuple[int, str, str, Side]] = []  # passive adds that may still rest: (id, trader, symbol, side)
    cmds: list[NewOrder | CancelOrder | ModifyOrder] = []
    next_id = 1
    for _ in range(n_ops):
        r = rand()
        if r >= 0.60 and r < 0.85 and live or r >= 0.95 and live:
            i = randint(0, len(live) - 1)
            oid, trader, symbol, side = live[i]
            if r < 0.85:
                live[i] = live[-1]
                live.pop()
                cmds.append(CancelOrder(oid, trader))
            elif rand() < 0.5:
                cmds.append(ModifyOrder(oid, trader, quantity=randint(1, 100)))
            else:
                offset = randint(1, LEVELS)
                cmds.append(ModifyOrder(oid, trader, price=MID - offset if side is Side.BUY else MID + offset))
            continue
        symbol = symbols[randint(0, n_instruments - 1)]
        trader = TRADERS[randint(0, len(TRADERS) - 1)]
        side = Side.BUY if rand() < 0.5 else Side.SELL
        if 0.85 <= r < 0.95:
            if rand() < 0.5:
                cmds.append(NewOrder(next_id, trader, symbol, side, randint(1, 200), OrderType.MARKET))
            else:
                price = MID + 3 if side is Side.BUY else MID - 3
                cmds.append(NewOrder(next_id, trader, symbol, side, randint(1, 300), price=price, tif=TimeInForce.IOC))
        else:
            offset = randint(1, LEVELS)
            price = MID - offset if side is Side.BUY else MID + offset
            cmds.append(NewOrder(next_id, trader, symbol, side, randint(1, 100), price=price))
            live.append((next_id, trader, symbol, side))
        next_id += 1
    return cmds


def _throughput(cmds: list, n_instruments: int, collect: bool) -> tuple[float, float, MatchingEngine]:
    """(wall s, CPU s, engine) of one untimed-per-op pass over `cmds` on a fresh engine."""
    engine = _engine(n_instruments)
    process = engine.process
    gc.collect()
    if not collect:
        gc.disable()
    try:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for i, cmd in enumerate(cmds):
            process(cmd, i)
        return time.perf_counter() - wall0, time.process_time() - cpu0, engine
    finally:
        gc.enable()


def run_stream(n_ops: int, n_instruments: int, seed: int = SEED) -> dict:
    """Throughput (with and without the cyclic GC) and per-op latency of the mixed stream."""
    cmds = make_stream(n_ops, n_instruments, seed)
    gc.collect()
    gc.freeze()  # the pre-generated commands are the harness's, not the engine's: keep them out of GC passes
    wall, cpu, engine = _throughput(cmds, n_instruments, collect=True)
    trades = sum(book.trade_count for book in engine.books())
    resting = engine.resting_count()
    del engine
    _, cpu_nogc, engine = _throughput(cmds, n_instruments, collect=False)
    del engine
    gc.collect()
    engine = _engine(n_instruments)
    process = engine.process
    clock = time.perf_counter_ns
    lat = array("q", bytes(8 * len(cmds)))
    for i, cmd in enumerate(cmds):
        t0 = clock()
        process(cmd, i)
        lat[i] = clock() - t0
    us = np.frombuffer(lat, dtype=np.int64) / 1000.0
    return {
        "instruments": n_instruments,
        "operations": len(cmds),
        "seconds": round(wall, 3),
        "ops_per_sec": round(len(cmds) / wall),
        "cpu_seconds": round(cpu, 3),
        "ops_per_cpu_sec": round(len(cmds) / cpu),
        "ops_per_cpu_sec_gc_disabled": round(len(cmds) / cpu_nogc),
        "latency_us": {"p50": round(float(np.percentile(us, 50)), 2), "p99": round(float(np.percentile(us, 99)), 2),
                       "p99.9": round(float(np.percentile(us, 99.9)), 2), "max": round(float(us.max()), 1)},
        "trades": trades,
        "resting_orders_at_end": resting,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure_memory(n_orders: int, n_instruments: int, seed: int = SEED) -> dict:
    """RSS growth per resting order while `n_orders` non-crossing limit orders are added (run in a fresh process)."""
    rng = random.Random(seed)
    randint = rng.randint
    symbols = _symbols(n_instruments)
    engine = _engine(n_instruments)
    gc.collect()
    before = _rss_bytes()
    process = engine.process
    for oid in range(1, n_orders + 1):
        buy = oid & 1
        offset = randint(1, 50)
        process(NewOrder(oid, TRADERS[randint(0, 99)], symbols[randint(0, n_instruments - 1)],
                         Side.BUY if buy else Side.SELL, randint(1, 100), price=MID - offset if buy else MID + offset), oid)
    gc.collect()
    after = _rss_bytes()
    resting = engine.resting_count()
    return {
        "instruments": n_instruments,
        "resting_orders": resting,
        "rss_growth_bytes": after - before,
        "bytes_per_resting_order": round((after - before) / resting, 1),
        "rss_mb": round(after / 2**20, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _in_this_process(fn, *args):
    try:
        return fn(*args)
    finally:
        gc.unfreeze()  # run_stream freezes what exists; here that is the caller's heap


def _in_fresh_process(fn, *args):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(fn, args)


def run(quick: bool = False, progress: bool = True) -> dict:
    """Run the matching benchmark; returns the figures as a JSON-ready dict."""
    n_ops = OPS_QUICK if quick else OPS_FULL
    n_rest = RESTING_QUICK if quick else RESTING_FULL

    def say(msg: str) -> None:
        if progress:
            print(msg, file=sys.stderr, flush=True)

    result: dict = {
        "benchmark": "matching",
        "python": sys.version.split()[0],
        "compiled_modules": _compiled_modules(),
        "seed": SEED,
        "quick": quick,
        "mix": {"limit_add": 0.60, "cancel": 0.25, "marketable": 0.10, "modify": 0.05},
        "targets": {"ops_per_sec": TARGET_OPS_PER_SEC, "bytes_per_resting_order": TARGET_BYTES_PER_ORDER},
        "streams": [],
        "memory": [],
    }
    for k in (1, 10):
        say(f"memory: {n_rest:,} resting orders on {k} instrument(s) ...")
        result["memory"].append(_in_fresh_process(measure_memory, n_rest, k))
    for k in (1, 10):
        say(f"stream: {n_ops:,} operations on {k} instrument(s) ...")
        # --quick runs the streams here: a fresh (spawned) process re-imports the whole CLI, seconds of a smoke test
        result["streams"].append(_in_this_process(run_stream, n_ops, k) if quick
                                 else _in_fresh_process(run_stream, n_ops, k))
    # Wall-clock throughput needs an idle core; CPU-time throughput is what the engine does with one it gets
    # (on a shared machine the two differ by the load; each stream records its load average).
    result["meets_targets"] = {
        "ops_per_sec_wall": all(s["ops_per_sec"] >= TARGET_OPS_PER_SEC for s in result["streams"]),
        "ops_per_cpu_sec": all(s["ops_per_cpu_sec"] >= TARGET_OPS_PER_SEC for s in result["streams"]),
        "bytes_per_resting_order": all(m["bytes_per_resting_order"] <= TARGET_BYTES_PER_ORDER
                                       for m in result["memory"]),
    }
    return result


def _compiled_modules() -> int:
    """How many of market_sim's optional compiled modules this process runs compiled (market_sim._native)."""
    from market_sim import _native

    return sum(state == "compiled" for state in _native.status().values())
