"""Arbitrage sizing for constant-product pools with fees: closed-form optimum, exact integer profit, cost checks.

Amounts are integer token base units; profits and costs are in the quote token's base units (the numeraire).
A pool is seen from the quote/base side (`QuotePool`), whatever its token0/token1 order on chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from market_sim.defi.amm_math import (
    FEE_DENOMINATOR,
    get_amount_in,
    get_amount_out,
    optimal_input_two_pools,
    optimal_input_vs_price,
)

__all__ = ["QuotePool", "CrossPoolTrade", "PriceTrade", "best_cross_pool_trade", "best_price_trade", "gas_cost"]


@dataclass(frozen=True, slots=True)
class QuotePool:
    """A pool's reserves as (quote, base) and its fee in basis points."""

    quote: int
    base: int
    fee_bps: int

    def price(self) -> Fraction:
        """Marginal price: quote base units per base base unit (exact)."""
        return Fraction(self.quote, self.base)

    def buy_base(self, quote_in: int) -> int:
        """Base received for quote_in."""
        return get_amount_out(quote_in, self.quote, self.base, self.fee_bps)

    def sell_base(self, base_in: int) -> int:
        """Quote received for base_in."""
        return get_amount_out(base_in, self.base, self.quote, self.fee_bps)


def gas_cost(gas: int, gas_price_wei: int, base_price: Fraction) -> int:
    """Cost of `gas` in quote base units, the gas token being the base asset (ETH) worth base_price each unit."""
    return int(gas * gas_price_wei * base_price) + (1 if gas * gas_price_wei else 0)  # rounded up


@dataclass(frozen=True, slots=True)
class CrossPoolTrade:
    """Buy base with quote on one pool, sell the base for quote on the other (base possibly bridged between)."""

    buy_index: int  # 0 or 1: which of the two pools is bought on
    quote_in: int
    base_bought: int
    base_sold: int  # after the bridge fee when bridged
    quote_out: int
    costs: int  # gas and bridge fee in quote units (the bridge fee is also already in base_sold)

    @property
    def gross(self) -> int:
        return self.quote_out - self.quote_in

    @property
    def net(self) -> int:
        return self.gross - self.costs


def best_cross_pool_trade(pools: tuple[QuotePool, QuotePool], *, fixed_costs: int, bridge_fee_bps: int = 0,
                          max_quote_in: tuple[int, int] | None = None,
                          max_base_sold: tuple[int, int] | None = None) -> CrossPoolTrade | None:
    """The most profitable round trip in either direction, or None when none is profitable after `fixed_costs`.

    `bridge_fee_bps` is taken from the base between the legs (bridge-based arbitrage); inventory caps apply per
    pool index: max_quote_in[i] spendable on pool i, max_base_sold[i] sellable into pool i.
    """
    best: CrossPoolTrade | None = None
    keep = FEE_DENOMINATOR - bridge_fee_bps
    for i in (0, 1):
        buy, sell = pools[i], pools[1 - i]
        # The bridge fee scales B's input like an extra pool fee: fold it into B's fee for the closed form.
        sell_fee = FEE_DENOMINATOR - (FEE_DENOMINATOR - sell.fee_bps) * keep // FEE_DENOMINATOR
        x = optimal_input_two_pools(buy.quote, buy.base, buy.fee_bps, sell.base, sell.quote, sell_fee)
        if max_quote_in is not None:
            x = min(x, max_quote_in[i])
        if x <= 0:
            continue
        trade = _round_trip(i, pools, x, keep, fixed_costs, None if max_base_sold is None else max_base_sold[1 - i])
        if trade is not None and trade.net > 0 and (best is None or trade.net > best.net):
            best = trade
    return best


def _round_trip(i: int, pools: tuple[QuotePool, QuotePool], quote_in: int, keep: int, fixed_costs: int,
                max_sold: int | None) -> CrossPoolTrade | None:
    buy, sell = pools[i], pools[1 - i]
    bought = buy.buy_base(quote_in)
    sold = bought * keep // FEE_DENOMINATOR
    if max_sold is not None and sold > max_sold:
        # Inventory-limited: size the buy to exactly what can be sold.
        sold = max_sold
        if sold <= 0 or sold >= buy.base:
            return None
        bought = sold * FEE_DENOMINATOR // keep
        quote_in = get_amount_in(bought, buy.quote, buy.base, buy.fee_bps)
    if sold <= 0:
        return None
    quote_out = sell.sell_base(sold)
    bridge_fee_value = int((bought - sold) * sell.price())
    return CrossPoolTrade(i, quote_in, bought, sold, quote_out, fixed_costs + bridge_fee_value)


@dataclass(frozen=True, slots=True)
class PriceTrade:
    """Trade a pool toward an external price: buy base (quote in) or sell base (base in)."""

    buy_base: bool
    amount_in: int
    amount_out: int
    gross: int  # value gained at the external price, quote units
    costs: int

    @property
    def net(self) -> int:
        return self.gross - self.costs


def best_price_trade(pool: QuotePool, price: Fraction, *, costs: int = 0, max_quote_in: int | None = None,
                     max_base_in: int | None = None) -> PriceTrade | None:
    """The profit-maximising swap against an external price (quote units per base unit), None if not profitable.

    The gain is valued at `price`: buying base yields base·price − quote_in; selling base yields
    quote_out − base·price.
    """
    num, den = price.numerator, price.denominator
    if pool.price() < price:  # pool's base is cheap: buy it
        x = optimal_input_vs_price(pool.quote, pool.base, pool.fee_bps, num, den)
        if max_quote_in is not None:
            x = min(x, max_quote_in)
        if x <= 0:
            return None
        out = pool.buy_base(x)
        trade = PriceTrade(True, x, out, int(out * price) - x, costs)
    else:  # pool's base is rich: sell it (the external value of one quote unit is 1/price base)
        x = optimal_input_vs_price(pool.base, pool.quote, pool.fee_bps, den, num)
        if max_base_in is not None:
            x = min(x, max_base_in)
        if x <= 0:
            return None
        out = pool.sell_base(x)
        trade = PriceTrade(False, x, out, out - int(x * price) - 1, costs)  # -1: value of x rounded up
    return trade if trade.net > 0 else None
