"""What a sweep is: the scenario, the grid, the seeds and the figures to collect -- from a scenario's `[sweep]`
section and the command line -- checked in full before anything runs.

    [sweep]
    seeds = 5                      # replicates per grid point (--seeds)
    seed = 1                       # the sweep seed the task seeds derive from (default: [scenario].seed; --seed)
    backend = "local"              # local | dask (--backend); address = "tcp://..." and workers = N for dask
    metrics = ["lvr.measured"]     # figures to collect besides the headline ones; the summary and plots show these
    per_second = ["consensus.trades_finalized"]   # also collect <figure>_per_s: divided by the simulated duration
    [sweep.grid]                   # dotted key -> values (--grid KEY=V1,V2 replaces the whole table)
    "consensus.byzantine" = [0, 1, 2]
    [sweep.labels]                 # axis labels (with units) for parameters and figures in the plots
    "consensus.byzantine" = "Byzantine validators (of 7)"

A scenario run ignores [sweep]; `market-sim sweep` reads it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from market_sim.core.errors import ConfigError

__all__ = ["SweepSpec", "SweepSection", "read_sweep_section", "check_grid", "check_points", "file_sha256", "BACKENDS"]

BACKENDS = ("local", "dask")
_KEYS = ("seeds", "seed", "backend", "address", "workers", "metrics", "per_second", "grid", "labels")


@dataclass(frozen=True, slots=True)
class SweepSection:
    """The `[sweep]` section of a scenario file, as written (None: not given there)."""

    grid: dict[str, list[Any]] = field(default_factory=dict)
    seeds: int | None = None
    seed: int | None = None
    backend: str | None = None
    address: str | None = None
    workers: int | None = None
    metrics: tuple[str, ...] = ()
    per_second: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)


def _positive_int(value: Any, key: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"must be an integer >= {minimum}", key=key, value=value)
    return value


def _names(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError("must be a list of dotted figure names, e.g. [\"lvr.measured\"]", key=key, value=value)
    return tuple(value)


def check_grid(grid: Mapping[str, Any], where: str = "sweep.grid") -> dict[str, list[Any]]:
    """A grid table: dotted key -> a non-empty list of distinct TOML scalars."""
    if not isinstance(grid, Mapping):
        raise ConfigError("must be a table of dotted key -> list of values", key=where, value=grid)
    out: dict[str, list[Any]] = {}
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError("must be a non-empty list of values", key=f"{where}.{key}", value=values)
        for v in values:
            if isinstance(v, (dict, list)):
                raise ConfigError("grid values must be numbers, strings or booleans", key=f"{where}.{key}", value=v)
        if len({json.dumps(v, default=str) for v in values}) != len(values):
            raise ConfigError("lists a value twice", key=f"{where}.{key}", value=values)
        out[str(key)] = list(values)
    return out


def read_sweep_section(raw: Mapping[str, Any]) -> SweepSection:
    """The `[sweep]` table of a raw scenario (empty when there is none); a bad key or value is a ConfigError."""
    t = raw.get("sweep")
    if t is None:
        return SweepSection()
    if not isinstance(t, Mapping):
        raise ConfigError("must be a table", key="sweep", value=t)
    for k in t:
        if k not in _KEYS:
            raise ConfigError(f"unknown key; expected one of: {', '.join(sorted(_KEYS))}", key=f"sweep.{k}",
                              value=t[k])
    backend = t.get("backend")
    if backend is not None and backend not in BACKENDS:
        raise ConfigError(f"must be one of {', '.join(BACKENDS)}", key="sweep.backend", value=backend)
    address = t.get("address")
    if address is not None and not isinstance(address, str):
        raise ConfigError("must be a scheduler address, e.g. \"tcp://10.0.0.5:8786\"", key="sweep.address",
                          value=address)
    labels = t.get("labels", {})
    if not isinstance(labels, Mapping) or not all(isinstance(v, str) for v in labels.values()):
        raise ConfigError("must be a table of dotted name -> label", key="sweep.labels", value=labels)
    return SweepSection(
        grid=check_grid(t.get("grid", {})),
        seeds=None if "seeds" not in t else _positive_int(t["seeds"], "sweep.seeds"),
        seed=None if "seed" not in t else _positive_int(t["seed"], "sweep.seed", 0),
        backend=backend, address=address or None,
        workers=None if "workers" not in t else _positive_int(t["workers"], "sweep.workers"),
        metrics=_names(t.get("metrics", []), "sweep.metrics"),
        per_second=_names(t.get("per_second", []), "sweep.per_second"),
        labels={str(k): v for k, v in labels.items()})


@dataclass(frozen=True, slots=True)
class SweepSpec:
    """Everything that defines a sweep's table (what a resumed sweep must match); the backend is not part of it."""

    scenario: str                    # the scenario file (resolved path)
    scenario_sha256: str             # of the file as it was when the sweep started
    grid: dict[str, list[Any]]
    seeds: int
    sweep_seed: int
    overrides: tuple[str, ...] = ()  # --set, applied to every task before the grid point
    metrics: tuple[str, ...] = ()
    per_second: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def points(self) -> int:
        n = 1
        for values in self.grid.values():
            n *= len(values)
        return n

    @property
    def tasks(self) -> int:
        return self.points * self.seeds

    def identity(self) -> dict[str, Any]:
        """The fields a resumed sweep must match (labels are presentation only)."""
        return {"scenario": self.scenario, "scenario_sha256": self.scenario_sha256, "grid": self.grid,
                "seeds": self.seeds, "sweep_seed": self.sweep_seed, "overrides": list(self.overrides),
                "metrics": list(self.metrics), "per_second": list(self.per_second)}

    def to_json(self) -> dict[str, Any]:
        return {**self.identity(), "labels": self.labels}

    def grid_points(self) -> list[tuple[tuple[str, Any], ...]]:
        keys = list(self.grid)
        return [tuple(zip(keys, combo)) for combo in itertools.product(*(self.grid[k] for k in keys))]


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_points(spec: SweepSpec) -> None:
    """Load the scenario at every grid point (not run it), so an unknown key or a value of the wrong type stops the
    sweep before anything is written. The error names the grid point."""
    from market_sim.core.errors import MarketSimError
    from market_sim.simulation.scenario import load_scenario
    from market_sim.sweep.core import Task

    for params in spec.grid_points():
        task = Task(params, 0, spec.sweep_seed)
        try:
            load_scenario(spec.scenario, [*spec.overrides, *task.overrides()], spec.sweep_seed)
        except MarketSimError as exc:
            point = ", ".join(f"{k}={json.dumps(v) if isinstance(v, str) else v}" for k, v in params)
            raise ConfigError(f"grid point {point}: {' '.join(str(exc).split())}") from None
