"""Bar fill rules on hand-built bars: exact fill prices, quantities, liquidity, fees and balances."""

from __future__ import annotations

import numpy as np
import pytest

from market_sim.backtest import (
    BarBacktest, BarSeries, FillRules, FixedTicks, FeeSchedule, BpsSlippage, VolumeImpact,
)
from market_sim.core.accounts import Liquidity
from market_sim.core.errors import ConfigError
from market_sim.core.events import OrderCancelled, OrderRejected
from market_sim.core.instruments import Instrument
from market_sim.core.orders import OrderType, Side, TimeInForce
from market_sim.simulation.agents.base import Agent

DAY = 86_400 * 10**9
INS = Instrument("XYZ", tick_size="0.01", lot_size="1", base_decimals=0, quote_decimals=2)


def bars(rows):
    """rows: (open, high, low, close, volume) in ticks / lots, one bar a day."""
    a = np.array(rows, dtype=np.int64)
    return BarSeries(INS, np.arange(len(rows), dtype=np.int64) * DAY, a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4])


class Scripted(Agent):
    """Sends the orders listed for a bar index at that bar's close; records fills and events."""

    kind = "scripted-test"

    def __init__(self, script):
        super().__init__("s")
        self.script = script
        self.got = []
        self.events = []

    def on_start(self):
        self.wake_up_in(0)

    def on_wakeup(self):
        for kw in self.script.get(self._sim.bar_index, []):
            kw = dict(kw)
            self.submit("XYZ", kw.pop("side"), kw.pop("qty"), kw.pop("price", None), **kw)
        self.wake_up_in(1)

    def on_fill(self, fill):
        self.got.append((self._sim.bar_index, int(fill.side), fill.quantity, fill.price, fill.liquidity, fill.fee))

    def on_order_event(self, event):
        self.events.append(event)


FLAT = [(100, 100, 100, 100, 1000)]


def run(rows, script, **kw):
    agent = Scripted(script)
    BarBacktest(bars(rows), agent, cash={"USD": 1_000_000}, **kw).run()
    return agent


def test_market_order_fills_at_the_next_bars_open():
    a = run([(100, 101, 99, 100, 1000), (103, 106, 102, 105, 1000), (104, 104, 100, 101, 1000)],
            {0: [{"side": Side.BUY, "qty": 7, "order_type": OrderType.MARKET}]})
    assert a.got == [(1, 1, 7, 103, Liquidity.TAKER, 0)]
    assert a.balance("USD") == 1_000_000 - 7 * 103
    assert a.position("XYZ") == 7


def test_limit_touched_only_at_the_low_does_not_fill_unless_configured():
    rows = [(100, 100, 100, 100, 1000), (100, 101, 98, 100, 1000), (100, 101, 97, 99, 1000)]
    script = {0: [{"side": Side.BUY, "qty": 5, "price": 98}]}
    assert run(rows, script).got == [(2, 1, 5, 98, Liquidity.MAKER, 0)]    # bar 1 only touched 98; bar 2 traded through
    assert run(rows, script, rules=FillRules(fill_on_touch=True)).got == [(1, 1, 5, 98, Liquidity.MAKER, 0)]


def test_sell_limit_mirrors_with_the_high():
    rows = [(100, 100, 100, 100, 1000), (100, 102, 99, 101, 1000), (101, 103, 100, 102, 1000)]
    a = run(rows, {0: [{"side": Side.SELL, "qty": 3, "price": 102}]})
    assert a.got == [(2, -1, 3, 102, Liquidity.MAKER, 0)]
    assert a.position("XYZ") == -3 and a.balance("USD") == 1_000_000 + 306


def test_limit_gapped_through_fills_at_the_better_open_as_taker():
    a = run([(100, 100, 100, 100, 1000), (95, 97, 94, 96, 1000)], {0: [{"side": Side.BUY, "qty": 2, "price": 99}]})
    assert a.got == [(1, 1, 2, 95, Liquidity.TAKER, 0)]


def test_stop_fills_at_the_stop_or_a_worse_open_with_slippage_clamped_to_the_range():
    rows = [(100, 100, 100, 100, 1000), (101, 105, 100, 104, 1000), (107, 108, 106, 107, 1000)]
    stop = {"side": Side.BUY, "qty": 1, "order_type": OrderType.STOP, "stop_price": 105}
    assert run(rows, {0: [stop]}).got == [(1, 1, 1, 105, Liquidity.TAKER, 0)]
    assert run(rows, {1: [stop]}).got == [(2, 1, 1, 107, Liquidity.TAKER, 0)]       # gap above the stop: the open
    # two ticks of slippage on a stop at the bar's high cannot fill above the high
    assert run(rows, {0: [stop]}, rules=FillRules(slippage=FixedTicks(2))).got == [(1, 1, 1, 105, Liquidity.TAKER, 0)]
    assert run(rows, {1: [stop]}, rules=FillRules(slippage=FixedTicks(2))).got == [(2, 1, 1, 108, Liquidity.TAKER, 0)]


def test_sell_stop_triggers_on_the_low():
    rows = [(100, 100, 100, 100, 1000), (99, 100, 95, 96, 1000)]
    a = run(rows, {0: [{"side": Side.SELL, "qty": 4, "order_type": OrderType.STOP, "stop_price": 96}]})
    assert a.got == [(1, -1, 4, 96, Liquidity.TAKER, 0)]


