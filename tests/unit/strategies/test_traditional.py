"""Traditional strategies on hand-fed bars: the exact orders each sends; sizing and stops; one property each."""

from hypothesis import given, settings, strategies as st

import pytest

from market_sim.core.errors import ConfigError
from market_sim.strategies.common import Rolling, SizingParams, Stops, position_size
from market_sim.strategies.traditional import Breakout, MeanReversion, SmaCrossover, TimeSeriesMomentum
from tests.unit.strategies.harness import fill, make, orders, set_quote


def feed(agent, sim, prices, fill_all=True):
    """Each price becomes a bar (a quote of bid = ask - 2 around it); every order fills at once."""
    sent = []
    for px in prices:
        q = set_quote(sim, px - 1, px + 1)
        agent.on_market_data(q)
        new = orders(sim)
        sent.append(new)
        if fill_all:
            for oid in list(agent.open_orders):
                fill(agent, sim, oid, price=px, maker=False)
    return sent


def test_bars_come_from_quotes_when_interval_is_zero():
    agent, sim = make(MeanReversion, {"interval": 0, "lookback": 3})
    assert sim.subscriptions == [("quotes", "exchange", "XYZ")] and sim.wakes == []


def feed_sma(agent, sim, prices):
    """The moving-average crossover is the simulator's sma_crossover: one sample per wake-up (every interval)."""
    sent = []
    for px in prices:
        set_quote(sim, px - 1, px + 1)
        agent.on_wakeup()
        sent.append(orders(sim))
        for oid in list(agent.open_orders):
            fill(agent, sim, oid, price=px, maker=False)
    return sent


def test_sma_crossover_goes_long_then_flips_short():
    agent, sim = make(SmaCrossover, {"fast": 2, "slow": 3, "quantity": 5, "allow_short": True})
    assert sim.wakes == [0]                                      # first sample at once, then every interval
    sent = feed_sma(agent, sim, [100, 100, 103, 104, 99, 95])
    assert sent[:2] == [[], []]                                  # fewer samples than the slow average
    assert sent[2] == [("new", "exchange", "BUY", 5, None, "MARKET")]     # fast 101.5 > slow 101
    assert sent[3] == []
    assert sent[4] == [("new", "exchange", "SELL", 10, None, "MARKET")]  # fast 101.5 < slow 102: flip
    assert sent[5] == []
    assert agent.position("XYZ") == -5


def test_sma_crossover_long_only_goes_flat_instead_of_short():
    agent, sim = make(SmaCrossover, {"fast": 2, "slow": 3, "quantity": 5})
    sent = feed_sma(agent, sim, [100, 100, 103, 104, 99, 95])
    assert sent[4] == [("new", "exchange", "SELL", 5, None, "MARKET")] and agent.position("XYZ") == 0


def test_sma_crossover_rejects_fast_not_shorter_than_slow_and_ma_crossover_is_gone():
    from market_sim.simulation.agents import agent_types

    with pytest.raises(ConfigError, match="fast must be shorter"):
        make(SmaCrossover, {"fast": 5, "slow": 5})
    assert "sma_crossover" in agent_types() and "ma_crossover" not in agent_types()


def test_mean_reversion_fades_a_spike_and_exits_near_the_mean():
    agent, sim = make(MeanReversion, {"interval": 0, "lookback": 5, "entry_z": 1.5, "exit_z": 0.3, "quantity": 4})
    sent = feed(agent, sim, [100, 101, 100, 101, 100, 110, 104, 100, 101, 101, 100])
    assert sent[5] == [("new", "exchange", "SELL", 4, None, "MARKET")]   # z = 1.79 above the band
    assert all(s == [] for s in sent[:5])
    assert sent[6] == [("new", "exchange", "BUY", 4, None, "MARKET")]    # z = 0.24 < exit_z: flat
    assert all(s == [] for s in sent[7:]) and agent.position("XYZ") == 0


