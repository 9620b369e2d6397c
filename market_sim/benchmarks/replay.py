"""`market-sim bench replay`: rows per second of a whole CSV replay (parse, match, write trades/events/book).

A seeded CSV of order commands (the full 16-column schema, decimal prices on a 0.01 grid) is generated into a
temporary folder, then replayed twice: once as a `market-sim replay` process (interpreter start, imports,
reading, matching and writing every output file: the figure a user sees, `rows_per_second`) and once by calling
`market_sim.market.replay.replay` in this process (`in_process`). CPU seconds are recorded next to the wall
time because the machine may be shared.

Row mix (per row): 56% limit adds 1..20 ticks from the mid (of which 6% icebergs, 4% hidden, 5% DAY), 24%
cancels of an earlier add (filled ones are rejected by the engine: still a row), 10% marketable orders (half
market, half IOC limits through the mid), 5% modifies, 4% adds with an empty `ts` (repeat the previous one), and
1 row in 10,000 malformed (an off-grid price), which goes down the slow, precise path. Once 5,000 adds are in
play an add becomes a cancel instead, so the book stays at a realistic size (most orders end cancelled).
"""

from __future__ import annotations

import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEED = 20260611
ROWS_FULL, ROWS_QUICK = 1_000_000, 50_000
TARGET_ROWS_PER_SEC = 150_000
SYMBOLS = ("AAPL", "MSFT", "BTC/USD", "ETH/USD")
TRADERS = [f"T{i}" for i in range(100)]
MID = 10_000  # ticks (100.00)
LEVELS = 20
LIVE_CAP = 5_000  # at most this many passive adds in play: beyond it an add becomes a cancel
HEADER = ("action,ts,order_id,trader,symbol,side,type,price,quantity,stop_price,tif,expire_at,display_quantity,"
          "hidden,post_only,stp\n")


def _price(ticks: int) -> str:
    return f"{ticks // 100}.{ticks % 100:02d}"


def make_csv(path: Path, n_rows: int, seed: int = SEED) -> None:
    """Write the seeded order file (same seed, same bytes)."""
    rng = random.Random(seed)
    rand, randint = rng.random, rng.randint
    live: list[tuple[int, str, str]] = []  # (order id, trader, side) of passive adds that may still rest
    out: list[str] = [HEADER]
    next_id = 1
    ts = 0
    for row in range(n_rows):
        ts += randint(1, 1000)
        r = rand()
        if live and (0.56 <= r < 0.80 or 0.90 <= r < 0.95 or r < 0.56 and len(live) >= LIVE_CAP):
            i = randint(0, len(live) - 1)
            oid, trader, side = live[i]
            if r < 0.80:  # (an add turned into a cancel too)
                live[i] = live[-1]
                live.pop()
                out.append(f"cancel,{ts},{oid},{trader},,,,,,,,,,,,\n")
            elif rand() < 0.5:
                out.append(f"modify,{ts},{oid},{trader},,,,,{randint(1, 100)},,,,,,,\n")
            else:
                offset = randint(1, LEVELS)
                out.append(f"modify,{ts},{oid},{trader},,,,{_price(MID - offset if side == 'buy' else MID + offset)}"
                           ",,,,,,,,\n")
            continue
        symbol = SYMBOLS[randint(0, len(SYMBOLS) - 1)]
        trader = TRADERS[randint(0, len(TRADERS) - 1)]
        side = "buy" if rand() < 0.5 else "sell"
        ts_cell = "" if 0.95 <= r < 0.99 else str(ts)
        if 0.80 <= r < 0.90:
            if rand() < 0.5:
                out.append(f"new,{ts_cell},{next_id},{trader},{symbol},{side},market,,{randint(1, 200)},,,,,,,\n")
            else:
                price = _price(MID + 3 if side == "buy" else MID - 3)
                out.append(f"new,{ts_cell},{next_id},{trader},{symbol},{side},limit,{price},{randint(1, 300)},,ioc,"
                           ",,,,\n")
        else:
            offset = randint(1, LEVELS)
            ticks = MID - offset if side == "buy" else MID + offset
            price = _price(ticks) if row % 10_000 != 9_999 else f"{_price(ticks)}5"  # the odd off-grid price
            qty = randint(1, 100)
            k = rand()
            if k < 0.06:
                extra = f"gtc,,{randint(1, qty)},,,"
            elif k < 0.10:
                extra = "gtc,,,true,,"
            elif k < 0.15:
                extra = "day,,,,,"
            else:
                extra = ",,,,,"
            out.append(f"new,{ts_cell},{next_id},{trader},{symbol},{side},limit,{price},{qty},,{extra}\n")
            live.append((next_id, trader, side))
        next_id += 1
        if len(out) >= 100_000:
            _flush(path, out)
    _flush(path, out)


