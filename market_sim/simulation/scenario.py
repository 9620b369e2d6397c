"""Scenario files: TOML organised by sections, validated into a frozen Scenario with errors naming key and value.

Built-in sections: [scenario], [[instruments]], [processes.NAME], [[venues]], [session], [latency], [[agents]],
[output]. Other packages add sections with register_section(Section subclass instance); each section parses its
own table and may hook into the run (prepare / install / finish), so the schema grows by section, not as one blob.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from market_sim.core.clock import NS_PER_SECOND
from market_sim.core.errors import ConfigError, MarketSimError
from market_sim.core.instruments import Instrument
from market_sim.core.registry import Registry
from market_sim.simulation import agents as _agents  # noqa: F401  (registers the built-in agent kinds)
from market_sim.simulation.agents.base import AGENT_TYPES
from market_sim.simulation.latency import LatencyModel, parse_latency
from market_sim.simulation.params import build_params, param
from market_sim.simulation.processes import CsvReplay, validate_process
from market_sim.simulation.sessions import SessionSchedule, parse_time_of_day
from market_sim.simulation.venues import VenueConfig, check_venue_params, venue_types

if TYPE_CHECKING:
    from market_sim.simulation.runner import Simulation

__all__ = [
    "Scenario", "InstrumentConfig", "AgentConfig", "ProcessConfig", "LatencyConfig", "OutputConfig",
    "Section", "ParseContext", "register_section", "sections", "load_scenario", "parse_scenario",
    "apply_overrides", "parse_override", "SHIPPED_PLUGINS", "SECTIONS", "plugin_providing", "builtin_sections",
]


@dataclass(frozen=True, slots=True)
class InstrumentConfig:
    instrument: Instrument
    initial_price: float | None  # float analytics value; None when a process supplies the start
    process: str | None          # name of the [processes] entry that drives its fundamental value


@dataclass(frozen=True, slots=True)
class ProcessConfig:
    name: str
    kind: str
    params: Any


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """One [[agents]] entry: `count` agents of `kind` named '<name>-<i>' trading `symbols`."""

    name: str
    kind: str
    count: int
    symbols: tuple[str, ...]
    venue_of: dict[str, str]
    latency: LatencyModel | None
    params: Any


@dataclass(frozen=True, slots=True)
class LatencyConfig:
    """Agent↔venue delay: `default`, per venue, per agent group; `pairs` for any other two participants."""

    default: LatencyModel
    venues: dict[str, LatencyModel] = field(default_factory=dict)
    pairs: dict[tuple[str, str], LatencyModel] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutputConfig:
    format: str = param("parquet", choices=("parquet", "csv"))
    snapshot_interval: int = param(NS_PER_SECOND, duration=True, min=1, help="book snapshot period")
    pnl_interval: int = param(10 * NS_PER_SECOND, duration=True, min=1, help="agent PnL sampling period")
    depth_levels: int = param(5, min=1, help="levels summed into the depth columns of snapshots")
    plots: bool = True


@dataclass(frozen=True, slots=True)
class _ScenarioHeader:
    name: str = "unnamed"
    description: str = ""
    guide: str = param("", help="what to look at in the run's results (shown by `market-sim describe`)")
    seed: int = param(1, min=0)
    duration: int = param(3600 * NS_PER_SECOND, duration=True, min=1)
    plugins: list[str] = param([], help="modules imported before the rest is parsed (they register things)")


@dataclass(frozen=True, slots=True)
class Scenario:
    """A validated scenario; `raw` is the effective TOML table (after --set overrides and --seed)."""

    name: str
    description: str
    seed: int
    duration: int
    instruments: tuple[InstrumentConfig, ...]
    processes: dict[str, ProcessConfig]
    venues: tuple[VenueConfig, ...]
    agents: tuple[AgentConfig, ...]
    session: SessionSchedule | None
    latency: LatencyConfig
    output: OutputConfig
    extensions: dict[str, Any]
    raw: dict[str, Any]
    source: str | None = None
    guide: str = ""  # [scenario].guide: what to look at in the results (`market-sim describe NAME`)

    @property
    def agent_count(self) -> int:
        return sum(a.count for a in self.agents)


@dataclass
class ParseContext:
    """What a section parser may look at: the scenario's folder and the sections parsed before it."""

    base_dir: Path | None
    parsed: dict[str, Any] = field(default_factory=dict)

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(c.instrument.symbol for c in self.parsed.get("instruments", ()))


