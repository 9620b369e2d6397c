"""`market-sim list | run | runs | show`: scenarios, simulation runs and their stored results."""

from __future__ import annotations

import datetime as dt
import math
import time
import warnings
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from market_sim.core.errors import ConfigError, MarketSimError

console = Console()
MAX_SEED = 2**63 - 1  # run seeds are stored as SQLite INTEGER


def _check_realtime(value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"must be a positive, finite speed factor (got {value})")
    return value


def _describe(exc: BaseException) -> str:
    """An exception as one line: MarketSimError messages as they are, anything else with its type."""
    text = " ".join(str(exc).split())
    return text if isinstance(exc, MarketSimError) else f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _catalog_table() -> Table:
    from market_sim.simulation.catalog import scenarios

    table = Table(title="scenarios")
    table.add_column("name", style="bold")
    table.add_column("package")
    table.add_column("description")
    for entry in scenarios().values():
        table.add_row(Text(entry.name), Text(entry.package), Text(entry.description))
    return table


def _fmt(v: Any) -> str:
    """A figure for a table cell: thousands separators, no '-0', lists and tables as 'k v, k v' (never a repr)."""
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        if v != v:
            return "n/a"
        text = f"{v:,.4f}".rstrip("0").rstrip(".") if abs(v) < 1e6 else f"{v:,.0f}"
        return "0" if text in ("-0", "0", "") else text
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_fmt(x)}" for k, x in v.items()) or "none"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v) or "none"
    return "" if v is None else str(v)


def _money(v: float) -> str:
    """A PnL figure with two decimals; a value that rounds to zero prints as 0.00, never -0.00."""
    text = f"{v:,.2f}"
    return "0.00" if text == "-0.00" else text


def _cell(v: Any) -> Text:
    """A table cell printed as written (a '[scenario]' in a value is text, not rich markup)."""
    return Text(_fmt(v))


def _results(metrics: Any) -> Any:
    """RunResults from what a caller has: RunResults, a metrics.json dict (any version), or a run's metrics dict."""
    from market_sim.simulation.metrics import RunResults, SectionResult, results_from_json, run_results

    if isinstance(metrics, RunResults):
        return metrics
    if any(isinstance(v, SectionResult) for v in metrics.values()):
        return run_results(metrics)
    return results_from_json(metrics)


def _ordered_sections(results: Any) -> list[tuple[str, Any]]:
    """The run's section results in registration order (the order the sections run), unknown ones last."""
    from market_sim.simulation.scenario import SECTIONS

    order = {name: i for i, name in enumerate(SECTIONS.names())}
    return sorted(results.sections.items(), key=lambda kv: order.get(kv[0], len(order)))


def _section_rows(result: Any) -> list[Any]:
    from market_sim.simulation.metrics import SummaryRow, summary_rows, to_json

    if isinstance(result, dict):  # a section whose plug-in is not installed: its figures as they were written
        return [SummaryRow(k, k.replace("_", " "), v, False) for k, v in to_json(result).items()
                if not isinstance(v, (dict, list))]
    return summary_rows(result)


def headline_rows(metrics: Any) -> list[tuple[str, str, Any]]:
    """(section.figure path, label, value) of the headline figures of the run's sections, in section order."""
    results = _results(metrics)
    return [(f"{name}.{r.path}", r.label, r.value) for name, result in _ordered_sections(results)
            for r in _section_rows(result) if r.headline]


def print_summary(run_id: str, path: str, metrics: Any) -> None:
    """The end-of-run summary, rendered from the typed results (RunResults, or a metrics.json dict of any version):
    the sections' headline figures first, order-book trading where there was any, per-symbol trading and PnL by
    agent group, then each section's other figures."""
    results = _results(metrics)
    market = results.market
    head = Table(title=Text(f"run {run_id}"), show_header=False)
    head.add_column(style="bold")
    head.add_column(overflow="fold")
    sections = _ordered_sections(results)
    rows: list[tuple[str, Any]] = [("scenario", market.scenario), ("seed", market.seed),
                                   ("simulated", f"{market.duration_ns / 1e9:,.0f} s")]
    rows += [(label, value) for _, label, value in headline_rows(results)]
    rows.append(("agents", market.agents))
    if market.orders or market.trades:  # order-book figures only where there was an order book
        rows += [("orders", market.orders), ("trades", market.trades), ("volume (lots)", market.volume)]
    rows += [("kernel events", results.events), ("wall time (s)", results.wall_seconds),
             ("events / s", results.events_per_second), ("results", path)]
    for k, v in rows:
        head.add_row(Text(k), _cell(v))
    console.print(head)
    symbols = {s: m for s, m in market.symbols.items() if m.trades}
    if symbols:
        t = Table(title="instruments")
        for col in ("symbol", "trades", "volume", "first", "min", "max", "last"):
            t.add_column(col, justify="right" if col != "symbol" else "left")
        for s, m in symbols.items():
            t.add_row(Text(s), *(_cell(v) for v in (m.trades, m.volume, m.first_price, m.min_price, m.max_price,
                                                     m.last_price)))
        console.print(t)
    if market.pnl_by_group:
        t = Table(title="PnL by agent group")
        t.add_column("group")
        t.add_column("mark-to-market PnL (quote)", justify="right")
        fees = market.fees_by_group
        if fees:
            t.add_column("fees paid (quote, in the PnL)", justify="right")
        for g, v in market.pnl_by_group.items():
            t.add_row(Text(g), Text(_money(v)), *([Text(_money(fees.get(g, 0.0)))] if fees else []))
        console.print(t)
    if market.fees_by_venue:
        t = Table(title="fee revenue by venue")
        t.add_column("venue")
        t.add_column("fees charged - rebates paid (quote)", justify="right")
        for venue, v in market.fees_by_venue.items():
            t.add_row(Text(venue), Text(_money(v)))
        console.print(t)
    for name, result in sections:  # each section's other figures, under its name
        more = [r for r in _section_rows(result) if not r.headline]
        if more:
            t = Table(title=Text(f"[{name}]"), show_header=False)
            t.add_column(style="bold", overflow="fold")
            t.add_column(overflow="fold")
            for r in more:
                t.add_row(Text(r.label), _cell(r.value))
            console.print(t)
    legacy = {k: v for k, v in results.legacy.items() if not isinstance(v, (dict, list))}
    if legacy:  # a run stored before typed results (metrics.json version 1): its section figures as written
        t = Table(title="more metrics", show_header=False)
        t.add_column(style="bold", overflow="fold")
        t.add_column(overflow="fold")
        for k, v in sorted(legacy.items()):
            t.add_row(Text(k), _cell(v))
        console.print(t)


