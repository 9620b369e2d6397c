"""Venue fees in simulations: [[venues]] fees parsed and validated, each fill charged maker/taker fees by the trade's
aggressor, booked on the accounts (PnL net of fees), recorded per trade and reported per venue and agent group."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from fractions import Fraction

import pytest

from market_sim.core.accounts import Fill, Liquidity
from market_sim.core.errors import ConfigError
from market_sim.core.fees import FeeSchedule
from market_sim.core.orders import Side
from market_sim.simulation.agents import Agent, register_agent_type
from market_sim.simulation.params import param
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import parse_scenario

MS = 1_000_000


@dataclass(frozen=True, slots=True)
class OrderParams:
    side: str = param("sell", choices=("buy", "sell"))
    price: int = 10_010
    quantity: int = 3
    at: int = param(10 * MS, duration=True)


@register_agent_type
class OneOrder(Agent):
    """Sends one limit order at `at` and keeps every fill it is told about (with its cash balance then)."""

    kind = "test_fees_one_order"
    Params = OrderParams

    def on_start(self):
        self.got = []
        self.wake_up_at(self.params.at)

    def on_wakeup(self):
        p = self.params
        self.submit("XYZ", Side.SELL if p.side == "sell" else Side.BUY, p.quantity, p.price)

    def on_fill(self, fill):
        self.got.append((fill, self.balance("USD")))


FEES = {"maker_bps": -0.5, "taker_bps": 2.5, "taker_per_lot": 0.01}  # per-lot fee in USD: one cent


def _exact(base_raw, fees=FEES):
    base_raw["instruments"][0]["quote_decimals"] = 2  # USD in cents
    base_raw["venues"] = [{"name": "exchange", "fees": fees}]
    base_raw["agents"] = [
        {"type": "test_fees_one_order", "name": "ask", "side": "sell", "price": 10_010, "quantity": 3},
        {"type": "test_fees_one_order", "name": "take", "side": "buy", "price": 10_020, "quantity": 2,
         "at": "50ms"}]
    return Simulation(parse_scenario(base_raw))


def test_each_fill_carries_its_maker_or_taker_fee_exactly(base_raw):
    sim = _exact(base_raw)
    out = sim.run()
    # one trade: the taker buys 2 lots at 100.10 from the resting ask, notional 20,020 cents
    (ask_fill, ask_cash), = sim.agent("ask-1").got
    (take_fill, take_cash), = sim.agent("take-1").got
    assert (take_fill.liquidity, take_fill.fee, take_fill.fee_asset) == (Liquidity.TAKER, 8, "USD")  # 5.005 + 2 -> 8
    assert (ask_fill.liquidity, ask_fill.fee, ask_fill.fee_asset) == (Liquidity.MAKER, -1, "USD")    # -1.001 -> -1
    assert take_fill.quote_amount == ask_fill.quote_amount == 20_020
    # on_fill sees the account already charged: cash moved by the notional and the fee
    assert take_cash == -20_020 - 8 and ask_cash == 20_020 + 1
    trades = out.tables["trades"]
    assert (trades["buyer_fee"], trades["seller_fee"]) == ([8], [-1])
    take = sim.agent("take-1").account
    assert take.fees_paid == {"USD": 8} and take.positions["XYZ"].fees == 8
    assert sim.agent("ask-1").account.fees_paid == {"USD": -1}
    # the venue kept 7 cents: the accounts' USD sums to -7 (conservation up to fees)
    assert sim.accounts.totals() == {"XYZ": 0, "USD": -7}
    assert out.metrics["fees_by_venue"] == {"exchange": 0.07}
    assert out.metrics["fees_by_group"] == {"ask": -0.01, "take": 0.08}
    pnl = dict(zip(out.tables["agent_pnl"]["agent"], out.tables["agent_pnl"]["fees"]))
    assert pnl == {"ask-1": -1, "take-1": 8}


def test_a_venue_without_fees_charges_nothing_and_reports_none(base_raw):
    sim = _exact(base_raw, fees={})
    out = sim.run()
    (fill, cash), = sim.agent("take-1").got
    assert (fill.fee, fill.fee_asset) == (0, "") and cash == -20_020
    assert out.tables["trades"]["buyer_fee"] == [0] and out.tables["trades"]["seller_fee"] == [0]
    assert out.metrics["fees_by_venue"] == {} and out.metrics["fees_by_group"] == {}
    assert sim.accounts.totals() == {"XYZ": 0, "USD": 0}


@pytest.mark.parametrize("fees, key", [
    ({"maker_bps": -3, "taker_bps": 2}, "venues[0].fees.maker_bps"),
    ({"taker_bps": "lots"}, "venues[0].fees.taker_bps"),
    ({"per_share": 1}, "venues[0].fees.per_share"),
    ({"commission": -1}, "venues[0].fees.commission"),
    (2.5, "venues[0].fees"),
])
def test_bad_venue_fees_are_config_errors_naming_the_key(base_raw, fees, key):
    base_raw["venues"] = [{"name": "exchange", "fees": fees}]
    with pytest.raises(ConfigError) as info:
        parse_scenario(base_raw)
    assert info.value.key == key


def test_amounts_are_in_the_quote_currency_of_each_instrument(base_raw):
    base_raw["instruments"] = [{"symbol": "XYZ", "tick_size": "0.01", "initial_price": 100.0, "quote_decimals": 2},
                               {"symbol": "ETH", "tick_size": "0.1", "initial_price": 3000.0, "quote_asset": "USDC",
                                "quote_decimals": 6}]
    base_raw["venues"] = [{"name": "exchange", "fees": {"taker_bps": 1, "commission": 0.25, "per_lot": 0.001}}]
    sim = Simulation(parse_scenario(base_raw)).build()
    fees = sim.venues["exchange"].fees
    assert fees["XYZ"] == FeeSchedule(0, 1, Fraction(1, 10), Fraction(1, 10), 25)        # cents
    assert fees["ETH"] == FeeSchedule(0, 1, 1_000, 1_000, 250_000)                      # micro-USDC


def test_a_commission_finer_than_the_quote_unit_is_refused_when_the_venue_is_built(base_raw):
    base_raw["instruments"][0]["quote_decimals"] = 2
    base_raw["venues"] = [{"name": "exchange", "fees": {"commission": 0.005}}]  # half a cent
    sim = Simulation(parse_scenario(base_raw))  # loads: at 18 decimals it would be fine
    with pytest.raises(ConfigError, match="finer than one base unit") as info:
        sim.build()
    assert info.value.key == "venues.exchange.fees.commission"


def test_an_unknown_orderbook_venue_key_is_named(base_raw):
    base_raw["venues"] = [{"name": "exchange", "fee": {"taker_bps": 1}}]
    with pytest.raises(ConfigError, match="expected one of: fees") as info:
        parse_scenario(base_raw)
    assert info.value.key == "venues[0].fee"


# ----------------------------------------------------------------------------------------------- end to end

MARKET = {
    "scenario": {"name": "fees", "seed": 11, "duration": "40s"},
    "instruments": [{"symbol": "XYZ", "tick_size": "0.01", "initial_price": 100.0, "process": "p",
                     "quote_decimals": 2}],
    "processes": {"p": {"kind": "gbm", "s0": 100.0, "sigma": 0.3, "dt": "1s"}},
    "latency": {"default": "uniform:200us-2ms"},
    "agents": [
        {"type": "market_maker", "name": "mm", "count": 2, "half_spread_ticks": 2, "quantity": 5, "levels": 2,
         "interval": "1s"},
        {"type": "noise", "name": "noise", "count": 12, "interval": "1s", "max_quantity": 4},
    ],
    "output": {"plots": False},
}


def _run(fees):
    raw = copy.deepcopy(MARKET)
    raw["venues"] = [{"name": "exchange", **({"fees": fees} if fees else {})}]
    sim = Simulation(parse_scenario(raw))
    booked: list[Fill] = []
    sim.bus.subscribe(Fill, booked.append, ("account",))
    return sim, sim.run(), booked


def test_fees_change_pnl_by_exactly_the_fees_and_nothing_else():
    fees = {"maker_bps": -1, "taker_bps": 3, "per_lot": 0.005, "commission": 0.02}  # half a cent a lot, 2c a fill
    plain, out0, _ = _run(None)
    charged, out1, booked = _run(fees)
    t0, t1 = out0.tables["trades"], out1.tables["trades"]
    assert len(t0["ts"]) > 50
    assert all(t0[c] == t1[c] for c in t0 if c not in ("buyer_fee", "seller_fee"))  # the same trades
    schedule = FeeSchedule.parse(fees, unit="lot", scale=100)
    assert schedule == FeeSchedule(-1, 3, Fraction(1, 2), Fraction(1, 2), 2)
    # every booked fill carries the schedule's fee for its side, and the trades table says the same
    by_trade = {tid: (b, s) for tid, b, s in zip(t1["trade_id"], t1["buyer_fee"], t1["seller_fee"])}
    revenue_booked: dict[int, int] = {}
    for f in booked:
        assert f.fee == schedule.fee(f.quote_amount, f.quantity, f.liquidity) and f.fee_asset == "USD"
        assert f.fee == by_trade[f.trade_id][0 if f.side is Side.BUY else 1]
        revenue_booked[f.trade_id] = revenue_booked.get(f.trade_id, 0) + f.fee
    # sum of booked fees = the venue's revenue (over the trades whose both reports arrived before the end)
    both = [tid for tid in revenue_booked if sum(1 for f in booked if f.trade_id == tid) == 2]
    assert len(both) >= len(t1["ts"]) - 2
    assert sum(revenue_booked[t] for t in both) == sum(sum(by_trade[t]) for t in both)
    assert sum(a.fees_paid.get("USD", 0) for a in charged.accounts) == sum(f.fee for f in booked)
    assert out1.metrics["fees_by_venue"]["exchange"] == round(sum(map(sum, by_trade.values())) / 100, 6)
    # each agent's PnL differs by exactly its fees: a market maker (mostly rebated) and the noise traders
    pnl0 = {(a, s): p for a, s, p in zip(out0.tables["agent_pnl"]["agent"], out0.tables["agent_pnl"]["symbol"],
                                         out0.tables["agent_pnl"]["pnl"])}
    rows1 = zip(out1.tables["agent_pnl"]["agent"], out1.tables["agent_pnl"]["symbol"],
                out1.tables["agent_pnl"]["pnl"], out1.tables["agent_pnl"]["fees"])
    fees_of = {}
    for a, s, p, fee in rows1:
        assert p == pnl0[(a, s)] - fee
        assert fee == charged.agent(a).account.fees_paid.get("USD", 0)
        fees_of[a] = fee
    mm = charged.agent("mm-1").account.positions["XYZ"]
    assert fees_of["mm-1"] == mm.fees != 0
    assert plain.agent("mm-1").account.positions["XYZ"].pnl(Fraction(100)) - mm.pnl(Fraction(100)) == mm.fees
    group = out1.metrics["fees_by_group"]
    assert set(group) == {"mm", "noise"}
    assert group["mm"] == round(sum(v for a, v in fees_of.items() if a.startswith("mm-")) / 100, 6)
