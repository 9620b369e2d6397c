"""`market-sim agents` (also `market-sim list --agents`): every agent type, venue kind, price process and scenario
section with its parameters, defaults and help, read from the registries, so plug-ins' kinds appear too."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

import typer
from rich.console import Console, Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from market_sim.core.errors import ConfigError

console = Console()


def load_plugins(extra: Iterable[str] = ()) -> list[str]:
    """Import the shipped plug-ins and `extra` modules (so their kinds are registered); returns the modules."""
    from market_sim.simulation.scenario import SHIPPED_PLUGINS

    loaded = []
    for module in (*SHIPPED_PLUGINS, *extra):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            if module in extra:
                raise ConfigError(f"cannot import plugin ({exc})", key="--plugin", value=module) from None
            continue
        loaded.append(module)
    return loaded


def catalog() -> dict[str, list[dict[str, Any]]]:
    """What the registries hold: per group, entries {name, description, module, params: [ParamSpec...]}, every one
    read from a core Registry's entries (help, parameter dataclass, plug-in module)."""
    from market_sim.consensus.protocols import PROTOCOL_TYPES
    from market_sim.simulation.agents.base import AGENT_TYPES
    from market_sim.simulation.params import describe_params
    from market_sim.simulation.processes import PROCESS_TYPES
    from market_sim.simulation.scenario import SECTIONS, builtin_sections
    from market_sim.simulation.venues import VENUE_TYPES

    def entry(name: str, description: str, module: str, params: list) -> dict[str, Any]:
        return {"name": name, "description": description, "module": module, "params": params}

    def group(registry: Any) -> list[dict[str, Any]]:
        return [entry(e.name, e.help, e.plugin, describe_params(e.params))
                for e in sorted(registry.entries(), key=lambda e: e.name)]

    out: dict[str, list[dict[str, Any]]] = {
        "agent types": group(AGENT_TYPES),
        "venue kinds": [{**e, "module": ""} for e in group(VENUE_TYPES)],
        "price processes": group(PROCESS_TYPES),
        "scenario sections": [],
        "consensus protocols": group(PROTOCOL_TYPES),
    }
    for name, (description, params) in builtin_sections().items():
        out["scenario sections"].append(entry(f"[{name}]", description, "built in", describe_params(params)))
    for e in sorted(SECTIONS.entries(), key=lambda e: e.name):
        section = e.obj
        parts = section.parameters()
        if not parts:
            out["scenario sections"].append(entry(f"[{e.name}]", e.help, e.plugin, []))
        for table, params in parts:
            title = table if table.startswith("[") else f"[{table}]"
            out["scenario sections"].append(entry(title, e.help if table == e.name else "", e.plugin,
                                                  describe_params(params)))
    return out


def _entry_table(e: dict[str, Any]) -> Group:
    title = Text(e["name"], style="bold")
    if e["module"] and e["module"] != "built in":
        title.append(f"  ({e['module']})", style="dim")
    parts: list[Any] = [title]
    if e["description"]:
        parts.append(Padding(Text(e["description"]), (0, 0, 0, 2)))
    if e["params"]:
        t = Table(box=None, show_header=True, pad_edge=False, padding=(0, 1), header_style="dim")
        t.add_column("key", no_wrap=True)
        t.add_column("type", no_wrap=True)
        t.add_column("default", overflow="fold", max_width=18)
        t.add_column("help", overflow="fold", ratio=1)
        for p in e["params"]:
            t.add_row(Text(p.name), Text(p.type), Text("required" if p.default is None else p.default),
                      Text(p.help))
        parts.append(Padding(t, (0, 0, 0, 2)))
    parts.append(Text(""))
    return Group(*parts)


def print_catalog(groups: Iterable[str] | None = None) -> None:
    data = catalog()
    for group, entries in data.items():
        if groups and group not in groups:
            continue
        console.rule(Text(group), align="left")
        for e in entries:
            console.print(_entry_table(e))


_GROUPS = {"agents": "agent types", "venues": "venue kinds", "processes": "price processes",
           "sections": "scenario sections", "protocols": "consensus protocols"}


def register(app: typer.Typer) -> None:
    @app.command("agents")
    def agents(
        plugin: list[str] = typer.Option([], "--plugin", metavar="MODULE",
                                         help="Also load this plug-in module (repeatable)."),
        only: list[str] = typer.Option([], "--only", metavar="GROUP",
                                       help="Show only agents, venues, processes, sections or protocols (repeatable)."),
    ) -> None:
        """List agent types, venue kinds, price processes, scenario sections and consensus protocols with their
        parameters."""
        for g in only:
            if g not in _GROUPS:
                raise ConfigError(f"choose one of {', '.join(_GROUPS)}", key="--only", value=g)
        load_plugins(plugin)
        print_catalog([_GROUPS[g] for g in only] or None)
