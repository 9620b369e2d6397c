"""Shared helpers for the simulation tests: small scenario tables."""

from __future__ import annotations

import copy
from typing import Any

import pytest

BASE: dict[str, Any] = {
    "scenario": {"name": "t", "seed": 3, "duration": "10s"},
    "instruments": [{"symbol": "XYZ", "tick_size": "0.01", "initial_price": 100.0}],
    "latency": {"default": "fixed:1ms"},
    "output": {"plots": False},
}


@pytest.fixture
def base_raw() -> dict[str, Any]:
    """A minimal valid scenario table (one instrument, one order-book venue, no agents)."""
    return copy.deepcopy(BASE)
