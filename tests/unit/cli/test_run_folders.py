"""The results writer: a run folder gets its run id only when every file is written; partial runs are marked in
run.json and the index; an index from before run statuses still opens."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import warnings
from pathlib import Path

import pytest

import market_sim.simulation.results as results
from market_sim.core.errors import ConfigError
from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.results import (
    INDEX_NAME,
    IncompleteRunError,
    PartialRunWarning,
    RunIndex,
    RunWriter,
    check_runs_dir,
    load_run,
    partial_outcome,
)
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import load_scenario

STARTED = dt.datetime(2026, 12, 1, 12, 0, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def outcome():
    sc = load_scenario(resolve_scenario("flash-crash"), ["scenario.duration=5s"])
    return Simulation(sc).run()


def test_the_folder_is_temporary_until_written(outcome, tmp_path, monkeypatch):
    writer = RunWriter(tmp_path, outcome.scenario, started_at=STARTED)
    assert writer.run_id == "20261201-120000-flash-crash-s7"
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [writer.run_id + ".incomplete"]
    seen = {}
    real = results.write_tables

    def spy(tables, folder, fmt):  # noqa: ANN001, ANN202  (while writing: indexed as incomplete, not renamed)
        (rec,) = RunIndex(tmp_path / INDEX_NAME).list()
        seen.update(status=rec.status, final_exists=(tmp_path / writer.run_id).exists())
        return real(tables, folder, fmt)

    monkeypatch.setattr(results, "write_tables", spy)
    rec = writer.write(outcome, plots=False)
    assert seen == {"status": "incomplete", "final_exists": False}
    assert rec.status == "complete" and Path(rec.path) == (tmp_path / writer.run_id).resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == [writer.run_id, INDEX_NAME]
    assert json.loads((tmp_path / writer.run_id / "run.json").read_text())["status"] == "complete"
    (listed,) = RunIndex(tmp_path / INDEX_NAME).list()
    assert (listed.status, listed.path) == ("complete", rec.path)


def test_same_second_runs_get_distinct_ids(outcome, tmp_path):
    a = RunWriter(tmp_path, outcome.scenario, started_at=STARTED)
    b = RunWriter(tmp_path, outcome.scenario, started_at=STARTED)
    a.write(outcome, plots=False)
    c = RunWriter(tmp_path, outcome.scenario, started_at=STARTED)
    assert [a.run_id, b.run_id, c.run_id] == ["20261201-120000-flash-crash-s7", "20261201-120000-flash-crash-s7-2",
                                              "20261201-120000-flash-crash-s7-3"]


def test_discard_leaves_nothing(outcome, tmp_path):
    writer = RunWriter(tmp_path, outcome.scenario, started_at=STARTED)
    writer.discard()
    assert [p.name for p in tmp_path.iterdir()] == [INDEX_NAME] and RunIndex(tmp_path / INDEX_NAME).list() == []


def test_a_write_that_fails_leaves_an_incomplete_folder(outcome, tmp_path, monkeypatch):
    def full_disk(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(results, "write_tables", full_disk)
    writer = RunWriter(tmp_path, outcome.scenario, started_at=STARTED)
    with pytest.raises(OSError, match="No space left"):
        writer.write(outcome, plots=False)
    assert writer.state == "writing"
    (rec,) = RunIndex(tmp_path / INDEX_NAME).list()
    assert rec.status == "incomplete" and not rec.complete
    with pytest.raises(IncompleteRunError, match=f"run {writer.run_id} is incomplete"):
        load_run(writer.run_id, tmp_path)


def test_a_partial_run_is_marked_everywhere(outcome, tmp_path):
    writer = RunWriter(tmp_path, outcome.scenario, started_at=STARTED)
    rec = writer.write(outcome, plots=False, status="failed", error="RuntimeError: boom", simulated_ns=2 * 10**9)
    assert (rec.status, rec.error, rec.complete) == ("failed", "RuntimeError: boom", False)
    info = json.loads((tmp_path / rec.run_id / "run.json").read_text())
    assert {k: info[k] for k in ("status", "error", "simulated_ns", "duration_ns")} == {
        "status": "failed", "error": "RuntimeError: boom", "simulated_ns": 2 * 10**9, "duration_ns": 5 * 10**9}
    (listed,) = RunIndex(tmp_path / INDEX_NAME).list()
    assert (listed.status, listed.error) == ("failed", "RuntimeError: boom")
    with pytest.warns(PartialRunWarning, match=r"partial \(failed: simulated 2.000 of 5 s; RuntimeError: boom\)"):
        data = load_run(rec.run_id, tmp_path)
    assert (data.status, data.complete, data.error) == ("failed", False, "RuntimeError: boom")


def test_unknown_status_is_refused(outcome, tmp_path):
    writer = RunWriter(tmp_path, outcome.scenario, started_at=STARTED)
    with pytest.raises(ValueError, match="unknown run status 'done'"):
        writer.write(outcome, status="done")


def test_partial_outcome_holds_what_was_recorded(tmp_path):
    sc = load_scenario(resolve_scenario("flash-crash"), ["scenario.duration=60s"])
    sim = Simulation(sc).build()
    sim.kernel.run(until=10 * 10**9)
    part = partial_outcome(sim, 0.5)
    assert part.metrics["trades"] == len(part.tables["trades"]["ts"]) == len(sim.recorder.trades)
    assert max(part.tables["trades"]["ts"], default=0) <= 10 * 10**9
    assert part.metrics["events"] == sim.kernel.events_processed and part.metrics["wall_seconds"] == 0.5
    assert set(part.tables) >= {"trades", "orders", "order_events", "book_snapshots", "agent_pnl"}


def test_a_seed_the_index_cannot_store_is_refused_before_claiming(outcome, tmp_path):
    import dataclasses

    big = dataclasses.replace(outcome.scenario, seed=2**63)
    with pytest.raises(ConfigError, match=r"scenario.seed: must be an integer from 0 to 2\^63-1"):
        RunWriter(tmp_path / "runs", big)
    assert not (tmp_path / "runs").exists()


def test_check_runs_dir_creates_nothing_unless_asked(tmp_path):
    assert check_runs_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert list(tmp_path.iterdir()) == []
    check_runs_dir(tmp_path / "a" / "b", create=True)
    assert [p.name for p in (tmp_path / "a" / "b").iterdir()] == [INDEX_NAME]


def test_an_index_from_before_statuses_opens_and_its_runs_count_as_complete(tmp_path):
    with sqlite3.connect(tmp_path / INDEX_NAME) as db:
        db.execute("""CREATE TABLE runs (
            run_id TEXT PRIMARY KEY, scenario TEXT NOT NULL, params TEXT NOT NULL, seed INTEGER NOT NULL,
            started_at TEXT NOT NULL, finished_at TEXT NOT NULL, path TEXT NOT NULL,
            trades INTEGER, orders INTEGER, events INTEGER, wall_seconds REAL, metrics TEXT NOT NULL)""")
        db.execute("INSERT INTO runs VALUES ('old', 'x', '{}', 1, '2026', '2026', '/nowhere', 1, 1, 1, 0.1, '{}')")
    (rec,) = RunIndex(tmp_path / INDEX_NAME).list()
    assert (rec.run_id, rec.status, rec.error) == ("old", "complete", None)


def test_a_row_left_incomplete_after_the_rename_follows_the_folder(outcome, tmp_path):
    # The process stopped between renaming the finished folder and updating its index row.
    writer = RunWriter(tmp_path, outcome.scenario, started_at=STARTED)
    rec = writer.write(outcome, plots=False)
    index = RunIndex(tmp_path / INDEX_NAME)
    index.add(results.RunRecord(rec.run_id, rec.scenario, rec.params, rec.seed, rec.started_at, rec.finished_at,
                                str(writer.tmp.resolve()), rec.metrics, "incomplete"))
    (listed,) = index.list()
    assert (listed.status, listed.path) == ("complete", str(tmp_path.resolve() / rec.run_id))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_run(rec.run_id[:12], tmp_path).complete
