"""`market-sim sweep`: a grid of parameters x seeds, every combination a task on a backend (in-process or Dask),
streamed into one resumable sweep folder (see market_sim.sweep.folder) with a summary table and plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
    TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from market_sim.core.errors import ConfigError

console = Console()
MAX_SEED = 2**63 - 1
SWEEP_DEFAULTS = ("output.plots=false",)  # per-run PNGs are skipped in a sweep (the sweep draws its own plots)


def _usage(message: str, hint: str) -> typer.BadParameter:
    return typer.BadParameter(message, param_hint=f"'{hint}'")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if v != v:
            return "n/a"
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"
    return str(v)


def _ci_text(mean: float, lo: float, hi: float) -> str:
    if mean != mean:
        return "n/a"
    half = (hi - lo) / 2
    return _fmt(mean) if not half or half != half else f"{_fmt(mean)} ± {_fmt(half)}"


def summary_tables(summary: Any, params: list[str], figures: list[str], labels: dict[str, str],
                   title: str) -> list[Table]:
    """The summary as tables of mean ± the half-width of the 95 % confidence interval. One parameter: a row per
    value with runs, failed and every figure. Several: one table per figure, the last parameter's values as
    columns and the other parameters' combinations as rows (plus a table of runs and failed)."""
    rows = summary.to_dict("records")

    def cell(r: dict[str, Any], f: str) -> Text:
        return Text(_ci_text(r[f"{f} mean"], r[f"{f} ci95_low"], r[f"{f} ci95_high"]))

    if len(params) == 1:
        p = params[0]
        table = Table(title=Text(title), title_justify="left")
        table.add_column(Text(labels.get(p, p)), overflow="fold")
        table.add_column("runs", justify="right")
        table.add_column("failed", justify="right")
        for f in figures:
            table.add_column(Text(labels.get(f, f)), justify="right", overflow="fold")
        for r in rows:
            table.add_row(Text(str(r[p])), Text(str(r["runs"])), Text(str(r["failed"])), *(cell(r, f) for f in figures))
        return [table]
    *outer, last = params
    columns: list[Any] = []
    for r in rows:
        if r[last] not in columns:
            columns.append(r[last])
    groups: dict[tuple, dict[Any, dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r[q] for q in outer), {})[r[last]] = r

    def pivot(heading: str, value: Any) -> Table:
        t = Table(title=Text(heading), title_justify="left")
        for q in outer:
            t.add_column(Text(labels.get(q, q)), overflow="fold")
        for c in columns:
            t.add_column(Text(f"{labels.get(last, last)} = {c}"), justify="right", overflow="fold")
        for key, by_col in groups.items():
            t.add_row(*(Text(str(k)) for k in key), *(value(by_col[c]) if c in by_col else Text("") for c in columns))
        return t

    tables = [pivot(f"{title}: runs (failed)", lambda r: Text(f"{r['runs']}" + (f" ({r['failed']} failed)"
                                                                                 if r["failed"] else "")))]
    tables += [pivot(labels.get(f, f), lambda r, f=f: cell(r, f)) for f in figures]
    return tables


