"""One sweep folder: what ran, streamed to disk as each task ends, so an interrupted sweep resumes where it stopped.

    <dir>/sweep.json       the sweep (scenario, grid, seeds, sweep seed, figures), its status and counts
    <dir>/rows.jsonl       one line per finished task, appended as it ends (the stream a resumed sweep reads)
    <dir>/results.parquet  the table: one row per task, in task order (parameters, replicate, seed, status, error,
                           run id and folder, headline figures) -- only once the sweep is complete; until then the
                           rows so far are in results.partial.parquet, rewritten as they arrive
    <dir>/runs/            each task's run folder and the run index (index.sqlite), as `market-sim run --out`
    <dir>/summary.csv      per grid point: runs, failed, and for each figure the mean and its 95 % confidence
                           interval over the seeds
    <dir>/plots/*.png      each figure against each parameter, with 95 % confidence intervals

sweep.json's status is `running` while tasks run (also after a crash), `interrupted` after Ctrl-C, and `complete`
only once every task has a row (a failed task has one too, with its error); results.parquet exists only then, so a
partial sweep never passes for a complete one. Rerunning the same command runs only the missing (and failed) tasks.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from market_sim.core.errors import ConfigError
from market_sim.simulation.results import writable_parent
from market_sim.sweep.core import Task
from market_sim.sweep.spec import SweepSpec

__all__ = ["SweepFolder", "SWEEP_JSON", "ROWS", "TABLE", "PARTIAL_TABLE", "RUNNING", "INTERRUPTED", "COMPLETE",
           "table_frame"]

SWEEP_JSON, ROWS, TABLE, PARTIAL_TABLE, RUNS = "sweep.json", "rows.jsonl", "results.parquet", \
    "results.partial.parquet", "runs"
RUNNING, INTERRUPTED, COMPLETE = "running", "interrupted", "complete"
VERSION = 1


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def check_sweep_dir(root: Path, spec: SweepSpec) -> dict[str, Any] | None:
    """Before any work: `root` must be creatable, empty, or a sweep folder of this same sweep (to resume). Returns
    the stored sweep.json when resuming, else None. A ConfigError names the problem."""
    existing = writable_parent(root, "the sweep")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write the sweep to {root}: {existing} is not writable")
    if not root.exists():
        return None
    meta_path = root / SWEEP_JSON
    if not meta_path.is_file():
        if any(root.iterdir()):
            raise ConfigError(f"cannot write the sweep to {root}: the folder is not empty and holds no sweep "
                              f"({SWEEP_JSON}); choose another --out")
        return None
    try:
        meta = json.loads(meta_path.read_text())
        stored = {k: meta["spec"][k] for k in spec.identity()}
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"cannot resume the sweep in {root}: its {SWEEP_JSON} is unreadable") from None
    mine = json.loads(json.dumps(spec.identity(), default=str))
    if stored != mine:
        names = {"scenario_sha256": "scenario file contents", "sweep_seed": "sweep seed", "overrides": "--set",
                 "per_second": "per_second figures"}
        differ = ", ".join(names.get(k, k) for k in mine if stored.get(k) != mine[k])
        raise ConfigError(f"{root} holds a different sweep (its {differ} differ); choose another --out to start "
                          "a new one, or rerun that sweep's command to resume it")
    return meta


class SweepFolder:
    """The folder of one sweep; open() it (creating or resuming) once every argument has been checked."""

    def __init__(self, root: Path, spec: SweepSpec, tasks: Sequence[Task]) -> None:
        self.root = root
        self.spec = spec
        self.tasks = list(tasks)
        self.rows: dict[str, dict[str, Any]] = {}  # task key -> its latest row
        self.labels: dict[str, str] = {}
        self.meta: dict[str, Any] = {}
        self._last_table = 0.0

    @property
    def runs_dir(self) -> Path:
        return self.root / RUNS

    def open(self, resume_meta: dict[str, Any] | None) -> None:
        """Create the folder (or take up the stored one) and mark it running."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.runs_dir.mkdir(exist_ok=True)
        if resume_meta is not None:
            self.meta = resume_meta
            self.labels = dict(resume_meta.get("labels", {}))
            if not self.rows:
                self.load_rows()
        else:
            self.meta = {"version": VERSION, "spec": self.spec.to_json(), "created_at": _now(), "labels": {}}
        self.meta["spec"]["labels"] = self.spec.labels  # presentation: the latest wins
        self.meta.update(status=RUNNING, updated_at=_now(), tasks=len(self.tasks))
        self._write_meta()
        (self.root / TABLE).unlink(missing_ok=True)  # complete tables only: the rerun may change rows

    def load_rows(self) -> None:
        """The rows streamed by an earlier run of this sweep (rows.jsonl)."""
        path = self.root / ROWS
        if not path.is_file():
            return
        known = {t.key for t in self.tasks}
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
                key, row = entry["key"], entry["row"]
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a crash: that task runs again
            if key in known:
                self.rows[key] = row

    def done(self) -> set[str]:
        """Keys of the tasks that completed (a failed task runs again on resume)."""
        return {k for k, r in self.rows.items() if r.get("status") == "complete"}

    def add(self, task: Task, row: dict[str, Any]) -> None:
        """Stream one finished task's row to disk (rows.jsonl), and refresh the table every few seconds."""
        import time

        row = dict(row)
        self.labels.update(row.pop("_labels", {}) or {})
        if row.get("run_id"):
            row["run_dir"] = f"{RUNS}/{row['run_id']}"
        self.rows[task.key] = row
        with open(self.root / ROWS, "a") as f:
            f.write(json.dumps({"key": task.key, "row": row}, default=str) + "\n")
        if time.monotonic() - self._last_table > 2.0:
            self.write_table()

    def ordered_rows(self) -> list[dict[str, Any]]:
        return [self.rows[t.key] for t in self.tasks if t.key in self.rows]

    def write_table(self, complete: bool = False) -> pd.DataFrame:
        """The rows so far in task order: results.partial.parquet, or results.parquet (and no partial table) once
        every task has its row. Written to a temporary file, then renamed."""
        import time

        frame = table_frame(self.ordered_rows(), list(self.spec.grid))
        tmp = self.root / (TABLE + ".tmp")
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, self.root / (TABLE if complete else PARTIAL_TABLE))
        if complete:
            (self.root / PARTIAL_TABLE).unlink(missing_ok=True)
        self._last_table = time.monotonic()
        return frame

    def finish(self, status: str, counts: dict[str, int]) -> pd.DataFrame:
        """Write the table and sweep.json with the final status (complete only when every task has a row)."""
        if status == COMPLETE and len(self.ordered_rows()) < len(self.tasks):
            status = INTERRUPTED
        frame = self.write_table(complete=status == COMPLETE)
        self.meta.update(status=status, updated_at=_now(), counts=counts, labels=self.labels)
        self._write_meta()
        return frame

    def _write_meta(self) -> None:
        tmp = self.root / (SWEEP_JSON + ".tmp")
        tmp.write_text(json.dumps(self.meta, indent=2, default=str) + "\n")
        os.replace(tmp, self.root / SWEEP_JSON)


_FIRST = ("replicate", "seed", "status", "error", "run_id", "run_dir", "task_seconds")


def table_frame(rows: list[dict[str, Any]], params: list[str]) -> pd.DataFrame:
    """The sweep table: parameter columns, then the bookkeeping columns, then the figures (in first-seen order).
    A column mixing numbers and text (e.g. an error message where a figure was) is stored as text."""
    figures: list[str] = []
    for r in rows:
        figures += [k for k in r if k not in params and k not in _FIRST and k not in figures]
    columns = [*params, *_FIRST, *figures]
    frame = pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns)
    for c in frame.columns:
        if frame[c].dtype == object:
            kinds = {type(v) for v in frame[c] if v is not None and not (isinstance(v, float) and v != v)}
            if len(kinds) > 1 and not kinds <= {int, float}:
                frame[c] = frame[c].map(lambda v: None if v is None else str(v))
            elif kinds <= {int, float} and float in kinds:
                frame[c] = frame[c].astype(float)
    return frame
