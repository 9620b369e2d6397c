"""Helpers for the risk tests: a small world with one book, an idle agent the test drives, and the [risk] section."""

from __future__ import annotations

import copy
from typing import Any

import market_sim.risk  # noqa: F401  (registers the [risk] section)
from market_sim.core.orders import OrderType, Side, TimeInForce
from market_sim.simulation.agents import Agent, register_agent_type
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import parse_scenario

MS = 1_000_000
SEC = 1_000_000_000

BASE: dict[str, Any] = {
    "scenario": {"name": "t", "seed": 3, "duration": "100s", "plugins": ["market_sim.risk"]},
    "instruments": [{"symbol": "XYZ", "tick_size": "0.01", "initial_price": 100.0,
                     "base_decimals": 0, "quote_decimals": 2}],
    "latency": {"default": "fixed:1ms"},
    "output": {"plots": False},
}


@register_agent_type
class Idle(Agent):
    """Does nothing on its own: the test sends its orders (through the normal agent → venue path)."""

    kind = "test_risk_idle"


def world(risk: dict[str, Any], agents: tuple[str, ...] = ("p", "q"), **scenario: Any) -> Simulation:
    raw = copy.deepcopy(BASE)
    raw["scenario"].update(scenario)
    raw["agents"] = [{"type": "test_risk_idle", "name": n} for n in agents]
    raw["risk"] = risk
    return Simulation(parse_scenario(raw), tune_gc=False).build()


def order(sim: Simulation, agent: str, side: str, qty: int, price: int | None = None, *, at: int | None = None,
          market: bool = False, tif: str = "gtc") -> None:
    """Schedule agent `agent`-1 to submit an order at time `at` (default: now)."""
    a = sim.agent(f"{agent}-1")
    s = Side.BUY if side == "buy" else Side.SELL
    kind = OrderType.MARKET if market else OrderType.LIMIT
    sim.kernel.schedule_at(sim.now if at is None else at, lambda: a.submit(
        "XYZ", s, qty, None if market else price, order_type=kind,
        tif=TimeInForce.IOC if market else TimeInForce(tif)))


def engine(sim: Simulation):
    return sim.state("risk")
