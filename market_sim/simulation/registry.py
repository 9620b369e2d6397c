"""KindRegistry: the core Registry keyed by a class's `kind` (agent types, price processes), kept under its old name."""

from __future__ import annotations

from typing import TypeVar

from market_sim.core.errors import ConfigError
from market_sim.core.registry import Registry

__all__ = ["KindRegistry"]

T = TypeVar("T", bound=type)


class KindRegistry(Registry[T]):
    """Classes registered under their `kind` attribute; `what` names them in error messages. A core Registry, so
    its entries carry help, the Params dataclass and the plug-in module like every other extension kind."""

    def __init__(self, what: str) -> None:
        super().__init__(what, name_attr="kind")

    def register(self, cls: T, **meta: object) -> T:  # type: ignore[override]
        """Register `cls` under cls.kind (usable as a decorator)."""
        if not getattr(cls, "kind", ""):
            raise ConfigError(f"a {self.what} class needs a non-empty kind", key="kind", value=cls.__name__)
        return super().register(cls, **meta)  # type: ignore[arg-type]
