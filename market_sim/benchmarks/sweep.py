"""`market-sim bench sweep`: what the sweep backends cost around short runs.

The task is a real sweep task (`random-market` with a simulated duration calibrated so one run takes about one
second here, its run folder written), run N times on: the in-process backend, a Dask LocalCluster with 1 worker and
with 2 workers (processes). For each: tasks per second, and the scheduler overhead per task = (sweep wall time - the
sum of the tasks' own times, measured inside the task) / N, also as a share of the mean task time (target <= 5 %
at 1-second tasks). Cluster start-up and the workers' first imports are measured apart (a sweep pays them once).
The speed-up is the 1-worker sweep's wall time over the 2-worker one's; `cores_used` (the tasks' CPU time per
wall second) says how much CPU the machine actually gave each case, which bounds it on a shared machine. The scheduler alone: trivial tasks per
second through the same backend (what bounds a sweep of very short tasks).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from typing import Any

SCENARIO = "random-market"


def _warm(path: str) -> bool:
    """One short task, so the imports and first-call costs are paid before timing (run on every worker)."""
    from market_sim.sweep import make_tasks, run_task

    (task,) = make_tasks({"scenario.duration": ["1s"]}, 1, 0)
    run_task(path, ["output.plots=false"], task, None)
    return True


def _noop(i: int) -> int:
    return i


def _noop_rate(backend: Any, n: int) -> dict[str, Any]:
    """The scheduler alone: n trivial tasks through the same backend interface (submit, run, result back)."""
    t0 = time.perf_counter()
    done = sum(1 for _ in backend.map_unordered(_noop, [(i,) for i in range(n)]))
    wall = time.perf_counter() - t0
    return {"noop_tasks": done, "noop_tasks_per_second": round(done / wall, 1),
            "noop_ms_per_task": round(wall / done * 1e3, 3)}


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, file=sys.stderr, flush=True)


def _calibrate(path: str, target: float) -> tuple[str, float]:
    """A simulated duration (whole seconds) for which one run takes about `target` wall seconds."""
    from market_sim.sweep import make_tasks, run_task

    _warm(path)
    probe = 10
    for _ in range(3):
        (task,) = make_tasks({"scenario.duration": [f"{probe}s"]}, 1, 1)
        t0 = time.perf_counter()
        run_task(path, ["output.plots=false"], task, None)
        took = time.perf_counter() - t0
        probe = max(1, round(probe * target / took))
    return f"{probe}s", took


def _timed_task(*args: Any) -> dict[str, Any]:
    """run_task, plus the CPU time it used (its wall time over its CPU time shows how much the machine's other load
    slowed it down)."""
    from market_sim.sweep import run_task

    cpu = time.process_time()
    row = run_task(*args)
    row["task_cpu_seconds"] = time.process_time() - cpu
    return row


def _case(name: str, backend: Any, path: str, tasks: list[Any], runs: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    args = [(path, ["output.plots=false"], t, runs) for t in tasks]
    rows = []
    for _, row in backend.map_unordered(_timed_task, args):  # what run_sweep does, with the CPU time recorded
        if isinstance(row, BaseException):
            raise RuntimeError(f"{name}: a task failed: {row}")
        rows.append(row)
    wall = time.perf_counter() - t0
    busy = sum(r["task_seconds"] for r in rows)  # worker-seconds inside the tasks
    n, workers = len(rows), getattr(backend, "workers", 1)
    per_task = busy / n
    overhead = (wall * workers - busy) / n  # worker-seconds per task spent outside a task (scheduling, transfer)
    return {"backend": name, "workers": workers, "tasks": n, "wall_seconds": round(wall, 3),
            "tasks_per_second": round(n / wall, 3), "mean_task_seconds": round(per_task, 4),
            "mean_task_cpu_seconds": round(sum(r["task_cpu_seconds"] for r in rows) / n, 4),
            # the CPU the tasks got per wall second: what the machine gave the sweep (2 at best here)
            "cores_used": round(sum(r["task_cpu_seconds"] for r in rows) / wall, 3),
            "overhead_ms_per_task": round(overhead * 1e3, 2),
            "overhead_share_of_task": round(overhead / per_task, 4)}


def run(quick: bool = False, progress: bool = True) -> dict[str, Any]:
    from market_sim.simulation.catalog import resolve_scenario
    from market_sim.sweep import DaskBackend, LocalBackend, make_tasks

    path = str(resolve_scenario(SCENARIO))
    target = 0.3 if quick else 1.0
    n = 4 if quick else 12
    _say(progress, f"calibrating a {target:g}-second {SCENARIO} run ...")
    duration, took = _calibrate(path, target)
    tasks = make_tasks({"scenario.duration": [duration]}, n, 1)  # n replicates (seeds) of the calibrated run
    out: dict[str, Any] = {"benchmark": "sweep", "scenario": SCENARIO, "task_duration_simulated": duration,
                           "calibration_run_seconds": round(took, 3), "cpus": os.cpu_count(),
                           "load_average_before": [round(x, 2) for x in os.getloadavg()], "cases": []}
    with tempfile.TemporaryDirectory(prefix="market-sim-bench-sweep-") as tmp:
        _say(progress, f"local backend: {n} tasks ...")
        out["cases"].append(_case("local", LocalBackend(), path, tasks, os.path.join(tmp, "local")))
        for workers in (1, 2):
            t0 = time.perf_counter()
            backend = DaskBackend(workers=workers)
            try:
                started = time.perf_counter() - t0
                t0 = time.perf_counter()
                backend.client.run(_warm, path)
                warm = time.perf_counter() - t0
                _say(progress, f"dask, {workers} worker{'s' if workers > 1 else ''}: {n} tasks ...")
                case = _case("dask", backend, path, tasks, os.path.join(tmp, f"dask{workers}"))
                case.update(_noop_rate(backend, 100 if quick else 1000))
            finally:
                backend.close()
            case.update(cluster_start_seconds=round(started, 3), worker_import_seconds=round(warm, 3))
            out["cases"].append(case)
    one, two = out["cases"][1], out["cases"][2]
    out["speedup_1_to_2_workers"] = round(one["wall_seconds"] / two["wall_seconds"], 3)
    out["dask_overhead_share_1_worker"] = one["overhead_share_of_task"]
    out["overhead_target"] = 0.05
    out["overhead_target_met"] = one["overhead_share_of_task"] <= 0.05
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
