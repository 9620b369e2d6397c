"""HFT strategies on hand-built books: exact quotes and orders, estimators, the latency budget, and properties."""

import math

from hypothesis import given, settings, strategies as st

from market_sim.core.orders import Side
from market_sim.strategies.hft import (AvellanedaStoikov, GueantMM, ImbalanceTaker, LatencyArb, QueueMaker,
                                       imbalance)
from market_sim.strategies.hft.estimators import ArrivalEstimator, VolatilityEstimator, fit_intensity
from market_sim.strategies.hft.signals import TradeFlow
from market_sim.simulation.venues import L2Book
from tests.unit.strategies.harness import (accept, cancelled, delta, fill, make, orders, set_quote, snapshot,
                                           trade)

PRIORS = {"estimate": False, "gamma": 0.1, "sigma_prior": 1.0, "k_prior": 0.5, "A_prior": 1.0, "quantity": 5,
          "min_quote_life": "0s"}
US = 1_000


def _oid(agent, side):
    return next(oid for oid, o in agent.open_orders.items() if o.side is side)


def test_market_makers_subscribe_to_book_and_trades():
    _, sim = make(AvellanedaStoikov, PRIORS)
    assert sim.subscriptions == [("book", "exchange", "XYZ"), ("trades", "exchange", "XYZ")]


def test_avellaneda_stoikov_quotes_the_optimal_spread_and_skews_with_inventory():
    agent, sim = make(AvellanedaStoikov, {**PRIORS, "horizon": "30s"})
    snapshot(agent, sim, [(9990, 10)], [(10010, 10)])
    # r = 10000, half spread = (γσ²τ + 2/γ·ln(1+γ/k))/2 = (3 + 3.646)/2 = 3.323 ticks
    assert orders(sim) == [("new", "exchange", "BUY", 5, 9996, "LIMIT"), ("new", "exchange", "SELL", 5, 10004, "LIMIT")]
    sell = _oid(agent, Side.SELL)
    fill(agent, sim, _oid(agent, Side.BUY))
    # long one clip: r = 10000 − 1·γσ²τ = 9997 → bid 9993.68, ask 10000.32
    assert orders(sim) == [("new", "exchange", "BUY", 5, 9993, "LIMIT"), ("cancel", "exchange", sell),
                           ("new", "exchange", "SELL", 5, 10001, "LIMIT")]


def test_quote_replacement_is_throttled_by_min_quote_life():
    agent, sim = make(AvellanedaStoikov, {**PRIORS, "horizon": "30s", "min_quote_life": "5ms"})
    snapshot(agent, sim, [(9990, 10)], [(10010, 10)])
    orders(sim)
    sim.kernel.now = 1_000_000                      # 1 ms later the book moves: too soon to replace
    delta(agent, sim, Side.SELL, 10006, 10)
    assert orders(sim) == []
    sim.kernel.now = 5_000_000                      # the quotes have lived 5 ms: re-centred on mid 9998
    delta(agent, sim, Side.BUY, 9989, 1)
    assert [o[0] for o in orders(sim)] == ["cancel", "new", "cancel", "new"]


def test_gueant_quotes_the_closed_form_depths():
    agent, sim = make(GueantMM, PRIORS)
    snapshot(agent, sim, [(9990, 10)], [(10010, 10)])
    # c1 = ln(1.2)/0.1 = 1.823, ω = sqrt(σ²γ/(2kA)·1.2^6) = 0.546: depths 2.096 each side at q = 0
    assert orders(sim) == [("new", "exchange", "BUY", 5, 9997, "LIMIT"), ("new", "exchange", "SELL", 5, 10003, "LIMIT")]
    sell = _oid(agent, Side.SELL)
    fill(agent, sim, _oid(agent, Side.BUY))
    # q = 1: bid depth c1 + 1.5ω = 2.643, ask depth c1 − 0.5ω = 1.550
    assert orders(sim) == [("new", "exchange", "BUY", 5, 9997, "LIMIT"), ("cancel", "exchange", sell),
                           ("new", "exchange", "SELL", 5, 10002, "LIMIT")]


def test_quotes_never_cross_the_book_and_unchanged_quotes_are_kept():
    agent, sim = make(AvellanedaStoikov, {**PRIORS, "gamma": 5.0, "horizon": "1s"})
    snapshot(agent, sim, [(9999, 10)], [(10001, 10)])
    new = orders(sim)
    assert new[0][4] < 10001 and new[1][4] > 9999
    delta(agent, sim, Side.BUY, 9998, 4)   # deeper level: the mid is unchanged, nothing re-sent
    assert orders(sim) == []


