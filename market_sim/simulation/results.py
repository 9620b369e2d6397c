"""Run results: one folder per run (tables as Parquet or CSV, metrics.json, the scenario and seed, plots), an
embedded SQLite index of runs, and load_run() returning a run's tables as pandas DataFrames.

A run folder is written under a temporary name, `<run id>.incomplete`, and renamed to `<run id>` only once every file
is written, so a folder named like a run always holds a whole run. Every run has a status (run.json, the index):

- `complete`: the simulation ran to its end.
- `interrupted` / `failed`: the simulation stopped early (Ctrl-C, or an error, kept in `error`). The folder holds the
  tables recorded until then (`simulated_ns` of `duration_ns`), without the scenario sections' end-of-run work.
  load_run() loads it with a PartialRunWarning; RunData.complete is False.
- `incomplete`: writing the folder was cut short. It keeps its `.incomplete` name; the index points to it and
  load_run() refuses it (IncompleteRunError), since any of its files may be truncated.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import sqlite3
import tempfile
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from market_sim.core.errors import ConfigError, MarketSimError
from market_sim.simulation.metrics import RunResults, metrics_json, results_from_json
from market_sim.simulation.recorder import TABLE_COLUMNS
from market_sim.simulation.runner import RunOutcome

if TYPE_CHECKING:
    from market_sim.simulation.runner import Simulation
    from market_sim.simulation.scenario import Scenario

__all__ = ["RunRecord", "RunData", "RunIndex", "RunWriter", "IncompleteRunError", "PartialRunWarning",
           "default_runs_dir", "check_runs_dir", "check_seed", "partial_outcome", "write_run", "load_run",
           "table_hash"]

INDEX_NAME = "index.sqlite"
INCOMPLETE_SUFFIX = ".incomplete"
COMPLETE, INTERRUPTED, FAILED, INCOMPLETE = "complete", "interrupted", "failed", "incomplete"
PARTIAL_STATUSES = (INTERRUPTED, FAILED)
MAX_SEED = 2**63 - 1  # the index stores seeds as SQLite INTEGER (signed 64-bit)


class IncompleteRunError(MarketSimError):
    """A run folder whose writing was cut short: its files may be truncated, so it is not loaded as a run."""

    def __init__(self, run: str, path: Path | str) -> None:
        super().__init__(f"run {run} is incomplete: writing its results was interrupted, so they cannot be "
                         f"trusted (the files written are kept in {path})")
        self.run = run
        self.path = Path(path)


class PartialRunWarning(UserWarning):
    """load_run() of a run that stopped early (status interrupted or failed): its tables end where it stopped."""


def default_runs_dir() -> Path:
    """Where runs go unless --out says otherwise: $MARKET_SIM_RUNS or ./runs."""
    return Path(os.environ.get("MARKET_SIM_RUNS", "runs"))


def writable_parent(root: Path, what: str) -> Path:
    """The nearest existing folder at or above `root` (where `root` would be created); a ConfigError saying why
    `what` cannot be written under `root` when that is not a folder."""
    existing = root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        why = "it exists and is not a folder" if existing == root else f"{existing} is not a folder"
        raise ConfigError(f"cannot write {what} to {root}: {why}")
    return existing


def check_runs_dir(root: str | Path | None, *, create: bool = False) -> Path:
    """Make sure run folders and the index can be written under `root` (a missing folder must be creatable: its
    nearest existing parent is checked, and it is created only with `create`); a ConfigError names the problem.
    Meant to run before any simulation work, so a finished run is never lost to a bad folder."""
    root = Path(root) if root is not None else default_runs_dir()
    existing = writable_parent(root, "runs")
    try:
        fd, probe = tempfile.mkstemp(prefix=".market-sim-write-check-", dir=existing)
        os.close(fd)
        os.unlink(probe)
        if create:
            root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot write runs to {root}: {exc.strerror or exc}") from None
    index = root / INDEX_NAME
    if index.exists() or create:
        try:
            if index.exists() and not index.is_file():
                raise sqlite3.DatabaseError("not a file")
            RunIndex(index)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot use the run index {index}: {exc}") from None
    return root


def check_seed(seed: object) -> int:
    """A seed the index can store: an integer in 0..2^63-1."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ConfigError("must be an integer from 0 to 2^63-1", key="scenario.seed", value=seed)
    return seed


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
    status: str = COMPLETE
    error: str | None = None

    @property
    def complete(self) -> bool:
        return self.status == COMPLETE


