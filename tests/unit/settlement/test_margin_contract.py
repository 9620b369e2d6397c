"""Settlement.sol margin (issue 16) through web3: lending pools, borrows against collateral, certified marks,
BelowMaintenance / PoolExhausted, liquidation batches, borrow fees earned by lenders, and the custody invariant.

Units: marks are value per token base unit (base 5, quote 1 unless a test moves them), maintenance 3000 bps (130%).
Every batch is also applied to a MarginBook (the validators' mirror), which must agree with the chain exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from market_sim.blockchain import Chain
from market_sim.consensus.signing import batch_digest, validator_keys
from market_sim.core.errors import ContractRevertError, SettlementError
from market_sim.settlement import SettledTrade, SettlementBatch, SettlementClient, SettlementMode, pack_signatures
from market_sim.blockchain.clients.settlement import DebtRepaid, PoolChanged
from market_sim.consensus.merkle import MerkleTree
from market_sim.settlement.batch import BatchHeader
from market_sim.settlement.deltas import NetDeltas
from market_sim.settlement.margin import BorrowChange, MarginBook, MarginData, MarginRefusal, margin_leaf

FUNDS = 10**9
NAMES = ("alice", "bob", "carol", "dave", "erin")
BASE, QUOTE = 1, 2
MARKS = (5, 1)


@dataclass
class MEnv:
    chain: Chain
    client: SettlementClient
    keys: tuple
    tokens: tuple[str, str]
    who: dict[str, str]
    fee: str
    book: MarginBook = field(default_factory=lambda: MarginBook(2))
    next_id: int = 1

    def addr(self, name: str) -> str:
        return self.who[name]

    def trade(self, buyer: str, seller: str, base: int, quote: int) -> SettledTrade:
        t = SettledTrade(self.next_id, self.who[buyer], self.who[seller], self.tokens[0], self.tokens[1], base, quote,
                         0, 0)
        self.next_id += 1
        return t

    def batch(self, trades, borrows=(), marks=MARKS, liquidated=()) -> SettlementBatch:
        c = self.client
        state = c.head - 1
        return SettlementBatch.build(c.last_sequence + 1, c.last_batch_hash, trades, fee_account=self.fee,
                                     token_index=c.token_index, mode=SettlementMode.MARGIN, state_block=state,
                                     expires_at=state + 20, borrows=borrows, marks=marks,
                                     liquidated=sorted((self.who[n] for n in liquidated), key=lambda a: int(a, 16)))

    def settle(self, batch: SettlementBatch):
        digest = batch_digest(self.client.domain, *batch.header.as_tuple())
        sigs = pack_signatures([(k.address, k.sign(digest)) for k in self.keys[:3]])
        return self.client.submit(batch, sigs)

    def both(self, batch: SettlementBatch):
        """Settle on chain and in the book; both accept, or both refuse with the same error (returned)."""
        try:
            self.book.apply(batch.margin)
            book_error = None
        except MarginRefusal as exc:
            book_error = exc.error
        try:
            info = self.settle(batch)
        except ContractRevertError as exc:
            assert exc.error_name == book_error, (exc.error_name, book_error, str(exc))
            return exc
        assert book_error is None, book_error
        return info

    def borrow(self, name: str, token: int, principal: int, fee: int = 0) -> BorrowChange:
        return BorrowChange(self.who[name], token, principal, fee)

    def deposit(self, name: str, token: int, amount: int) -> None:
        self.client.deposit(self.tokens[token - 1], amount, sender=name)
        self.book.deposit(self.who[name], token, amount)

    def lend(self, name: str, token: int, amount: int) -> None:
        self.client.contract.lend(self.tokens[token - 1], amount, sender=name)
        self.book.lend(self.who[name], token, amount)

    def assert_mirrors(self) -> None:
        """Chain state == book state, and the custody invariant holds on chain."""
        c = self.client.contract
        accounts = list(self.who.values()) + [self.fee]
        for index, token in enumerate(self.tokens, 1):
            held = self.client.token(token).balance_of(self.client.address)
            total = 0
            debts = 0
            for a in accounts:
                bal = c.balance_of(a, token)
                assert c.signed_balance_of(a, token) == self.book.balances.get((a, index), 0)
                assert bal == self.book.balance(a, index)
                assert c.debt_of(a, token) == self.book.debt(a, index)
                total += bal
                debts += c.debt_of(a, token)
            cash, borrowed, shares = c.pool(index)
            p = self.book.pool(index)
            assert (cash, borrowed, shares) == (p.cash, p.borrowed, p.shares)
            assert borrowed == debts  # the pool is owed exactly the negative balances
            assert total + cash <= held  # custody: all positive balances and the pool's cash are covered
            assert self.book.withdrawable(index, accounts) <= held


def deploy() -> MEnv:
    chain = Chain.local(["deployer", *NAMES, "fee"])
    keys = validator_keys(4, seed=7)
    client = SettlementClient.deploy(chain, [k.address for k in keys], 3, chain.account("fee"), max_validity=30)
    deployed = [chain.deploy("TestToken", n, n, 18) for n in ("Base", "Quote")]
    tokens = tuple(t.address for t in deployed)
    for t in deployed:
        token = t.address
        client.list_token(token)
        client.contract.set_maintenance(token, 3000)
        for who in NAMES:
            chain.transact(t.functions.mint(chain.account(who), FUNDS))
            client.approve(token, sender=who)
    env = MEnv(chain, client, keys, tokens, {n: chain.account(n) for n in NAMES}, chain.account("fee"))
    env.book.maintenance_bps.update({BASE: 3000, QUOTE: 3000})
    return env


@pytest.fixture(scope="module")
def menv_module() -> MEnv:
    return deploy()


@pytest.fixture
def menv(menv_module: MEnv):
    snap = menv_module.chain.snapshot()
    book = menv_module.book
    menv_module.book = MarginBook(2, maintenance_bps=dict(book.maintenance_bps))
    yield menv_module
    menv_module.chain.revert(snap)
    menv_module.book = book


def short_setup(e: MEnv, collateral: int = 30) -> None:
    """carol lends 10 base; bob holds base and quote; dave (no base) posts `collateral` quote."""
    e.lend("carol", BASE, 10)
    e.deposit("bob", BASE, 100)
    e.deposit("bob", QUOTE, 1000)
    e.deposit("dave", QUOTE, collateral)


def test_margin_leaf_equals_the_contract(menv):
    e = menv
    batch = e.batch([e.trade("bob", "dave", 10, 50)], [e.borrow("dave", BASE, 10, 3)], liquidated=("alice",))
    m = batch.margin
    assert e.client.contract.margin_leaf(m.as_tuple()) == m.leaf() == margin_leaf(
        m.trade_count, m.encode(), m.marks, m.liquidated)
    # dave's group: the trade's base delta (the principal is implied by the signed balance), the fee, the quote
    assert dict(m.groups())[e.addr("dave")] == [(BASE, 0, -10), (BASE, 1, 3), (QUOTE, 0, 50)]


def pool_events(info) -> list[tuple]:
    return [(ev.args["token"], ev.args["cash"], ev.args["borrowed"]) for ev in info.receipt.events("PoolChanged")] \
        if hasattr(info, "receipt") else []


def test_a_short_sale_goes_negative_and_the_pool_pays(menv):
    e = menv
    short_setup(e)
    info = e.both(e.batch([e.trade("bob", "dave", 10, 50)]))
    assert info.trade_count == 1
    c, base, quote = e.client.contract, *e.tokens
    dave = e.addr("dave")
    assert (c.signed_balance_of(dave, base), c.balance_of(dave, base), c.debt_of(dave, base)) == (-10, 0, 10)
    assert c.balance_of(dave, quote) == 80
    assert c.pool(BASE) == (0, 10, 10)  # cash, borrowed, shares: the pool paid the 10 sold
    assert c.margin_of(dave, MARKS) == (65, 80)  # 10 * 5 * 1.3 against 80 quote
    assert c.has_debt(dave) and not c.has_debt(e.addr("bob"))
    e.assert_mirrors()


def test_a_purchase_covers_the_short_and_the_pool_is_repaid(menv):
    e = menv
    short_setup(e)
    e.both(e.batch([e.trade("bob", "dave", 10, 50)]))
    assert e.book.plan(e.batch([e.trade("dave", "bob", 12, 60)]).margin.deltas) == (e.borrow("dave", BASE, -10),)
    e.both(e.batch([e.trade("dave", "bob", 12, 60)]))  # 10 cover the debt, 2 are dave's
    c, base, quote = e.client.contract, *e.tokens
    dave = e.addr("dave")
    assert (c.signed_balance_of(dave, base), c.debt_of(dave, base), c.balance_of(dave, quote)) == (2, 0, 20)
    assert c.pool(BASE) == (10, 0, 10) and not c.has_debt(dave)
    e.assert_mirrors()


def test_batch_below_maintenance_reverts_naming_account_required_available(menv):
    e = menv
    short_setup(e, collateral=10)
    err = e.both(e.batch([e.trade("bob", "dave", 10, 50)]))
    assert err.error_name == "BelowMaintenance"
    assert err.args_decoded == (e.addr("dave"), 65, 60)
    e.assert_mirrors()  # nothing moved


def test_borrowing_more_than_the_pool_holds_reverts(menv):
    e = menv
    short_setup(e, collateral=100)
    err = e.both(e.batch([e.trade("bob", "dave", 11, 55)]))
    assert (err.error_name, err.args_decoded) == ("PoolExhausted", (e.tokens[0], 11, 10))
    # the fees of the same batch count: fee 2 on bob (who holds base) pays the pool first, 11 - 2 = 9 <= 10
    err = e.both(e.batch([e.trade("bob", "dave", 13, 65)], [e.borrow("bob", BASE, 0, fee=2)]))
    assert (err.error_name, err.args_decoded) == ("PoolExhausted", (e.tokens[0], 11, 10))
    e.both(e.batch([e.trade("bob", "dave", 12, 60)], [e.borrow("bob", BASE, 0, fee=2)]))
    assert e.client.contract.pool(BASE) == (0, 12, 10)
    e.assert_mirrors()


def test_selling_without_inventory_or_pool_reverts(menv):
    e = menv
    e.deposit("bob", QUOTE, 1000)
    e.deposit("dave", QUOTE, 30)
    err = e.both(e.batch([e.trade("bob", "dave", 10, 50)]))
    assert (err.error_name, err.args_decoded) == ("PoolExhausted", (e.tokens[0], 10, 0))


def test_kind_zero_changes_must_sum_to_zero(menv):
    """A margin leaf whose balance changes do not sum to zero (dave credited one base more) reverts; the book
    refuses it alike."""
    e = menv
    short_setup(e)
    good = e.batch([e.trade("bob", "dave", 10, 50)]).margin
    dave = e.addr("dave")
    groups = tuple((a, tuple((i, d + (a == dave and i == BASE)) for i, d in items)) for a, items in good.deltas.groups)
    skewed = MarginData(good.trade_count, NetDeltas(groups, good.deltas.tokens), good.borrows, good.marks)
    err = e.both(margin_batch(e, skewed))
    assert (err.error_name, err.args_decoded) == ("ValueNotConserved", (e.tokens[0], 1))


def margin_batch(e: MEnv, data: MarginData) -> SettlementBatch:
    """A batch certifying `data` as its margin leaf (whatever its deltas): to test what the contract refuses."""
    c = e.client
    state = c.head - 1
    tree = MerkleTree([data.leaf()])
    header = BatchHeader(c.last_sequence + 1, c.last_batch_hash, tree.root, state, state + 20)
    return SettlementBatch(header, (), SettlementMode.MARGIN, data.deltas, tree, data)


def raw_margin(e: MEnv, words: list[tuple[str, list[tuple[int, int, int]]]]) -> None:
    """Settle hand-made margin deltas (per account its (index, kind, value) entries) that the validators signed."""
    blob = b"".join((int(a, 16) << 96 | len(entries)).to_bytes(32, "big") + b"".join(
        (kind << 248 | index << 128 | (value % 2**128)).to_bytes(32, "big") for index, kind, value in entries)
        for a, entries in words)
    c = e.client
    tree = MerkleTree([margin_leaf(1, blob, MARKS, [])])
    header = BatchHeader(c.last_sequence + 1, c.last_batch_hash, tree.root, c.head - 1, c.head + 20)
    digest = batch_digest(c.domain, *header.as_tuple())
    sigs = pack_signatures([(k.address, k.sign(digest)) for k in e.keys[:3]])
    e.chain.transact(c.contract.handle.functions.settleMargin(header.as_tuple(), [], (1, blob, list(MARKS), []),
                                                              tree.proof(0), sigs))


@pytest.mark.parametrize("entries, error, args", [
    ([(0, 0, 1)], "UnknownTokenIndex", (1, 0)),
    ([(BASE, 0, 0), (3, 0, 1)], "UnknownTokenIndex", (2, 3)),
    ([(BASE, 2, 1)], "MalformedDeltas", (2, 2 << 248 | BASE << 128 | 1)),
    ([(BASE, 1, -1)], "MalformedDeltas", (1, 1 << 248 | BASE << 128 | (2**128 - 1))),
])
def test_malformed_margin_entries_revert_with_values(menv, entries, error, args):
    e = menv
    with pytest.raises(ContractRevertError) as info:
        raw_margin(e, [(e.addr("dave"), entries)])
    assert (info.value.error_name, info.value.args_decoded) == (error, args)


def test_a_margin_balance_stays_within_int128(menv):
    e = menv
    with pytest.raises(ContractRevertError) as info:
        raw_margin(e, [(e.addr("dave"), [(BASE, 0, -(2**127)), (BASE, 1, 1)])])
    assert (info.value.error_name, info.value.args_decoded) == ("BalanceOutOfRange",
                                                                (e.addr("dave"), e.tokens[0], -(2**127), -1))


def test_mark_rise_blocks_trading_and_a_liquidation_batch_closes_through_the_book(menv):
    e = menv
    short_setup(e)
    e.both(e.batch([e.trade("bob", "dave", 10, 50)]))
    high = (7, 1)  # 10 * 7 * 1.3 = 91 > 80
    err = e.both(e.batch([e.trade("bob", "dave", 0, 1)], marks=high))  # any batch touching dave
    assert (err.error_name, err.args_decoded) == ("BelowMaintenance", (e.addr("dave"), 91, 81))
    # the liquidation engine buys 6 back at 8 (all the book had): still below, reported, settles
    part = e.batch([e.trade("dave", "bob", 6, 48)], marks=high, liquidated=("dave",))
    info = e.both(part)
    assert info.trade_count == 1
    c = e.client.contract
    assert (c.debt_of(e.addr("dave"), e.tokens[0]), c.margin_of(e.addr("dave"), high)) == (4, (37, 32))
    assert e.book.margin(e.addr("dave"), high) == (37, 32)
    # a liquidated account may not borrow more (a sale takes its base further below zero) ...
    err = e.both(e.batch([e.trade("bob", "dave", 1, 7)], marks=high, liquidated=("dave",)))
    assert (err.error_name, err.args_decoded) == ("LiquidatedBorrows", (e.addr("dave"),))
    # ... but its fee may grow the debt
    e.both(e.batch([e.trade("dave", "bob", 0, 0)], [e.borrow("dave", BASE, 0, fee=1)], marks=high,
                   liquidated=("dave",)))
    assert c.debt_of(e.addr("dave"), e.tokens[0]) == 5
    # the rest: covered, debt repaid, pool whole again (10 lent + the 1 fee)
    e.both(e.batch([e.trade("dave", "bob", 5, 28)], marks=high, liquidated=("dave",)))
    assert c.balance_of(e.addr("dave"), e.tokens[1]) == 4
    assert c.debt_of(e.addr("dave"), e.tokens[0]) == 0 and c.pool(BASE) == (11, 0, 10)
    e.assert_mirrors()


def test_a_borrow_fee_debits_the_balance_and_grows_the_pool_exactly(menv):
    e = menv
    short_setup(e)
    e.both(e.batch([e.trade("bob", "dave", 10, 50)]))
    c = e.client.contract
    # a fee alone: dave's base -10 -> -12, the pool's assets 10 -> 12 (cash 0, borrowed 12)
    info = e.both(e.batch([e.trade("bob", "dave", 0, 1)], [e.borrow("dave", BASE, 0, fee=2)]))
    assert (c.signed_balance_of(e.addr("dave"), e.tokens[0]), c.pool(BASE)) == (-12, (0, 12, 10))
    assert info.gas_used > 0
    # covered with 13 bought and a last fee of 1: 13 - 12 - 1 = 0, the pool holds 10 lent + 3 fees in cash
    e.both(e.batch([e.trade("dave", "bob", 13, 65)], [e.borrow("dave", BASE, 0, fee=1)]))
    assert c.pool(BASE) == (13, 0, 10) and c.debt_of(e.addr("dave"), e.tokens[0]) == 0
    assert c.balance_of(e.addr("dave"), e.tokens[0]) == 0
    e.assert_mirrors()
    c.request_pool_exit(e.tokens[0], 10, sender="carol")
    e.chain.mine(e.client.max_validity)
    before = e.client.token(e.tokens[0]).balance_of(e.addr("carol"))
    c.claim_pool_exit(e.tokens[0], sender="carol")
    assert e.client.token(e.tokens[0]).balance_of(e.addr("carol")) - before == 13  # 10 lent + 3 fees
    assert c.pool(BASE) == (0, 0, 0)


def test_the_validators_plan_reports_the_shortfall_borrowed_and_the_cover(menv):
    e = menv
    short_setup(e)
    e.deposit("dave", BASE, 4)  # dave holds 4 base, sells 10: borrows 6
    sale = e.batch([e.trade("bob", "dave", 10, 50)])
    plan = e.book.plan(sale.margin.deltas)
    assert plan == (e.borrow("dave", BASE, 6),)
    e.both(e.batch([e.trade("bob", "dave", 10, 50)], plan))
    assert e.client.contract.debt_of(e.addr("dave"), e.tokens[0]) == 6
    assert e.book.debt(e.addr("dave"), BASE) == 6
    cover = e.batch([e.trade("dave", "bob", 8, 40)])
    plan = e.book.plan(cover.margin.deltas, {(e.addr("dave"), BASE): 1})
    assert plan == (e.borrow("dave", BASE, -6, fee=1),)  # the 6 repaid by the purchase, the fee debited after
    e.both(e.batch([e.trade("dave", "bob", 8, 40)], plan))
    c = e.client.contract
    assert (c.debt_of(e.addr("dave"), e.tokens[0]), c.balance_of(e.addr("dave"), e.tokens[0])) == (0, 1)
    assert c.pool(BASE) == (11, 0, 10)  # the fee stays in the pool: carol's 10 shares are worth 11
    e.assert_mirrors()


def test_the_ledger_books_borrows_debts_and_marks(menv):
    from market_sim.settlement.ledger import Ledger

    e = menv
    short_setup(e)
    ledger = Ledger(e.fee)
    for who, token, amount in (("bob", 0, 100), ("bob", 1, 1000), ("dave", 1, 30)):
        ledger.deposit(e.addr(who), e.tokens[token], amount)
    batch = e.batch([e.trade("bob", "dave", 10, 50)])
    e.both(batch)
    ledger.apply(batch)
    c, base, quote = e.client.contract, *e.tokens
    dave = e.addr("dave")
    assert ledger.balance(dave, base) == c.balance_of(dave, base) == 0
    assert ledger.balance(dave, quote) == c.balance_of(dave, quote) == 80
    assert ledger.debt(dave, base) == c.debt_of(dave, base) == 10
    assert ledger.marks == {base: 5, quote: 1}
    cover = e.batch([e.trade("dave", "bob", 11, 55)], [e.borrow("dave", BASE, -10, fee=1)])
    e.both(cover)
    ledger.apply(cover)
    assert (ledger.debt(dave, base), ledger.balance(dave, base), ledger.balance(dave, quote)) == (0, 0, 25)
    assert ledger.debts == {}
    # a deposit into a debt repays it first, on chain and in the ledger
    again = e.batch([e.trade("bob", "dave", 3, 15)])
    e.both(again)
    ledger.apply(again)
    e.client.deposit(base, 5, sender="dave")
    e.book.deposit(dave, BASE, 5)
    ledger.deposit(dave, base, 5)
    assert (ledger.debt(dave, base), ledger.balance(dave, base)) == (c.debt_of(dave, base), c.balance_of(dave, base)) \
        == (0, 2)
    e.assert_mirrors()


def test_a_deposit_into_a_negative_balance_repays_the_pool_first(menv):
    e = menv
    short_setup(e)
    e.both(e.batch([e.trade("bob", "dave", 10, 50)]))
    c, base = e.client.contract, e.tokens[0]
    dave = e.addr("dave")
    start = e.client.head + 1  # after the batch's block
    deposited = e.client.deposit(base, 4, sender="dave")
    assert e.book.deposit(dave, BASE, 4) == 4
    assert (deposited.amount, deposited.balance) == (4, 0)
    assert (c.signed_balance_of(dave, base), c.debt_of(dave, base), c.pool(BASE)) == (-6, 6, (4, 6, 10))
    assert [(r.event.repaid, r.event.debt) for r in c.logs(DebtRepaid, from_block=start)] == [(4, 6)]
    assert [(r.event.cash, r.event.borrowed) for r in c.logs(PoolChanged, from_block=start)] == [(4, 6)]
    deposited = e.client.deposit(base, 10, sender="dave")  # 6 repay the rest, 4 are dave's
    e.book.deposit(dave, BASE, 10)
    assert (deposited.balance, c.debt_of(dave, base), c.pool(BASE), c.has_debt(dave)) == (4, 0, (10, 0, 10), False)
    e.assert_mirrors()
    e.client.request_withdrawal(base, 4, sender="dave")  # no debt left: dave may withdraw again
    e.chain.mine(e.client.max_validity)
    e.client.claim_withdrawal(base, sender="dave")
    e.book.withdraw(dave, BASE, 4)
    e.assert_mirrors()


def spot_batch(e: MEnv, trades, mode: SettlementMode) -> SettlementBatch:
    c = e.client
    state = c.head - 1
    return SettlementBatch.build(c.last_sequence + 1, c.last_batch_hash, trades, fee_account=e.fee,
                                 token_index=c.token_index, mode=mode, state_block=state, expires_at=state + 20)


def quote_transfer(e: MEnv, sender: str, receiver: str, amount: int) -> SettledTrade:
    """A spot trade that only moves `amount` quote from `sender` to `receiver` (base token = quote token, price 0):
    it touches no debt, only `sender`'s collateral."""
    t = SettledTrade(e.next_id, e.addr(receiver), e.addr(sender), e.tokens[1], e.tokens[1], amount, 0, 0, 0)
    e.next_id += 1
    return t


