"""Build the tutorial notebooks (tutorials/NN_name.ipynb, without outputs) from their "percent" sources
(tutorials/src/NN_name.py): `# %%` starts a code cell, `# %% [markdown]` a markdown cell whose lines are comments.

    python scripts/build_tutorials.py           # rewrite the notebooks
    python scripts/build_tutorials.py --check   # exit 1 if a notebook differs from its source (a test does this)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "tutorials" / "src"
OUT = ROOT / "tutorials"


def parse_cells(text: str) -> list[tuple[str, str]]:
    """(kind, source) per cell of a percent script; text before the first marker is ignored (a file docstring)."""
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("# %%"):
            cells.append(("markdown" if "[markdown]" in line else "code", []))
        elif cells:
            cells[-1][1].append(line)
    out = []
    for kind, lines in cells:
        if kind == "markdown":
            lines = [ln[2:] if ln.startswith("# ") else ln[1:] if ln.startswith("#") else ln for ln in lines]
        source = "\n".join(lines).strip("\n")
        if source:
            out.append((kind, source))
    return out


def build(src: Path) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    for i, (kind, source) in enumerate(parse_cells(src.read_text())):
        cell = nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
        cell["id"] = f"{src.stem[:2]}-{i:02d}"  # stable ids: rebuilding an unchanged source gives the same file
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a notebook is stale instead of writing it")
    args = parser.parse_args(argv)
    stale = []
    for src in sorted(SRC.glob("[0-9][0-9]_*.py")):
        target = OUT / f"{src.stem}.ipynb"
        text = build(src)
        if target.is_file() and target.read_text() == text:
            continue
        if args.check:
            stale.append(target.name)
        else:
            target.write_text(text)
            print(f"wrote {target.relative_to(ROOT)}")
    if stale:
        print(f"stale notebooks (run python scripts/build_tutorials.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