class Section:
    """A scenario section. Subclass, set `name`, implement parse(); the hooks are optional.

    parse(raw, ctx)               validate the section's TOML value; raise ConfigError(key=..., value=...) naming the key
    prepare(sim, config) -> state before venues are built: build what the section needs (add a trade validator with
                                  sim.add_trade_validator) and return it as one typed state object
    install(sim, config, state)   after venues and agents exist, before the run (subscribe on sim.bus, schedule
                                  periodic work with sim.every, deliver messages with sim.send)
    finish(sim, config, state)    after the run, before results are written (sim.record(table, row), and the typed
                                  result: sim.metrics[name] = <the section's SectionResult dataclass>)

    The state is the section's own per-run record (`sim.state(name)` returns it to other code); nothing is attached
    to the Simulation. (install/finish written with two parameters, without the state, are still called.)
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    array: ClassVar[bool] = False  # True for [[name]] sections (a list of tables)
    # The section's result dataclass (a market_sim.simulation.metrics.SectionResult): finish() stores one in
    # sim.metrics[name]; metrics.json and the run summary are rendered from it, headline figures first.
    result: ClassVar[type | None] = None
    params: ClassVar[type | None] = None  # the section's parameter dataclass, listed by `market-sim agents`

    def parameters(self) -> list[tuple[str, type]]:
        """(table, parameter dataclass) pairs documenting the section's keys; sub-tables get their own entry."""
        return [(self.name, self.params)] if self.params is not None else []

    def parse(self, raw: Any, ctx: ParseContext) -> Any:
        return raw

    def prepare(self, sim: "Simulation", config: Any) -> Any:
        return None

    def install(self, sim: "Simulation", config: Any, state: Any = None) -> None:
        pass

    def finish(self, sim: "Simulation", config: Any, state: Any = None) -> None:
        pass


_BUILTIN = ("scenario", "instruments", "processes", "venues", "session", "latency", "agents", "output", "sweep")
# Plug-in modules shipped with market_sim (what `[scenario] plugins` may list); `market-sim agents` loads them all,
# and an unknown agent type, venue kind or section names the one that provides it.
SHIPPED_PLUGINS = ("market_sim.consensus.scenario", "market_sim.settlement.scenario", "market_sim.defi.sim",
                   "market_sim.strategies", "market_sim.mechanisms.plugin", "market_sim.risk",
                   "market_sim.options")


def plugin_providing(registry: str, kind: object) -> str | None:
    """The shipped plug-in module that provides `kind` in `registry` ('agent', 'venue', 'process', 'section'), or
    None: the plug-in whose package registered it. Looking imports the shipped plug-ins (registering their kinds), so
    call it on an error path or for listings only."""
    from market_sim.simulation.processes import PROCESS_TYPES
    from market_sim.simulation.venues import venue_module

    if not isinstance(kind, str):
        return None
    for module in SHIPPED_PLUGINS:
        try:
            importlib.import_module(module)
        except ImportError:
            continue
    if registry == "agent":
        where = AGENT_TYPES.entry(kind).plugin if kind in AGENT_TYPES else None
    elif registry == "process":
        where = PROCESS_TYPES.entry(kind).plugin if kind in PROCESS_TYPES else None
    elif registry == "venue":
        where = venue_module(kind)
    else:
        where = SECTIONS.entry(kind).plugin if kind in SECTIONS else None
    if where is None:
        return None
    for module in SHIPPED_PLUGINS:
        if where == module or where.startswith(module.rsplit(".", 1)[0] + "."):
            return module
    return None


def _not_loaded(registry: str, kind: object, key: str, value: object, error: ConfigError) -> ConfigError:
    plugin = plugin_providing(registry, kind)
    if plugin is None:
        return error
    return ConfigError(f"is provided by plug-in {plugin}, which this scenario does not load: add "
                       f"plugins = [\"{plugin}\"] to [scenario]", key=key, value=value)


