"""`market-sim describe NAME|FILE`: what a scenario is, what it runs, and what to look at in its results."""

from __future__ import annotations

import textwrap

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text


def _section_summary(name: str, value: object) -> str:
    """One short phrase for a top-level table of the scenario: its entries' names or its keys."""
    if isinstance(value, list):
        names = [str(v.get("symbol") or v.get("name") or "") for v in value if isinstance(v, dict)]
        names = [n for n in names if n]
        return f"{len(value)}: {', '.join(names)}" if names else str(len(value))
    if isinstance(value, dict):
        return ", ".join(sorted(value)) if value else "(defaults)"
    return str(value)


def describe_parts(scenario: str) -> dict[str, object]:
    """The pieces `market-sim describe` prints for a scenario name or file; raises ConfigError when it is neither
    or does not load."""
    from market_sim.learn import tutorials_using
    from market_sim.simulation.catalog import resolve_scenario, scenarios
    from market_sim.simulation.scenario import duration_text, load_scenario

    path = resolve_scenario(scenario)
    sc = load_scenario(path)
    named = path.stem in scenarios() and scenarios()[path.stem].path == path
    sections = [(k, f"{len(sc.agents)} groups, {sc.agent_count:,} agents (below)" if k == "agents"
                 else _section_summary(k, v)) for k, v in sc.raw.items() if k != "scenario"]
    return {
        "title": f"{sc.name}  ({path})",
        "description": textwrap.dedent(sc.description).strip() or "(no description)",
        "run": f"duration {duration_text(sc.duration)}, seed {sc.seed}, {sc.agent_count:,} agents",
        "guide": textwrap.dedent(sc.guide).strip(),
        "sections": sections,
        "groups": [(a.name, a.count, a.kind, ", ".join(a.symbols)) for a in sc.agents],
        "tutorials": tutorials_using(path.stem) if named else (),
        "command": f"market-sim run {path.stem if named else path}",
    }


def register(app: typer.Typer) -> None:
    @app.command("describe")
    def describe(
        scenario: str = typer.Argument(..., metavar="NAME|FILE",
                                       help="A scenario name (see `market-sim list`) or a scenario file."),
    ) -> None:
        """Describe a scenario: what it runs (sections, agent groups, duration, seed), what to look at in its
        results, and the tutorial that uses it."""
        from market_sim.core.errors import ConfigError
        from market_sim.simulation.catalog import resolve_scenario, scenarios

        try:
            resolve_scenario(scenario)
        except ConfigError:
            raise typer.BadParameter(f"no scenario or file {scenario!r}; named scenarios: "
                                     f"{', '.join(scenarios())}", param_hint="NAME|FILE") from None
        parts = describe_parts(scenario)
        console = Console()
        console.print(Text(str(parts["title"]), style="bold"), soft_wrap=True)
        console.print(Text(f"{parts['description']}\n{parts['run']}"), soft_wrap=True)
        table = Table(title="sections")
        table.add_column("section", style="bold")
        table.add_column("contents")
        for name, summary in parts["sections"]:  # type: ignore[attr-defined]
            table.add_row(Text(name), Text(summary))
        console.print(table)
        agents = Table(title="agent groups")
        for col, justify in (("group", "left"), ("count", "right"), ("type", "left"), ("symbols", "left")):
            agents.add_column(col, justify=justify)  # type: ignore[arg-type]
        for name, count, kind, symbols in parts["groups"]:  # type: ignore[attr-defined]
            agents.add_row(Text(name), f"{count:,}", Text(kind), Text(symbols))
        if not parts["groups"]:
            agents.caption = "no [[agents]] groups"
        console.print(agents)
        guide = str(parts["guide"]) or "(no [scenario].guide yet: read the summary `market-sim run` prints)"
        console.print(Text("What to look at in the results", style="bold"))
        console.print(Text("\n".join(f"  {line}" if line else "" for line in guide.splitlines())), soft_wrap=True)
        tutorials = parts["tutorials"]
        console.print(Text("Tutorial: " + ("; ".join(f"{t.number}. {t.title} (market-sim learn {t.number})"
                                                    for t in tutorials) or "none uses it")), soft_wrap=True)  # type: ignore[attr-defined]
        console.print(Text(f"Run it: {parts['command']}"), soft_wrap=True)