def chain_state(e: MEnv) -> tuple:
    c = e.client
    accounts = [*e.who.values(), e.fee]
    return (c.last_sequence, c.last_batch_hash,
            [c.contract.signed_balance_of(a, t) for a in accounts for t in e.tokens],
            [c.contract.pool(i) for i in (BASE, QUOTE)])


def test_a_spot_batch_is_refused_while_any_debt_is_outstanding(menv):
    """Spot batches carry no marks: while a pool has debt, one that would move an indebted account's collateral (or
    its debt) reverts with SpotBatchWithDebt(first token with debt, its pool's borrowed), changing nothing; once the
    debt is repaid (borrowed back to 0) spot batches settle again."""
    e = menv
    short_setup(e)
    e.both(e.batch([e.trade("bob", "dave", 10, 50)]))  # dave sells 10 base it borrows: base pool borrowed 10
    c, dave = e.client, e.addr("dave")
    assert (c.contract.signed_balance_of(dave, e.tokens[0]), c.contract.balance_of(dave, e.tokens[1])) == (-10, 80)
    before = chain_state(e)
    with pytest.raises(MarginRefusal) as book:
        e.book.check_spot()
    assert (book.value.error, book.value.args_decoded) == ("SpotBatchWithDebt", (BASE, 10))
    for mode in (SettlementMode.NET, SettlementMode.PER_TRADE):
        for trades in ([quote_transfer(e, "dave", "bob", 70)],  # only dave's collateral: the hole this closes
                       [e.trade("dave", "bob", 1, 5)]):  # dave's debt too (DebtInSpotBatch before this check)
            with pytest.raises(ContractRevertError) as info:
                e.settle(spot_batch(e, trades, mode))
            assert (info.value.error_name, info.value.args_decoded) == ("SpotBatchWithDebt", (e.tokens[0], 10))
            assert info.value.args == {"token": e.tokens[0], "borrowed": 10}
            assert chain_state(e) == before
    e.assert_mirrors()
    e.deposit("dave", BASE, 10)  # repays the pool: borrowed 0
    assert c.contract.pool(BASE)[1] == c.contract.pool(QUOTE)[1] == 0
    e.book.check_spot()
    for mode in (SettlementMode.NET, SettlementMode.PER_TRADE):
        sequence = c.last_sequence
        e.settle(spot_batch(e, [quote_transfer(e, "dave", "bob", 5)], mode))
        e.book.balances[dave, QUOTE] -= 5
        e.book.balances[e.addr("bob"), QUOTE] += 5
        assert c.last_sequence == sequence + 1
    assert c.contract.balance_of(dave, e.tokens[1]) == 70
    e.assert_mirrors()