def builtin_sections() -> dict[str, tuple[str, type | None]]:
    """The built-in sections: name -> (description, parameter dataclass or None when the keys are listed)."""
    return {
        "scenario": ("name, description, seed, duration and plug-ins of the run", _ScenarioHeader),
        "instruments": ("[[instruments]]: " + ", ".join(sorted(_INSTRUMENT_KEYS)), None),
        "processes": ("[processes.NAME]: a price process of a `kind` (see price processes) and its parameters", None),
        "venues": ("[[venues]]: name, kind (see venue kinds), instruments, then the kind's parameters", None),
        "session": ("trading hours: open, close, start (times of day)", None),
        "latency": ("agent-venue delays: default, venues.NAME, pairs.'a->b' (fixed:D, uniform:LO-HI, lognormal:M)",
                    None),
        "agents": ("[[agents]]: " + ", ".join(_AGENT_KEYS) + ", then the type's parameters (see agent types)", None),
        "output": ("what a run stores", OutputConfig),
        "sweep": ("`market-sim sweep` settings: grid, seeds, seed, backend, address, workers, metrics, per_second, "
                  "labels (a run ignores it)", None),
    }


SECTIONS: Registry[Section] = Registry("scenario section", name_attr="name")
_SECTIONS = SECTIONS  # the old name (a mapping-like view: `in`, iteration, pop)


def register_section(section: Section) -> Section:
    """Add (or replace) an extension section; built-in section names cannot be taken."""
    if not section.name or section.name in _BUILTIN:
        raise ConfigError("section name must be non-empty and not a built-in section", key="section",
                          value=section.name)
    if section.result is not None:  # so load_run() reads this section's figures back as its result type
        from market_sim.simulation.metrics import RESULT_TYPES

        RESULT_TYPES.register(section.result, name=section.name)
    return SECTIONS.register(section, help=section.description or None, params=section.params)


def sections() -> dict[str, Section]:
    """Registered extension sections by name."""
    return SECTIONS.all()


# ----------------------------------------------------------------------------------------------------------------
def _table(raw: Mapping[str, Any], key: str, *, required: bool = False) -> dict[str, Any]:
    value = raw.get(key)
    if value is None:
        if required:
            raise ConfigError("section is required", key=key, value=None)
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError("must be a table", key=key, value=value)
    return dict(value)


