"""Typed parameter tables: build a frozen dataclass from a TOML table, with errors naming the bad key and value.

A parameter dataclass declares its fields with type hints (int, float, str, bool, list[str], dict) and optional
field metadata: `duration=True` parses '20ms'-style strings into integer ns, `min`/`max` bound numbers,
`choices` restricts strings. Fields without defaults are required.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from market_sim.core.errors import ConfigError
from market_sim.simulation.latency import parse_duration

__all__ = ["build_params", "param", "NoParams", "ParamSpec", "describe_params"]

P = TypeVar("P")


def param(default: Any = dataclasses.MISSING, *, duration: bool = False, min: float | None = None,
          max: float | None = None, choices: tuple[str, ...] | None = None, help: str = "") -> Any:
    """Declare a parameter field with validation metadata."""
    meta = {"duration": duration, "min": min, "max": max, "choices": choices, "help": help}
    if isinstance(default, (list, dict)):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True, slots=True)
class NoParams:
    """An empty parameter table."""


def _coerce(value: Any, hint: Any, key: str, meta: Mapping[str, Any]) -> Any:
    if meta.get("duration"):
        if value is None and type(None) in typing.get_args(hint):
            return None
        return parse_duration(value, key)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key, meta)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError("must be true or false", key=key, value=value)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise ConfigError("must be an integer", key=key, value=value)
        return _bounded(int(value), key, meta)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError("must be a finite number", key=key, value=value)
        return _bounded(float(value), key, meta)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError("must be a string", key=key, value=value)
        choices = meta.get("choices")
        if choices and value not in choices:
            raise ConfigError(f"must be one of {', '.join(choices)}", key=key, value=value)
        return value
    if origin in (list, tuple):
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ConfigError("must be a list", key=key, value=value)
        inner = args[0] if args else Any
        out = [v if inner is Any else _coerce(v, inner, f"{key}[{i}]", meta) for i, v in enumerate(items)]
        return tuple(out) if origin is tuple else out
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError("must be a table", key=key, value=value)
        return dict(value)
    return value


def _bounded(value: float, key: str, meta: Mapping[str, Any]) -> Any:
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and value < lo:
        raise ConfigError(f"must be >= {lo}", key=key, value=value)
    if hi is not None and value > hi:
        raise ConfigError(f"must be <= {hi}", key=key, value=value)
    return value


def build_params(cls: type[P], raw: Mapping[str, Any] | None, where: str) -> P:
    """Validate `raw` against the dataclass `cls` and build it; `where` prefixes key names in errors."""
    raw = {} if raw is None else raw
    if not isinstance(raw, Mapping):
        raise ConfigError("must be a table", key=where, value=raw)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for k in raw:
        if k not in fields:
            known = ", ".join(sorted(fields)) or "(none)"
            raise ConfigError(f"unknown key; expected one of: {known}", key=f"{where}.{k}", value=raw[k])
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, f in fields.items():
        key = f"{where}.{name}"
        if name in raw:
            values[name] = _coerce(raw[name], hints[name], key, f.metadata)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError("is required", key=key, value=None)
        elif f.metadata.get("duration") and isinstance(f.default, str):
            values[name] = parse_duration(f.default, key)
    return cls(**values)


@dataclasses.dataclass(frozen=True, slots=True)
class ParamSpec:
    """One parameter of a parameter dataclass, for listings (`market-sim agents`): name, value type, default
    (None when required), help with the bounds and choices spelled out."""

    name: str
    type: str
    default: str | None
    help: str


def _type_text(hint: Any, meta: Mapping[str, Any]) -> str:
    if meta.get("duration"):
        return "duration"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        inner = [a for a in args if a is not type(None)]
        return _type_text(inner[0], meta) + " (optional)" if inner else "any"
    if origin in (list, tuple):
        inner = _type_text(args[0], {}) if args else "value"
        return f"list of {inner}s" if inner in ("string", "integer", "number", "table") else f"list of {inner}"
    names = {bool: "true/false", int: "integer", float: "number", str: "string", dict: "table"}
    return names.get(origin or hint, getattr(hint, "__name__", str(hint)))


def _default_text(f: dataclasses.Field, meta: Mapping[str, Any]) -> str | None:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return None
    if meta.get("duration") and isinstance(value, int) and not isinstance(value, bool):
        for unit, size in (("d", 86_400_000_000_000), ("h", 3_600_000_000_000), ("min", 60_000_000_000),
                           ("s", 1_000_000_000),
                           ("ms", 1_000_000), ("us", 1_000)):
            if value >= size and value % size == 0:
                return f"{value // size}{unit}"
        return f"{value}ns"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and meta.get("duration"):
        return value
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{}" if not value else str(value)
    return str(value)


def describe_params(cls: type | None) -> list[ParamSpec]:
    """The parameters a parameter dataclass accepts (its fields and their `param` metadata), in order."""
    if cls is None or not dataclasses.is_dataclass(cls):
        return []
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        notes = [meta.get("help") or ""]
        if meta.get("choices"):
            notes.append("one of " + ", ".join(meta["choices"]))
        lo, hi = meta.get("min"), meta.get("max")
        if lo is not None and hi is not None:
            notes.append(f"{lo}..{hi}")
        elif lo is not None:
            notes.append(f">= {lo}")
        elif hi is not None:
            notes.append(f"<= {hi}")
        out.append(ParamSpec(f.name, _type_text(hints[f.name], meta), _default_text(f, meta),
                             "; ".join(n for n in notes if n)))
    return out