class RunIndex:
    """The SQLite index of runs kept next to the run folders (<runs dir>/index.sqlite)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("""CREATE TABLE IF NOT EXISTS runs (
                run_id TEXT PRIMARY KEY, scenario TEXT NOT NULL, params TEXT NOT NULL, seed INTEGER NOT NULL,
                started_at TEXT NOT NULL, finished_at TEXT NOT NULL, path TEXT NOT NULL,
                trades INTEGER, orders INTEGER, events INTEGER, wall_seconds REAL, metrics TEXT NOT NULL,
                status TEXT NOT NULL DEFAULT 'complete', error TEXT)""")
            columns = {r[1] for r in db.execute("PRAGMA table_info(runs)")}
            if "status" not in columns:  # an index from before run statuses: its runs count as complete
                db.execute("ALTER TABLE runs ADD COLUMN status TEXT NOT NULL DEFAULT 'complete'")
                db.execute("ALTER TABLE runs ADD COLUMN error TEXT")

    _COLUMNS = "run_id, scenario, params, seed, started_at, finished_at, path, metrics, status, error"

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path)

    def add(self, rec: RunRecord) -> None:
        """Insert a run, or replace the row of the same run id (a run's status moves from incomplete to final)."""
        m = rec.metrics
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO runs (run_id, scenario, params, seed, started_at, finished_at, path, "
                       "trades, orders, events, wall_seconds, metrics, status, error) "
                       "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       (rec.run_id, rec.scenario, json.dumps(rec.params, sort_keys=True), rec.seed, rec.started_at,
                        rec.finished_at, rec.path, m.get("trades"), m.get("orders"), m.get("events"),
                        m.get("wall_seconds"), json.dumps(m, sort_keys=True, default=str), rec.status, rec.error))

    def list(self, limit: int | None = None) -> list[RunRecord]:
        """Runs, newest first."""
        sql = f"SELECT {self._COLUMNS} FROM runs ORDER BY started_at DESC, run_id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._connect() as db:
            return [self._record(r) for r in db.execute(sql)]

    def get(self, run_id: str) -> RunRecord:
        """A run by id or unique id prefix."""
        with self._connect() as db:
            rows = list(db.execute(f"SELECT {self._COLUMNS} FROM runs WHERE run_id = ? OR run_id LIKE ? "
                                   "ORDER BY run_id", (run_id, run_id.replace("%", "") + "%")))
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
        rec = RunRecord(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], r[6], json.loads(r[7]), r[8], r[9])
        if rec.status == INCOMPLETE:
            # The process may have stopped between renaming the finished folder and updating its row.
            tmp = Path(rec.path)
            final = tmp.with_name(tmp.name.removesuffix(INCOMPLETE_SUFFIX))
            if not tmp.exists() and (final / "run.json").is_file():
                info = json.loads((final / "run.json").read_text())
                rec = RunRecord(rec.run_id, rec.scenario, rec.params, rec.seed, rec.started_at, rec.finished_at,
                                str(final), rec.metrics, info.get("status", COMPLETE), info.get("error"))
        return rec


def _claim_run_folder(scenario: str, seed: int, started: dt.datetime, root: Path) -> tuple[str, Path]:
    """Pick the run id <time>-<scenario>-s<seed>[-n] and create its temporary folder <run id>.incomplete; mkdir is
    the atomic claim, so concurrent runs never collide."""
    base = f"{started:%Y%m%d-%H%M%S}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', scenario)}-s{seed}"
    n = 1
    while True:
        run_id = base if n == 1 else f"{base}-{n}"
        n += 1
        if (root / run_id).exists():
            continue
        try:
            (root / (run_id + INCOMPLETE_SUFFIX)).mkdir()
            return run_id, root / (run_id + INCOMPLETE_SUFFIX)
        except FileExistsError:
            continue


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


