"""Run results: one folder per run (tables as Parquet or CSV, metrics.json, the scenario and seed, plots), an
embedded SQLite index of runs, and load_run() returning a run's tables as pandas DataFrames."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from market_sim.core.errors import ConfigError
from market_sim.simulation.recorder import TABLE_COLUMNS
from market_sim.simulation.runner import RunOutcome

__all__ = ["RunRecord", "RunData", "RunIndex", "default_runs_dir", "write_run", "load_run", "table_hash"]

INDEX_NAME = "index.sqlite"


def default_runs_dir() -> Path:
    """Where runs go unless --out says otherwise: $MARKET_SIM_RUNS or ./runs."""
    return Path(os.environ.get("MARKET_SIM_RUNS", "runs"))


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One row of the run index."""

    run_id: str
    scenario: str
    params: dict[str, Any]
    seed: int
    started_at: str
    finished_at: str
    path: str
    metrics: dict[str, Any]


class RunIndex:
    """The SQLite index of runs kept next to the run folders (<runs dir>/index.sqlite)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("""CREATE TABLE IF NOT EXISTS runs (
                run_id TEXT PRIMARY KEY, scenario TEXT NOT NULL, params TEXT NOT NULL, seed INTEGER NOT NULL,
                started_at TEXT NOT NULL, finished_at TEXT NOT NULL, path TEXT NOT NULL,
                trades INTEGER, orders INTEGER, events INTEGER, wall_seconds REAL, metrics TEXT NOT NULL)""")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path)

    def add(self, rec: RunRecord) -> None:
        m = rec.metrics
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                       (rec.run_id, rec.scenario, json.dumps(rec.params, sort_keys=True), rec.seed, rec.started_at,
                        rec.finished_at, rec.path, m.get("trades"), m.get("orders"), m.get("events"),
                        m.get("wall_seconds"), json.dumps(m, sort_keys=True, default=str)))

    def list(self, limit: int | None = None) -> list[RunRecord]:
        """Runs, newest first."""
        sql = "SELECT run_id, scenario, params, seed, started_at, finished_at, path, metrics FROM runs " \
              "ORDER BY started_at DESC, run_id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._connect() as db:
            return [self._record(r) for r in db.execute(sql)]

    def get(self, run_id: str) -> RunRecord:
        """A run by id or unique id prefix."""
        with self._connect() as db:
            rows = list(db.execute("SELECT run_id, scenario, params, seed, started_at, finished_at, path, metrics "
                                   "FROM runs WHERE run_id = ? OR run_id LIKE ? ORDER BY run_id",
                                   (run_id, run_id.replace("%", "") + "%")))
        exact = [r for r in rows if r[0] == run_id]
        if exact:
            return self._record(exact[0])
        if len(rows) == 1:
            return self._record(rows[0])
        if not rows:
            raise ConfigError(f"no such run in {self.path}", key="run", value=run_id)
        raise ConfigError(f"ambiguous run id prefix; matches {', '.join(r[0] for r in rows[:5])}", key="run",
                          value=run_id)

    @staticmethod
    def _record(r: tuple) -> RunRecord:
        return RunRecord(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], r[6], json.loads(r[7]))


def _new_run_folder(scenario: str, seed: int, started: dt.datetime, root: Path) -> Path:
    """Create <root>/<time>-<scenario>-s<seed>[-n]; mkdir is the atomic claim, so concurrent runs never collide."""
    base = f"{started:%Y%m%d-%H%M%S}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', scenario)}-s{seed}"
    n = 1
    while True:
        folder = root / (base if n == 1 else f"{base}-{n}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            n += 1


def _frame(name: str, columns: Any) -> pd.DataFrame:
    if isinstance(columns, pd.DataFrame):
        return columns
    if isinstance(columns, list):  # rows as dicts (tables recorded by sections)
        frame = pd.DataFrame(columns)
        if frame.empty and name in TABLE_COLUMNS:
            frame = pd.DataFrame({c: pd.Series(dtype="object") for c in TABLE_COLUMNS[name]})
        return frame
    return pd.DataFrame(columns)


def write_tables(tables: dict[str, Any], folder: Path, fmt: str) -> dict[str, str]:
    """Write each table as <name>.parquet or <name>.csv; returns name -> file name."""
    files = {}
    for name, data in tables.items():
        frame = _frame(name, data)
        fname = f"{name}.{fmt}"
        if fmt == "parquet":
            frame.to_parquet(folder / fname, index=False)
        else:
            frame.to_csv(folder / fname, index=False)
        files[name] = fname
    return files


def write_run(outcome: RunOutcome, root: str | Path | None = None, *, overrides: Iterable[str] = (),
              started_at: dt.datetime | None = None, plots: bool | None = None) -> RunRecord:
    """Write a run's folder under `root`, index it in root/index.sqlite and return its record."""
    root = Path(root) if root is not None else default_runs_dir()
    root.mkdir(parents=True, exist_ok=True)
    sc = outcome.scenario
    started = started_at or dt.datetime.now(dt.timezone.utc)
    folder = _new_run_folder(sc.name, sc.seed, started, root)
    run_id = folder.name
    fmt = sc.output.format
    files = write_tables(outcome.tables, folder, fmt)
    for name, data in outcome.extra_files.items():
        (folder / name).write_bytes(data)
    metrics = dict(outcome.metrics)
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True, default=str) + "\n")
    (folder / "scenario.json").write_text(json.dumps(sc.raw, indent=2, sort_keys=True, default=str) + "\n")
    src = Path(sc.source) if sc.source else None
    if src is not None and src.suffix == ".toml" and src.is_file():
        (folder / "scenario.toml").write_bytes(src.read_bytes())  # as written; scenario.json is what ran
    finished = dt.datetime.now(dt.timezone.utc)
    run_info = {"run_id": run_id, "scenario": sc.name, "seed": sc.seed, "source": sc.source,
                "overrides": list(overrides), "started_at": started.isoformat(), "finished_at": finished.isoformat(),
                "format": fmt, "tables": files}
    (folder / "run.json").write_text(json.dumps(run_info, indent=2) + "\n")
    if plots is None:
        plots = sc.output.plots
    if plots:
        from market_sim.simulation.plots import write_plots

        write_plots({k: _frame(k, v) for k, v in outcome.tables.items()}, folder)
    record = RunRecord(run_id, sc.name, {"overrides": list(overrides), "source": sc.source}, sc.seed,
                       started.isoformat(), finished.isoformat(), str(folder.resolve()), metrics)
    RunIndex(root / INDEX_NAME).add(record)
    return record