def _array(raw: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ConfigError(f"must be an array of tables ([[{key}]])", key=key, value=value)
    return [dict(v) for v in value]


def positive_decimal(value: Any, key: str) -> Decimal:
    """A positive finite decimal from a TOML number or numeric string (floats by their repr); ConfigError naming
    `key` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError("must be a number or numeric string", key=key, value=value)
    try:
        d = Decimal(repr(value) if isinstance(value, float) else str(value))
    except ArithmeticError:
        raise ConfigError("must be a number", key=key, value=value) from None
    if not d.is_finite() or d <= 0:
        raise ConfigError("must be positive", key=key, value=value)
    return d


_INSTRUMENT_KEYS = {"symbol", "tick_size", "lot_size", "asset_class", "base_asset", "quote_asset",
                    "base_decimals", "quote_decimals", "initial_price", "process"}


def _parse_instruments(raw: Mapping[str, Any], processes: Mapping[str, ProcessConfig]) -> tuple[InstrumentConfig, ...]:
    entries = _array(raw, "instruments")
    if not entries:
        raise ConfigError("at least one [[instruments]] entry is required", key="instruments", value=None)
    out: list[InstrumentConfig] = []
    seen: set[str] = set()
    for i, e in enumerate(entries):
        where = f"instruments[{i}]"
        for k in e:
            if k not in _INSTRUMENT_KEYS:
                raise ConfigError(f"unknown key; expected one of: {', '.join(sorted(_INSTRUMENT_KEYS))}",
                                  key=f"{where}.{k}", value=e[k])
        symbol = e.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise ConfigError("must be a non-empty string", key=f"{where}.symbol", value=symbol)
        if symbol in seen:
            raise ConfigError("duplicate instrument symbol", key=f"{where}.symbol", value=symbol)
        seen.add(symbol)
        kwargs: dict[str, Any] = {"symbol": symbol}
        for k in ("tick_size", "lot_size"):
            if k in e:
                kwargs[k] = positive_decimal(e[k], f"{where}.{k}")
        for k in ("asset_class", "base_asset", "quote_asset"):
            if k in e:
                if not isinstance(e[k], str):
                    raise ConfigError("must be a string", key=f"{where}.{k}", value=e[k])
                kwargs[k] = e[k]
        for k in ("base_decimals", "quote_decimals"):
            if k in e:
                kwargs[k] = e[k]
        try:
            inst = Instrument(**kwargs)
        except (MarketSimError, ValueError) as exc:
            raise ConfigError(str(exc), key=where, value=symbol) from None
        process = e.get("process", symbol if symbol in processes else None)
        if process is not None and process not in processes:
            raise ConfigError(f"no such process; defined: {', '.join(processes) or '(none)'}",
                              key=f"{where}.process", value=process)
        initial = e.get("initial_price")
        if initial is not None:
            initial = float(positive_decimal(initial, f"{where}.initial_price"))
        elif process is None:
            raise ConfigError("initial_price is required when no process drives the instrument",
                              key=f"{where}.initial_price", value=None)
        out.append(InstrumentConfig(inst, initial, process))
    return tuple(out)


def _parse_processes(raw: Mapping[str, Any], base_dir: Path | None) -> dict[str, ProcessConfig]:
    out: dict[str, ProcessConfig] = {}
    for name, table in _table(raw, "processes").items():
        kind, params = validate_process(table, f"processes.{name}")
        if kind == "csv":
            path = Path(params.path)
            if not path.is_absolute() and base_dir is not None:
                # Resolve against the scenario file now, so the saved scenario.json replays from anywhere.
                params = dataclasses.replace(params, path=str((base_dir / path).resolve()))
                table["path"] = params.path
            CsvReplay(params, 0)  # fail at load time if the file is missing or malformed
        out[name] = ProcessConfig(name, kind, params)
    return out


_VENUE_KEYS = ("name", "kind", "instruments")


def _symbols(value: Any, key: str, known: tuple[str, ...]) -> tuple[str, ...]:
    if value is None or value == "*":
        return known
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ConfigError("must be a symbol, a list of symbols or '*'", key=key, value=value)
    for s in items:
        if s not in known:
            raise ConfigError(f"unknown instrument; defined: {', '.join(known)}", key=key, value=s)
    return tuple(items)


def _parse_venues(raw: Mapping[str, Any], known: tuple[str, ...]) -> tuple[VenueConfig, ...]:
    entries = _array(raw, "venues") or [{"name": "exchange"}]
    out: list[VenueConfig] = []
    names: set[str] = set()
    for i, e in enumerate(entries):
        where = f"venues[{i}]"
        name = e.get("name", "exchange" if i == 0 else None)
        if not isinstance(name, str) or not name:
            raise ConfigError("must be a non-empty string", key=f"{where}.name", value=name)
        if name in names:
            raise ConfigError("duplicate venue name", key=f"{where}.name", value=name)
        names.add(name)
        kind = e.get("kind", "orderbook")
        symbols = _symbols(e.get("instruments"), f"{where}.instruments", known)
        if kind not in venue_types():
            exc = ConfigError(f"unknown venue kind; choose one of {', '.join(venue_types())}", key=f"{where}.kind",
                              value=kind)
            raise _not_loaded("venue", kind, f"{where}.kind", kind, exc)
        extra = check_venue_params(kind, {k: v for k, v in e.items() if k not in _VENUE_KEYS}, where)
        out.append(VenueConfig(name, kind, symbols, extra))
    return tuple(out)


def _parse_session(raw: Mapping[str, Any]) -> SessionSchedule | None:
    t = _table(raw, "session")
    if not t:
        return None
    for k in t:
        if k not in ("open", "close", "start"):
            raise ConfigError("unknown key; expected one of: close, open, start", key=f"session.{k}", value=t[k])
    for k in ("open", "close"):
        if k not in t:
            raise ConfigError("is required", key=f"session.{k}", value=None)
    open_ = parse_time_of_day(t["open"], "session.open")
    close = parse_time_of_day(t["close"], "session.close")
    if close <= open_:
        raise ConfigError("must be after session.open", key="session.close", value=t["close"])
    start = parse_time_of_day(t["start"], "session.start") if "start" in t else open_
    return SessionSchedule(open_, close, start)


def _latency_table(t: Any, key: str) -> dict[str, LatencyModel]:
    if not isinstance(t, Mapping):
        raise ConfigError("must be a table", key=key, value=t)
    return {k: parse_latency(v, f"{key}.{k}") for k, v in t.items()}


def _parse_latency(raw: Mapping[str, Any]) -> LatencyConfig:
    t = _table(raw, "latency")
    for k in t:
        if k not in ("default", "venues", "pairs"):
            raise ConfigError("unknown key; expected one of: default, pairs, venues", key=f"latency.{k}", value=t[k])
    default = parse_latency(t.get("default", "fixed:1ms"), "latency.default")
    venues = _latency_table(t.get("venues", {}), "latency.venues")
    pairs: dict[tuple[str, str], LatencyModel] = {}
    for k, model in _latency_table(t.get("pairs", {}), "latency.pairs").items():
        src, sep, dst = k.partition("->")
        if not sep or not src.strip() or not dst.strip():
            raise ConfigError("pair keys look like 'a->b'", key=f"latency.pairs.{k}", value=k)
        pairs[(src.strip(), dst.strip())] = model
    return LatencyConfig(default, venues, pairs)


_AGENT_KEYS = ("type", "name", "count", "instruments", "venue", "latency")


def _parse_agents(raw: Mapping[str, Any], known: tuple[str, ...], venues: tuple[VenueConfig, ...]
                  ) -> tuple[AgentConfig, ...]:
    venue_names = {v.name: v for v in venues}
    out: list[AgentConfig] = []
    names: set[str] = set()
    for i, e in enumerate(_array(raw, "agents")):
        where = f"agents[{i}]"
        kind = e.get("type")
        try:
            cls = AGENT_TYPES.get(kind, f"{where}.type")
        except ConfigError as exc:
            raise _not_loaded("agent", kind, f"{where}.type", kind, exc) from None
        name = e.get("name", kind)
        if not isinstance(name, str) or not name or name in names:
            raise ConfigError("must be a unique non-empty string (give each group of one type a name)",
                              key=f"{where}.name", value=name)
        names.add(name)
        where = f"agents.{name}"
        count = e.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ConfigError("must be an integer >= 0", key=f"{where}.count", value=count)
        symbols = _symbols(e.get("instruments"), f"{where}.instruments", known)
        venue_of: dict[str, str] = {}
        venue = e.get("venue")
        if venue is not None and venue not in venue_names:
            raise ConfigError(f"unknown venue; defined: {', '.join(venue_names)}", key=f"{where}.venue", value=venue)
        for s in symbols:
            if venue is not None and s not in venue_names[venue].symbols:
                raise ConfigError(f"venue {venue!r} does not list {s}", key=f"{where}.venue", value=venue)
            listing = venue or next((v.name for v in venues if s in v.symbols), None)
            if listing is None:
                raise ConfigError("no venue lists this instrument", key=f"{where}.instruments", value=s)
            venue_of[s] = listing
        latency = parse_latency(e["latency"], f"{where}.latency") if "latency" in e else None
        params = build_params(cls.Params, {k: v for k, v in e.items() if k not in _AGENT_KEYS}, where)
        out.append(AgentConfig(name, kind, count, symbols, venue_of, latency, params))
    return tuple(out)


def parse_scenario(raw: Mapping[str, Any], *, base_dir: Path | None = None, source: str | None = None) -> Scenario:
    """Validate a scenario table (already loaded from TOML) into a Scenario."""
    raw = copy.deepcopy(dict(raw))
    header = build_params(_ScenarioHeader, _table(raw, "scenario"), "scenario")
    raw.setdefault("scenario", {})["seed"] = header.seed  # the effective table always records the seed used
    for module in header.plugins:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(f"cannot import plugin ({exc})", key="scenario.plugins", value=module) from None
    known_sections = set(_BUILTIN) | set(SECTIONS)
    for key in raw:
        if key not in known_sections:
            shown = raw[key] if not isinstance(raw[key], (dict, list)) else "..."
            exc = ConfigError(f"unknown section; known sections: {', '.join(sorted(known_sections))}",
                              key=key, value=shown)
            raise _not_loaded("section", key, key, shown, exc)
    ctx = ParseContext(base_dir)
    processes = _parse_processes(raw, base_dir)
    instruments = _parse_instruments(raw, processes)
    ctx.parsed.update(scenario=header, processes=processes, instruments=instruments)
    venues = _parse_venues(raw, ctx.symbols)
    ctx.parsed["venues"] = venues
    session = _parse_session(raw)
    latency = _parse_latency(raw)
    agents = _parse_agents(raw, ctx.symbols, venues)
    output = build_params(OutputConfig, _table(raw, "output"), "output")
    _table(raw, "sweep")  # read by market_sim.sweep (`market-sim sweep`); a run ignores it
    ctx.parsed.update(session=session, latency=latency, agents=agents, output=output)
    extensions: dict[str, Any] = {}
    registered = SECTIONS.all()
    # Sections are parsed, prepared, installed and finished in the order the scenario names them (not in the order
    # their modules happened to be imported: that differs between processes).
    for name, section in [(n, registered[n]) for n in raw if n in registered]:
        value = raw[name]
        if section.array and not (isinstance(value, list) and all(isinstance(v, Mapping) for v in value)):
            raise ConfigError(f"must be an array of tables ([[{name}]])", key=name, value=value)
        if not section.array and not isinstance(value, Mapping):
            raise ConfigError("must be a table", key=name, value=value)
        extensions[name] = section.parse(value, ctx)
        ctx.parsed[name] = extensions[name]
    return Scenario(header.name, header.description, header.seed, header.duration, instruments, processes,
                    venues, agents, session, latency, output, extensions, raw, source, header.guide)


# ----------------------------------------------------------------------------------------------------------------
def parse_override(text: str) -> tuple[str, Any]:
    """'agents.noise.count=50' -> ('agents.noise.count', 50); values are TOML literals, else plain strings."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError("--set needs KEY=VALUE with a dotted key, e.g. agents.noise.count=50", key="--set",
                          value=text)
    value = value.strip()
    try:
        return key, tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return key, value