def register(app: typer.Typer) -> None:
    @app.command("sweep")
    def sweep(
        scenario: str = typer.Argument(..., help="A scenario name (see `market-sim list`) or a scenario file; its "
                                                 "[sweep] section, if any, gives the defaults below."),
        grid: list[str] = typer.Option([], "--grid", help="A parameter axis KEY=V1,V2,... (repeat for more axes; "
                                                          "replaces the file's [sweep.grid])."),
        seeds: int = typer.Option(None, "--seeds", min=1, help="Replicates (seeds) per grid point (default: "
                                                               "[sweep].seeds, else 1)."),
        seed: int = typer.Option(None, "--seed", min=0, max=MAX_SEED,
                                 help="Sweep seed the task seeds derive from (default: [sweep].seed, else "
                                      "[scenario].seed)."),
        backend: str = typer.Option(None, "--backend", help="local (in-process, default) or dask."),
        address: str = typer.Option(None, "--address", help="Dask scheduler address (tcp://HOST:PORT); implies "
                                                            "--backend dask. Default: a LocalCluster."),
        workers: int = typer.Option(None, "--workers", min=1, help="Worker processes of the Dask LocalCluster "
                                                                   "(default: one per CPU)."),
        set_: list[str] = typer.Option([], "--set", help="Override a dotted key in every run, e.g. "
                                                         "scenario.duration=\"30s\"."),
        out: Path = typer.Option(..., "--out", help="The sweep folder (created, or resumed if it holds this same "
                                                    "sweep)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    ) -> None:
        """Run every grid combination x seed as a task; stream the results into one resumable sweep folder."""
        from market_sim.cli.main import Interrupted
        from market_sim.simulation.catalog import resolve_scenario
        from market_sim.simulation.scenario import read_scenario_file
        from market_sim.sweep.core import make_tasks, parse_grid
        from market_sim.sweep.folder import SweepFolder, check_sweep_dir
        from market_sim.sweep.spec import BACKENDS, SweepSpec, check_points, file_sha256, read_sweep_section

        # Every argument is checked before any work or any file: a bad one leaves no sweep folder behind.
        path = resolve_scenario(scenario)
        raw = read_scenario_file(path)
        section = read_sweep_section(raw)
        if grid:
            try:
                axes = parse_grid(grid)
            except ConfigError as exc:
                raise _usage(str(exc).removeprefix("--grid: "), "--grid") from None
        elif section.grid:
            axes = section.grid
        else:
            raise _usage("a sweep needs at least one axis: --grid KEY=V1,V2,... or a [sweep.grid] table in the "
                         "scenario file", "--grid")
        if backend is not None and backend not in BACKENDS:
            raise _usage(f"{backend!r} is not one of {', '.join(BACKENDS)}", "--backend")
        address = address or section.address
        chosen = backend or section.backend or ("dask" if address else "local")
        if chosen == "local" and address:
            raise _usage("--address needs --backend dask", "--address")
        n_workers = workers or section.workers
        if chosen == "local" and workers:
            raise _usage("--workers applies to --backend dask (the local backend runs one task at a time)",
                         "--workers")
        header = raw.get("scenario", {}) if isinstance(raw.get("scenario"), dict) else {}
        sweep_seed = seed if seed is not None else section.seed if section.seed is not None else \
            header.get("seed", 1)
        if isinstance(sweep_seed, bool) or not isinstance(sweep_seed, int) or not 0 <= sweep_seed <= MAX_SEED:
            raise ConfigError("must be an integer from 0 to 2^63-1", key="scenario.seed", value=sweep_seed)
        spec = SweepSpec(scenario=str(path.resolve()), scenario_sha256=file_sha256(path), grid=axes,
                         seeds=seeds or section.seeds or 1, sweep_seed=sweep_seed,
                         overrides=(*SWEEP_DEFAULTS, *set_), metrics=section.metrics,
                         per_second=section.per_second, labels=section.labels)
        check_points(spec)  # unknown keys, values of the wrong type: before anything runs
        resume = check_sweep_dir(out, spec)
        tasks = make_tasks(spec.grid, spec.seeds, spec.sweep_seed)
        folder = SweepFolder(out, spec, tasks)
        if resume is not None:
            folder.load_rows()
        done = folder.done()
        todo = [t for t in tasks if t.key not in done]
        engine = None
        if todo and chosen == "dask":
            from market_sim.sweep.core import DaskBackend

            engine = DaskBackend(workers=n_workers, address=address)  # an unreachable scheduler: ConfigError
        try:
            folder.open(resume)
            counts = _run(folder, todo, spec, engine, skipped=len(tasks) - len(todo), quiet=quiet)
        except KeyboardInterrupt:
            counts = _counts(folder, tasks, todo)
            folder.finish("interrupted", counts)
            left = len(tasks) - counts["complete"]
            raise Interrupted(f"interrupted; {counts['complete']} of {len(tasks)} tasks done, kept in {out} (run "
                              f"the same command again to run the other {left})") from None
        except BaseException:
            folder.finish("interrupted", _counts(folder, tasks, todo))
            raise
        finally:
            if engine is not None:
                engine.close()
        frame = folder.finish("complete", counts)
        name = str(header.get("name") or path.stem)
        _report(folder, frame, spec, counts, name=name, backend=chosen, workers=getattr(engine, "workers", 1))
        if counts["failed"]:
            raise ConfigError(f"{counts['failed']} of {len(tasks)} tasks failed twice (their rows in "
                              f"{out / 'results.parquet'} say why); run the same command again to retry them")


def _counts(folder: Any, tasks: list[Any], todo: list[Any]) -> dict[str, int]:
    keys = {t.key for t in todo}
    rows = folder.rows
    ran = sum(1 for k in keys if rows.get(k, {}).get("status") == "complete")
    failed = sum(1 for k in keys if rows.get(k, {}).get("status") == "failed")
    complete = sum(1 for t in tasks if rows.get(t.key, {}).get("status") == "complete")
    return {"tasks": len(tasks), "ran": ran, "failed": failed, "skipped": len(tasks) - len(todo),
            "complete": complete}


def _run(folder: Any, todo: list[Any], spec: Any, engine: Any, *, skipped: int, quiet: bool) -> dict[str, int]:
    from market_sim.sweep.core import LocalBackend, run_sweep

    total = len(folder.tasks)
    failed = 0

    def point(row: dict[str, Any]) -> str:
        return ", ".join(f"{k}={row.get(k)}" for k in spec.grid) + f", replicate {row.get('replicate')}"

    def report(task: Any, row: dict[str, Any], bar: Any = None, job: Any = None) -> None:
        nonlocal failed
        folder.add(task, row)
        if row.get("status") == "failed":
            failed += 1
            (bar.console if bar is not None else console).print(
                Text(f"task failed twice ({point(row)}, seed {row.get('seed')}): {row.get('error')}",
                     style="yellow"))
        if bar is not None:
            bar.update(job, advance=1, failed=f"{failed} failed" if failed else "")

    backend = engine or LocalBackend()
    if todo:
        if quiet:
            run_sweep(spec.scenario, todo, base_overrides=spec.overrides, backend=backend,
                      runs_dir=folder.runs_dir, metrics=spec.metrics, per_second=spec.per_second, on_row=report)
        else:
            with Progress(TextColumn("sweep", style="bold"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                          TextColumn("{task.fields[failed]}", style="yellow", markup=False), console=console,
                          transient=True) as bar:
                job = bar.add_task("sweep", total=total, completed=skipped, failed="")
                run_sweep(spec.scenario, todo, base_overrides=spec.overrides, backend=backend,
                          runs_dir=folder.runs_dir, metrics=spec.metrics, per_second=spec.per_second,
                          on_row=lambda t, r: report(t, r, bar, job))
    return _counts(folder, folder.tasks, todo)


def _report(folder: Any, frame: Any, spec: Any, counts: dict[str, int], *, name: str, backend: str,
            workers: int) -> None:
    from market_sim.sweep.report import numeric_figures, summarise, write_plots

    params = list(spec.grid)
    wanted = [*spec.metrics, *(f"{p}_per_s" for p in spec.per_second)]
    figures = numeric_figures(frame, params, wanted)
    labels = {**folder.labels, **spec.labels}
    summary = summarise(frame, params, spec.grid, figures)
    summary.to_csv(folder.root / "summary.csv", index=False)
    plots = write_plots(summary, params, spec.grid, figures, labels, folder.root / "plots", scenario=name,
                        seeds=spec.seeds) if figures else []
    shown = figures[:8]
    title = f"sweep {name}: {spec.points} grid points x {spec.seeds} seeds, mean ± 95 % CI"
    for table in summary_tables(summary, params, shown, labels, title):
        console.print(table)
    if len(figures) > len(shown):
        console.print(Text(f"({len(figures) - len(shown)} more figures in summary.csv)"))
    missing = [m for m in wanted if m not in frame.columns or frame[m].isna().all()]
    if missing:
        console.print(Text(f"not reported by any run: {', '.join(missing)}", style="yellow"))
    console.print(Text(f"{counts['tasks']} tasks: {counts['ran']} ran, {counts['failed']} failed, "
                       f"{counts['skipped']} skipped (done before); backend {backend}"
                       f"{f' ({workers} workers)' if backend == 'dask' else ''}"))
    console.print(Text(f"results: {folder.root / 'results.parquet'}, summary.csv, {len(plots)} plots in "
                       f"{folder.root / 'plots'}, run folders in {folder.runs_dir}"))
