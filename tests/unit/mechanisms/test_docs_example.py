"""The worked example of docs/mechanisms.md runs: it registers, builds from a [[venues]] table and clears."""

from __future__ import annotations

import sys
import types
from pathlib import Path

from market_sim.core.events import Trade
from market_sim.core.instruments import Instrument
from market_sim.core.orders import NewOrder, OrderType, Side
from market_sim.mechanisms.base import MECHANISMS, build_mechanism

from tests.unit.mechanisms._sim import FakeSim

DOC = Path(__file__).resolve().parents[3] / "docs" / "mechanisms.md"


def test_the_worked_example_registers_and_trades():
    text = DOC.read_text()
    code = text.split("```python", 1)[1].split("```", 1)[0]
    module = types.ModuleType("docs_mechanisms_example")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(code, str(DOC), "exec"), module.__dict__)  # noqa: S102 - our own documentation
    try:
        sim = FakeSim()
        v = build_mechanism(sim, "rb", [Instrument("X")], {"mechanism": "random-batch", "tau": "10ms", "seed": 3})
        sim.send(v, 1, NewOrder(1, "a", "X", Side.SELL, 2, OrderType.LIMIT, 100))
        sim.send(v, 2, NewOrder(2, "b", "X", Side.BUY, 2, OrderType.LIMIT, 100))
        sim.kernel.run()
        (t,) = sim.of(Trade)
        assert (t.price, t.quantity) == (100, 2) and t.ts > 2
    finally:
        MECHANISMS.pop("random-batch", None)
        sys.modules.pop(module.__name__, None)
