"""Arbitrage sizing: profitable only after costs, optimal in closed form, no-arbitrage band after trading."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from market_sim.defi.arbitrage import QuotePool, best_cross_pool_trade, best_price_trade, gas_cost

E18, E6 = 10**18, 10**6


def _apply(pools: tuple[QuotePool, QuotePool], trade) -> tuple[QuotePool, QuotePool]:
    buy, sell = pools[trade.buy_index], pools[1 - trade.buy_index]
    new_buy = QuotePool(buy.quote + trade.quote_in, buy.base - trade.base_bought, buy.fee_bps)
    new_sell = QuotePool(sell.quote - trade.quote_out, sell.base + trade.base_sold, sell.fee_bps)
    return (new_buy, new_sell) if trade.buy_index == 0 else (new_sell, new_buy)


def test_gas_cost_in_quote_units() -> None:
    # 100k gas at 5 gwei with ETH at 3000 USDC = 0.0005 ETH = 1.5 USDC
    price = Fraction(3000 * E6, E18)
    assert gas_cost(100_000, 5 * 10**9, price) == 1_500_001  # rounded up by one unit
    assert gas_cost(0, 5 * 10**9, price) == 0


def test_cross_pool_trade_amounts_are_exact_and_net_positive() -> None:
    a = QuotePool(3_000_000 * E6, 1000 * E18, 30)
    b = QuotePool(3_090_000 * E6, 1000 * E18, 5)  # base 3 % dearer on b
    trade = best_cross_pool_trade((a, b), fixed_costs=5 * E6)
    assert trade is not None and trade.buy_index == 0
    assert trade.base_bought == a.buy_base(trade.quote_in) and trade.base_sold == trade.base_bought
    assert trade.quote_out == b.sell_base(trade.base_sold)
    assert trade.net == trade.quote_out - trade.quote_in - 5 * E6 > 0
    # nothing profitable in the other direction, and more or less size does worse
    for other in (trade.quote_in * 99 // 100, trade.quote_in * 101 // 100):
        assert b.sell_base(a.buy_base(other)) - other <= trade.gross


def test_no_trade_when_costs_exceed_the_gain() -> None:
    a = QuotePool(3_000_000 * E6, 1000 * E18, 30)
    b = QuotePool(3_020_000 * E6, 1000 * E18, 30)  # 0.67 % gap, 0.6 % fees: a few dollars at most
    small = best_cross_pool_trade((a, b), fixed_costs=0)
    assert small is not None and 0 < small.net < 1000 * E6
    assert best_cross_pool_trade((a, b), fixed_costs=small.gross) is None


@settings(max_examples=150, deadline=None)
@given(
    gap=st.floats(min_value=-0.2, max_value=0.2), fee_a=st.integers(0, 100), fee_b=st.integers(0, 100),
    depth_b=st.integers(10, 5000), costs=st.integers(0, 50 * E6), bridge_fee=st.sampled_from([0, 5, 30]),
)
def test_after_the_optimal_trade_prices_are_inside_the_no_arbitrage_band(
    gap: float, fee_a: int, fee_b: int, depth_b: int, costs: int, bridge_fee: int
) -> None:
    pools = (QuotePool(3_000_000 * E6, 1000 * E18, fee_a),
             QuotePool(int(depth_b * 3000 * (1 + gap)) * E6, depth_b * E18, fee_b))
    trade = best_cross_pool_trade(pools, fixed_costs=costs, bridge_fee_bps=bridge_fee)
    if trade is not None:
        assert trade.net > 0
        pools = _apply(pools, trade)
    # No trade is left that pays its costs, and the pool prices sit inside the fee band. The margin (1 bp) is there
    # because a pool keeps the fee part of the input, so its price after a trade differs from the marginal rate by
    # about fee × trade/reserve.
    assert best_cross_pool_trade(pools, fixed_costs=costs, bridge_fee_bps=bridge_fee) is None or costs == 0
    band = (1 - fee_a / 1e4) * (1 - fee_b / 1e4) * (1 - bridge_fee / 1e4)
    ratio = float(pools[0].price() / pools[1].price())
    if trade is not None:
        assert band - 1e-4 <= ratio <= 1 / band + 1e-4


def test_inventory_caps_limit_size_and_keep_profit() -> None:
    a = QuotePool(3_000_000 * E6, 1000 * E18, 30)
    b = QuotePool(3_300_000 * E6, 1000 * E18, 30)
    free = best_cross_pool_trade((a, b), fixed_costs=0)
    capped = best_cross_pool_trade((a, b), fixed_costs=0, max_quote_in=(free.quote_in // 10, 0),
                                   max_base_sold=(0, E18))
    assert capped is not None and capped.base_sold <= E18 and capped.quote_in <= free.quote_in // 10
    assert 0 < capped.net < free.net


def test_price_trade_both_directions() -> None:
    pool = QuotePool(3_000_000 * E6, 1000 * E18, 30)
    up = best_price_trade(pool, Fraction(3100 * E6, E18), costs=E6)
    assert up is not None and up.buy_base and up.amount_out == pool.buy_base(up.amount_in) and up.net > 0
    down = best_price_trade(pool, Fraction(2900 * E6, E18), costs=E6)
    assert down is not None and not down.buy_base and down.amount_out == pool.sell_base(down.amount_in)
    assert best_price_trade(pool, Fraction(3005 * E6, E18), costs=0) is None  # inside the 30 bps band