def test_inventory_limit_stops_the_growing_side():
    agent, sim = make(AvellanedaStoikov, {**PRIORS, "max_inventory": 10})
    snapshot(agent, sim, [(9990, 10)], [(10010, 10)])
    orders(sim)
    fill(agent, sim, _oid(agent, Side.BUY))
    orders(sim)
    fill(agent, sim, _oid(agent, Side.BUY))        # long 10 = the limit
    sent = orders(sim)
    assert not [o for o in sent if o[0] == "new" and o[2] == "BUY"]
    assert agent.position("XYZ") == 10


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([AvellanedaStoikov, GueantMM, QueueMaker]),
       st.lists(st.tuples(st.sampled_from(["book", "fill", "cancel"]), st.integers(-20, 20), st.integers(1, 5)),
                min_size=1, max_size=60))
def test_property_market_makers_never_exceed_their_inventory_limit(cls, steps):
    """Whatever the book does and whichever quotes fill (partly or fully), |position| <= max_inventory."""
    params = {"quantity": 4, "max_inventory": 9}
    if cls is not QueueMaker:
        params.update(PRIORS, quantity=4)
    agent, sim = make(cls, params)
    snapshot(agent, sim, [(9999, 10)], [(10001, 10)])
    mid = 10000
    for kind, move, q in steps:
        if kind == "book":
            book = agent.books["XYZ"]
            mid = max(50, mid + move)
            for px in list(book.bids):
                delta(agent, sim, Side.BUY, px, 0)
            for px in list(book.asks):
                delta(agent, sim, Side.SELL, px, 0)
            delta(agent, sim, Side.BUY, mid - 1 - q % 2, 10)
            delta(agent, sim, Side.SELL, mid + 1 + q % 3, 10)
        elif agent.open_orders:
            oid = sorted(agent.open_orders)[abs(move) % len(agent.open_orders)]
            if kind == "fill":
                fill(agent, sim, oid, min(q, agent.open_orders[oid].remaining))
            else:
                cancelled(agent, sim, oid)
        assert abs(agent.position("XYZ")) <= 9


def test_queue_maker_tracks_its_place_and_cancels_when_the_touch_moves():
    agent, sim = make(QueueMaker, {"quantity": 5, "min_spread_ticks": 2})
    snapshot(agent, sim, [(9999, 30)], [(10001, 20)])
    assert orders(sim) == [("new", "exchange", "BUY", 5, 9999, "LIMIT"), ("new", "exchange", "SELL", 5, 10001, "LIMIT")]
    bid = _oid(agent, Side.BUY)
    assert agent.ahead[bid] == 30
    delta(agent, sim, Side.BUY, 9999, 35)            # our order joined the level
    trade(agent, sim, 9999, 10, Side.SELL)           # a sell eats 10 from the front
    delta(agent, sim, Side.BUY, 9999, 25)
    assert agent.ahead[bid] == 20
    delta(agent, sim, Side.BUY, 9999, 15)            # 10 cancelled: 20 of the 20 others were ahead
    assert agent.ahead[bid] == 10
    assert orders(sim) == []                         # still at the touch: the place is kept
    delta(agent, sim, Side.BUY, 10000, 7)            # a better bid: our place is lost; spread 1 < 2: no rejoin
    assert orders(sim) == [("cancel", "exchange", bid)]
    assert agent.requeues == 1


def test_queue_maker_improves_a_long_queue_by_one_tick():
    agent, sim = make(QueueMaker, {"quantity": 5, "min_spread_ticks": 2, "max_join_queue": 50})
    snapshot(agent, sim, [(9998, 80)], [(10002, 10)])
    assert orders(sim) == [("new", "exchange", "BUY", 5, 9999, "LIMIT"), ("new", "exchange", "SELL", 5, 10002, "LIMIT")]
    # Regression: the improving bid is not in the book yet (best bid still 9998); it must not count as "lost"
    # (that cancelled and re-sent it on every delta, a loop of ~170k events per simulated second).
    delta(agent, sim, Side.BUY, 9997, 5)
    assert orders(sim) == []


def test_market_maker_centres_on_the_others_best_prices_not_its_own_quotes():
    agent, sim = make(AvellanedaStoikov, {**PRIORS, "horizon": "30s"})
    snapshot(agent, sim, [(9990, 10)], [(10010, 10)])
    assert [o[4] for o in orders(sim)] == [9996, 10004]
    for oid in list(agent.open_orders):
        accept(agent, sim, oid)
    delta(agent, sim, Side.BUY, 9996, 5)      # our own bid shows: the others' mid is still 10000
    delta(agent, sim, Side.SELL, 10004, 5)
    assert orders(sim) == []


def test_imbalance_and_trade_flow_signals():
    book = L2Book("exchange", "XYZ")
    book.bids.update({9999: 30, 9998: 10})
    book.asks.update({10001: 5, 10002: 15})
    assert imbalance(book, 1) == (30 - 5) / 35 and imbalance(book, 2) == (40 - 20) / 60
    flow = TradeFlow(half_life=1_000)
    from market_sim.core.events import Trade
    flow.on_trade(Trade(0, 1, "XYZ", 10001, 6, 1, 2, "b", "s", Side.BUY))
    flow.on_trade(Trade(1_000, 2, "XYZ", 9999, 2, 3, 4, "b", "s", Side.SELL))
    assert math.isclose(flow.value(1_000), (3 - 2) / (3 + 2))     # the first trade decayed by half


