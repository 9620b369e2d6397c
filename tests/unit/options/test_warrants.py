"""Warrants: exact integer exercise (shares minted, cash moved, supply), assignment to the issuer first, covered
warrants (no dilution), the dilution of the fundamental, the scenario keys and the shipped warrants-dilution scenario."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from market_sim.core.accounts import Accounts, book_fill
from market_sim.core.errors import ConfigError
from market_sim.core.instruments import AssetClass, Instrument
from market_sim.core.orders import Side
from market_sim.derivatives import bsm_price, diluted_share_value, warrant_price
from market_sim.options.clearing import ExerciseError
from market_sim.options.warrants import EXERCISE, ISSUE, WarrantBook, WarrantConfig, warrant_instrument
from market_sim.core.instruments import ExerciseStyle, OptionRight, SettlementType
from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.processes import GBM, GBMParams, OrnsteinUhlenbeck, OUParams
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import load_scenario

SEC = 10 ** 9
XYZ = Instrument("XYZ", tick_size=Decimal("0.01"), base_decimals=0, quote_decimals=2)


def config(kind: str = "issuer", ratio: int = 2, style: str = "american", settlement: str = "physical",
           allot: tuple[tuple[str, int], ...] = (("a", 600), ("b", 400))) -> WarrantConfig:
    return WarrantConfig("XYZ-W45", "XYZ", kind, "corp", Decimal("45"), "60s", 60 * SEC, ratio, ExerciseStyle(style),
                         OptionRight.CALL, SettlementType(settlement), 100_000 if kind == "issuer" else None, allot,
                         None, 0.3, Decimal("0.01"))


def world(cfg: WarrantConfig) -> tuple[Accounts, WarrantBook, Instrument]:
    accounts = Accounts()
    w = warrant_instrument(cfg, XYZ)
    book = WarrantBook(None, accounts, {"XYZ": XYZ, w.symbol: w}, (cfg,))
    book.booked = []  # type: ignore[attr-defined]  (every Fill / Transfer the clearing house books)
    book.clearing.on_booked = book.booked.append  # type: ignore[attr-defined]
    book.issue(w.symbol, 500)  # 5.00 per share
    return accounts, book, w


def bal(accounts: Accounts, who: str, asset: str) -> int:
    return accounts[who].balance(asset)


def test_placement_is_the_issuer_selling_to_the_holders():
    accounts, book, w = world(config())
    assert w.asset_class is AssetClass.WARRANT and w.base_units_per_lot == 2 and w.quote_units_per_lot_tick == 2
    # 1,000 warrants x 2 shares x 5.00 = 10,000.00 = 1,000,000 cents
    assert bal(accounts, "corp", "USD") == 1_000_000
    assert bal(accounts, "a", "USD") == -600_000 and bal(accounts, "b", "USD") == -400_000
    assert book.clearing.open_interest(w.symbol) == {"a": 600, "b": 400, "corp": -1000}
    assert book.issued == {w.symbol: 1000} and book.supply == {"XYZ": 100_000}
    assert accounts["a"].positions[w.symbol].fills == 1
    assert [(f.account, f.venue, f.side.name, f.quantity, f.price) for f in book.booked] == [
        ("corp", ISSUE, "SELL", 600, 500), ("a", ISSUE, "BUY", 600, 500),
        ("corp", ISSUE, "SELL", 400, 500), ("b", ISSUE, "BUY", 400, 500)]


def test_early_exercise_mints_shares_and_pays_the_issuer():
    accounts, book, w = world(config())
    usd0 = accounts.totals(["USD"])
    rows = book.exercise("a", w.symbol, 250, 5_500, 10 * SEC)
    # 250 warrants x 2 = 500 new shares at 45.00: 22,500.00 = 2,250,000 cents from a to the issuer
    assert [(r.account, r.kind, r.contracts, r.cash, r.underlying) for r in rows] == [
        ("a", "exercise", 250, -2_250_000, 500), ("corp", "assignment", 250, 2_250_000, 0)]
    assert bal(accounts, "a", "XYZ") == 500 and bal(accounts, "a", "USD") == -600_000 - 2_250_000
    assert bal(accounts, "corp", "USD") == 1_000_000 + 2_250_000 and bal(accounts, "corp", "XYZ") == 0
    assert accounts.totals(["XYZ"]) == {"XYZ": 500} and accounts.totals(["USD"]) == usd0  # minted; cash moved
    assert book.supply == {"XYZ": 100_500} and book.minted == {"XYZ": 500}
    assert book.clearing.open_interest(w.symbol) == {"a": 350, "b": 400, "corp": -750}
    e = book.exercises[-1]
    assert (e.holder, e.warrants, e.shares_received, e.shares_minted, e.cash_paid, e.supply_before,
            e.supply_after) == ("a", 250, 500, 500, 2_250_000, 100_000, 100_500)
    pos = accounts["a"].positions["XYZ"]
    assert pos.quantity == 500 and pos.cost == 2_250_000  # the new shares' cost basis is the strike
    # the issuer's warrant short closed at 0: 250 of its 1,000 written, premium 500 per warrant realized
    assert accounts["corp"].positions[w.symbol].realized == 250 * 2 * 500
    t = book.booked[-1]  # the strike cash reaches the issuer as a transfer: nobody sold it shares
    assert (type(t).__name__, t.account, t.asset, t.amount, t.reason) == ("Transfer", "corp", "USD", 2_250_000,
                                                                         EXERCISE)


def test_expiry_in_the_money_mints_for_the_issuer_and_other_shorts_deliver():
    accounts, book, w = world(config())
    # a secondary short: s sells 100 warrants to b at 6.00
    for acct, side in (("b", Side.BUY), ("s", Side.SELL)):
        accounts.apply(book_fill(SEC, acct, "options", w, side, 600, 100, order_id=1, trade_id=1, maker=False))
    book.exercise("a", w.symbol, 100, 5_000, 10 * SEC)  # issuer first: corp 1000 -> 900 short, s untouched
    assert book.clearing.open_interest(w.symbol) == {"a": 500, "b": 500, "corp": -900, "s": -100}
    usd0 = accounts.totals(["USD"])
    book.expire(w.symbol, 4_600, 60 * SEC)  # 46.00 > 45.00: exercised
    assert book.clearing.open_interest(w.symbol) == {}
    # 1,000 warrants long exercised: 2,000 shares to a and b; corp mints 1,800, s delivers 200 existing shares
    assert bal(accounts, "a", "XYZ") == 200 + 1_000 and bal(accounts, "b", "XYZ") == 1_000
    assert bal(accounts, "s", "XYZ") == -200
    assert book.minted == {"XYZ": 200 + 1_800} and book.supply == {"XYZ": 102_000}
    assert accounts.totals(["XYZ"]) == {"XYZ": 2_000 - 200 + 200} and accounts.totals(["USD"]) == usd0
    # cash at the strike: corp receives 1,800 x 45.00, s 200 x 45.00 (it sold 100 warrants at 6.00 before)
    assert bal(accounts, "corp", "USD") == 1_000_000 + 200 * 4500 + 1_800 * 4500
    assert bal(accounts, "s", "USD") == 100 * 2 * 600 + 200 * 4500
    transfers = [r for r in book.settlements if r.account == "corp"]
    assert [r.cash for r in transfers] == [200 * 4500, 1_800 * 4500]
    assert sum(e.shares_minted for e in book.exercises) == 2_000
    assert sum(e.warrants for e in book.exercises) == 1_100


def test_expiry_out_of_the_money_closes_at_zero():
    accounts, book, w = world(config())
    book.expire(w.symbol, 4_500, 60 * SEC)  # at the strike: not in the money by a tick
    assert book.clearing.open_interest(w.symbol) == {} and book.minted == {} and book.supply == {"XYZ": 100_000}
    assert accounts.totals(["XYZ"]) == {} and book.exercises == []
    assert {r.kind for r in book.settlements} == {"expiry"}
    with pytest.raises(ExerciseError, match="already expired"):
        book.expire(w.symbol, 4_600, 60 * SEC)


def test_covered_warrant_delivers_existing_shares():
    cfg = config(kind="covered", ratio=1)
    accounts, book, w = world(cfg)
    rows = book.exercise("b", w.symbol, 400, 5_000, 10 * SEC)
    assert [(r.account, r.cash, r.underlying) for r in rows] == [("b", -400 * 4500, 400), ("corp", 400 * 4500,
                                                                                          -400)]
    assert book.minted == {} and book.supply == {} and accounts.totals(["XYZ"]) == {"XYZ": 0}
    e = book.exercises[-1]
    assert e.shares_minted == 0 and e.supply_before is None


def test_cash_settled_covered_warrant_pays_the_intrinsic_value():
    accounts, book, w = world(config(kind="covered", ratio=1, settlement="cash"))
    book.expire(w.symbol, 4_620, 60 * SEC)  # 1.20 in the money
    assert bal(accounts, "a", "USD") == -600 * 500 + 600 * 120 and bal(accounts, "corp", "USD") == 1000 * 380
    assert accounts.totals(["XYZ"]) == {}


def test_refusals():
    accounts, book, w = world(config(style="european"))
    with pytest.raises(ExerciseError, match="European"):
        book.exercise("a", w.symbol, 1, 5_000, SEC)
    accounts, book, w = world(config())
    with pytest.raises(ExerciseError, match="holds 600 warrants"):
        book.exercise("a", w.symbol, 601, 5_000, SEC)
    with pytest.raises(ExerciseError, match="expired"):
        book.exercise("a", w.symbol, 1, 5_000, 60 * SEC)
    with pytest.raises(ExerciseError, match="positive whole number"):
        book.exercise("a", w.symbol, 0, 5_000, SEC)
    assert book.supply == {"XYZ": 100_000} and accounts.totals(["XYZ"]) == {}


def test_rescale_multiplies_a_gbm_path_and_refuses_ou():
    p = GBMParams(s0=50.0, sigma=0.3, dt=SEC)
    a, b = GBM(p, 7), GBM(p, 7)
    b.value_at(10 * SEC)
    b.rescale(10 * SEC, 0.9)
    assert b.value_at(10 * SEC) == pytest.approx(0.9 * a.value_at(10 * SEC), rel=1e-15)
    assert b.value_at(99 * SEC) == pytest.approx(0.9 * a.value_at(99 * SEC), rel=1e-12)
    ou = OrnsteinUhlenbeck(OUParams(x0=1.0, mean=1.0, theta=1.0, sigma=0.1), 1)
    with pytest.raises(ConfigError, match="cannot be rescaled"):
        ou.rescale(0, 0.9)


# ----- in a simulation ----------------------------------------------------------------------------------------------

def _short(**overrides: str) -> Any:
    base = {"scenario.duration": '"2min"', "options.warrants.0.expiry": '"90s"',
            "options.warrants.1.expiry": '"2min"', "agents.early.exercise_at": '"45s"',
            "agents.holder.sell_interval": '"5s"'}
    base.update(overrides)
    return load_scenario(resolve_scenario("warrants-dilution"), [f"{k}={v}" for k, v in base.items()])


def test_the_shipped_scenario_in_short():
    sim = Simulation(_short(), tune_gc=False).build()
    market = sim.state("options")
    book = market.warrant_book
    proc = sim.processes["XYZ"]
    out = sim.run()
    res = out.metrics["options"]
    minted = book.minted["XYZ"]
    assert minted == 25_000 and book.supply["XYZ"] == 125_000 == res.share_supply["XYZ"]
    assert res.warrants_issued == 35_000 and res.open_after_expiry == 0
    # trading moves shares, exercise of the issuer warrant creates them: the accounts' total grows by the minted
    assert sim.accounts.totals(["XYZ"]) == {"XYZ": minted}  # every account starts flat
    assert sim.accounts.totals(["USD"]) == {"USD": 0}
    corp = sim.accounts["xyz-corp"]  # the placement proceeds (its short closed at 0 realizes them) + 25,000 x 40.00
    assert corp.balance("USD") == corp.positions["XYZ-90s-WC40"].realized + 25_000 * 4_000
    # placed at the dilution-adjusted value at time 0 (V/N = 50.00, 90 s of a 1 h year, vol 0.2, N 100,000,
    # M 25,000), to a cent -- below the plain call
    price = round(warrant_price(50.0, 40.0, 1.5 / 60, 0.0, 0.2, 100_000, 25_000) * 100)
    assert corp.positions["XYZ-90s-WC40"].realized == 25_000 * price
    assert price < round(bsm_price(50.0, 40.0, 1.5 / 60, 0.0, 0.2) * 100)
    assert corp.balance("XYZ") == 0
    # every minting exercise rescaled the fundamental by the rule (N S + m K) / (N + m)
    dilutions = {(e.ts, e.supply_before): e for e in book.exercises if e.shares_minted}
    assert len(dilutions) >= 2
    for (ts, before), e in dilutions.items():
        assert e.fundamental_after == pytest.approx(
            diluted_share_value(e.fundamental_before, 40.0, before, e.supply_after - before), rel=1e-12)
    assert proc.value_at(sim.now) > 0
    assert "warrants.png" in out.extra_files
    assert {"warrant_exercises", "share_supply", "warrant_model", "warrant_settlements"} <= set(out.tables)
    covered = [e for e in book.exercises if e.symbol == "XYZ-2min-WC45"]
    assert all(e.shares_minted == 0 for e in covered)
    # the warrant market maker buys what holders sell at its bid: 5 ticks under the dilution-adjusted value, well
    # under the plain call (rows of warrant_model every second; the trade at most a quote interval later)
    trades = [t for t in market.warrant_trades if t["symbol"] == "XYZ-90s-WC40"]
    assert trades and all(t["buyer"].startswith("wmm") for t in trades)
    model = [r for r in market.warrant_model if r["symbol"] == "XYZ-90s-WC40"]
    for t in trades:
        r = min(model, key=lambda r: abs(r["ts"] - t["ts"]))
        assert abs(t["price"] / 100 - r["warrant_value"]) < abs(t["price"] / 100 - r["call_value"])


@pytest.mark.parametrize("key, value, match", [
    ("options.warrants.0.right", '"put"', "is a call"),
    ("options.warrants.0.settlement", '"cash"', "new shares"),
    ("options.warrants.1.shares_outstanding", "5", "only issuer warrants dilute"),
    ("options.warrants.0.strike", '"40.005"', "tick grid"),
    ("options.warrants.0.allot", '{ "xyz-corp" = 5 }', "cannot be allotted"),
    ("options.warrants.0.expiry", '"1h"', "within the run"),
    ("options.warrants.0.colour", '"red"', "unknown key"),
    ("processes.XYZ.kind", '"ou"', None),
])
def test_bad_warrant_keys(key: str, value: str, match: str | None):
    overrides = {key: value}
    if key == "processes.XYZ.kind":
        overrides = {"processes.XYZ": '{ kind = "ou", x0 = 50.0, mean = 50.0, theta = 1.0, sigma = 1.0 }'}
        match = "must be multiplicative"
    with pytest.raises(ConfigError, match=match):
        _short(**overrides)