def test_ts_momentum_follows_the_lookback_return():
    agent, sim = make(TimeSeriesMomentum, {"interval": 0, "lookback": 2, "threshold": 0.01, "quantity": 3})
    sent = feed(agent, sim, [100, 100, 102, 103, 103, 100])
    assert sent[2] == [("new", "exchange", "BUY", 3, None, "MARKET")]    # +2 % over two bars
    assert sent[3] == [] and sent[4] == [("new", "exchange", "SELL", 3, None, "MARKET")]  # +0.98 %: flat
    assert sent[5] == [("new", "exchange", "SELL", 3, None, "MARKET")]   # -2.9 %: short


def test_breakout_enters_above_the_channel_and_exits_below_the_exit_channel():
    agent, sim = make(Breakout, {"interval": 0, "entry_lookback": 4, "exit_lookback": 2, "quantity": 2})
    sent = feed(agent, sim, [100, 101, 100, 100, 102, 103, 102, 101])
    assert sent[4] == [("new", "exchange", "BUY", 2, None, "MARKET")]    # 102 > max(100, 101, 100, 100)
    assert sent[5:7] == [[], []]
    assert sent[7] == [("new", "exchange", "SELL", 2, None, "MARKET")]   # 101 < min(103, 102)
    assert agent.position("XYZ") == 0


def test_stop_loss_flattens_and_blocks_re_entry_until_the_signal_changes():
    agent, sim = make(TimeSeriesMomentum, {"interval": 0, "lookback": 1, "quantity": 3, "stop_loss": 0.02})
    sent = feed(agent, sim, [10000, 10100, 10200, 9880, 10000, 10100])
    assert sent[1] == [("new", "exchange", "BUY", 3, None, "MARKET")]
    assert sent[3] == [("new", "exchange", "SELL", 3, None, "MARKET")]   # -2.2 % from the 10100 entry
    assert agent.stop_exits == 1
    assert sent[4] == [] and sent[5] == []   # still long-signal: blocked


def test_vol_target_sizes_by_recent_volatility():
    r = Rolling(3)
    for x in (0.01, -0.01, 0.01):
        r.push(x)
    p = SizingParams("vol_target", risk_budget=1000.0, max_position=500)
    assert position_size(p, 10_000, r) == int(1000.0 / (r.std() * 10_000)) == 8
    assert position_size(SizingParams("vol_target", max_position=5), 10_000, Rolling(3)) == 0
    assert position_size(SizingParams("fixed", quantity=7, max_position=5), 1, None) == 5


def test_trailing_stop_and_take_profit():
    s = Stops(take_profit=0.05, trailing=0.02)
    s.enter(1, 100)
    assert s.hit(103) is None and s.hit(101) is None and s.hit(100) == "trailing_stop"  # 2.9 % off 103
    s.enter(-1, 100)
    assert s.hit(96) is None and s.hit(95) == "take_profit"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(90, 110), min_size=5, max_size=60), st.integers(1, 20), st.integers(1, 30))
def test_property_position_never_exceeds_max_position(prices, qty, limit):
    """Whatever the bars, every strategy's position stays within max_position."""
    for cls, extra in ((MeanReversion, {"lookback": 4, "entry_z": 1.0}), (TimeSeriesMomentum, {"lookback": 2}), (Breakout, {"entry_lookback": 3})):
        agent, sim = make(cls, {"interval": 0, "quantity": qty, "max_position": limit, "sizing": "fixed", **extra})
        for px in prices:
            agent.on_market_data(set_quote(sim, px - 1, px + 1))
            for oid in list(agent.open_orders):
                fill(agent, sim, oid, price=px, maker=False)
            assert abs(agent.position("XYZ")) <= limit


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(90, 110), min_size=5, max_size=60), st.integers(1, 20), st.booleans())
def test_property_sma_crossover_holds_at_most_its_quantity(prices, qty, short):
    agent, sim = make(SmaCrossover, {"fast": 2, "slow": 4, "quantity": qty, "allow_short": short})
    for px in prices:
        set_quote(sim, px - 1, px + 1)
        agent.on_wakeup()
        for oid in list(agent.open_orders):
            fill(agent, sim, oid, price=px, maker=False)
        assert (-qty if short else 0) <= agent.position("XYZ") <= qty
