"""MkDocs hooks (mkdocs.yml `hooks:`): the reference pages generated at build time from the registries.

- reference/cli.md        every `market-sim` command's --help, read from the typer app
- reference/scenarios.md  the named scenarios (`market-sim list`) with their descriptions and files
- reference/registry.md   agent types, venue kinds, price processes, scenario sections and consensus protocols with
                          their parameters (what `market-sim agents` prints), after loading the shipped plug-ins
- tutorials.md            the tutorials (`market-sim learn`)

Nothing is written into docs/: the pages exist only in the built site. `python scripts/docs_hooks.py OUT` writes
them to a folder, to read them without building.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def cli_reference() -> str:
    import typer

    from market_sim.cli.main import app

    group = typer.main.get_command(app)
    ctx = group.make_context("market-sim", [], resilient_parsing=True)
    out = ["# CLI reference", "",
           "Every `market-sim` command with its `--help`, generated from the command-line app when the site is built.",
           "", "```text", group.get_help(ctx), "```", ""]
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        sub = command.make_context(name, [], parent=ctx, resilient_parsing=True)
        out += [f"## market-sim {name}", "", "```text", command.get_help(sub), "```", ""]
    return "\n".join(out)


def scenario_reference() -> str:
    from market_sim.simulation.catalog import scenarios

    import market_sim

    package_root = Path(market_sim.__file__).resolve().parent
    out = ["# Scenarios", "",
           "The named scenarios (`market-sim list`; `market-sim run NAME`), generated from the scenario catalog when "
           "the site is built. Each file is a TOML scenario (see the README's *Scenario files*); "
           "`--set key=value` changes any key.", "",
           "| scenario | package | description | file |", "| --- | --- | --- | --- |"]
    for entry in scenarios().values():
        try:
            rel = f"market_sim/{entry.path.resolve().relative_to(package_root)}"
        except ValueError:
            rel = str(entry.path)
        out.append(f"| `{entry.name}` | {entry.package} | {_cell(entry.description)} | `{rel}` |")
    return "\n".join(out) + "\n"


def registry_reference() -> str:
    from market_sim.cli.agents import catalog, load_plugins

    modules = load_plugins()
    out = ["# Agents, venues, processes, sections and protocols", "",
           "What `market-sim agents` lists, generated from the registries (`market_sim.core.registry.Registry`) when "
           f"the site is built, with the shipped plug-ins loaded ({', '.join(f'`{m}`' for m in modules)}). "
           "A plug-in's kinds appear here without any change to this page.", ""]
    for group, entries in catalog().items():
        out += [f"## {group[0].upper()}{group[1:]}", ""]
        for e in entries:
            title = e["name"].strip("[]") if e["name"].startswith("[") else e["name"]
            heading = f"[{title}]" if e["name"].startswith("[") else title
            module = f" (`{e['module']}`)" if e["module"] and e["module"] != "built in" else ""
            out += [f"### `{heading}`{module}", ""]
            if e["description"]:
                out += [_cell(e["description"]), ""]
            if e["params"]:
                out += ["| key | type | default | help |", "| --- | --- | --- | --- |"]
                for p in e["params"]:
                    default = "required" if p.default is None else f"`{_cell(p.default)}`"
                    out.append(f"| `{p.name}` | {_cell(p.type)} | {default} | {_cell(p.help)} |")
                out.append("")
    return "\n".join(out) + "\n"


def tutorials_page() -> str:
    from market_sim.learn import TUTORIALS

    out = ["# Tutorials", "",
           "Jupyter notebooks in the repository's `tutorials/` folder. Each runs the real engine in seconds, draws "
           "what it explains, and checks your answers to its exercises (`check_answer` prints `check NAME: ok` or "
           "says what was expected). The test suite runs every one from a clean kernel.", "",
           "```bash", "pip install -e '.[learn]'   # Jupyter", "market-sim learn            # the list",
           "market-sim learn 1          # open the first one", "```", "",
           "| # | tutorial | goal | minutes | notebook |", "| --- | --- | --- | --- | --- |"]
    for t in TUTORIALS:
        out.append(f"| {t.number} | {_cell(t.title)} | {_cell(t.goal)} | {t.minutes} | `tutorials/{t.filename}` |")
    return "\n".join(out) + "\n"


PAGES = {
    "reference/cli.md": cli_reference,
    "reference/scenarios.md": scenario_reference,
    "reference/registry.md": registry_reference,
    "tutorials.md": tutorials_page,
}


def on_files(files, config):  # noqa: ANN001, ANN201 (the MkDocs hook signature)
    """Add the generated pages to the site's files."""
    from mkdocs.structure.files import File

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    for path, render in PAGES.items():
        files.append(File.generated(config, path, content=render()))
    return files


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python scripts/docs_hooks.py OUT_DIR", file=sys.stderr)
        return 2
    out = Path(argv[0])
    for path, render in PAGES.items():
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render())
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