def test_a_saved_ledger_with_margin_batches_reloads_them(menv, tmp_path):
    from market_sim.settlement.ledger import Ledger
    from market_sim.settlement.state import load_ledger, save_ledger

    e = menv
    short_setup(e)
    ledger = Ledger(e.fee)
    for who, token, amount in (("bob", 0, 100), ("bob", 1, 1000), ("dave", 1, 30)):
        ledger.deposit(e.addr(who), e.tokens[token], amount)
    batch = e.batch([e.trade("bob", "dave", 10, 50)], [e.borrow("dave", BASE, 10, fee=2)], liquidated=("alice",))
    ledger.apply(batch)
    assert ledger.debt(e.addr("dave"), e.tokens[0]) == 12
    save_ledger(ledger, tmp_path / "ledger.json")
    again = load_ledger(tmp_path / "ledger.json", e.client.token_index)  # rebuilds the batch: same root
    assert again.settled_batches[batch.sequence].margin == batch.margin
    assert (again.debts, again.marks, again.balances()) == (ledger.debts, ledger.marks, ledger.balances())


def test_pool_exit_waits_for_cash(menv):
    e = menv
    short_setup(e)
    e.both(e.batch([e.trade("bob", "dave", 10, 50)]))
    c = e.client.contract
    c.request_pool_exit(e.tokens[0], 10, sender="carol")
    e.chain.mine(e.client.max_validity)
    with pytest.raises(ContractRevertError) as info:
        c.claim_pool_exit(e.tokens[0], sender="carol")
    assert (info.value.error_name, info.value.args_decoded) == ("PoolExhausted", (e.tokens[0], 10, 0))
    with pytest.raises(ContractRevertError) as info:
        c.request_pool_exit(e.tokens[0], 11, sender="carol")
    assert info.value.error_name == "InsufficientShares"


