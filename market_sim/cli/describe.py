"""`market-sim describe NAME|FILE`: what a scenario is, what it runs, and what to look at in its results."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from market_sim.learn import Tutorial

NO_GUIDE = "(no [scenario].guide yet: read the summary `market-sim run` prints)"


@dataclass(frozen=True, slots=True)
class ScenarioDescription:
    """What `market-sim describe` prints about one scenario."""

    title: str                                   # name and file
    description: str
    run: str                                     # duration, seed, agents
    guide: str                                   # [scenario].guide, dedented ("" when there is none)
    sections: tuple[tuple[str, str], ...]        # (top-level table, its contents in a few words)
    groups: tuple[tuple[str, int, str, str], ...]  # (group name, count, agent type, symbols)
    tutorials: tuple[Tutorial, ...]
    command: str                                 # how to run it


def _section_summary(value: object) -> str:
    """One short phrase for a top-level table of the scenario: its entries' names or its keys."""
    if isinstance(value, list):
        names = [str(v.get("symbol") or v.get("name") or "") for v in value if isinstance(v, dict)]
        names = [n for n in names if n]
        return f"{len(value)}: {', '.join(names)}" if names else str(len(value))
    if isinstance(value, dict):
        return ", ".join(sorted(value)) if value else "(defaults)"
    return str(value)


def describe_scenario(scenario: str) -> ScenarioDescription:
    """Describe a scenario name or file; a ConfigError when it is neither or does not load."""
    from market_sim.learn import tutorials_using
    from market_sim.simulation.catalog import resolve_scenario, scenarios
    from market_sim.simulation.scenario import duration_text, load_scenario

    path = resolve_scenario(scenario)
    sc = load_scenario(path)
    catalog = scenarios()
    named = path.stem in catalog and catalog[path.stem].path == path
    sections = tuple((k, f"{len(sc.agents)} groups, {sc.agent_count:,} agents (below)" if k == "agents"
                      else _section_summary(v)) for k, v in sc.raw.items() if k != "scenario")
    return ScenarioDescription(
        title=f"{sc.name}  ({path})",
        description=textwrap.dedent(sc.description).strip() or "(no description)",
        run=f"duration {duration_text(sc.duration)}, seed {sc.seed}, {sc.agent_count:,} agents",
        guide=textwrap.dedent(sc.guide).strip(),
        sections=sections,
        groups=tuple((a.name, a.count, a.kind, ", ".join(a.symbols)) for a in sc.agents),
        tutorials=tutorials_using(path.stem) if named else (),
        command=f"market-sim run {path.stem if named else path}",
    )


def print_description(d: ScenarioDescription, console: Console) -> None:
    console.print(Text(d.title, style="bold"), soft_wrap=True)
    console.print(Text(f"{d.description}\n{d.run}"), soft_wrap=True)
    table = Table(title="sections")
    table.add_column("section", style="bold")
    table.add_column("contents")
    for name, summary in d.sections:
        table.add_row(Text(name), Text(summary))
    console.print(table)
    agents = Table(title="agent groups")
    agents.add_column("group")
    agents.add_column("count", justify="right")
    agents.add_column("type")
    agents.add_column("symbols")
    for group, count, kind, symbols in d.groups:
        agents.add_row(Text(group), f"{count:,}", Text(kind), Text(symbols))
    if not d.groups:
        agents.caption = "no [[agents]] groups"
    console.print(agents)
    console.print(Text("What to look at in the results", style="bold"))
    guide = d.guide or NO_GUIDE
    console.print(Text("\n".join(f"  {line}" if line else "" for line in guide.splitlines())), soft_wrap=True)
    used = "; ".join(f"{t.number}. {t.title} (market-sim learn {t.number})" for t in d.tutorials)
    console.print(Text(f"Tutorial: {used or 'none uses it'}"), soft_wrap=True)
    console.print(Text(f"Run it: {d.command}"), soft_wrap=True)


def register(app: typer.Typer) -> None:
    @app.command("describe")
    def describe(
        scenario: str = typer.Argument(..., metavar="NAME|FILE",
                                       help="A scenario name (see `market-sim list`) or a scenario file."),
    ) -> None:
        """Describe a scenario: what it runs (sections, agent groups, duration, seed), what to look at in its
        results ([scenario].guide), and the tutorial that uses it."""
        from market_sim.core.errors import ConfigError
        from market_sim.simulation.catalog import resolve_scenario, scenarios

        try:
            resolve_scenario(scenario)
        except ConfigError:
            raise typer.BadParameter(f"no scenario or file {scenario!r}; named scenarios: "
                                     f"{', '.join(scenarios())}", param_hint="NAME|FILE") from None
        print_description(describe_scenario(scenario), Console())
