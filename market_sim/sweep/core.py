"""Sweep tasks, their derived seeds, and the backends that run them (see the package docstring)."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from market_sim.core.errors import ConfigError
from market_sim.simulation.seeds import derive_seed


@dataclass(frozen=True, slots=True)
class Task:
    """One run of a sweep: the grid point (dotted key -> value), the replicate number and its derived seed."""

    params: tuple[tuple[str, Any], ...]
    replicate: int
    seed: int

    @property
    def key(self) -> str:
        """A stable identity of the task (for resuming): its parameters and replicate."""
        return json.dumps([list(map(list, self.params)), self.replicate], sort_keys=True, default=str)

    def overrides(self) -> list[str]:
        return [f"{k}={json.dumps(v) if isinstance(v, str) else _toml(v)}" for k, v in self.params]


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def parse_grid(specs: Iterable[str]) -> dict[str, list[Any]]:
    """['settlement.validators=4,7,10', ...] -> {'settlement.validators': [4, 7, 10]}; values are TOML literals,
    else plain strings. An empty axis, a repeated key or a repeated value is a ConfigError."""
    from market_sim.simulation.scenario import parse_override

    grid: dict[str, list[Any]] = {}
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError("--grid needs KEY=V1,V2,... with a dotted key", key="--grid", value=spec)
        if key in grid:
            raise ConfigError("grid key given twice", key=key, value=spec)
        items = [v.strip() for v in values.split(",") if v.strip()]
        if not items:
            raise ConfigError("a grid axis needs at least one value", key=key, value=values)
        parsed = [parse_override(f"{key}={v}")[1] for v in items]
        if len({json.dumps(p, default=str) for p in parsed}) != len(parsed):
            raise ConfigError("a grid axis lists a value twice", key=key, value=values)
        grid[key] = parsed
    if not grid:
        raise ConfigError("a sweep needs at least one --grid KEY=V1,V2,...", key="--grid")
    return grid


def task_seed(sweep_seed: int, params: Sequence[tuple[str, Any]], replicate: int) -> int:
    """The seed of one task: a hash of the sweep seed, the task's parameters and its replicate number."""
    text = json.dumps([list(map(list, params)), replicate], sort_keys=True, default=str)
    return derive_seed(sweep_seed, "sweep", text) & (2**63 - 1)  # the run index stores signed 64-bit seeds


def make_tasks(grid: Mapping[str, Sequence[Any]], seeds: int, sweep_seed: int) -> list[Task]:
    """Every grid combination x `seeds` replicates, in grid order."""
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError("must be a positive integer", key="--seeds", value=seeds)
    keys = list(grid)
    out = []
    for combo in itertools.product(*(grid[k] for k in keys)):
        params = tuple(zip(keys, combo))
        out += [Task(params, r, task_seed(sweep_seed, params, r)) for r in range(seeds)]
    return out


def _scalar(v: Any) -> bool:
    return isinstance(v, (int, float, str, bool)) or v is None


def _figures(result: Any, name: str) -> list[tuple[str, str, Any, bool]]:
    """(section.path, label, value, headline) of a section result's scalar figures; a dict of scalars (one figure
    per agent or pool, e.g. defi.lp_pnl_vs_hodl) becomes one figure per key."""
    from market_sim.simulation.metrics import summary_rows

    out = []
    for r in summary_rows(result):
        if isinstance(r.value, dict):
            out += [(f"{name}.{r.path}.{k}", f"{r.label} {k}", v, r.headline) for k, v in r.value.items()
                    if _scalar(v)]
        elif _scalar(r.value):
            out.append((f"{name}.{r.path}", r.label, r.value, r.headline))
    return out


def run_task(scenario: str, base_overrides: Sequence[str], task: Task, runs_dir: str | None,
             metrics: Sequence[str] = (), per_second: Sequence[str] = ()) -> dict[str, Any]:
    """Run one task (in whatever process the backend chose) and return its row: parameters, seed, run id, status,
    the market's trades and volume, every section's headline figures, the figures named in `metrics` (None where
    a run did not report one) and, for each figure in `per_second`, `<figure>_per_s` (divided by the simulated
    duration). The row's "_labels" maps each figure to its summary label (the sweep folder keeps them apart).
    Its run folder goes to `runs_dir` (a shared results directory) when given."""
    import time

    from market_sim.simulation.metrics import run_results
    from market_sim.simulation.runner import Simulation
    from market_sim.simulation.scenario import load_scenario

    row: dict[str, Any] = {k: v for k, v in task.params}
    row.update(replicate=task.replicate, seed=task.seed)
    t0 = time.perf_counter()
    overrides = [*base_overrides, *task.overrides()]
    sc = load_scenario(scenario, overrides, task.seed)
    outcome = Simulation(sc).build().run()
    run_id = ""
    if runs_dir is not None:
        from market_sim.simulation.results import RunWriter

        rec = RunWriter(runs_dir, sc, overrides=overrides).write(outcome, plots=False)
        run_id = rec.run_id
    results = run_results(outcome.metrics)
    labels = {"trades": "trades", "volume": "volume (lots)"}
    figures: dict[str, Any] = {"trades": results.market.trades, "volume": results.market.volume}
    wanted = set(metrics) | set(per_second)
    for name, result in results.sections.items():
        if isinstance(result, dict):
            continue
        for path, label, value, headline in _figures(result, name):
            if headline or path in wanted:
                figures[path] = value
                labels[path] = label
    for path in metrics:
        figures.setdefault(path, None)
    seconds = sc.duration / 1e9
    for path in per_second:
        value = figures.get(path)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        figures[f"{path}_per_s"] = value / seconds if ok else None
        labels[f"{path}_per_s"] = f"{labels.get(path, path)} per simulated second"
    row.update(figures)
    row.update(run_id=run_id, status="complete", error=None, task_seconds=time.perf_counter() - t0,
               _labels=labels)
    return row


