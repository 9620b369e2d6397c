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


def run_task(scenario: str, base_overrides: Sequence[str], task: Task, runs_dir: str | None) -> dict[str, Any]:
    """Run one task (in whatever process the backend chose) and return its row: parameters, seed, run id, status,
    headline figures. Its run folder goes to `runs_dir` (a shared results directory) when given."""
    import time

    from market_sim.simulation.metrics import summary_rows
    from market_sim.simulation.runner import Simulation
    from market_sim.simulation.scenario import load_scenario

    row: dict[str, Any] = {k: v for k, v in task.params}
    row.update(replicate=task.replicate, seed=task.seed)
    t0 = time.perf_counter()
    sc = load_scenario(scenario, [*base_overrides, *task.overrides()], task.seed)
    outcome = Simulation(sc).build().run()
    run_id = ""
    if runs_dir is not None:
        from market_sim.simulation.results import RunWriter

        rec = RunWriter(runs_dir, sc, overrides=[*base_overrides, *task.overrides()]).write(outcome, plots=False)
        run_id = rec.run_id
    m = outcome.metrics
    market = m.market if hasattr(m, "market") else None
    if market is not None:
        row.update(trades=market.trades, volume=market.volume)
    for name, result in getattr(m, "sections", {}).items():
        if isinstance(result, dict):
            continue
        for r in summary_rows(result):
            if r.headline and _scalar(r.value):
                row[f"{name}.{r.path}"] = r.value
    row.update(run_id=run_id, status="complete", error=None, task_seconds=time.perf_counter() - t0)
    return row


class Backend(Protocol):
    """Runs calls of one function over many argument tuples, yielding (index, result or exception) as each ends."""

    def map_unordered(self, fn: Callable[..., Any], args: Sequence[tuple]) -> Iterator[tuple[int, Any]]: ...

    def close(self) -> None: ...


class LocalBackend:
    """In-process, one task after another (small sweeps, tests)."""

    name = "local"

    def map_unordered(self, fn: Callable[..., Any], args: Sequence[tuple]) -> Iterator[tuple[int, Any]]:
        for i, a in enumerate(args):
            try:
                yield i, fn(*a)
            except Exception as exc:  # noqa: BLE001 (reported per task by the caller)
                yield i, exc

    def close(self) -> None:
        pass


class DaskBackend:
    """dask.distributed: a LocalCluster of `workers` processes (default: one per CPU) or the scheduler at
    `address`. Results come back only through Dask's result channel (plus run folders in a shared directory)."""

    name = "dask"

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError("the dask backend needs the [sweep] extra: pip install 'market-sim[sweep]'",
                              key="--backend", value="dask") from None
        self._cluster = None
        if address:
            self.client = Client(address)
        else:
            n = workers or os.cpu_count() or 1
            self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
            self.client = Client(self._cluster)

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
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def run_sweep(scenario: str | Path, tasks: Sequence[Task], *, base_overrides: Sequence[str] = (),
              backend: Backend | None = None, runs_dir: str | Path | None = None,
              on_row: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run the tasks; a failed task is retried once, then reported as a row with status 'failed' and its error
    (never dropped). Rows come back in task order whatever order the backend finished them in."""
    backend = backend or LocalBackend()
    args = [(str(scenario), list(base_overrides), t, None if runs_dir is None else str(runs_dir)) for t in tasks]
    rows: dict[int, dict[str, Any]] = {}
    retry: list[int] = []
    for i, res in backend.map_unordered(run_task, args):
        if isinstance(res, Exception):
            retry.append(i)
        else:
            rows[i] = res
            if on_row:
                on_row(res)
    for j, res in backend.map_unordered(run_task, [args[i] for i in retry]):
        i = retry[j]
        if isinstance(res, Exception):
            t = tasks[i]
            res = {**dict(t.params), "replicate": t.replicate, "seed": t.seed, "run_id": "", "status": "failed",
                   "error": f"{type(res).__name__}: {' '.join(str(res).split())}", "task_seconds": None}
        rows[i] = res
        if on_row:
            on_row(res)
    return [rows[i] for i in range(len(tasks))]
