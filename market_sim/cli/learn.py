"""`market-sim learn [N]`: list the tutorials (title, goal, minutes), or open tutorial N in Jupyter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text


def jupyter_command() -> list[str] | None:
    """How to start Jupyter here: `jupyter lab` if JupyterLab is installed, else `jupyter notebook`, looking beside
    this interpreter first (an activated or not venv), then on PATH; None when neither is installed."""
    here = Path(sys.executable).parent / "jupyter"
    exe = str(here) if here.is_file() else shutil.which("jupyter")
    if exe is None:
        return None
    for app in ("lab", "notebook"):
        if shutil.which(f"jupyter-{app}", path=os.pathsep.join([str(Path(exe).parent), os.environ.get("PATH", "")])):
            return [exe, app]
    return None


def register(app: typer.Typer) -> None:
    @app.command("learn")
    def learn(
        number: int = typer.Argument(None, help="Tutorial to open (see the list); without it, list them."),
        print_path: bool = typer.Option(False, "--path", help="Print the notebook's path instead of opening it."),
    ) -> None:
        """List the tutorials, or open tutorial NUMBER in Jupyter (or say how when Jupyter is not installed).

        The tutorials are notebooks in the repository's tutorials/ folder; each runs the real engine in seconds and
        checks the answers to its exercises.
        """
        from market_sim.learn import TUTORIALS, tutorial, tutorial_path

        console = Console()
        if number is None:
            table = Table(title="Tutorials (market-sim learn N opens one)")
            for col, justify in (("#", "right"), ("title", "left"), ("goal", "left"), ("min", "right")):
                table.add_column(col, justify=justify)
            for t in TUTORIALS:
                table.add_row(str(t.number), Text(t.title), Text(t.goal), str(t.minutes))
            console.print(table)
            return
        if not any(t.number == number for t in TUTORIALS):
            raise typer.BadParameter(f"no tutorial {number}; choose one of "
                                     f"{', '.join(str(t.number) for t in TUTORIALS)}", param_hint="NUMBER")
        path = tutorial_path(number)
        if print_path:
            typer.echo(str(path))
            return
        jupyter = jupyter_command()
        if jupyter is None:
            typer.echo(f"tutorial {number}: {tutorial(number).title}\n  {path}\n"
                       "Jupyter is not installed here. Install it with `pip install -e '.[learn]'` (in the venv), then "
                       f"run `market-sim learn {number}` again, or `jupyter lab {path}`.")
            return
        typer.echo(f"opening {path} with {Path(jupyter[0]).name} {jupyter[1]} (Ctrl-C stops it)")
        subprocess.run([*jupyter, str(path)], cwd=path.parent, check=False)
