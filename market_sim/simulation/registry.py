"""A registry of extension classes by their `kind` (agent types, price processes), with errors that list the choices."""

from __future__ import annotations

from typing import Generic, TypeVar

from market_sim.core.errors import ConfigError

__all__ = ["KindRegistry"]

T = TypeVar("T", bound=type)


class KindRegistry(Generic[T]):
    """Classes registered under their `kind` attribute; `what` names them in error messages."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._classes: dict[str, T] = {}

    def register(self, cls: T) -> T:
        """Register `cls` under cls.kind (usable as a decorator)."""
        if not getattr(cls, "kind", ""):
            raise ConfigError(f"a {self.what} class needs a non-empty kind", key="kind", value=cls.__name__)
        self._classes[cls.kind] = cls
        return cls

    def get(self, kind: object, key: str) -> T:
        """The class registered as `kind`; ConfigError naming `key` and the choices otherwise."""
        if not isinstance(kind, str) or kind not in self._classes:
            raise ConfigError(f"unknown {self.what}; choose one of {', '.join(sorted(self._classes))}",
                              key=key, value=kind)
        return self._classes[kind]

    def all(self) -> dict[str, T]:
        """Every registered kind and its class."""
        return dict(self._classes)