_ID_FIELDS = ("name", "symbol", "type")


def apply_overrides(raw: dict[str, Any], overrides: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Apply dotted-key overrides to a raw scenario table (a copy). Array entries are addressed by index or by
    their name/symbol/type, e.g. `instruments.AAPL.initial_price`, `agents.0.count`, `agents.noise.count`."""
    out = copy.deepcopy(raw)
    for key, value in overrides:
        parts = key.split(".")
        node: Any = out
        for depth, part in enumerate(parts[:-1]):
            here = ".".join(parts[:depth + 1])
            if isinstance(node, list):
                node = _list_item(node, part, here)
            elif isinstance(node, dict):
                if part not in node:
                    node[part] = {}
                node = node[part]
            else:
                raise ConfigError("is not a table, cannot set a key inside it", key=here, value=node)
        last = parts[-1]
        if isinstance(node, list):
            idx = _list_index(node, last, key)
            node[idx] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise ConfigError("is not a table, cannot set a key inside it", key=".".join(parts[:-1]), value=node)
    return out


def _list_index(items: list[Any], part: str, key: str) -> int:
    if part.lstrip("-").isdigit():
        i = int(part)
        if -len(items) <= i < len(items):
            return i % len(items)
        raise ConfigError(f"index out of range (array has {len(items)} entries)", key=key, value=part)
    for i, item in enumerate(items):
        if isinstance(item, Mapping) and any(item.get(f) == part for f in _ID_FIELDS):
            return i
    raise ConfigError("no array entry with this index, name, symbol or type", key=key, value=part)


def _list_item(items: list[Any], part: str, key: str) -> Any:
    return items[_list_index(items, part, key)]


def read_scenario_file(path: Path) -> dict[str, Any]:
    """Load a .toml (or a results folder's .json) scenario file into a raw table."""
    if not path.is_file():
        raise ConfigError("scenario file not found", key="scenario", value=str(path))
    text = path.read_text()
    try:
        return json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot parse {path.name}: {exc}", key="scenario", value=str(path)) from None


def load_scenario(path: str | Path, overrides: Iterable[str] = (), seed: int | None = None) -> Scenario:
    """Load and validate a scenario file, applying `--set` overrides and an explicit seed."""
    p = Path(path)
    raw = apply_overrides(read_scenario_file(p), [parse_override(o) for o in overrides])
    header = raw.setdefault("scenario", {})
    if isinstance(header, dict):
        header.setdefault("name", p.stem)
        if seed is not None:
            header["seed"] = seed
    return parse_scenario(raw, base_dir=p.parent, source=str(p))


def duration_text(ns: int) -> str:
    """A compact human form of a duration (e.g. '1h', '90s', '250ms')."""
    for unit, size in (("h", 3600 * NS_PER_SECOND), ("min", 60 * NS_PER_SECOND), ("s", NS_PER_SECOND),
                       ("ms", 1_000_000), ("us", 1_000)):
        if ns >= size and ns % size == 0:
            return f"{ns // size}{unit}"
    return f"{ns}ns"