def test_an_account_with_debt_cannot_withdraw(menv):
    e = menv
    short_setup(e)
    e.client.request_withdrawal(e.tokens[1], 5, sender="dave")  # requested before the short
    e.both(e.batch([e.trade("bob", "dave", 10, 50)]))
    with pytest.raises(ContractRevertError) as info:
        e.client.request_withdrawal(e.tokens[1], 1, sender="dave")
    assert (info.value.error_name, info.value.args_decoded) == ("DebtOutstanding", (e.addr("dave"),))
    e.chain.mine(e.client.max_validity)
    with pytest.raises(ContractRevertError) as info:
        e.client.claim_withdrawal(e.tokens[1], sender="dave")
    assert (info.value.error_name, info.value.args_decoded) == ("DebtOutstanding", (e.addr("dave"),))
    e.assert_mirrors()


def test_leveraged_long_borrows_quote(menv):
    e = menv
    e.lend("carol", QUOTE, 400)
    e.deposit("bob", BASE, 100)
    e.deposit("erin", QUOTE, 200)
    # erin buys 100 base at 5 = 500 quote with 200 own: quote -300, 500 value against 300 * 1.3 = 390
    e.both(e.batch([e.trade("erin", "bob", 100, 500)]))
    c = e.client.contract
    assert (c.signed_balance_of(e.addr("erin"), e.tokens[1]), c.pool(QUOTE)) == (-300, (100, 300, 400))
    assert c.margin_of(e.addr("erin"), MARKS) == (390, 500)
    err = e.both(e.batch([e.trade("bob", "erin", 0, 1)], marks=(3, 1)))  # 1 quote repays: 299 * 1.3 > 300
    assert (err.error_name, err.args_decoded) == ("BelowMaintenance", (e.addr("erin"), 389, 300))
    e.assert_mirrors()


