"""`market-sim bench kernel`: the discrete-event kernel against simpy and a bare heapq loop, in one process.

The hold model: PENDING (1,000) pending events; each one, when it fires, schedules the next at a delay drawn from a
fixed table of 4,096 seeded delays (1..9,999 ns); no other work. Three implementations of it:
  kernel  `Kernel.schedule` from the callback (the public API, as agents and the runner use it);
  simpy   simpy 4.1.2, one process per pending event yielding `env.timeout(delay)` (simpy's own hold idiom);
  heapq   a bare heappop/heappush loop of (time, seq) tuples, no callbacks: the floor for a Python heap queue.
They run alternately (kernel, simpy, heapq, then the next repetition in a rotated order) so that drifts in the
machine's load hit all three alike; each figure is the median over repetitions, each ratio the median of the
per-repetition ratios. Rates are per CPU-second of this process (time.process_time): on a shared machine wall time
also counts the time other processes hold the core; wall-clock rates are reported too.
Targets (issue 12): kernel >= 1.5x simpy and >= 0.6x bare heapq.
"""

from __future__ import annotations

import heapq
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Generator
from typing import Any

from market_sim.core.errors import ConfigError
from market_sim.simulation.kernel import Kernel

PENDING = 1_000
EVENTS_FULL, EVENTS_QUICK = 1_000_000, 150_000
REPS_FULL, REPS_QUICK = 5, 3
TARGET_VS_SIMPY = 1.5
TARGET_VS_HEAPQ = 0.6


def _workload(pending: int) -> tuple[list[int], list[int]]:
    """The delay table and the first delay of each pending event (same seed for every implementation)."""
    rng = random.Random(1)
    delays = [rng.randrange(1, 10_000) for _ in range(4096)]
    return delays, [rng.randrange(1, 10_000) for _ in range(pending)]


def _horizon(events: int, pending: int) -> int:
    # Mean delay 5,000 ns over `pending` events: ~pending/5,000 events per ns of simulated time.
    return events * 5_000 // pending


def _timed(body: Callable[[], int]) -> dict[str, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    n = body()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"events": n, "events_per_second": n / wall, "events_per_cpu_second": n / cpu}


def kernel_hold(events: int, pending: int = PENDING) -> dict[str, float]:
    delays, first = _workload(pending)
    k = Kernel()
    schedule = k.schedule
    state = [0]

    def hop() -> None:
        i = state[0] = (state[0] + 1) & 4095
        schedule(delays[i], hop)

    for d in first:
        k.schedule(d, hop)
    return {**_timed(lambda: k.run(until=_horizon(events, pending))), "pending": k.pending}


def simpy_hold(events: int, pending: int = PENDING) -> dict[str, float]:
    try:
        import simpy
    except ImportError:
        raise ConfigError("bench kernel compares against simpy: pip install simpy==4.1.2 (the dev extra)",
                          key="bench", value="kernel") from None
    delays, first = _workload(pending)
    env = simpy.Environment()
    state = [0, 0]  # delay index, events

    def proc(d: int) -> Generator[Any, Any, None]:  # a simpy process
        timeout = env.timeout
        yield timeout(d)
        while True:
            state[1] += 1
            i = state[0] = (state[0] + 1) & 4095
            yield timeout(delays[i])

    for d in first:
        env.process(proc(d))

    def body() -> int:
        env.run(until=_horizon(events, pending))
        return state[1]

    return _timed(body)


def heapq_hold(events: int, pending: int = PENDING) -> dict[str, float]:
    delays, first = _workload(pending)
    q = [(d, s) for s, d in enumerate(first)]
    heapq.heapify(q)
    pop, push = heapq.heappop, heapq.heappush

    def body() -> int:
        seq = pending
        for _ in range(events):
            t, _s = pop(q)
            seq += 1
            push(q, (t + delays[seq & 4095], seq))
        return events

    return _timed(body)


IMPLEMENTATIONS: dict[str, Callable[[int], dict[str, float]]] = {
    "kernel": kernel_hold, "simpy": simpy_hold, "heapq": heapq_hold}


def run(quick: bool = False, progress: bool = True) -> dict[str, Any]:
    """Kernel vs simpy vs bare heapq on the hold model; medians over alternating repetitions."""
    events, reps = (EVENTS_QUICK, REPS_QUICK) if quick else (EVENTS_FULL, REPS_FULL)
    names = list(IMPLEMENTATIONS)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for rep in range(reps):
        order = names[rep % len(names):] + names[:rep % len(names)]
        for name in order:
            r = IMPLEMENTATIONS[name](events)
            runs[name].append(r)
            if progress:
                print(f"rep {rep + 1}/{reps} {name:6} {r['events']:>9,} events "
                      f"{r['events_per_cpu_second']:>12,.0f} events/CPU-s", file=sys.stderr, flush=True)

    def median(name: str, key: str) -> int:
        return round(statistics.median(r[key] for r in runs[name]))

    def ratio(a: str, b: str, key: str = "events_per_cpu_second") -> float:
        return round(statistics.median(x[key] / y[key] for x, y in zip(runs[a], runs[b], strict=True)), 3)

    result: dict[str, Any] = {
        "workload": {"model": "hold", "pending": PENDING, "events_per_repetition": events, "repetitions": reps},
        **{name: {"events": median(name, "events"), "events_per_cpu_second": median(name, "events_per_cpu_second"),
                  "events_per_second": median(name, "events_per_second")} for name in names},
    }
    vs_simpy, vs_heapq = ratio("kernel", "simpy"), ratio("kernel", "heapq")
    result["kernel_vs_simpy"] = {"ratio": vs_simpy, "wall_ratio": ratio("kernel", "simpy", "events_per_second"),
                                 "target": TARGET_VS_SIMPY, "meets_target": vs_simpy >= TARGET_VS_SIMPY}
    result["kernel_vs_heapq"] = {"ratio": vs_heapq, "wall_ratio": ratio("kernel", "heapq", "events_per_second"),
                                 "target": TARGET_VS_HEAPQ, "meets_target": vs_heapq >= TARGET_VS_HEAPQ}
    result["meets_target"] = vs_simpy >= TARGET_VS_SIMPY and vs_heapq >= TARGET_VS_HEAPQ
    result["python"] = platform.python_version()
    result["load_avg_1m"] = round(os.getloadavg()[0], 2)  # other work on the machine skews the rates
    return result


if __name__ == "__main__":
    # One implementation, once, without timing output: for instruction counts, e.g. the difference of
    # `valgrind --tool=callgrind python -m market_sim.benchmarks.kernel kernel 70000` and the same with 20000.
    IMPLEMENTATIONS[sys.argv[1]](int(sys.argv[2]))
