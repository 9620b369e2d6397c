"""The scenario catalog: named scenarios shipped by any market_sim package or registered from code.

Discovery: every `market_sim/<package>/scenarios/*.toml` is a named scenario (the file stem is the name, the
[scenario].description is the one-liner), found without importing the package. Code can add more with
register_scenario(name, path, description). A scenario that needs a package's sections, venues or agent types
lists the module that registers them in `[scenario] plugins = [...]`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import market_sim
from market_sim.core.errors import ConfigError
from market_sim.core.registry import Registry

__all__ = ["ScenarioEntry", "SCENARIOS", "register_scenario", "scenarios", "resolve_scenario"]


@dataclass(frozen=True, slots=True)
class ScenarioEntry:
    name: str
    path: Path
    description: str
    package: str


# Scenarios registered from code (the shipped files are discovered, see scenarios()).
SCENARIOS: Registry[ScenarioEntry] = Registry("scenario", name_attr="name")


def register_scenario(name: str, path: str | Path, description: str | None = None, package: str = "") -> None:
    """Make a scenario file available by name (`market-sim run NAME`)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError("scenario file not found", key=f"scenario {name}", value=str(p))
    entry = ScenarioEntry(name, p, description if description is not None else _description(p), package)
    SCENARIOS.register(entry, help=entry.description, plugin=package)


def _description(path: Path) -> str:
    try:
        header = tomllib.loads(path.read_text()).get("scenario", {})
    except (OSError, tomllib.TOMLDecodeError):
        return "(unreadable scenario file)"
    return str(header.get("description", "")).strip().splitlines()[0] if header.get("description") else ""


def _discovered() -> dict[str, ScenarioEntry]:
    root = Path(market_sim.__file__).parent
    found: dict[str, ScenarioEntry] = {}
    for path in sorted(root.glob("*/scenarios/*.toml")):
        found[path.stem] = ScenarioEntry(path.stem, path, _description(path), path.parent.parent.name)
    return found


def scenarios() -> dict[str, ScenarioEntry]:
    """Every named scenario, sorted by name (registered ones override discovered files of the same name)."""
    entries = _discovered() | SCENARIOS.all()
    return dict(sorted(entries.items()))


def resolve_scenario(name_or_path: str) -> Path:
    """A scenario name or a file path to the scenario file."""
    entries = scenarios()
    if name_or_path in entries:
        return entries[name_or_path].path
    p = Path(name_or_path)
    if p.is_file():
        return p
    raise ConfigError(f"no scenario or file by this name; named scenarios: {', '.join(entries)}",
                      key="scenario", value=name_or_path)
