"""Cash-settled European options on chain (issue 17): premiums at trade time and expiry payouts settle through the
certified net-deltas batches of the real pipeline, committee and Settlement contract (in-process eth-tester)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from market_sim.blockchain import Chain
from market_sim.consensus.config import ConsensusConfig
from market_sim.consensus.merkle import verify_proof
from market_sim.core.events import Trade
from market_sim.core.instruments import Instrument
from market_sim.core.orders import NewOrder, Side
from market_sim.settlement.options import (OptionSeries, OptionSettlementError, attach_options, reconcile_options,
                                           settlement_price)
from market_sim.settlement.reconcile import reconcile
from market_sim.settlement.setup import build_stack
from market_sim.settlement.submitter import DirectSubmitter

INST = Instrument("WETH/USDC", tick_size=Decimal("0.01"), lot_size=Decimal("0.01"), asset_class="crypto",
                  base_decimals=18, quote_decimals=6)
TRADERS = ("a", "b", "c", "d")
USDC = 20_000 * 10**6
FUNDS = {"WETH": 5 * 10**18, "USDC": USDC}
TICK_VALUE = 10_000  # one contract = 1 WETH: a tick (0.01 USDC) is 10,000 USDC base units
EXPIRY, WINDOW = 1_000, 500
PUT = OptionSeries("WETH/USDC", "USDC", 300_000, EXPIRY, False, TICK_VALUE, window=WINDOW)
CALL = OptionSeries("WETH/USDC", "USDC", 300_000, EXPIRY, True, TICK_VALUE, cap_ticks=310_000, window=WINDOW)


class Market:
    def __init__(self, chain_id: int, validity: int | None = None) -> None:
        self.chain = chain = Chain.local(["deployer"], chain_id=chain_id)
        self.stack = build_stack(chain, {INST.symbol: INST}, list(TRADERS), FUNDS,
                                 ConsensusConfig(nodes=4, byzantine=0, protocol="bft"), max_batch=50,
                                 validity=validity)
        self.desk = attach_options(self.stack)
        self.desk.list_series(PUT)
        self.desk.list_series(CALL)
        self.p, self.committee = self.stack.pipeline, self.stack.committee
        self.usdc = self.stack.venue.tokens["USDC"]
        self.addr = self.stack.venue.accounts
        self.tid = 0
        self.spot: list[Trade] = []

    def spot_trade(self, ts: int, buyer: str, seller: str, price: int, qty: int) -> Trade:
        self.tid += 1
        tid = self.tid
        buy = NewOrder(2 * tid, buyer, INST.symbol, Side.BUY, qty, price=price)
        sell = NewOrder(2 * tid + 1, seller, INST.symbol, Side.SELL, qty, price=price)
        t = Trade(ts, tid, INST.symbol, price, qty, 2 * tid, 2 * tid + 1, buyer, seller, Side.BUY)
        assert self.committee.validate_trade(t, buy, sell) is None
        self.p.on_trade(t)
        self.spot.append(t)
        return t

    def chain_usdc(self, trader: str) -> int:
        return self.p.client.balance(self.addr[trader], self.usdc)

    def ledger_usdc(self, trader: str) -> int:
        return self.p.ledger.balance(self.addr[trader], self.usdc)

    def spot_usdc(self, trader: str) -> int:
        """Net USDC the spot trades moved for `trader` (no fees in this market)."""
        out = 0
        for t in self.spot:
            q = self.p.encoder.settled(t).quote_amount
            out += (q if t.seller == trader else 0) - (q if t.buyer == trader else 0)
        return out


class LostOnce(DirectSubmitter):
    """The first settle transaction is accepted by the node but never included (lost); later ones go through."""

    def __init__(self, client) -> None:
        super().__init__(client)
        self.lost = 0

    def submit(self, batch, signatures, skipped, callbacks) -> None:
        if not self.lost:
            self.lost = batch.sequence
            return
        super().submit(batch, signatures, skipped, callbacks)


def test_premiums_and_expiry_payouts_settle_on_chain_with_exact_balances():
    m = Market(1701)
    m.spot_trade(10, "c", "d", 300_000, 100)
    m.desk.trade(PUT, "a", "b", 2, 50 * 10**6, now=10)
    m.desk.trade(CALL, "a", "c", 3, 20 * 10**6, 1_000, now=10)
    # collateral locked at writing: 2 puts x 300,000 ticks; 3 calls x (310,000 - 300,000) ticks
    assert m.desk.locks() == {"b": 2 * 300_000 * TICK_VALUE, "c": 3 * 10_000 * TICK_VALUE}
    assert m.p.ledger.locked == {(m.addr["b"], m.usdc): 6_000_000_000, (m.addr["c"], m.usdc): 300_000_000}
    m.p.flush()
    assert m.p.client.last_sequence == 1 and m.desk.open_interest(PUT) == {"a": 2, "b": -2}
    premiums = {"a": -(50 + 20) * 10**6 - 1_000, "b": 50 * 10**6, "c": 20 * 10**6, "d": 0}
    for trader in TRADERS:
        assert m.chain_usdc(trader) == m.ledger_usdc(trader) == USDC + m.spot_usdc(trader) + premiums[trader]
    assert m.p.client.balance(m.p.fee_account, m.usdc) == m.p.ledger.balance(m.p.fee_account, m.usdc) == 1_000

    m.spot_trade(400, "c", "d", 400_000, 100)
    m.spot_trade(600, "c", "d", 295_001, 100)
    m.spot_trade(700, "d", "c", 295_000, 100)
    m.p.flush()
    m.spot_trade(1_000, "c", "d", 200_000, 100)
    m.desk.expire(PUT)
    m.desk.expire(CALL)
    m.p.flush()
    assert m.p.client.last_sequence == 3 and not m.p.failed
    content = m.desk.batch_of(3)
    put_expiry, call_expiry = content.expiries
    assert put_expiry.settlement_price == call_expiry.settlement_price == 295_000
    # put: 2 x (300,000 - 295,000) ticks x 10,000 = 100 USDC from b to a; the call is out of the money
    assert dict(put_expiry.payouts) == {"a": 100_000_000, "b": -100_000_000}
    assert dict(call_expiry.payouts) == {"a": 0, "c": 0}
    payouts = {"a": 100_000_000, "b": -100_000_000, "c": 0, "d": 0}
    for trader in TRADERS:
        assert m.chain_usdc(trader) == m.ledger_usdc(trader) \
            == USDC + m.spot_usdc(trader) + premiums[trader] + payouts[trader]
    assert m.p.ledger.locked == {} and m.desk.open_interest(PUT) == {} and m.desk.open_interest(CALL) == {}

    # every option leaf proves against the root the contract holds
    for sequence in (1, 3):
        root = m.p.client.batch_root(sequence)
        batch = m.p.ledger.settled_batches[sequence]
        leaves = m.desk.option_leaves(m.desk.batch_of(sequence))
        first = len(batch.trades)
        assert leaves and all(verify_proof(batch.tree.proof(first + i), root, leaf) for i, leaf in enumerate(leaves))
        assert not verify_proof(batch.tree.proof(first), root, leaves[-1]) or len(leaves) == 1
    report = reconcile(m.p.ledger, m.p.client, log=m.committee.log)
    assert report.ok, report.differences
    assert reconcile_options(m.desk) == []


def test_tampered_settlement_price_is_refused_by_honest_validators():
    m = Market(1702)
    m.spot_trade(10, "c", "d", 300_000, 100)
    m.desk.trade(PUT, "a", "b", 2, 50 * 10**6, now=10)
    m.p.flush()
    m.spot_trade(600, "c", "d", 295_000, 100)
    m.p.flush()
    m.desk.expire(PUT)
    m.desk.tamper[PUT.series_id] = 299_000  # the proposer states a better price for the writer
    late = m.spot_trade(1_100, "c", "d", 300_000, 100)
    m.p.flush()
    assert m.p.client.last_sequence == 2 and m.committee.log.height == 2
    (failed,) = m.p.failed
    assert failed.trade == late and "bad_option_leaf" in failed.reason
    assert "settlement price 299000 ticks, the log gives 295000" in failed.reason
    assert m.desk.due == [PUT]  # the expiry waits for the next batch, re-derived
    del m.desk.tamper[PUT.series_id]
    m.spot_trade(1_200, "c", "d", 300_000, 100)
    m.p.flush()
    (expiry,) = m.desk.batch_of(3).expiries
    assert expiry.settlement_price == 295_000 and dict(expiry.payouts) == {"a": 100_000_000, "b": -100_000_000}
    assert m.chain_usdc("b") == m.ledger_usdc("b") == USDC + 50 * 10**6 - 100_000_000
    assert reconcile(m.p.ledger, m.p.client, log=m.committee.log).ok and reconcile_options(m.desk) == []


def test_collateral_lock_refuses_writers_and_spot_spending():
    m = Market(1703)
    with pytest.raises(OptionSettlementError, match="cannot lock the collateral"):
        m.desk.trade(PUT, "a", "b", 7, 1, now=10)  # 7 x 3,000 USDC > 20,000 USDC
    m.desk.trade(PUT, "a", "b", 6, 1, now=10)        # 18,000 USDC locked
    with pytest.raises(OptionSettlementError, match="has expired"):
        m.desk.trade(PUT, "a", "b", 1, 1, now=EXPIRY)
    m.spot_trade(10, "b", "c", 300_000, 100)         # b would pay 3,000 USDC: only 2,000 + premium are free
    m.p.flush()
    (failed,) = m.p.failed
    assert "insufficient balance" in failed.reason
    assert m.p.client.last_sequence == 0 and m.desk.in_batch == {}
    m.spot_trade(20, "c", "d", 300_000, 1)
    m.p.flush()  # the staged option trade rides along with the next spot batch
    assert m.desk.open_interest(PUT) == {"a": 6, "b": -6}


def test_uncapped_call_and_bad_terms_are_refused():
    with pytest.raises(OptionSettlementError, match="only capped payoffs"):
        OptionSeries("WETH/USDC", "USDC", 300_000, EXPIRY, True, TICK_VALUE)
    with pytest.raises(OptionSettlementError, match="strike_ticks"):
        OptionSeries("WETH/USDC", "USDC", 0, EXPIRY, False, TICK_VALUE)


def test_settlement_price_vwap_half_even_and_fallback():
    def t(ts, price, qty, tid):
        return Trade(ts, tid, "WETH/USDC", price, qty, 0, 0, "a", "b", Side.BUY)
    assert settlement_price([t(600, 101, 1, 1), t(700, 102, 1, 2)], PUT) == 102  # 101.5 -> 102 (even)
    assert settlement_price([t(600, 100, 1, 1), t(700, 101, 1, 2)], PUT) == 100  # 100.5 -> 100 (even)
    assert settlement_price([t(600, 100, 3, 1), t(700, 104, 1, 2), t(1_000, 1, 9, 3)], PUT) == 101
    assert settlement_price([t(100, 90, 1, 1), t(200, 95, 1, 2)], PUT) == 95  # none in the window: the last
    with pytest.raises(OptionSettlementError, match="no certified trade"):
        settlement_price([t(1_000, 90, 1, 1)], PUT)


def test_a_skipped_expiry_batch_is_requeued_and_settles_later_with_the_same_payouts():
    m = Market(1704, validity=4)
    m.spot_trade(10, "c", "d", 300_000, 100)
    m.desk.trade(PUT, "a", "b", 2, 50 * 10**6, now=10)
    m.p.flush()
    m.p.submitter = LostOnce(m.p.client)
    m.spot_trade(600, "c", "d", 295_001, 100)   # the window's trades ride in the lost expiry batch
    m.spot_trade(700, "d", "c", 295_000, 100)
    m.desk.expire(PUT)
    m.p.flush()
    assert m.p.submitter.lost == 2 and m.p.client.last_sequence == 1
    assert m.desk.in_batch[2].expiries[0].settlement_price == 295_000
    m.chain.mine(5)
    m.p.flush()  # batch 2 expired: requeued, its expiry re-derived into batch 3, which skips 2 on chain
    assert m.p.expired == [2] and m.p.client.skipped_sequences() == [2] and m.p.client.last_sequence == 3
    (expiry,) = m.desk.batch_of(3).expiries
    assert expiry.settlement_price == 295_000 and dict(expiry.payouts) == {"a": 100_000_000, "b": -100_000_000}
    for trader in TRADERS:
        premium = {"a": -50 * 10**6, "b": 50 * 10**6}.get(trader, 0)
        payout = {"a": 100_000_000, "b": -100_000_000}.get(trader, 0)
        assert m.chain_usdc(trader) == m.ledger_usdc(trader) == USDC + m.spot_usdc(trader) + premium + payout
    assert reconcile(m.p.ledger, m.p.client, log=m.committee.log).ok and reconcile_options(m.desk) == []


def _onchain(*overrides: str):
    from market_sim.simulation.catalog import resolve_scenario
    from market_sim.simulation.scenario import load_scenario

    return load_scenario(resolve_scenario("options-onchain"),
                         ["scenario.duration=90s", 'options.chains.XYZ.expiries=["40s","70s"]', "output.plots=false",
                          *overrides])


@pytest.mark.slow
def test_options_onchain_scenario_settles_premiums_and_payouts_and_reconciles():
    from market_sim.simulation.runner import Simulation

    sim = Simulation(_onchain())
    out = sim.run()
    run = sim.state("settlement")
    p, desk = run.stack.pipeline, run.stack.pipeline.options
    assert out.metrics["settlement"].reconciled is True and reconcile_options(desk) == []
    trades = sim.state("options").trades
    premiums = [ot for _, c in desk.settled for ot in c.trades]
    assert len(premiums) == len(trades) > 0                 # every option trade's premium settled on chain
    assert sum(ot.premium for ot in premiums) == sum(
        t["quantity"] * t["price"] * int(sim.instruments[t["symbol"]].quote_units_per_lot_tick) for t in trades)
    expiries = [e for _, c in desk.settled for e in c.expiries]
    assert len(expiries) == len(desk.series) and all(sum(a for _, a in e.payouts) == 0 for e in expiries)
    usdc = run.stack.venue.tokens["USD"]
    for trader, address in run.stack.venue.accounts.items():      # exact: chain = ledger, options included
        assert p.client.balance(address, usdc) == p.ledger.balance(address, usdc)
    assert p.ledger.locked == {}


def test_options_onchain_refuses_uncapped_calls():
    from market_sim.core.errors import ConfigError
    from market_sim.simulation.runner import Simulation

    with pytest.raises(ConfigError, match="only capped payoffs"):
        Simulation(_onchain('options.chains.XYZ.rights=["call","put"]')).build()


def test_reconciliation_reports_option_content_never_settled():
    m = Market(1705)
    m.desk.trade(PUT, "a", "b", 1, 1, now=10)  # no spot trade ever carries it
    m.desk.expire(CALL)
    assert [(d.kind, d.subject) for d in reconcile_options(m.desk)] == [
        ("unsettled", PUT.label), ("unsettled", CALL.label)]