@dataclass(frozen=True, slots=True)
class RunData:
    """A stored run: its tables as DataFrames, metrics and the effective scenario table."""

    run_id: str
    path: Path
    tables: dict[str, pd.DataFrame]
    metrics: dict[str, Any]
    scenario: dict[str, Any]
    info: dict[str, Any]

    def __getitem__(self, table: str) -> pd.DataFrame:
        return self.tables[table]


def resolve_run_path(run: str | Path, runs_dir: str | Path | None = None) -> Path:
    """A run folder from a path, or from a run id (or prefix) looked up in the index."""
    p = Path(run)
    if (p / "run.json").is_file():
        return p
    root = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    if (root / str(run) / "run.json").is_file():
        return root / str(run)
    index = root / INDEX_NAME
    if not index.is_file():
        raise ConfigError(f"not a run folder and no run index at {index}", key="run", value=str(run))
    return Path(RunIndex(index).get(str(run)).path)


def load_run(run: str | Path, runs_dir: str | Path | None = None) -> RunData:
    """Load a run (folder path, or id / id prefix from the index) with every table as a DataFrame."""
    folder = resolve_run_path(run, runs_dir)
    info = json.loads((folder / "run.json").read_text())
    tables = {}
    for name, fname in info["tables"].items():
        f = folder / fname
        tables[name] = pd.read_parquet(f) if f.suffix == ".parquet" else pd.read_csv(f)
    return RunData(info["run_id"], folder, tables, json.loads((folder / "metrics.json").read_text()),
                   json.loads((folder / "scenario.json").read_text()), info)


def table_hash(frame: pd.DataFrame) -> str:
    """A stable SHA-256 of a table's contents (column names and values), e.g. to compare trade logs."""
    import hashlib

    h = hashlib.sha256(",".join(map(str, frame.columns)).encode())
    h.update(frame.to_csv(index=False).encode())
    return h.hexdigest()
