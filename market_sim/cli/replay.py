"""`market-sim replay ORDERS.csv --out DIR`: run a CSV of order commands through the matching engine."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text


def register(app: typer.Typer) -> None:
    @app.command("replay")
    def replay_cmd(
        orders: Path = typer.Argument(..., help="CSV of order commands (schema: see README, 'Replay')."),
        out: Path = typer.Option(..., "--out", help="Directory for trades.csv, events.csv and book.json."),
        strict: bool = typer.Option(False, "--strict", help="Stop at the first malformed row instead of skipping it."),
        instruments: Path = typer.Option(
            None, "--instruments",
            help="JSON or TOML list of instruments (symbol, tick_size, lot_size, ...). Without it every symbol "
                 "gets tick 0.01 and lot 1; with it, rows for other symbols are malformed."),
    ) -> None:
        """Replay order commands and write trades.csv, events.csv and book.json (L3 per instrument).

        Malformed rows are reported on stderr with their line numbers. The outputs appear only when the replay
        succeeds: a fatal error (or --strict at a malformed row) leaves no output files.
        """
        from market_sim.market.replay import load_instruments, replay

        insts = load_instruments(instruments) if instruments is not None else None
        summary = replay(orders, out, instruments=insts, strict=strict)
        table = Table(title=Text(f"replay of {orders}"), show_header=False)
        for name, value in (("rows", summary.rows), ("commands", summary.commands), ("events", summary.events),
                            ("trades", summary.trades), ("rejected orders", summary.rejects),
                            ("malformed rows (skipped)", len(summary.malformed)),
                            ("instruments", ", ".join(summary.instruments)), ("output", summary.out_dir)):
            table.add_row(name, Text(str(value)))  # Text: no markup in file names
        Console().print(table)
        if summary.malformed:
            sys.stderr.write("".join(f"{orders} line {line}: {message}\n" for line, message in summary.malformed))
