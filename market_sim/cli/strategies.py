"""`market-sim strategies compare SCENARIO`: library strategies on the same seeds, side by side."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from market_sim.cli._help import PlainHelpGroup
from market_sim.core.errors import ConfigError


def _fmt(v: float, digits: int = 2) -> str:
    return "—" if v != v else f"{v:,.{digits}f}"


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The strategy library (market_sim.strategies).", no_args_is_help=True,
                        rich_markup_mode=None, cls=PlainHelpGroup)
    app.add_typer(group, name="strategies")

    @group.command("compare")
    def compare_cmd(
        scenario: str = typer.Argument(..., help="Scenario name (market-sim list) or file."),
        strategies: str = typer.Option(None, "--strategies", help="Comma-separated strategies: library agent types "
                                       "or [[agents]] names of the scenario (default: the scenario's own)."),
        seeds: int = typer.Option(3, "--seeds", help="Seeds: the scenario's seed and the ones after it."),
        set_: list[str] = typer.Option([], "--set", help="Override a scenario value, KEY=VALUE (repeatable)."),
        out: Path = typer.Option(Path("compare-out"), "--out", help="Directory for compare.png, compare_pnl.png "
                                 "and runs.csv."),
        no_plots: bool = typer.Option(False, "--no-plots", help="Only the table (and runs.csv)."),
        sample: str = typer.Option("1s", "--sample", help="PnL / inventory sampling interval (Sharpe, drawdown)."),
        capital: float = typer.Option(10_000.0, "--capital", help="Equity base (USD) for the Sharpe returns."),
        json_out: bool = typer.Option(False, "--json", help="Print the per-seed runs as JSON only."),
    ) -> None:
        """Run each strategy alone in the scenario's market on the same seeds; print PnL, Sharpe, drawdown,
        inventory, fill rate and fees (mean over seeds) and plot them."""
        from market_sim.simulation.catalog import resolve_scenario
        from market_sim.simulation.latency import parse_duration
        from market_sim.strategies import compare as cmp

        try:
            resolve_scenario(scenario)
        except ConfigError as exc:
            raise typer.BadParameter(str(exc), param_hint="SCENARIO") from None
        names = [s.strip() for s in strategies.split(",") if s.strip()] if strategies else None
        if seeds < 1:
            raise typer.BadParameter("must be at least 1", param_hint="--seeds")
        try:
            cmp.resolve_strategies(scenario, names, set_)
        except ConfigError as exc:
            raise typer.BadParameter(str(exc), param_hint="--strategies") from None
        try:
            sample_ns = parse_duration(sample, "--sample")
        except ConfigError as exc:
            raise typer.BadParameter(str(exc), param_hint="--sample") from None
        if sample_ns <= 0:
            raise typer.BadParameter("must be a positive duration", param_hint="--sample")
        if not capital > 0:
            raise typer.BadParameter("must be positive", param_hint="--capital")
        err = Console(stderr=True)
        runs, paths = cmp.compare(scenario, names, seeds, set_, sample=sample_ns, capital=capital,
                                  progress=None if json_out else
                                  lambda label, seed: err.print(f"running {label} on seed {seed}", highlight=False))
        import pandas as pd
        from dataclasses import asdict

        out.mkdir(parents=True, exist_ok=True)
        pd.DataFrame([asdict(r) for r in runs]).to_csv(out / "runs.csv", index=False)
        if json_out:
            typer.echo(json.dumps([asdict(r) for r in runs], indent=2, default=float))
        else:
            s = cmp.summary(runs)
            table = Table(title=Text(f"{scenario}: mean over {seeds} seed(s), each strategy alone in the market"))
            for col in ("strategy", "PnL (USD)", "± std", "Sharpe (run)", "max DD (USD)", "max |inv|", "mean |inv|",
                        "fill rate", "fees (USD)", "fills"):
                table.add_column(col, justify="left" if col == "strategy" else "right")
            for name, r in s.iterrows():
                table.add_row(Text(str(name)), _fmt(r.pnl), _fmt(r.pnl_std), _fmt(r.sharpe), _fmt(r.max_drawdown),
                              _fmt(r.max_inventory, 1), _fmt(r.mean_inventory, 1), _fmt(r.fill_rate, 3),
                              _fmt(r.fees), _fmt(r.fills, 0))
            Console(width=max(Console().width, 130)).print(table)
        if not no_plots:
            files = cmp.plot(runs, paths, out, title=f"{scenario}: strategies on {seeds} seed(s)")
            if not json_out:
                Console().print(Text("wrote " + ", ".join(str(f) for f in files) + f", {out / 'runs.csv'}"))
