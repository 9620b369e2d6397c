"""The `market-sim` command: a typer app whose subcommands live one group per module in this package."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer
from rich.console import Console
from rich.markup import escape

from market_sim.cli._help import PlainHelpGroup
from market_sim.core.errors import MarketSimError

app = typer.Typer(
    name="market-sim",
    help="Simulate markets: matching engine, agents, validator consensus and on-chain settlement.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help text prints as written: `[scenario]` is not rich markup
    cls=PlainHelpGroup,     # INTEGER / TEXT / PATH instead of <int> / <str> / <bool> type tags
)
err_console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """Simulate markets: matching engine, agents, validator consensus and on-chain settlement."""


def _register_commands() -> None:
    # Each sibling module that defines register(app) contributes its commands.
    import market_sim.cli as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name in ("main", "common"):
            continue
        module = importlib.import_module(f"market_sim.cli.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning MarketSimError into a one-paragraph message and exit code 1."""
    try:
        app(args=argv, standalone_mode=False)
    except MarketSimError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("aborted")
        return 130
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