def _load_plugins(folder: Path) -> None:
    """Import the plug-ins a stored run's scenario named, so `show` knows its sections' headline figures."""
    import importlib
    import json

    try:
        raw = json.loads((folder / "scenario.json").read_text())
        plugins = raw.get("scenario", {}).get("plugins", [])
    except (OSError, ValueError, AttributeError):
        return
    for module in plugins if isinstance(plugins, list) else []:
        try:
            importlib.import_module(str(module))
        except ImportError:
            pass


def runs_table(records: list[Any], root: Path) -> Table:
    """Past runs within 80 columns: the run id already says when (UTC), which scenario and which seed, so the
    table adds only trades, events/s and the --set overrides (wrapped in their own column)."""
    table = Table(title=Text(f"runs in {root}"), box=box.SIMPLE_HEAD, pad_edge=False, expand=False)
    table.add_column("run id", no_wrap=True, style="bold")
    table.add_column("trades", justify="right", no_wrap=True)
    table.add_column("events/s", justify="right", no_wrap=True)
    table.add_column("overrides", overflow="fold", min_width=9)
    for r in records:
        table.add_row(Text(r.run_id if r.complete else f"{r.run_id} ({r.status})"), _cell(r.metrics.get("trades")), _cell(r.metrics.get("events_per_second")),
                      Text(" ".join(r.params.get("overrides", []))))
    if not records:
        table.caption = "no runs yet: market-sim run <scenario>"
    return table