def test_marks_must_cover_every_token(menv):
    e = menv
    short_setup(e)
    with pytest.raises(SettlementError):
        e.batch([e.trade("bob", "dave", 1, 5)], marks=(0, 1))
    b = e.batch([e.trade("bob", "dave", 0, 1)], marks=(5,))
    with pytest.raises(ContractRevertError) as info:
        e.settle(b)
    assert (info.value.error_name, info.value.args_decoded) == ("MarksLength", (2, 1))


# ---- the custody invariant, as a hypothesis property through web3 ------------------------------------------------

OPS = st.lists(st.one_of(
    st.tuples(st.just("deposit"), st.sampled_from(NAMES), st.sampled_from((BASE, QUOTE)), st.integers(1, 300)),
    st.tuples(st.just("lend"), st.sampled_from(("carol", "alice")), st.sampled_from((BASE, QUOTE)),
              st.integers(1, 200)),
    st.tuples(st.just("short"), st.sampled_from(("dave", "erin")), st.integers(1, 60), st.integers(1, 9)),
    st.tuples(st.just("long"), st.sampled_from(("dave", "erin")), st.integers(1, 40), st.integers(1, 9)),
    st.tuples(st.just("cover"), st.sampled_from(("dave", "erin")), st.integers(1, 60), st.integers(0, 3)),
    st.tuples(st.just("exit"), st.sampled_from(("carol", "alice")), st.sampled_from((BASE, QUOTE)),
              st.integers(1, 200)),
    st.tuples(st.just("withdraw"), st.sampled_from(NAMES), st.sampled_from((BASE, QUOTE)), st.integers(1, 300)),
    # a random batch: trades among four accounts (signed balances may cross zero either way), the planned fees on
    # every debt it touches, random marks and liquidated accounts; the book and the chain must agree on it
    st.tuples(st.just("mixed"),
              st.lists(st.tuples(st.sampled_from(("alice", "bob", "dave", "erin")),
                                 st.sampled_from(("alice", "bob", "dave", "erin")),
                                 st.integers(0, 40), st.integers(0, 400)), min_size=1, max_size=4),
              st.integers(0, 3), st.integers(1, 12),
              st.lists(st.sampled_from(("alice", "dave", "erin")), max_size=2, unique=True)),
), min_size=1, max_size=8)


