"""Parameter sweeps and Monte Carlo studies: grid combinations x seeds as tasks on a pluggable backend.

`tasks(grid, seeds, sweep_seed)` lists the tasks; each task's seed is derived from the sweep seed and the task's
parameters (a hash), so the same sweep gives the same table on any backend and any number of workers.
`run_sweep(scenario, tasks, backend=...)` runs them and returns one row per task. Backends: `LocalBackend`
(in-process, default) and `DaskBackend` (dask.distributed, the optional `[sweep]` extra, imported only when used).

`spec` reads a scenario's `[sweep]` section and checks every grid point before anything runs, `folder` streams the
rows into a resumable sweep folder (Parquet table, run folders and index), `report` summarises them (means with
95 % confidence intervals, plots). `market-sim sweep` (market_sim/cli/sweep.py) ties them together; see
docs/scaling.md.
"""

from market_sim.sweep.core import Backend, DaskBackend, LocalBackend, Task, make_tasks, parse_grid, run_sweep, \
    run_task, task_seed

__all__ = ["Backend", "LocalBackend", "DaskBackend", "Task", "make_tasks", "parse_grid", "run_sweep", "run_task",
           "task_seed"]