def register(app: typer.Typer) -> None:
    @app.command("list")
    def list_scenarios(
        agents: bool = typer.Option(False, "--agents", help="List agent types, venue kinds, price processes and "
                                                           "sections with their parameters (= market-sim agents)."),
    ) -> None:
        """List the named scenarios with one-line descriptions."""
        if agents:
            from market_sim.cli.agents import load_plugins, print_catalog

            load_plugins()
            print_catalog()
            return
        console.print(_catalog_table())

    @app.command("run")
    def run(
        scenario: str = typer.Argument(..., help="A scenario name (see `market-sim list`) or a scenario file."),
        set_: list[str] = typer.Option([], "--set", help="Override a dotted key, e.g. agents.noise.count=50."),
        seed: int = typer.Option(None, "--seed", min=0, max=MAX_SEED,
                                 help="Random seed (overrides [scenario].seed)."),
        out: Path = typer.Option(None, "--out", help="Runs folder (default $MARKET_SIM_RUNS or ./runs)."),
        realtime: float = typer.Option(None, "--realtime", callback=_check_realtime,
                                       help="Pace to the wall clock at this speed (1 = live)."),
        no_plots: bool = typer.Option(False, "--no-plots", help="Skip the PNG plots."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
        rpc: str = typer.Option(None, "--rpc", help="Settle on this JSON-RPC node (same as --set settlement.rpc=URL)."),
    ) -> None:
        """Run a scenario and store its results (tables, metrics, plots) in a new run folder."""
        from market_sim.cli.main import Interrupted
        from market_sim.core.clock import NS_PER_SECOND
        from market_sim.simulation.catalog import resolve_scenario
        from market_sim.simulation.clocks import make_pacer
        from market_sim.simulation.results import COMPLETE, FAILED, INTERRUPTED, RunWriter, check_runs_dir, \
            partial_outcome
        from market_sim.simulation.runner import Simulation
        from market_sim.simulation.scenario import load_scenario

        # Every argument is checked before any work: a finished run is never lost to a bad --out or seed.
        check_runs_dir(out)
        path = resolve_scenario(scenario)
        sc = load_scenario(path, set_, seed)
        if rpc:
            if "settlement" not in sc.raw:
                raise ConfigError(f"--rpc applies to scenarios with on-chain settlement ([settlement]); "
                                  f"{scenario!r} has none")
            sc = load_scenario(path, [*set_, f"settlement.rpc={rpc}"], seed)
        writer = RunWriter(out, sc, overrides=set_, started_at=dt.datetime.now(dt.timezone.utc))
        try:
            sim = Simulation(sc, pacer=make_pacer(realtime)).build()
        except KeyboardInterrupt:
            writer.discard()
            raise Interrupted("interrupted while setting up the run; nothing was kept") from None
        except BaseException:
            writer.discard()  # nothing was computed yet
            raise
        # Real time: refresh about five times per wall second; otherwise 200 steps over the run.
        chunk = max(1, int(realtime * NS_PER_SECOND / 5)) if realtime else None
        t0 = time.perf_counter()
        status, failure = COMPLETE, None
        try:
            if quiet:
                outcome = sim.run(chunk=chunk)
            else:
                with Progress(TextColumn("{task.description}", style="bold", markup=False), BarColumn(),
                              TextColumn("{task.fields[clock]}", markup=False), TimeElapsedColumn(),
                              TextColumn("{task.fields[prices]}", markup=False), console=console,
                              transient=True) as bar:
                    task = bar.add_task(sc.name, total=sc.duration, clock="", prices="")

                    def progress(now: int, total: int) -> None:
                        bar.update(task, completed=now,
                                   clock=f"{now / NS_PER_SECOND:,.0f}/{total / NS_PER_SECOND:,.0f} s",
                                   prices=_top_prices(sim) if realtime else "")

                    outcome = sim.run(progress, chunk=chunk)
        except KeyboardInterrupt as exc:  # keep what was computed, marked interrupted
            status, failure = INTERRUPTED, exc
        except Exception as exc:  # noqa: BLE001  (kept, marked failed; main() prints the error)
            status, failure = FAILED, exc
        if failure is not None:
            outcome = partial_outcome(sim, time.perf_counter() - t0)
        try:
            record = writer.write(outcome, plots=False if no_plots else None, status=status,
                                  error=None if status != FAILED else _describe(failure),
                                  simulated_ns=sim.kernel.now)
        except BaseException as exc:
            kept = (f"what was written is kept in {writer.tmp}, marked incomplete" if writer.state == "writing"
                    else "nothing was kept")
            what = "interrupted while writing the results" if isinstance(exc, KeyboardInterrupt) else \
                "writing the results failed"
            after = f" (after the run had {status}: {_describe(failure)})" if status == FAILED else ""
            if isinstance(exc, KeyboardInterrupt):
                raise Interrupted(f"{what}; {kept}{after}") from None
            exc.add_note(f"{what}; {kept}{after}")
            raise
        if failure is None:
            print_summary(record.run_id, record.path, record.metrics)  # the metrics.json it wrote
            return
        kept = (f"partial results (simulated {sim.kernel.now / NS_PER_SECOND:,.3f} of "
                f"{sc.duration / NS_PER_SECOND:,.0f} s, {record.metrics.get('trades', 0):,} trades) kept in "
                f"{record.path}, marked {status}")
        if status == INTERRUPTED:
            raise Interrupted(f"interrupted; {kept}") from None
        failure.add_note(kept)
        raise failure

    @app.command("runs")
    def runs(
        out: Path = typer.Option(None, "--out", help="Runs folder (default $MARKET_SIM_RUNS or ./runs)."),
        limit: int = typer.Option(30, "--limit", min=0, help="Show at most this many runs."),
    ) -> None:
        """List past runs from the run index, newest first."""
        from market_sim.simulation.results import INDEX_NAME, RunIndex, default_runs_dir

        root = out or default_runs_dir()
        index = root / INDEX_NAME
        records = RunIndex(index).list(limit) if index.is_file() else []
        table = runs_table(records, root)
        console.print(table)

    @app.command("show")
    def show(
        run_id: str = typer.Argument(..., help="Run id (or a unique prefix), or a run folder."),
        out: Path = typer.Option(None, "--out", help="Runs folder (default $MARKET_SIM_RUNS or ./runs)."),
    ) -> None:
        """Reprint a stored run's summary."""
        from market_sim.simulation.results import PartialRunWarning, load_run, partial_note

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PartialRunWarning)  # said below, in the run's own words
            data = load_run(run_id, out)
        _load_plugins(Path(data.path))
        if not data.complete:
            console.print(f"[bold yellow]partial run[/] ({escape(partial_note(data.status, data.info))}); "
                          "its tables end where it stopped", highlight=False)
        if data.metrics.get("kind") == "backtest":  # a `market-sim backtest` folder: its own summary
            from market_sim.cli.backtest import print_backtest_summary

            print_backtest_summary(data.metrics, data.run_id, str(data.path))
        else:
            print_summary(data.run_id, str(data.path), data.results)
        console.print(Text("files: " + ", ".join(sorted(p.name for p in data.path.iterdir()))))


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