def test_imbalance_taker_buys_the_ask_on_bid_pressure_and_flattens_when_it_fades():
    agent, sim = make(ImbalanceTaker, {"levels": 1, "entry": 0.3, "exit": 0.1, "quantity": 5})
    snapshot(agent, sim, [(9999, 30)], [(10001, 5)])   # s = 0.5·0.714 + 0.5·0 = 0.357
    assert orders(sim) == [("new", "exchange", "BUY", 5, 10001, "LIMIT")]
    fill(agent, sim, next(iter(agent.open_orders)), maker=False)
    delta(agent, sim, Side.SELL, 10001, 30)            # s = 0: flat
    assert orders(sim) == [("new", "exchange", "SELL", 5, 9999, "LIMIT")]


def test_latency_arb_buys_the_stale_ask_and_sells_the_rich_bid():
    agent, sim = make(LatencyArb, {"venues": ["fast", "slow"], "quantity": 10, "min_edge_ticks": 2},
                      venues=("fast", "slow"))
    assert sim.subscriptions == [("quotes", "fast", "XYZ"), ("quotes", "slow", "XYZ")]
    agent.on_market_data(set_quote(sim, 10000, 10002, 4, 4, venue="slow"))
    agent.on_market_data(set_quote(sim, 10001, 10003, 5, 5, venue="fast"))
    assert orders(sim) == []                           # no cross
    agent.on_market_data(set_quote(sim, 10005, 10007, 6, 6, venue="fast"))
    assert orders(sim) == [("new", "slow", "BUY", 4, 10002, "LIMIT"), ("new", "fast", "SELL", 4, 10005, "LIMIT")]
    buy, sell = sorted(agent.open_orders)
    fill(agent, sim, buy, maker=False)
    cancelled(agent, sim, sell)                        # the sell leg missed: long 4, flattened at the best bid
    agent.on_market_data(set_quote(sim, 10003, 10005, 6, 6, venue="slow"))   # the slow venue caught up
    assert orders(sim) == [("new", "fast", "SELL", 4, 10005, "LIMIT")]


def test_latency_budget_legs_are_measured_in_simulated_time():
    agent, sim = make(AvellanedaStoikov, {**PRIORS, "decision_latency": "20us", "latency_budget": "100us"})
    sim.kernel.now = 50 * US                           # the snapshot stamped at 0 arrives at 50 µs
    agent.deliver_book_snapshot(__import__("market_sim.simulation.venues", fromlist=["BookSnapshot"]).BookSnapshot(
        0, "exchange", "XYZ", 0, ((9990, 10),), ((10010, 10),)))
    assert orders(sim) == [] and sim.wakes[-1] == 70 * US   # busy deciding for 20 µs
    sim.kernel.now = 70 * US
    agent.on_wakeup()
    assert [o[2] for o in orders(sim)] == ["BUY", "SELL"]
    sim.kernel.now = 120 * US                           # accepted at the venue 50 µs later
    for oid in list(agent.open_orders):
        accept(agent, sim, oid)
    r = agent.latency_report()
    assert r["market_data_in"]["p50_us"] == 50.0 and r["order_out"]["p50_us"] == 50.0
    assert r["tick_to_trade"]["p50_us"] == 120.0 and r["budget_breaches"] == 2


def test_intensity_fit_recovers_A_and_k():
    depths = [0.5, 1.5, 2.5, 3.5]
    A, k = fit_intensity(depths, [3.0 * math.exp(-0.7 * d) for d in depths])
    assert math.isclose(A, 3.0) and math.isclose(k, 0.7)
    assert fit_intensity(depths, [0, 0, 1.0, 0]) is None


def test_arrival_estimator_counts_a_sweep_once_per_depth():
    from market_sim.core.events import Trade
    est = ArrivalEstimator(1.0, 1.0, bins=4)
    est.on_trade(Trade(5, 1, "XYZ", 10001, 3, 1, 2, "b", "s", Side.BUY), 9999, 10001)   # depth 1
    est.on_trade(Trade(5, 2, "XYZ", 10003, 3, 1, 3, "b", "s", Side.BUY), 9999, 10001)   # same sweep, depth 3
    est.on_trade(Trade(9, 3, "XYZ", 9999, 1, 4, 5, "b", "s", Side.SELL), 9999, 10001)   # depth 1
    assert est.counts == [2.0, 1.0, 1.0, 0.0]


def test_volatility_estimator_variance_rate():
    v = VolatilityEstimator(sigma_prior=0.0, alpha=1.0)
    v.sample(100.0, 0)
    v.sample(102.0, 4_000_000_000)                    # (2 ticks)² over 4 s = 1 tick²/s
    assert v.sigma == 1.0
