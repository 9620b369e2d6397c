"""`market-sim list | run | runs | show`: scenarios, simulation runs and their stored results."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from market_sim.core.errors import ConfigError

console = Console()


def _catalog_table() -> Table:
    from market_sim.simulation.catalog import scenarios

    table = Table(title="scenarios")
    table.add_column("name", style="bold")
    table.add_column("package")
    table.add_column("description")
    for entry in scenarios().values():
        table.add_row(entry.name, entry.package, entry.description)
    return table


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4f}".rstrip("0").rstrip(".") if abs(v) < 1e6 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return "" if v is None else str(v)


def print_summary(run_id: str, path: str, metrics: dict[str, Any]) -> None:
    """The end-of-run summary: headline figures, per-symbol trading and PnL by agent group."""
    head = Table(title=f"run {run_id}", show_header=False)
    head.add_column(style="bold")
    head.add_column()
    seconds = metrics.get("duration_ns", 0) / 1e9
    rows = [("scenario", metrics.get("scenario")), ("seed", metrics.get("seed")),
            ("simulated", f"{seconds:,.0f} s"), ("agents", metrics.get("agents")), ("orders", metrics.get("orders")),
            ("trades", metrics.get("trades")), ("volume (lots)", metrics.get("volume")),
            ("kernel events", metrics.get("events")), ("wall time (s)", metrics.get("wall_seconds")),
            ("events / s", metrics.get("events_per_second")), ("results", path)]
    for k, v in rows:
        head.add_row(k, _fmt(v))
    console.print(head)
    symbols = metrics.get("symbols") or {}
    if symbols:
        t = Table(title="instruments")
        for col in ("symbol", "trades", "volume", "first", "min", "max", "last"):
            t.add_column(col, justify="right" if col != "symbol" else "left")
        for s, m in symbols.items():
            t.add_row(s, _fmt(m["trades"]), _fmt(m["volume"]), _fmt(m["first_price"]), _fmt(m["min_price"]),
                      _fmt(m["max_price"]), _fmt(m["last_price"]))
        console.print(t)
    pnl = metrics.get("pnl_by_group") or {}
    if pnl:
        t = Table(title="PnL by agent group (mark-to-market, quote currency)")
        t.add_column("group")
        t.add_column("pnl", justify="right")
        for g, v in pnl.items():
            t.add_row(g, f"{v:,.2f}")
        console.print(t)
    scalars = {k: v for k, v in metrics.items() if k not in _SHOWN and not isinstance(v, (dict, list))}
    if scalars:  # figures added by scenario sections (consensus, settlement, DeFi)
        t = Table(title="more metrics", show_header=False)
        t.add_column(style="bold")
        t.add_column()
        for k, v in sorted(scalars.items()):
            t.add_row(k, _fmt(v))
        console.print(t)


_SHOWN = {"scenario", "seed", "duration_ns", "agents", "orders", "trades", "volume", "events", "wall_seconds",
          "events_per_second", "commands"}


def register(app: typer.Typer) -> None:
    @app.command("list")
    def list_scenarios() -> None:
        """List the named scenarios with one-line descriptions."""
        console.print(_catalog_table())

    @app.command("run")
    def run(
        scenario: str = typer.Argument(..., help="A scenario name (see `market-sim list`) or a scenario file."),
        set_: list[str] = typer.Option([], "--set", help="Override a dotted key, e.g. agents.noise.count=50."),
        seed: int = typer.Option(None, "--seed", help="Random seed (overrides [scenario].seed)."),
        out: Path = typer.Option(None, "--out", help="Runs folder (default $MARKET_SIM_RUNS or ./runs)."),
        realtime: float = typer.Option(None, "--realtime", help="Pace to the wall clock at this speed (1 = live)."),
        no_plots: bool = typer.Option(False, "--no-plots", help="Skip the PNG plots."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
        rpc: str = typer.Option(None, "--rpc", help="Settle on this JSON-RPC node (same as --set settlement.rpc=URL)."),
    ) -> None:
        """Run a scenario and store its results (tables, metrics, plots) in a new run folder."""
        from market_sim.core.clock import NS_PER_SECOND
        from market_sim.simulation.catalog import resolve_scenario
        from market_sim.simulation.clocks import make_pacer
        from market_sim.simulation.results import write_run
        from market_sim.simulation.runner import Simulation
        from market_sim.simulation.scenario import load_scenario

        path = resolve_scenario(scenario)
        sc = load_scenario(path, set_, seed)
        if rpc:
            if "settlement" not in sc.raw:
                raise ConfigError(f"--rpc applies to scenarios with on-chain settlement ([settlement]); "
                                  f"{scenario!r} has none")
            sc = load_scenario(path, [*set_, f"settlement.rpc={rpc}"], seed)
        sim = Simulation(sc, pacer=make_pacer(realtime)).build()
        started = dt.datetime.now(dt.timezone.utc)
        # Real time: refresh about five times per wall second; otherwise 200 steps over the run.
        chunk = max(1, int(realtime * NS_PER_SECOND / 5)) if realtime else None
        if quiet:
            outcome = sim.run(chunk=chunk)
        else:
            with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[clock]}"),
                          TimeElapsedColumn(), TextColumn("{task.fields[prices]}"), console=console,
                          transient=True) as bar:
                task = bar.add_task(sc.name, total=sc.duration, clock="", prices="")

                def progress(now: int, total: int) -> None:
                    bar.update(task, completed=now, clock=f"{now / NS_PER_SECOND:,.0f}/{total / NS_PER_SECOND:,.0f} s",
                               prices=_top_prices(sim) if realtime else "")

                outcome = sim.run(progress, chunk=chunk)
        record = write_run(outcome, out, overrides=set_, started_at=started, plots=False if no_plots else None)
        print_summary(record.run_id, record.path, record.metrics)

    @app.command("runs")
    def runs(
        out: Path = typer.Option(None, "--out", help="Runs folder (default $MARKET_SIM_RUNS or ./runs)."),
        limit: int = typer.Option(30, "--limit", help="Show at most this many runs."),
    ) -> None:
        """List past runs from the run index, newest first."""
        from market_sim.simulation.results import INDEX_NAME, RunIndex, default_runs_dir

        root = out or default_runs_dir()
        index = root / INDEX_NAME
        table = Table(title=f"runs in {root}")
        table.add_column("run id", no_wrap=True, style="bold")
        for col in ("scenario", "seed", "started (UTC)", "trades", "events/s", "overrides"):
            table.add_column(col)
        if index.is_file():
            for r in RunIndex(index).list(limit):
                table.add_row(r.run_id, r.scenario, str(r.seed), r.started_at[:19].replace("T", " "),
                              _fmt(r.metrics.get("trades")), _fmt(r.metrics.get("events_per_second")),
                              " ".join(r.params.get("overrides", [])))
        console.print(table)

    @app.command("show")
    def show(
        run_id: str = typer.Argument(..., help="Run id (or a unique prefix), or a run folder."),
        out: Path = typer.Option(None, "--out", help="Runs folder (default $MARKET_SIM_RUNS or ./runs)."),
    ) -> None:
        """Reprint a stored run's summary."""
        from market_sim.simulation.results import load_run

        data = load_run(run_id, out)
        print_summary(data.run_id, str(data.path), data.metrics)
        console.print("files: " + ", ".join(sorted(p.name for p in data.path.iterdir())))


def _top_prices(sim: Any) -> str:
    parts = []
    for vname, venue in sim.venues.items():
        for symbol in venue.symbols:
            q = sim.quote(vname, symbol)
            tick = sim.tick_float(symbol)
            bid = "-" if q.bid is None else f"{q.bid * tick:g}"
            ask = "-" if q.ask is None else f"{q.ask * tick:g}"
            parts.append(f"{symbol} {bid}/{ask}")
    return "  ".join(parts)
