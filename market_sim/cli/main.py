"""The `market-sim` command: a typer app whose subcommands live one group per module in this package.

Exit codes: 0 success, 1 an error (one line on stderr; `--debug` adds the traceback), 2 a usage error (typer's usage
line and message), 130 interrupted (Ctrl-C). Commands that stop early keep what they computed; an exception may carry
PEP 678 notes (e.g. where a partial run was kept), which are printed after its one line.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import tempfile
import traceback
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from typer._click.exceptions import ClickException  # typer vendors click; `click` itself is not a dependency

from market_sim.cli._help import PlainHelpGroup
from market_sim.core.errors import ConfigError, MarketSimError

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
_debug = False


class Interrupted(Exception):
    """Raised by a command that handled Ctrl-C itself; main() prints its message (what was kept) and exits 130.
    (A bare KeyboardInterrupt would reach typer, which turns it into exit code 130 and drops any message.)"""


def debug_enabled() -> bool:
    """Whether `--debug` was given (tracebacks for unexpected errors)."""
    return _debug


def _version(value: bool) -> None:
    if value:
        from market_sim import __version__

        typer.echo(f"market-sim {__version__}")
        raise typer.Exit()


def check_output_file(path: Path) -> Path:
    """Check, before a command does any work, that it will be able to write its output file `path` (a missing
    parent folder is created later only where the command says so; here it must exist)."""
    if path.is_dir():
        raise ConfigError(f"cannot write {path}: it is a folder")
    parent = path.parent
    if not parent.is_dir():
        raise ConfigError(f"cannot write {path}: {parent} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".market-sim-write-check-", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Print the full traceback of an unexpected error."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Simulate markets: matching engine, agents, validator consensus and on-chain settlement."""
    global _debug
    _debug = debug


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


def _notes(exc: BaseException) -> None:
    for note in getattr(exc, "__notes__", ()):
        err_console.print(escape(note), highlight=False, soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and map every outcome to an exit code (see the module docstring); never a traceback
    unless `--debug`."""
    global _debug
    _debug = False  # the root callback sets it from --debug
    try:
        result = app(args=argv, prog_name="market-sim", standalone_mode=False)
    except ClickException as exc:  # usage errors: unknown option/command, missing or malformed argument
        exc.show()
        return exc.exit_code
    except MarketSimError as exc:
        if _debug:
            traceback.print_exception(exc)
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        _notes(exc)
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except Interrupted as exc:
        err_console.print(escape(str(exc)), highlight=False, soft_wrap=True)
        return 130
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("interrupted", highlight=False)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which closed it: not an error worth a message
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (keeps the interpreter's final flush quiet)
        return 1
    except Exception as exc:  # a defect or an environment failure: one line, the traceback only with --debug
        if _debug:
            traceback.print_exception(exc)
        hint = "" if _debug else " (run with --debug for the traceback)"
        text = " ".join(str(exc).split())
        err_console.print(f"[bold red]error:[/] unexpected {type(exc).__name__}: {escape(text)}{hint}",
                          highlight=False, soft_wrap=True)
        _notes(exc)
        return 1
    # typer turns a KeyboardInterrupt it sees into Exit(130) and, outside standalone mode, returns the code.
    if isinstance(result, int) and result == 130:
        err_console.print("interrupted", highlight=False)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