def test_stop_limit_becomes_a_limit_from_the_next_bar():
    rows = [(100, 100, 100, 100, 1000), (101, 106, 100, 103, 1000), (103, 104, 101, 102, 1000)]
    a = run(rows, {0: [{"side": Side.BUY, "qty": 1, "order_type": OrderType.STOP_LIMIT, "stop_price": 105,
                        "price": 102}]})
    assert a.got == [(2, 1, 1, 102, Liquidity.MAKER, 0)]   # triggered in bar 1, filled at its limit in bar 2


def test_participation_cap_spreads_a_market_order_over_bars():
    rows = [(100, 100, 100, 100, 100), (101, 101, 101, 101, 100), (102, 102, 102, 102, 100),
            (103, 103, 103, 103, 100), (104, 104, 104, 104, 100)]
    a = run(rows, {0: [{"side": Side.BUY, "qty": 25, "order_type": OrderType.MARKET}]},
            rules=FillRules(participation=0.1))
    assert [(g[0], g[2], g[3]) for g in a.got] == [(1, 10, 101), (2, 10, 102), (3, 5, 103)]
    b = run(rows, {0: [{"side": Side.BUY, "qty": 25, "order_type": OrderType.MARKET, "tif": TimeInForce.IOC}]},
            rules=FillRules(participation=0.1))
    assert [(g[0], g[2]) for g in b.got] == [(1, 10)]
    cancels = [e for e in b.events if isinstance(e, OrderCancelled)]
    assert [c.cancelled_quantity for c in cancels] == [15]


def test_day_limit_lives_for_one_bar():
    rows = [(100, 100, 100, 100, 1000), (100, 101, 99, 100, 1000), (100, 101, 90, 95, 1000)]
    a = run(rows, {0: [{"side": Side.BUY, "qty": 1, "price": 95, "tif": TimeInForce.DAY}]})
    assert a.got == [] and [type(e).__name__ for e in a.events] == ["OrderAccepted", "OrderCancelled"]


def test_fees_are_charged_exactly_by_liquidity():
    rows = [(100, 100, 100, 100, 1000), (200, 210, 180, 190, 1000)]
    fees = FeeSchedule(maker_bps=-1, taker_bps=10, commission=5)
    a = run(rows, {0: [{"side": Side.BUY, "qty": 10, "order_type": OrderType.MARKET},
                       {"side": Side.SELL, "qty": 10, "price": 205}]}, fees=fees)
    # taker: ceil(2000 * 10 / 10000 + 5 commission) = 7; maker: ceil(2050 * -1 / 10000 + 5) = ceil(4.795) = 5
    assert a.got == [(1, 1, 10, 200, Liquidity.TAKER, 7), (1, -1, 10, 205, Liquidity.MAKER, 5)]
    assert a.balance("USD") == 1_000_000 - 2000 + 2050 - 12
    assert a.account.positions["XYZ"].realized == 50 and a.account.positions["XYZ"].fees == 12


def test_slippage_models():
    assert BpsSlippage(10).price(Side.BUY, 10_000, 1, 100, 50) == 10_010
    assert BpsSlippage(10).price(Side.SELL, 10_000, 1, 100, 50) == 9_990
    assert VolumeImpact(0.5).price(Side.BUY, 1000, 25, 100, 40) == 1010   # 0.5 * 40 * sqrt(0.25)
    with pytest.raises(ConfigError, match="slippage.ticks"):
        FixedTicks(-1)


def test_invalid_orders_are_rejected_with_a_reason():
    a = run(FLAT * 3, {0: [{"side": Side.BUY, "qty": 1}]})   # a limit without a price
    rej = [e for e in a.events if isinstance(e, OrderRejected)]
    assert [r.reason.value for r in rej] == ["invalid_price"] and a.open_orders == {}


def test_cancel_and_modify():
    class CancelAfter(Scripted):
        def on_wakeup(self):
            i = self._sim.bar_index
            if i == 0:
                self.oid = self.submit("XYZ", Side.BUY, 5, 90)
            elif i == 1:
                self.modify(self.oid, quantity=3, price=99)
            self.wake_up_in(1)

    rows = [(100, 100, 100, 100, 1000), (100, 100, 100, 100, 1000), (100, 100, 98, 99, 1000)]
    agent = CancelAfter({})
    BarBacktest(bars(rows), agent, cash={"USD": 10_000}).run()
    assert agent.got == [(2, 1, 3, 99, Liquidity.MAKER, 0)]


def test_bad_setups_are_clear_errors():
    with pytest.raises(ConfigError, match="participation"):
        FillRules(participation=1.5)
    with pytest.raises(ConfigError, match="strictly increasing"):
        BarSeries(INS, np.array([0, 0]), *(np.array([1, 1]),) * 5)
    with pytest.raises(ConfigError, match="open/close outside"):
        BarSeries(INS, np.array([0]), np.array([5]), np.array([4]), np.array([3]), np.array([4]), np.array([1]))

    class Booky(Agent):
        kind = "booky-test"

        def on_start(self):
            self.subscribe_book("XYZ")

    with pytest.raises(ConfigError, match="no order book"):
        BarBacktest(bars(FLAT), Booky("b")).run()


def test_only_the_platform_fee_schedule_is_accepted():
    """One fee model: the backtest takes market_sim.core.fees.FeeSchedule (backtest.FeeSchedule is the same class)."""
    from market_sim.core import fees as core_fees
    assert FeeSchedule is core_fees.FeeSchedule
    with pytest.raises(ConfigError, match="core.fees.FeeSchedule"):
        BarBacktest(bars(FLAT), Scripted({}), fees=object())  # type: ignore[arg-type]
