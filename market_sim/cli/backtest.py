"""`market-sim backtest` (a strategy on a historical data file) and `market-sim report RUN` (a tear sheet)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from market_sim.core.errors import ConfigError

console = Console()
err_console = Console(stderr=True)


def _pct(v: Any) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.2%}"


def _num(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:,.3f}" if isinstance(v, float) else f"{v:,}"


def _summary_table(s: dict[str, Any], run_id: str, path: str) -> Table:
    t = Table(title=f"backtest {run_id}", show_header=False)
    t.add_column("figure", style="bold")
    t.add_column("value", justify="right")
    l2 = s.get("mode") == "l2"
    rows = [("period", f"{s['start'][:19]} .. {s['end'][:19]}" + (f" ({s['messages']:,} messages replayed)" if l2
                                                                 else f" ({s['bars']:,} bars)")) if l2 else
            ("period", f"{s['start'][:10]} .. {s['end'][:10]} ({s['bars']:,} bars)"),
            ("final equity", f"{s['final_equity']:,.{4 if l2 else 2}f} (from {s['initial_equity']:,.{4 if l2 else 2}f})"),
            ("total return", _pct(s["total_return"])), ("CAGR", _pct(s["cagr"])),
            ("volatility (ann.)", _pct(s["volatility"])), ("Sharpe", _num(s["sharpe"])),
            ("Sortino", _num(s["sortino"])), ("max drawdown", _pct(s["max_drawdown"])),
            ("alpha (ann.) / beta", f"{_pct(s.get('alpha'))} / {_num(s.get('beta'))}"),
            ("round trips / hit rate", f"{_num(s['trades'])} / {_pct(s['hit_rate'])}"),
            ("fills / fees", f"{s['fills']:,} / {s['fees']:,.4f}"),
            *([("borrow fees", f"{s['borrow_fees']:,.2f}")] if s.get("borrow_fees") else []),
            ("time invested", _pct(s["exposure_time"])),
            ("results", path)]
    for k, v in rows:
        t.add_row(Text(k), Text(v))
    return t


def print_backtest_summary(metrics: dict[str, Any], run_id: str, path: str) -> None:
    """The summary of a stored backtest (bars or L2 replay), as `market-sim backtest` printed it."""
    console.print(_summary_table(metrics, run_id, path))
    console.print(Text(f"Conventions: {metrics.get('conventions', 'n/a')}", style="dim"))


def register(app: typer.Typer) -> None:
    @app.command("backtest")
    def backtest(
        strategy: str = typer.Argument(..., help="Agent kind to run as the strategy (see `market-sim agents`)."),
        data: Path = typer.Argument(..., help="Bar file (CSV or Parquet: time, open, high, low, close, volume), or a "
                                           "Binance L2 capture (.jsonl.gz) for the L2 replay."),
        set_: list[str] = typer.Option([], "--set", help="Strategy parameter, e.g. fast=10 (repeatable)."),
        symbol: str = typer.Option(None, "--symbol", help="Instrument symbol (default: from the file name)."),
        tick_size: str = typer.Option("0.000001", "--tick-size", help="Price grid of the data."),
        lot_size: str = typer.Option("1", "--lot-size", help="Units per lot."),
        currency: str = typer.Option("USD", "--currency", help="Quote currency."),
        cash: str = typer.Option("100000", "--cash", help="Starting cash in the quote currency."),
        adjusted: bool = typer.Option(False, "--adjusted/--raw",
                                      help="Trade on adjusted prices (adj_close; dividends included) or raw ones."),
        fill_on_touch: bool = typer.Option(False, "--fill-on-touch",
                                           help="Bars: fill a limit touched only by the bar's extreme."),
        participation: float = typer.Option(None, "--participation",
                                            help="Bars: cap fills at this share of each bar's volume (0..1]."),
        slippage: str = typer.Option("none", "--slippage", help="Bars: none | ticks:N | bps:X | impact:K"),
        taker_bps: float = typer.Option(0.0, "--taker-bps", help="Taker fee in basis points."),
        maker_bps: float = typer.Option(0.0, "--maker-bps", help="Maker fee (negative: rebate) in bps."),
        commission: str = typer.Option("0", "--commission", help="Fixed commission per fill (currency units)."),
        per_unit: str = typer.Option("0", "--per-unit", help="Fee per lot (currency units)."),
        borrow_bps: int = typer.Option(None, "--borrow-bps", help="Bars: borrow fee of short positions, annual bps "
                                       "of their market value, accrued bar by bar (default: none)."),
        out: Path = typer.Option(None, "--out", help="Runs folder (default $MARKET_SIM_RUNS or ./runs)."),
        queue: str = typer.Option("probabilistic", "--queue", help="L2 replay: queue-position model for cancels: "
                                  "pessimistic | proportional | probabilistic[:n]."),
        entry_latency: str = typer.Option("fixed:5ms", "--entry-latency", help="L2 replay: order entry latency."),
        data_latency: str = typer.Option("fixed:5ms", "--data-latency",
                                         help="L2 replay: market data / execution report latency."),
        sample: str = typer.Option("1s", "--sample", help="L2 replay: equity sampling interval."),
        fmt: str = typer.Option("parquet", "--format", help="Table format: parquet or csv."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    ) -> None:
        """Backtest a strategy on a historical bar file (CSV / Parquet bars) or an L2 capture (Binance .jsonl.gz:
        depth diffs and trades replayed with queue-position and latency models): prints a summary, writes an
        indexed results folder."""
        from market_sim.backtest.runner import BacktestSpec, prepare, prepare_l2
        from market_sim.backtest.result import BacktestResult
        from market_sim.backtest.store import BacktestWriter
        from market_sim.simulation.results import check_runs_dir
        from market_sim.simulation.scenario import parse_override

        if fmt not in ("parquet", "csv"):
            raise ConfigError("must be parquet or csv", key="--format", value=fmt)
        check_runs_dir(out)
        params = dict(parse_override(s) for s in set_)
        spec = BacktestSpec(strategy, str(data), params, symbol, tick_size, lot_size, currency, 6, "equity", cash,
                            adjusted, fill_on_touch, participation, slippage, maker_bps, taker_bps, commission,
                            per_unit, 0, queue, entry_latency, data_latency, sample, borrow_bps)
        if spec.mode == "l2":
            return _run_l2(spec, out, fmt, set_, quiet, params)
        bt, _ = prepare(spec)  # every input checked and the data read before a folder is claimed
        writer = BacktestWriter(out, f"backtest-{strategy}", seed=0, config=spec.config(), overrides=set_, fmt=fmt)
        try:
            if quiet:
                raw = bt.run()
            else:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

                with Progress(TextColumn("backtest", style="bold"), BarColumn(), MofNCompleteColumn(),
                              TextColumn("bars"), TimeElapsedColumn(), console=err_console, transient=True) as bar:
                    task = bar.add_task("bars", total=len(bt.timeline))
                    raw = bt.run(lambda done, total: bar.update(task, completed=done), chunk=4096)
            result = BacktestResult(raw)
            result.check_accounts()
            summary = result.summary()
            c = result.conventions
            summary["conventions_spec"] = {"periods_per_year": c.periods_per_year, "risk_free_rate": c.risk_free_rate,
                                           "ddof": c.ddof, "interval": c.interval}
            summary["strategy"], summary["params"], summary["data"] = strategy, params, str(data)
            record = writer.write(result, summary)
        except BaseException:
            writer.discard()
            raise
        console.print(_summary_table(summary, record.run_id, record.path))
        console.print(Text(f"Conventions: {summary['conventions']}", style="dim"))

    def _run_l2(spec: Any, out: Path | None, fmt: str, set_: list[str], quiet: bool, params: dict) -> None:
        from market_sim.backtest.runner import prepare_l2
        from market_sim.backtest.store import BacktestWriter

        bt = prepare_l2(spec)
        writer = BacktestWriter(out, f"backtest-{spec.strategy}", seed=0, config={**spec.config(), "mode": "l2"},
                                overrides=set_, fmt=fmt)
        try:
            if quiet:
                res = bt.run()
            else:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

                with Progress(TextColumn("L2 replay", style="bold"), BarColumn(), MofNCompleteColumn(),
                              TextColumn("messages"), TimeElapsedColumn(), console=err_console, transient=True) as bar:
                    task = bar.add_task("messages", total=len(bt.data))
                    res = bt.run(lambda done, total: bar.update(task, completed=done), chunk=8192)
            summary = res.summary()
            c = res.conventions()
            summary["conventions_spec"] = {"periods_per_year": c.periods_per_year, "risk_free_rate": c.risk_free_rate,
                                           "ddof": c.ddof, "interval": c.interval}
            summary.update(strategy=spec.strategy, params=params, data=spec.data, mode="l2",
                           fill_rules=f"L2 replay, queue model {spec.queue}, entry latency {spec.entry_latency}, "
                                      f"market data latency {spec.data_latency}; the replayed levels and the "
                                      "strategy's orders share the project's order book (what an order takes stays "
                                      "taken until the level's next depth update)", fees_model=repr(bt.fees))
            record = writer.write(res, summary)
        except BaseException:
            writer.discard()
            raise
        console.print(_summary_table(summary, record.run_id, record.path))
        console.print(Text(f"Conventions: {summary['conventions']}", style="dim"))

    @app.command("report")
    def report(
        run: str = typer.Argument(..., help="Run id (or prefix) or run folder: a backtest or a simulation."),
        runs_dir: Path = typer.Option(None, "--runs", help="Runs folder holding the index."),
        out: Path = typer.Option(None, "--out", help="Folder for the report (default: <run folder>/report)."),
        agent: str = typer.Option(None, "--agent", help="Simulation runs: the agent to report on "
                                                        "(default: the one with the largest |PnL|)."),
        capital: float = typer.Option(1_000_000.0, "--capital",
                                      help="Simulation runs: starting capital the PnL is added to."),
    ) -> None:
        """Write a tear sheet (self-contained HTML + PNGs) for a stored backtest or simulation run."""
        import warnings

        from market_sim.backtest.report import write_report
        from market_sim.simulation.results import load_run

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = load_run(run, runs_dir)
        paths = write_report(data, out, agent=agent, capital=capital)
        console.print(f"report: {paths['html']}")
        for k, p in paths.items():
            if k != "html":
                console.print(f"  {p}")
