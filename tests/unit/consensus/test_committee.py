from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from market_sim.core.events import Trade, TradeRejected
from market_sim.core.instruments import Instrument
from market_sim.core.orders import NewOrder, Side
from market_sim.consensus import BalanceView, BatchRejected, Committee, ConsensusConfig
from market_sim.consensus.node import ConsensusNode
from market_sim.consensus.signing import DeferredSignature, _recover_uncached, trade_vote_digest, try_recover

INST = Instrument("XYZ/USD", tick_size=Decimal("0.01"), lot_size=Decimal("1"), base_decimals=0, quote_decimals=2)
ACCOUNTS = ("alice", "bob", "carol")


def _balances(usd: int = 10**9, xyz: int = 10**6) -> BalanceView:
    return BalanceView([INST], {**{(a, "USD"): usd for a in ACCOUNTS}, **{(a, "XYZ"): xyz for a in ACCOUNTS}})


def _claim(tid: int = 1, qty: int = 5, price: int = 100, buyer: str = "alice", seller: str = "bob"):
    buy = NewOrder(10 * tid, buyer, INST.symbol, Side.BUY, 10, price=105)
    sell = NewOrder(10 * tid + 1, seller, INST.symbol, Side.SELL, 10, price=95)
    return Trade(tid, tid, INST.symbol, price, qty, buy.order_id, sell.order_id, buyer, seller, Side.BUY), buy, sell


def _committee(**kw) -> Committee:
    return Committee.create(ConsensusConfig(**{"nodes": 4, **kw}), accounts=ACCOUNTS, balances=_balances())


def test_valid_trade_approved_with_signed_votes() -> None:
    c = _committee()
    t, buy, sell = _claim()
    assert c.validate_trade(t, buy, sell) is None
    decision = c.decisions[-1]
    assert decision.approved and len(decision.votes) == 4
    for vote in decision.votes:
        digest = trade_vote_digest(c.domain, vote.trade_leaf, vote.approve)
        assert try_recover(digest, vote.signature) == vote.voter
        assert try_recover(trade_vote_digest(c.domain, vote.trade_leaf, not vote.approve), vote.signature) is None
        # the deferred bytes, once made, are a real EIP-712 signature of the vote (full recovery, no memo)
        sig = bytes(vote.signature)
        assert len(sig) == 65 and sig == bytes(vote.signature)
        assert _recover_uncached(digest, sig) == vote.voter
        assert all(repr(n.key.private_key) not in repr(vote) for n in c.nodes)  # the key behind it stays hidden



@pytest.mark.parametrize("form", ["deferred", "bytes"])
def test_votes_signed_with_another_validators_key_are_not_counted(form, monkeypatch) -> None:
    """Two validators' votes are signed with the first one's key (as a deferred signature or as real bytes):
    they do not count for their voters, so 2 approvals stay short of the quorum of 3."""
    c = _committee()
    thief, victims = c.nodes[0].key, set(c.nodes[2:])
    honest = ConsensusNode.vote_trade

    def stolen(node, domain, claim, leaf):
        votes = honest(node, domain, claim, leaf)
        if node not in victims:
            return votes
        sigs = [DeferredSignature(thief, s.digest) for s in (v.signature for v in votes)]
        if form == "bytes":
            sigs = [bytes(s) for s in sigs]
        return [dataclasses.replace(v, signature=s) for v, s in zip(votes, sigs)]

    monkeypatch.setattr(ConsensusNode, "vote_trade", stolen)
    t, buy, sell = _claim()
    assert c.validate_trade(t, buy, sell) == "no_quorum: 2 approvals, need 3"
    assert {v.voter for v in c.decisions[-1].votes} == {c.nodes[0].address, c.nodes[1].address}

@pytest.mark.parametrize(("change", "code"), [
    (lambda t, b, s: (dataclasses.replace(t, quantity=0), b, s), "invalid_quantity"),
    (lambda t, b, s: (dataclasses.replace(t, price=-1), b, s), "invalid_price"),
    (lambda t, b, s: (dataclasses.replace(t, seller="alice"), b, dataclasses.replace(s, trader="alice")), "self_trade"),
    (lambda t, b, s: (dataclasses.replace(t, buyer="mallory"), dataclasses.replace(b, trader="mallory"), s),
     "unknown_account"),
    (lambda t, b, s: (t, dataclasses.replace(b, order_id=999), s), "order_mismatch"),
    (lambda t, b, s: (t, dataclasses.replace(b, side=Side.SELL), s), "order_mismatch"),
    (lambda t, b, s: (t, b, dataclasses.replace(s, trader="carol")), "order_mismatch"),
    (lambda t, b, s: (dataclasses.replace(t, price=106), b, s), "price_outside_limit"),
    (lambda t, b, s: (dataclasses.replace(t, price=94), b, s), "price_outside_limit"),
    (lambda t, b, s: (dataclasses.replace(t, quantity=11), b, s), "quantity_exceeds_order"),
    (lambda t, b, s: (dataclasses.replace(t, symbol="ABC/USD"), dataclasses.replace(b, symbol="ABC/USD"),
                      dataclasses.replace(s, symbol="ABC/USD")), "unknown_instrument"),
])
def test_each_rule_rejects(change, code: str) -> None:
    c = _committee()
    assert c.validate_trade(*change(*_claim())).startswith(code)


