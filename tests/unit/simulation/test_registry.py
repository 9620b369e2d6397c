"""KindRegistry: classes by kind, lookup errors that name the key and list the choices."""

from __future__ import annotations

import pytest

from market_sim.core.errors import ConfigError
from market_sim.simulation.registry import KindRegistry


class Base:
    kind = ""


def test_register_get_and_list():
    reg: KindRegistry[type[Base]] = KindRegistry("widget kind")

    @reg.register
    class Small(Base):
        kind = "small"

    assert reg.get("small", "w.kind") is Small and reg.all() == {"small": Small}
    with pytest.raises(ConfigError, match=r"w\.kind: unknown widget kind; choose one of small \(got 'big'\)"):
        reg.get("big", "w.kind")
    with pytest.raises(ConfigError, match="unknown widget kind"):
        reg.get(None, "w.kind")
    with pytest.raises(ConfigError, match="a widget kind class needs a non-empty kind"):
        reg.register(Base)