def _flush(path: Path, out: list[str]) -> None:
    with path.open("a", newline="") as f:
        f.write("".join(out))
    out.clear()


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _replay_process(orders: Path, out: Path) -> tuple[float, float]:
    """(wall s, CPU s) of one `market-sim replay` process."""
    cmd = [sys.executable, "-m", "market_sim.cli.main", "replay", str(orders), "--out", str(out)]
    cpu0, t0 = _child_cpu(), time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall, cpu = time.perf_counter() - t0, _child_cpu() - cpu0
    if done.returncode != 0:
        raise RuntimeError(f"market-sim replay failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return wall, cpu


def _replay_in_process(orders: Path, out: Path) -> tuple[float, float, object]:
    from market_sim.market.replay import replay

    cpu0, t0 = time.process_time(), time.perf_counter()
    summary = replay(orders, out)
    return time.perf_counter() - t0, time.process_time() - cpu0, summary


def run(quick: bool = False, progress: bool = True) -> dict:
    """Run the replay benchmark; returns the figures as a JSON-ready dict."""
    n_rows = ROWS_QUICK if quick else ROWS_FULL

    def say(msg: str) -> None:
        if progress:
            print(msg, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="market-sim-bench-replay-") as tmp:
        orders = Path(tmp) / "orders.csv"
        say(f"generating {n_rows:,} rows ...")
        make_csv(orders, n_rows)
        size = orders.stat().st_size
        say("replaying as a market-sim process ...")
        wall, cpu = _replay_process(orders, Path(tmp) / "process")
        say("replaying in process ...")
        wall_in, cpu_in, summary = _replay_in_process(orders, Path(tmp) / "in_process")
        outputs = {p.name: p.stat().st_size for p in sorted((Path(tmp) / "in_process").iterdir())}
    return {
        "benchmark": "replay",
        "python": sys.version.split()[0],
        "compiled_modules": _compiled_modules(),
        "seed": SEED,
        "quick": quick,
        "rows": n_rows,
        "csv_bytes": size,
        "seconds": round(wall, 3),
        "rows_per_second": round(n_rows / wall),
        "cpu_seconds": round(cpu, 3),
        "rows_per_cpu_second": round(n_rows / cpu),
        "in_process": {"seconds": round(wall_in, 3), "rows_per_second": round(n_rows / wall_in),
                       "cpu_seconds": round(cpu_in, 3), "rows_per_cpu_second": round(n_rows / cpu_in)},
        "commands": summary.commands,
        "events": summary.events,
        "trades": summary.trades,
        "rejects": summary.rejects,
        "malformed_rows": len(summary.malformed),
        "output_bytes": outputs,
        "target_rows_per_second": TARGET_ROWS_PER_SEC,
        "meets_target": {"wall": n_rows / wall >= TARGET_ROWS_PER_SEC,
                         "cpu": n_rows / cpu >= TARGET_ROWS_PER_SEC},
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _compiled_modules() -> int:
    """How many of market_sim's optional compiled modules this process runs compiled (market_sim._native)."""
    from market_sim import _native

    return sum(state == "compiled" for state in _native.status().values())
