"""Typed results: every part of a run (the order-book market, each scenario section) reports a frozen result
dataclass, and one renderer turns any of them into JSON (metrics.json) and into summary rows (headline first).

- A result field is a figure; `figure(label, headline=True)` gives it a label for the summary and marks it as one of
  the section's headline figures (the run summary leads with them, in field order). A nested dataclass or a dict of
  them (per agent, per chain) is a group of figures; their headline fields count as headline too.
- A section result subclasses `SectionResult`, names its section (`section = "defi"`) and is registered with
  `@RESULT_TYPES.register`, so `load_run(...).results` turns metrics.json back into the same dataclasses.
- Booleans are bools, counts are ints, amounts in quote currency are floats (rounded when the result is built).

metrics.json (version 2) holds the market figures and the run's speed at the top level (what the run index and
`market-sim runs` read) and the section results under "sections": {name: {...}}. A metrics.json without a version
(version 1: flat "defi.{agent}.pnl" keys, "yes"/"NO" strings) still loads: its market figures are typed and every
other key is kept as is in `RunResults.legacy`.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from market_sim.core.errors import MarketSimError
from market_sim.core.registry import Registry

__all__ = ["METRICS_VERSION", "figure", "SectionResult", "RESULT_TYPES", "SymbolStats", "MarketResult", "RunResults",
           "to_json", "from_json", "summary_rows", "SummaryRow", "run_results", "results_from_json",
           "metrics_json", "MetricsFormatError", "yes"]

METRICS_VERSION = 2


class MetricsFormatError(MarketSimError):
    """metrics.json does not match the result type it names (a newer format, or an edited file)."""


def figure(label: str = "", *, headline: bool = False, default: Any = dataclasses.MISSING) -> Any:
    """A result field with its summary label; headline figures lead the run summary."""
    meta = {"label": label, "headline": headline}
    return field(metadata=meta) if default is dataclasses.MISSING else field(default=default, metadata=meta)


class SectionResult:
    """Base of a scenario section's result dataclass (subclasses are frozen, slotted dataclasses).

    A subclass may define `from_legacy(flat) -> (result, keys used) | None` to read its figures from a version-1
    metrics.json (flat keys, "yes"/"NO" strings), so runs stored before typed results show like new ones."""

    __slots__ = ()
    section: ClassVar[str] = ""


# Section name -> its result dataclass (registered by the plug-in that provides the section).
RESULT_TYPES: Registry[type] = Registry("section result", name_attr="section")


@dataclass(frozen=True, slots=True)
class SymbolStats:
    """Trading of one instrument on the order books: counts in lots, prices in quote currency."""

    trades: int = figure("trades")
    volume: int = figure("volume")
    first_price: float = figure("first")
    min_price: float = figure("min")
    max_price: float = figure("max")
    last_price: float = figure("last")


@dataclass(frozen=True, slots=True)
class MarketResult:
    """The order-book market of a run (the recorder's figures)."""

    scenario: str
    seed: int
    duration_ns: int
    agents: int = figure("agents", default=0)
    orders: int = figure("orders", default=0)
    commands: int = figure("commands", default=0)
    trades: int = figure("trades", default=0)
    volume: int = figure("volume (lots)", default=0)
    symbols: dict[str, SymbolStats] = field(default_factory=dict, metadata={"label": "instruments"})
    pnl_by_group: dict[str, float] = field(default_factory=dict, metadata={"label": "PnL by agent group"})
    fees_by_venue: dict[str, float] = field(default_factory=dict, metadata={"label": "fee revenue by venue"})
    fees_by_group: dict[str, float] = field(default_factory=dict, metadata={"label": "fees paid by agent group"})


@dataclass(frozen=True, slots=True)
class RunResults:
    """Everything a run reports: the market, the run's speed, and each section's typed result by section name."""

    market: MarketResult
    events: int | None = None
    wall_seconds: float | None = None
    events_per_second: int | float | None = None
    sections: dict[str, Any] = field(default_factory=dict)  # section name -> SectionResult (or a dict if unknown)
    legacy: dict[str, Any] = field(default_factory=dict)  # version-1 metrics.json keys that are not market figures
    version: int = METRICS_VERSION

    def __getitem__(self, section: str) -> Any:
        """The result of a section: results["consensus"].trades_finalized."""
        try:
            return self.sections[section]
        except KeyError:
            raise KeyError(f"no [{section}] result in this run; sections: {', '.join(self.sections) or 'none'}") \
                from None


# ---- the one renderer: dataclass -> JSON --------------------------------------------------------------------------
def to_json(value: Any) -> Any:
    """A result (dataclass, enum, dict, tuple, scalar) as JSON-ready values; field order is kept."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def from_json(tp: Any, data: Any, where: str = "metrics") -> Any:
    """`data` (from to_json) as a value of type `tp`: dataclasses, dict[str, X], tuple[X, ...], X | None, enums,
    int/float/bool/str. A mismatch is a MetricsFormatError naming where."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if data is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return from_json(arg, data, where)
            except MetricsFormatError as exc:
                errors.append(str(exc))
        raise MetricsFormatError(errors[0] if errors else f"{where}: unexpected {data!r}")
    if tp is Any:
        return data
    if dataclasses.is_dataclass(tp):
        if not isinstance(data, Mapping):
            raise MetricsFormatError(f"{where}: expected a table for {tp.__name__}, got {data!r}")
        hints = typing.get_type_hints(tp)
        kwargs = {}
        for f in dataclasses.fields(tp):
            if f.name in data:
                kwargs[f.name] = from_json(hints[f.name], data[f.name], f"{where}.{f.name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise MetricsFormatError(f"{where}: {tp.__name__} needs {f.name}")
        return tp(**kwargs)
    if origin is dict:
        _, vt = typing.get_args(tp) or (str, Any)
        if not isinstance(data, Mapping):
            raise MetricsFormatError(f"{where}: expected a table, got {data!r}")
        return {str(k): from_json(vt, v, f"{where}.{k}") for k, v in data.items()}
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(data, (list, tuple)):
            raise MetricsFormatError(f"{where}: expected a list, got {data!r}")
        item = args[0] if args else Any
        return tuple(from_json(item, v, f"{where}[{i}]") for i, v in enumerate(data))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(data)
        except ValueError:
            raise MetricsFormatError(f"{where}: {data!r} is not a {tp.__name__}") from None
    if tp is bool:
        if isinstance(data, bool):
            return data
    elif tp is int:
        if isinstance(data, int) and not isinstance(data, bool):
            return data
    elif tp is float:
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return float(data)
    elif tp is str:
        if isinstance(data, str):
            return data
    else:
        return data
    raise MetricsFormatError(f"{where}: expected {tp.__name__}, got {data!r}")


# ---- the one renderer: dataclass -> summary rows ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SummaryRow:
    """One figure of a summary: where it is in the result (dotted path), its label and value, headline or not."""

    path: str
    label: str
    value: Any
    headline: bool


def _rows(obj: Any, path: str, label: str, headline: bool) -> Iterator[SummaryRow]:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            sub = getattr(obj, f.name)
            flabel = f.metadata.get("label") or f.name.replace("_", " ")
            yield from _rows(sub, f"{path}.{f.name}" if path else f.name,
                             f"{label} {flabel}".strip() if label else flabel,
                             headline and bool(f.metadata.get("headline")))
    elif isinstance(obj, Mapping) and obj and all(dataclasses.is_dataclass(v) for v in obj.values()):
        for k, v in obj.items():  # a group per agent / chain: its headline figures stay headline
            yield from _rows(v, f"{path}.{k}", f"{label} {k}".strip(), headline)
    elif obj is not None:
        yield SummaryRow(path, label, obj, headline)


def summary_rows(result: Any) -> list[SummaryRow]:
    """A result's figures as rows with labels, headline figures first (each group in field order); None figures
    (not measured in this run) are left out."""
    rows = list(_rows(result, "", "", True))
    return [r for r in rows if r.headline] + [r for r in rows if not r.headline]


# ---- a run's metrics dict <-> RunResults <-> metrics.json ---------------------------------------------------------
_MARKET = tuple(f.name for f in dataclasses.fields(MarketResult))
_RUN = ("events", "wall_seconds", "events_per_second")


def run_results(metrics: Mapping[str, Any]) -> RunResults:
    """A run's metrics (RunOutcome.metrics: the recorder's market figures, the run's speed and each section's
    result object under its section name) as RunResults."""
    market = from_json(MarketResult, {k: metrics[k] for k in _MARKET if k in metrics}, "metrics")
    sections = {k: v for k, v in metrics.items() if isinstance(v, SectionResult)}
    legacy = {k: v for k, v in metrics.items() if k not in _MARKET and k not in _RUN and k not in sections
              and k not in ("version", "sections")}
    return RunResults(market, metrics.get("events"), metrics.get("wall_seconds"), metrics.get("events_per_second"),
                      sections, legacy)


def metrics_json(results: RunResults | Mapping[str, Any]) -> dict[str, Any]:
    """metrics.json: version, the market figures and run speed at the top level, the sections' results under
    "sections" (plus, for a version-1 run, its other keys as they were)."""
    if not isinstance(results, RunResults):
        results = run_results(results)
    out: dict[str, Any] = {"version": results.version, **to_json(results.market),
                           **{k: getattr(results, k) for k in _RUN}}
    out["sections"] = {name: to_json(r) for name, r in results.sections.items()}
    out.update(results.legacy)
    return out


def yes(value: Any) -> bool:
    """A version-1 yes/no figure ("yes", "NO", "OK", a bool) as a bool."""
    return value is True or (isinstance(value, str) and value.strip().lower() in ("yes", "ok", "true"))


def _result_type(section: str) -> type | None:
    if section and section in RESULT_TYPES:
        return RESULT_TYPES.get(section)
    import importlib

    from market_sim.simulation.scenario import SHIPPED_PLUGINS

    for module in SHIPPED_PLUGINS:  # the shipped sections register their result types on import
        try:
            importlib.import_module(module)
        except ImportError:
            continue
    return RESULT_TYPES.get(section) if section in RESULT_TYPES else None


def results_from_json(data: Mapping[str, Any]) -> RunResults:
    """metrics.json back as RunResults: version 2 as typed section results (a section whose plug-in is not
    installed stays a dict), version 1 (no version field) with its market figures typed and the rest in `legacy`."""
    version = data.get("version", 1)
    if not isinstance(version, int) or version > METRICS_VERSION:
        raise MetricsFormatError(f"metrics.json version {version!r} is newer than this market-sim reads "
                                 f"(up to {METRICS_VERSION})")
    market = from_json(MarketResult, {k: data[k] for k in _MARKET if k in data}, "metrics")
    run = {k: data.get(k) for k in _RUN}
    if version == 1:
        legacy = {k: v for k, v in data.items() if k not in _MARKET and k not in _RUN}
        sections: dict[str, Any] = {}
        _result_type("")  # the shipped plug-ins register their result types
        for name, tp in RESULT_TYPES.all().items():
            upgrade = getattr(tp, "from_legacy", None)
            found = upgrade(legacy) if upgrade is not None else None
            if found is not None:
                sections[name], used = found
                legacy = {k: v for k, v in legacy.items() if k not in used}
        return RunResults(market, **run, sections=sections, legacy=legacy, version=1)
    sections: dict[str, Any] = {}
    for name, raw in (data.get("sections") or {}).items():
        tp = _result_type(name)
        sections[name] = raw if tp is None else from_json(tp, raw, f"sections.{name}")
    legacy = {k: v for k, v in data.items() if k not in _MARKET and k not in _RUN and k not in ("version", "sections")}
    return RunResults(market, **run, sections=sections, legacy=legacy, version=version)