def _run(e: MEnv, op: tuple) -> None:
    kind = op[0]
    book = e.book
    if kind == "deposit":
        e.deposit(op[1], op[2], op[3])
    elif kind == "lend":
        e.lend(op[1], op[2], op[3])
    elif kind in ("short", "long"):
        _, who, qty, price = op
        marks = (price, 1)
        if kind == "short":  # sell qty base to bob: below zero borrows it
            e.deposit("bob", QUOTE, qty * price)
            e.both(e.batch([e.trade("bob", who, qty, qty * price)], marks=marks))
        else:  # buy from bob: the quote below zero is borrowed
            e.deposit("bob", BASE, qty)
            e.both(e.batch([e.trade(who, "bob", qty, qty * price)], marks=marks))
    elif kind == "cover":
        _, who, qty, fee = op
        debt = book.debt(e.addr(who), BASE)
        qty = min(qty, debt + fee)
        if qty == 0 and fee == 0:
            return
        if qty:
            e.deposit("bob", BASE, qty)
        trades = [e.trade(who, "bob", qty, qty * 5)]
        e.both(e.batch(trades, book.plan(e.batch(trades).margin.deltas, {(e.addr(who), BASE): fee}),
                       liquidated=(who,)))
    elif kind == "mixed":
        _, trades, fee, mark, liquidated = op
        trades = [e.trade(buyer, seller, qty, value) for buyer, seller, qty, value in trades if buyer != seller]
        if not trades:
            return
        deltas = e.batch(trades).margin.deltas
        fees = {(a, i): fee for a, items in deltas.groups for i, _ in items if book.debt(a, i)}
        e.both(e.batch(trades, book.plan(deltas, fees), marks=(mark, 1), liquidated=liquidated))
    elif kind == "exit":
        _, who, index, shares = op
        token = e.tokens[index - 1]
        held = book.shares.get((e.addr(who), index), 0)
        if held == 0:
            return
        c = e.client.contract
        pending = int(c._call("poolExitRequest", e.addr(who), index)[0])
        if held > pending:
            c.request_pool_exit(token, min(shares, held - pending), sender=who)
        pending = int(c._call("poolExitRequest", e.addr(who), index)[0])
        e.chain.mine(e.client.max_validity)
        try:
            book.exit(e.addr(who), index, pending)
            expected = None
        except MarginRefusal as exc:
            expected = exc.error
        try:
            c.claim_pool_exit(token, sender=who)
            assert expected is None
        except ContractRevertError as exc:
            assert exc.error_name == expected  # the exit stays pending (PoolExhausted: lent out)
    elif kind == "withdraw":
        _, who, index, amount = op
        token = e.tokens[index - 1]
        have = book.balance(e.addr(who), index)
        if book.has_debt(e.addr(who)):
            with pytest.raises(ContractRevertError) as info:
                e.client.request_withdrawal(token, max(min(amount, have), 1), sender=who)
            assert info.value.error_name in ("DebtOutstanding", "InsufficientBalance")
            return
        if have == 0:
            return
        amount = min(amount, have)
        e.client.request_withdrawal(token, amount, sender=who)
        e.chain.mine(e.client.max_validity)
        e.client.claim_withdrawal(token, sender=who)
        book.withdraw(e.addr(who), index, amount)


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # web3 steps make shrinking take minutes
@given(ops=OPS)
def test_custody_never_goes_negative(menv_module, ops):
    """Sum of what every account and lender can withdraw <= what the contract holds, after every step; the
    validators' MarginBook agrees with the chain on every balance, debt and pool, and on every refusal."""
    e = menv_module
    snap = e.chain.snapshot()
    saved = e.book
    e.book = MarginBook(2, maintenance_bps=dict(saved.maintenance_bps))
    try:
        for op in ops:
            _run(e, op)
            e.assert_mirrors()
    finally:
        e.chain.revert(snap)
        e.book = saved
