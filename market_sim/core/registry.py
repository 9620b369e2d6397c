"""One registry type for every extension kind: agent types, price processes, venue kinds, mechanisms, scenario sections,
scenarios, consensus protocols, deploy steps.

Each entry has a name, the registered object, one line of help, and the module that registered it (the plug-in), so
`market-sim agents`, the docs and the API list the same things from one place, and an unknown name is answered with
the choices.
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


def _first_line(obj: object) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


class Registry(Generic[T]):
    """Extensions of one kind by name; `what` names the kind in messages ("agent type", "deploy step")."""

    def __init__(self, what: str, *, name_attr: str = "kind") -> None:
        self.what = what
        self.name_attr = name_attr
        self._entries: dict[str, Entry[T]] = {}

    @overload
    def register(self, obj: T, *, name: str | None = None, help: str | None = None) -> T: ...
    @overload
    def register(self, obj: None = None, *, name: str | None = None,
                 help: str | None = None) -> Callable[[T], T]: ...

    def register(self, obj: Any = None, *, name: str | None = None, help: str | None = None) -> Any:
        """Register `obj` under `name` (default: its `name_attr` attribute); usable as `@registry.register` or
        `@registry.register(name=...)`. Registering a name again replaces the entry (a plug-in may override)."""
        if obj is None:
            return lambda o: self.register(o, name=name, help=help)
        key = name if name is not None else getattr(obj, self.name_attr, "")
        if not key or not isinstance(key, str):
            raise ConfigError(f"a {self.what} needs a non-empty {self.name_attr}", key=self.name_attr,
                              value=getattr(obj, "__name__", obj))
        plugin = getattr(obj, "__module__", None) or ""
        self._entries[key] = Entry(key, obj, help if help is not None else _first_line(obj), plugin)
        return obj

    def get(self, name: object, key: str | None = None) -> T:
        """The object registered as `name`; a ConfigError naming `key` and the choices otherwise."""
        entry = self._entries.get(name) if isinstance(name, str) else None
        if entry is None:
            raise ConfigError(f"unknown {self.what}; choose one of {', '.join(sorted(self._entries)) or '(none)'}",
                              key=key or self.what, value=name)
        return entry.obj

    def entry(self, name: str) -> Entry[T]:
        self.get(name)
        return self._entries[name]

    def names(self) -> tuple[str, ...]:
        """Registered names in registration order."""
        return tuple(self._entries)

    def all(self) -> dict[str, T]:
        """Every registered name and object, in registration order."""
        return {k: e.obj for k, e in self._entries.items()}

    def entries(self) -> tuple[Entry[T], ...]:
        return tuple(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
