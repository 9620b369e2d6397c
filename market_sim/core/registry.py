"""One registry type for every extension kind: agent types, price processes, venue kinds, mechanisms, scenario sections,
scenarios, consensus protocols, deploy steps.

Each entry has a name, the registered object, its help (the first paragraph of its docstring unless given), its
parameter dataclass (`params=`, else the object's `Params` class, else its `params` attribute when that is a class),
and the module that registered it (the plug-in), so `market-sim agents`, the docs and the API list the same things
from one place, and an unknown name is answered with the choices.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from market_sim.core.errors import ConfigError

__all__ = ["Registry", "Entry"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Entry(Generic[T]):
    """One registered extension."""

    name: str
    obj: T
    help: str
    plugin: str  # the module that registered it, e.g. "market_sim.defi.agents"
    params: type | None = None  # the parameter dataclass (fields with defaults and help), if it has one


def _first_paragraph(obj: object) -> str:
    """The first paragraph of `obj`'s own docstring, on one line ('' without one; an inherited one does not count)."""
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    if not isinstance(doc, str) or not doc.strip():
        return ""
    return " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())


def _params_of(obj: object) -> type | None:
    for attr in ("Params", "params"):
        value = getattr(obj, attr, None)
        if isinstance(value, type):
            return value
    return None


class Registry(Generic[T]):
    """Extensions of one kind by name; `what` names the kind in messages ("agent type", "deploy step")."""

    def __init__(self, what: str, *, name_attr: str = "kind") -> None:
        self.what = what
        self.name_attr = name_attr
        self._entries: dict[str, Entry[T]] = {}

    @overload
    def register(self, obj: T, *, name: str | None = None, help: str | None = None, params: type | None = None,
                 plugin: str | None = None) -> T: ...
    @overload
    def register(self, obj: None = None, *, name: str | None = None, help: str | None = None,
                 params: type | None = None, plugin: str | None = None) -> Callable[[T], T]: ...

    def register(self, obj: Any = None, *, name: str | None = None, help: str | None = None,
                 params: type | None = None, plugin: str | None = None) -> Any:
        """Register `obj` under `name` (default: its `name_attr` attribute); usable as `@registry.register` or
        `@registry.register(name=...)`. `help`, `params` and `plugin` default to what `obj` says (docstring, Params,
        __module__). Registering a name again replaces the entry (a plug-in may override)."""
        if obj is None:
            return lambda o: self.register(o, name=name, help=help, params=params, plugin=plugin)
        key = name if name is not None else getattr(obj, self.name_attr, "")
        if not key or not isinstance(key, str):
            raise ConfigError(f"a {self.what} needs a non-empty {self.name_attr}", key=self.name_attr,
                              value=getattr(obj, "__name__", obj))
        if plugin is None:
            plugin = getattr(obj, "__module__", None) or getattr(type(obj), "__module__", "") or ""
        self._entries[key] = Entry(key, obj, help if help is not None else _first_paragraph(obj), plugin,
                                   params if params is not None else _params_of(obj))
        return obj

    def get(self, name: object, key: str | None = None) -> T:
        """The object registered as `name`; a ConfigError naming `key` and the choices otherwise."""
        entry = self._entries.get(name) if isinstance(name, str) else None
        if entry is None:
            raise ConfigError(f"unknown {self.what}; choose one of {', '.join(sorted(self._entries)) or '(none)'}",
                              key=key or self.what, value=name)
        return entry.obj

    def entry(self, name: str, key: str | None = None) -> Entry[T]:
        """The whole entry (help, params, plug-in) registered as `name`; the same error as get() otherwise."""
        self.get(name, key)
        return self._entries[name]  # type: ignore[index]

    def names(self) -> tuple[str, ...]:
        """Registered names in registration order."""
        return tuple(self._entries)

    def all(self) -> dict[str, T]:
        """Every registered name and object, in registration order."""
        return {k: e.obj for k, e in self._entries.items()}

    def entries(self) -> tuple[Entry[T], ...]:
        return tuple(self._entries.values())

    def pop(self, name: str, *default: Any) -> Any:
        """Remove the entry `name` and return its object (a test or a plug-in unloading its kinds)."""
        if name in self._entries:
            return self._entries.pop(name).obj
        if default:
            return default[0]
        self.get(name)

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