class RunWriter:
    """Writes one run: construct it before the simulation starts (it checks the runs folder and the seed, and claims
    the run id and its temporary folder), then write() the outcome, or discard() if nothing was computed."""

    def __init__(self, root: str | Path | None, scenario: "Scenario", *, overrides: Iterable[str] = (),
                 started_at: dt.datetime | None = None) -> None:
        check_seed(scenario.seed)
        self.root = check_runs_dir(root, create=True)
        self.scenario = scenario
        self.overrides = list(overrides)
        self.started = started_at or dt.datetime.now(dt.timezone.utc)
        self.index = RunIndex(self.root / INDEX_NAME)
        self.run_id, self.tmp = _claim_run_folder(scenario.name, scenario.seed, self.started, self.root)
        self.folder = self.root / self.run_id
        self.state = "claimed"  # -> writing -> done (or stays writing if cut short)

    def discard(self) -> None:
        """Give up the claimed run (nothing was computed): remove its empty temporary folder."""
        if self.state == "claimed":
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.state = "discarded"

    def write(self, outcome: RunOutcome, *, plots: bool | None = None, status: str = COMPLETE,
              error: str | None = None, simulated_ns: int | None = None) -> RunRecord:
        """Write the run's files into the temporary folder, rename it to the run id, and index the run with
        `status`. If this is cut short (Ctrl-C, a full disk), the folder keeps its .incomplete name and the index
        marks it incomplete."""
        if status not in (COMPLETE, INTERRUPTED, FAILED):
            raise ValueError(f"unknown run status {status!r}")
        if self.state != "claimed":
            raise RuntimeError(f"run {self.run_id} was already {self.state}")
        sc = outcome.scenario
        metrics = metrics_json(outcome.metrics)  # typed section results rendered; the index keeps the same JSON
        params = {"overrides": self.overrides, "source": sc.source}
        self.state = "writing"
        self.index.add(RunRecord(self.run_id, sc.name, params, sc.seed, self.started.isoformat(),
                                 self.started.isoformat(), str(self.tmp.resolve()), metrics, INCOMPLETE, error))
        folder = self.tmp
        fmt = sc.output.format
        files = write_tables(outcome.tables, folder, fmt)
        for name, data in outcome.extra_files.items():
            (folder / name).write_bytes(data)
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
        (folder / "scenario.json").write_text(json.dumps(sc.raw, indent=2, sort_keys=True, default=str) + "\n")
        src = Path(sc.source) if sc.source else None
        if src is not None and src.suffix == ".toml" and src.is_file():
            (folder / "scenario.toml").write_bytes(src.read_bytes())  # as written; scenario.json is what ran
        if plots is None:
            plots = sc.output.plots
        if plots:
            from market_sim.simulation.plots import write_plots

            write_plots({k: _frame(k, v) for k, v in outcome.tables.items()}, folder)
        finished = dt.datetime.now(dt.timezone.utc)
        run_info = {"run_id": self.run_id, "scenario": sc.name, "seed": sc.seed, "source": sc.source,
                    "overrides": self.overrides, "started_at": self.started.isoformat(),
                    "finished_at": finished.isoformat(), "format": fmt, "tables": files, "status": status}
        if status != COMPLETE:
            run_info.update(error=error, simulated_ns=simulated_ns, duration_ns=sc.duration)
        # run.json last: a folder without it is not a run, and the rename below is what makes it one.
        (folder / "run.json").write_text(json.dumps(run_info, indent=2) + "\n")
        os.rename(self.tmp, self.folder)
        self.state = "done"
        record = RunRecord(self.run_id, sc.name, params, sc.seed, self.started.isoformat(), finished.isoformat(),
                           str(self.folder.resolve()), metrics, status, error)
        self.index.add(record)
        return record


