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
