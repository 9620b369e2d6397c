"""Execution algorithms on a hand-driven clock: exact child orders, shortfall, and completion by the deadline."""

import math

from hypothesis import given, settings, strategies as st

from market_sim.core.events import Trade
from market_sim.core.orders import Side
from market_sim.strategies.execution import POV, TWAP, VWAP, AlmgrenChriss, almgren_chriss_remaining
from tests.unit.strategies.harness import cancelled, fill, make, orders, set_quote

SEC = 1_000_000_000


def step(agent, sim, t, fill_children=True, fraction=1.0):
    sim.kernel.now = t
    set_quote(sim, 9999, 10001)
    agent.on_wakeup()
    sent = orders(sim)
    for oid in list(agent.open_orders):
        q = agent.open_orders[oid].remaining
        part = int(q * fraction) if fill_children else 0
        if part:
            fill(agent, sim, oid, part, price=9990, maker=False)
        if oid in agent.open_orders:
            cancelled(agent, sim, oid)       # the IOC remainder
    return sent


def test_twap_sends_equal_children_and_completes_at_the_deadline():
    agent, sim = make(TWAP, {"total_quantity": 100, "start": "0s", "horizon": "40s", "interval": "10s"})
    assert sim.wakes == [0]
    sent = [step(agent, sim, t * SEC) for t in (0, 10, 20, 30, 40)]
    assert sent == [[], *[[("new", "exchange", "SELL", 25, None, "MARKET")]] * 4]
    assert agent.done == 100 and agent.finished_at == 40 * SEC
    # arrival mid 10000, every lot sold at 9990: 10 ticks x 100 lots = 10 bps of the arrival notional
    s = agent.shortfall()
    assert s["shortfall_ticks"] == 1000 and math.isclose(s["shortfall_bps"], 10.0) and s["unfilled"] == 0


def test_vwap_follows_the_volume_profile():
    agent, sim = make(VWAP, {"total_quantity": 80, "start": "0s", "horizon": "100s", "interval": "25s",
                             "profile": [3.0, 1.0], "side": "buy"})
    sent = [step(agent, sim, t * SEC) for t in (0, 25, 50, 75, 100)]
    assert [s[0][3] if s else 0 for s in sent] == [0, 30, 30, 10, 10]
    assert all(s[0][2] == "BUY" for s in sent if s)


def test_pov_takes_its_share_of_the_others_volume():
    agent, sim = make(POV, {"total_quantity": 50, "start": "0s", "horizon": "100s", "interval": "10s", "rate": 0.5})
    assert ("trades", "exchange", "XYZ") in sim.subscriptions
    agent.on_trade(Trade(1, 1, "XYZ", 10000, 10, 1, 2, "b", "s", Side.SELL))
    agent.on_trade(Trade(2, 2, "XYZ", 10000, 4, 1, 2, "b", "s", Side.SELL))
    assert step(agent, sim, 10 * SEC) == [("new", "exchange", "SELL", 7, None, "MARKET")]
    agent.on_trade(Trade(11, 3, "XYZ", 10000, 7, 3, 4, agent.id, "s", Side.SELL))   # its own fill: not counted
    assert step(agent, sim, 20 * SEC) == []


def test_almgren_chriss_front_loads_and_reduces_to_twap():
    assert almgren_chriss_remaining(100, 50, 100, 0.0) == 50
    assert math.isclose(almgren_chriss_remaining(100, 50, 100, 0.05), 100 * math.sinh(2.5) / math.sinh(5))
    agent, sim = make(AlmgrenChriss, {"total_quantity": 100, "start": "0s", "horizon": "40s", "interval": "10s",
                                      "risk_aversion": 0.0025, "sigma": 1.0, "eta": 0.1})   # κ = 0.158/s
    sizes = [s[0][3] for s in (step(agent, sim, t * SEC) for t in (0, 10, 20, 30, 40)) if s]
    assert sizes == [79, 16, 4, 1]   # 100·(1 − sinh(κ(T − t))/sinh(κT)) done by t = 10, 20, 30 s, then the rest


def test_unfilled_lots_are_swept_after_the_deadline_and_count_in_the_shortfall():
    agent, sim = make(TWAP, {"total_quantity": 20, "start": "0s", "horizon": "10s", "interval": "10s"})
    step(agent, sim, 0)
    step(agent, sim, 10 * SEC, fraction=0.5)          # half of the final child fills, the rest is cancelled
    assert agent.done == 10 and sim.wakes[-1] == 20 * SEC
    assert agent.shortfall()["unfilled"] == 10
    assert step(agent, sim, 20 * SEC) == [("new", "exchange", "SELL", 10, None, "MARKET")]


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 5000), st.integers(1, 20), st.integers(1, 10), st.sampled_from([TWAP, VWAP, AlmgrenChriss]))
def test_property_schedules_complete_by_the_deadline(total, slices, interval_s, cls):
    """With liquidity for every child, the parent is done exactly at the deadline and never over-executed."""
    horizon = slices * interval_s
    agent, sim = make(cls, {"total_quantity": total, "start": "0s", "horizon": f"{horizon}s",
                            "interval": f"{interval_s}s"})
    t = 0
    while t <= horizon:
        step(agent, sim, t * SEC)
        assert agent.done <= total
        t += interval_s
    assert agent.done == total and agent.finished_at is not None and agent.finished_at <= horizon * SEC
