"""`market-sim bench NAME`: run a benchmark from market_sim.benchmarks and print its figures as JSON."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import os
import pkgutil
import sys
from collections.abc import Iterator
from pathlib import Path

import typer

from market_sim.core.errors import ConfigError


def available() -> list[str]:
    """Names of the benchmarks shipped in market_sim.benchmarks."""
    import market_sim.benchmarks as pkg

    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))


def run_benchmark(name: str, **options: object) -> dict:
    """Run one benchmark by name, passing only the options its run() accepts."""
    if name not in available():
        raise ConfigError(f"unknown benchmark; choose one of {', '.join(available())}", key="bench", value=name)
    module = importlib.import_module(f"market_sim.benchmarks.{name}")
    params = inspect.signature(module.run).parameters
    return module.run(**{k: v for k, v in options.items() if k in params and v is not None})


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """While a benchmark runs, everything it (or a child process: solc, anvil, npm) writes to stdout goes to
    stderr, so stdout carries only the JSON result and `market-sim bench X --json | jq` always parses."""
    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # a captured stream (tests): redirect the Python level only
        fd = None
    if fd is None:
        with contextlib.redirect_stdout(sys.stderr):
            yield
        return
    saved = os.dup(fd)
    try:
        sys.stderr.flush()
        os.dup2(sys.stderr.fileno(), fd)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, fd)
        os.close(saved)


def register(app: typer.Typer) -> None:
    @app.command("bench")
    def bench(
        name: str = typer.Argument(..., help="Benchmark: " + ", ".join(available())),
        json_out: bool = typer.Option(False, "--json", help="Print only the JSON result."),
        quick: bool = typer.Option(False, "--quick", help="A smaller workload, for smoke tests."),
        rpc: str = typer.Option(None, "--rpc", help="Also (or only) measure against this JSON-RPC node."),
        out: Path = typer.Option(None, "--out", help="Also write the JSON result to this file."),
    ) -> None:
        """Run a benchmark and print its figures as JSON on stdout (progress goes to stderr)."""
        if out is not None:
            from market_sim.cli.main import check_output_file

            check_output_file(out)  # before the benchmark, so its figures are not lost to a bad path
        with stdout_to_stderr():  # progress (and any child process output) on stderr, the result on stdout
            result = run_benchmark(name, quick=quick, rpc=rpc, progress=not json_out)
        text = json.dumps(result, indent=2, default=str)
        if out is not None:
            out.write_text(text + "\n")
        typer.echo(text)