def test_no_trade_approved_twice_and_solvency_holds_across_pending() -> None:
    c = Committee.create(ConsensusConfig(nodes=4), accounts=ACCOUNTS, balances=_balances(usd=1000))
    t, b, s = _claim(qty=5, price=100)  # costs 500 USD units of alice's 1000
    assert c.validate_trade(t, b, s) is None
    assert c.validate_trade(t, b, s).startswith("duplicate_trade")
    t2, b2, s2 = _claim(tid=2, qty=6, price=100)  # another 600: only 500 left while the first is pending
    assert c.validate_trade(t2, b2, s2).startswith("insolvent")
    c.deposit("alice", "USD", 100)
    assert c.validate_trade(t2, b2, s2) is None


def test_solvency_check_disabled_without_balances() -> None:
    c = Committee.create(ConsensusConfig(nodes=4), accounts=None, balances=None)
    t, b, s = _claim(qty=10, price=10**9, buyer="anyone")
    assert c.validate_trade(t, dataclasses.replace(b, trader="anyone", price=None), s) is None


def test_byzantine_minority_cannot_flip_votes_but_a_majority_can() -> None:
    bad = _claim(qty=0)
    good = _claim(tid=2)
    for behaviour in ("approve-all", "reject", "equivocate", "crashed"):
        c = _committee(byzantine=1, behaviour=behaviour, seed=5)
        assert c.validate_trade(*bad) is not None
        assert c.validate_trade(*good) is None
    eq = _committee(byzantine=1, behaviour="equivocate", seed=5)
    eq.validate_trade(*good)
    assert len(eq.equivocations) == 1
    colluders = _committee(byzantine=3, behaviour="approve-all", allow_unsafe=True)
    assert colluders.validate_trade(*bad) is None  # 3 of 4 approve: the quorum of 3 is met by liars


def test_certify_batch_builds_a_verifiable_quorum_certificate() -> None:
    c = _committee(byzantine=1, behaviour="crashed")
    claims = [_claim(tid=i) for i in range(1, 4)]
    for claim in claims:
        assert c.validate_trade(*claim) is None
    block = c.certify_batch([cl[0] for cl in claims])
    assert block.height == 1 and len(block.qc.signatures) == 3
    assert block.qc.problems(c.validators, c.quorum) == []
    assert c.log.verify().ok and c.log.proof(2).verify()
    with pytest.raises(BatchRejected) as err:
        c.certify_batch([claims[0][0]])  # already final
    assert 1 in err.value.bad_trades and "duplicate" in err.value.bad_trades[1]
    stranger = _claim(tid=9)[0]
    with pytest.raises(BatchRejected) as err:
        c.certify_batch([stranger])  # never approved before execution
    assert "not_approved" in err.value.bad_trades[9]
    assert c.log.height == 1


def test_committee_is_the_engines_trade_validator() -> None:
    from market_sim.market import MatchingEngine

    c = _committee(byzantine=1, behaviour="approve-all", seed=2)
    engine = MatchingEngine([INST], traders=ACCOUNTS, validator=c)
    engine.process(NewOrder(1, "alice", INST.symbol, Side.SELL, 5, price=100), ts=1)
    events = engine.process(NewOrder(2, "bob", INST.symbol, Side.BUY, 3, price=101), ts=2)
    trades = [e for e in events if isinstance(e, Trade)]
    assert [(t.quantity, t.price, t.buyer, t.seller) for t in trades] == [(3, 100, "bob", "alice")]
    events = engine.process(NewOrder(3, "alice", INST.symbol, Side.BUY, 2, price=101), ts=3)
    assert any(isinstance(e, TradeRejected) and e.reason.startswith("self_trade") for e in events)
    block = c.certify_batch(trades)
    assert block.trades == tuple(trades)


def test_a_refused_batch_leaves_no_lock_so_a_corrected_one_certifies() -> None:
    c = _committee(byzantine=1, behaviour="reject", seed=1)
    claims = [_claim(tid=i) for i in (1, 2)]
    for claim in claims:
        assert c.validate_trade(*claim) is None
    honest = [n for n in c.nodes if n.honest]
    honest[0].pretrade.pop(2)  # one honest validator cannot vouch for trade 2: 2 signatures < quorum 3
    with pytest.raises(BatchRejected) as err:
        c.certify_batch([claims[0][0], claims[1][0]])
    assert "not_approved" in err.value.bad_trades[2] and all(not n.locks for n in c.nodes)
    block = c.certify_batch([claims[0][0]])  # re-batched without the offending trade, same sequence
    assert block.height == 1 and len(block.qc.signatures) == 3


def test_a_rejected_batch_carries_structured_reasons() -> None:
    from market_sim.consensus.committee import BatchRejection, RejectionCode

    c = _committee()
    claims = [_claim(tid=i) for i in (1, 2)]
    for claim in claims:
        assert c.validate_trade(*claim) is None
    c.certify_batch([claims[0][0]])
    stranger = _claim(tid=9)[0]
    with pytest.raises(BatchRejected) as err:
        c.certify_batch([claims[0][0], stranger])  # trade 1 is final already: every honest validator says so
    e = err.value
    assert (e.sequence, e.trade_ids, e.reason) == (2, (1,), RejectionCode.DUPLICATE_TRADE)
    assert {r.code for r in e.rejections} == {RejectionCode.DUPLICATE_TRADE}
    assert all(isinstance(r, BatchRejection) and r.trade_id == 1 and r.detail == "already approved"
               for r in e.rejections)
    assert e.bad_trades == {1: "duplicate_trade: already approved"} and e.height == 2