def failed_row(task: Task, exc: BaseException) -> dict[str, Any]:
    """The row of a task that failed twice: its parameters, seed and error (one line)."""
    from market_sim.core.errors import MarketSimError

    text = " ".join(str(exc).split())
    error = text if isinstance(exc, MarketSimError) else f"{type(exc).__name__}: {text}" if text else \
        type(exc).__name__
    return {**dict(task.params), "replicate": task.replicate, "seed": task.seed, "run_id": "", "status": "failed",
            "error": error, "task_seconds": None}


class Backend(Protocol):
    """Runs calls of one function over many argument tuples, yielding (index, result or exception) as each ends."""

    def map_unordered(self, fn: Callable[..., Any], args: Sequence[tuple]) -> Iterator[tuple[int, Any]]: ...

    def close(self) -> None: ...


class LocalBackend:
    """In-process, one task after another (small sweeps, tests)."""

    name = "local"
    workers = 1

    def map_unordered(self, fn: Callable[..., Any], args: Sequence[tuple]) -> Iterator[tuple[int, Any]]:
        for i, a in enumerate(args):
            try:
                yield i, fn(*a)
            except Exception as exc:  # noqa: BLE001 (reported per task by the caller)
                yield i, exc

    def close(self) -> None:
        pass


def _ignoring_sigint(start: Callable[[], Any]) -> Any:
    """Start worker processes with SIGINT ignored (they inherit it): Ctrl-C in a terminal signals the whole process
    group, and only the driver should act on it (it stops the cluster); a worker would print a traceback instead."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return start()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return start()
    finally:
        signal.signal(signal.SIGINT, previous)


class DaskBackend:
    """dask.distributed: a LocalCluster of `workers` processes (default: one per CPU) or the scheduler at
    `address`. Results come back only through Dask's result channel (plus run folders in a shared directory)."""

    name = "dask"

    def __init__(self, workers: int | None = None, address: str | None = None, *, connect_timeout: float = 10.0) -> None:
        import logging

        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError("the dask backend needs the [sweep] extra: pip install 'market-sim[sweep]'",
                              key="--backend", value="dask") from None
        self._cluster = None
        self.address = address
        if address:
            try:
                self.client = Client(address, timeout=connect_timeout)
            except Exception as exc:  # noqa: BLE001 (OSError, TimeoutError, ValueError for a malformed address)
                text = " ".join(str(exc).split()) or type(exc).__name__
                raise ConfigError(f"cannot reach the Dask scheduler ({text})", key="--address", value=address) \
                    from None
            self.workers = len(self.client.scheduler_info().get("workers", {}))
        else:
            n = workers or os.cpu_count() or 1
            self._cluster = _ignoring_sigint(lambda: LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                silence_logs=logging.CRITICAL))  # task errors come back through the futures
            self.client = Client(self._cluster)
            self.workers = n

    def map_unordered(self, fn: Callable[..., Any], args: Sequence[tuple]) -> Iterator[tuple[int, Any]]:
        from dask.distributed import as_completed

        futures = {self.client.submit(fn, *a, pure=False): i for i, a in enumerate(args)}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                yield i, fut.result()
            except Exception as exc:  # noqa: BLE001
                yield i, exc

    def close(self) -> None:
        """Cancel what is still queued (an interrupted sweep), disconnect, and stop a LocalCluster."""
        import contextlib

        with contextlib.suppress(Exception):
            self.client.close()
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close()


def run_sweep(scenario: str | Path, tasks: Sequence[Task], *, base_overrides: Sequence[str] = (),
              backend: Backend | None = None, runs_dir: str | Path | None = None,
              metrics: Sequence[str] = (), per_second: Sequence[str] = (),
              on_row: Callable[[Task, dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run the tasks; a failed task is retried once, then reported as a row with status 'failed' and its error
    (never dropped). Rows come back in task order whatever order the backend finished them in; `on_row(task, row)`
    sees each final row as it arrives (to stream it to disk)."""
    backend = backend or LocalBackend()
    args = [(str(scenario), list(base_overrides), t, None if runs_dir is None else str(runs_dir), list(metrics),
             list(per_second)) for t in tasks]
    rows: dict[int, dict[str, Any]] = {}
    retry: list[int] = []
    for i, res in backend.map_unordered(run_task, args):
        if isinstance(res, Exception):
            retry.append(i)
        else:
            rows[i] = res
            if on_row:
                on_row(tasks[i], res)
    for j, res in backend.map_unordered(run_task, [args[i] for i in retry]):
        i = retry[j]
        if isinstance(res, Exception):
            t = tasks[i]
            res = failed_row(t, res)
        rows[i] = res
        if on_row:
            on_row(tasks[i], res)
    return [rows[i] for i in range(len(tasks))]
