"""Sweeps: derived seeds, same table on any backend, failures retried and reported, bad grids rejected."""

from __future__ import annotations

import pytest

from market_sim.core.errors import ConfigError
from market_sim.simulation.catalog import resolve_scenario
from market_sim.sweep import LocalBackend, make_tasks, parse_grid, run_sweep, task_seed

SHORT = ["scenario.duration=\"20s\""]


def test_parse_grid_values_are_toml_literals():
    assert parse_grid(["agents.noise.count=2,4"]) == {"agents.noise.count": [2, 4]}


@pytest.mark.parametrize("spec", ["agents.noise.count=", "=1,2", "nokey", "a=1,1"])
def test_bad_grid_is_a_config_error(spec):
    with pytest.raises(ConfigError):
        parse_grid([spec])


def test_task_seed_depends_on_params_and_replicate_not_order():
    tasks = make_tasks({"a": [1, 2]}, 2, 7)
    assert len(tasks) == 4 and len({t.seed for t in tasks}) == 4
    assert task_seed(7, (("a", 1),), 0) == tasks[0].seed


def test_failed_task_is_retried_then_reported():
    path = resolve_scenario("random-market")
    tasks = make_tasks({"agents.noise.count": [2, -1]}, 1, 3)
    rows = run_sweep(path, tasks, base_overrides=SHORT, backend=LocalBackend())
    assert [r["status"] for r in rows] == ["complete", "failed"]
    assert rows[1]["agents.noise.count"] == -1 and rows[1]["error"]


@pytest.mark.sweep  # starts a 2-worker Dask LocalCluster (several seconds)
def test_dask_two_workers_gives_the_same_table_as_in_process():
    pytest.importorskip("dask.distributed")
    from market_sim.sweep import DaskBackend

    path = resolve_scenario("random-market")
    tasks = make_tasks({"agents.noise.count": [2, 4]}, 2, 11)
    local = run_sweep(path, tasks, base_overrides=SHORT)
    backend = DaskBackend(workers=2)
    try:
        dask = run_sweep(path, tasks, base_overrides=SHORT, backend=backend)
    finally:
        backend.close()
    drop = ("task_seconds", "_labels")
    assert local[0]["trades"] > 0 and "trades" in local[0]["_labels"]  # the figures are collected
    assert [{k: v for k, v in r.items() if k not in drop} for r in local] == \
        [{k: v for k, v in r.items() if k not in drop} for r in dask]


def test_run_task_collects_named_figures_and_rates():
    from market_sim.sweep import run_task

    path = resolve_scenario("random-market")
    (task,) = make_tasks({"agents.noise.count": [3]}, 1, 2)
    row = run_task(str(path), SHORT, task, None, ["no.such.figure"], ["trades"])
    assert row["trades"] > 0 and row["trades_per_s"] == row["trades"] / 20  # 20 simulated seconds
    assert row["no.such.figure"] is None  # asked for, not reported by this run: the column exists, empty
    assert row["_labels"]["trades_per_s"] == "trades per simulated second"
    assert (row["status"], row["error"], row["seed"]) == ("complete", None, task.seed)


def test_ci95_is_a_student_t_interval():
    from market_sim.sweep.report import ci95

    mean, lo, hi, n = ci95([1.0, 2.0, 3.0, None, float("nan")])
    assert (mean, n) == (2.0, 3)
    assert hi - mean == pytest.approx(4.302652729911275 / 3 ** 0.5) and mean - lo == pytest.approx(hi - mean)
    assert ci95([5]) == (5.0, 5.0, 5.0, 1)


def test_a_column_mixing_numbers_and_text_is_stored_as_text():
    from market_sim.sweep.folder import table_frame

    frame = table_frame([{"a": 1, "x": 2.5, "status": "complete"}, {"a": 2, "x": "n/a", "status": "failed"},
                         {"a": 3, "x": 1, "status": "complete"}], ["a"])
    assert list(frame.columns[:4]) == ["a", "replicate", "seed", "status"]
    assert list(frame["x"]) == ["2.5", "n/a", "1"] and list(frame["a"]) == [1, 2, 3]