def partial_outcome(sim: "Simulation", wall_seconds: float) -> RunOutcome:
    """What a simulation that stopped early (Ctrl-C, an error) had computed: the tables and figures recorded so far.
    The agents' on_stop and the sections' finish hooks do not run (they may be what failed), so the sections'
    end-of-run files and figures are missing. A table that cannot be assembled any more is left out."""
    kernel = sim.kernel
    try:
        tables: dict[str, Any] = sim.recorder.tables()
    except Exception:  # e.g. marking a position to market failed: keep the raw tables without agent_pnl
        rows = getattr(sim.recorder, "_rows", {})
        tables = {}
        for name, data in rows.items():
            cols = TABLE_COLUMNS[name]
            values = list(zip(*data)) if data else [()] * len(cols)
            tables[name] = {c: list(v) for c, v in zip(cols, values)}
    tables.update(sim.tables)
    try:
        metrics = sim.recorder.metrics()
    except Exception:
        metrics = {"scenario": sim.scenario.name, "seed": sim.seed, "duration_ns": sim.scenario.duration}
    metrics.update(events=kernel.events_processed, wall_seconds=round(wall_seconds, 4),
                   events_per_second=round(kernel.events_processed / wall_seconds) if wall_seconds > 0 else None)
    metrics.update(sim.metrics)
    return RunOutcome(sim.scenario, tables, metrics, wall_seconds, kernel.events_processed, dict(sim.extra_files))


def write_run(outcome: RunOutcome, root: str | Path | None = None, *, overrides: Iterable[str] = (),
              started_at: dt.datetime | None = None, plots: bool | None = None) -> RunRecord:
    """Write a finished run's folder under `root`, index it in root/index.sqlite and return its record."""
    writer = RunWriter(root, outcome.scenario, overrides=overrides, started_at=started_at)
    return writer.write(outcome, plots=plots)


@dataclass(frozen=True, slots=True)
class RunData:
    """A stored run: its tables as DataFrames, metrics (metrics.json as written), `results` (the same, typed) and
    the effective scenario table."""

    run_id: str
    path: Path
    tables: dict[str, pd.DataFrame]
    metrics: dict[str, Any]
    scenario: dict[str, Any]
    info: dict[str, Any]

    @property
    def status(self) -> str:
        """complete, interrupted or failed (see the module docstring)."""
        return self.info.get("status", COMPLETE)

    @property
    def complete(self) -> bool:
        return self.status == COMPLETE

    @property
    def error(self) -> str | None:
        return self.info.get("error")

    @property
    def results(self) -> RunResults:
        """The run's typed results: results.market.trades, results["consensus"].trade_log_verified, ... (a run
        stored before typed results gives its market figures typed and its other figures in results.legacy)."""
        return results_from_json(self.metrics)

    def __getitem__(self, table: str) -> pd.DataFrame:
        return self.tables[table]


def resolve_run_path(run: str | Path, runs_dir: str | Path | None = None) -> Path:
    """A run folder from a path, or from a run id (or prefix) looked up in the index."""
    p = Path(run)
    if p.name.endswith(INCOMPLETE_SUFFIX) and p.is_dir():
        raise IncompleteRunError(p.name.removesuffix(INCOMPLETE_SUFFIX), p)
    if (p / "run.json").is_file():
        return p
    root = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    if (root / str(run) / "run.json").is_file():
        return root / str(run)
    index = root / INDEX_NAME
    if not index.is_file():
        raise ConfigError(f"not a run folder and no run index at {index}", key="run", value=str(run))
    rec = RunIndex(index).get(str(run))
    if rec.status == INCOMPLETE:
        raise IncompleteRunError(rec.run_id, rec.path)
    return Path(rec.path)


def load_run(run: str | Path, runs_dir: str | Path | None = None) -> RunData:
    """Load a run (folder path, or id / id prefix from the index) with every table as a DataFrame.

    A run that stopped early loads with a PartialRunWarning (RunData.status says why); a folder whose writing was
    cut short raises IncompleteRunError."""
    folder = resolve_run_path(run, runs_dir)
    info = json.loads((folder / "run.json").read_text())
    if info.get("status", COMPLETE) != COMPLETE:
        warnings.warn(f"run {info['run_id']} is partial ({info['status']}: {_partial_text(info)}); its tables end "
                      "where it stopped", PartialRunWarning, stacklevel=2)
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


def _partial_text(info: dict[str, Any]) -> str:
    sim, total = info.get("simulated_ns"), info.get("duration_ns")
    text = f"simulated {sim / 1e9:,.3f} of {total / 1e9:,.0f} s" if sim is not None and total else "stopped early"
    return text + (f"; {info['error']}" if info.get("error") else "")


def partial_note(status: str, info: dict[str, Any]) -> str:
    """One phrase describing a partial run, e.g. 'interrupted: simulated 12.000 of 60 s'."""
    return f"{status}: {_partial_text(info)}"
