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
            for a in accounts:
                bal = c.balance_of(a, token)
                assert bal == self.book.balances.get((a, index), 0)
                assert c.debt_of(a, token) == self.book.debts.get((a, index), 0)
                total += bal
            cash, borrowed, shares = c.pool(index)
            p = self.book.pool(index)
            assert (cash, borrowed, shares) == (p.cash, p.borrowed, p.shares)
            assert total + cash <= held  # custody: all balances and the pool's cash are covered
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
    # dave's group: base +10 borrowed -10 sold nets to no balance entry; fee 3 and principal 10 on the debt
    assert dict(m.groups())[e.addr("dave")] == [(BASE, 1, 3), (BASE, 2, 10), (QUOTE, 0, 50)]


def test_short_sale_borrows_from_the_pool_against_collateral(menv):
    e = menv
    short_setup(e)
    info = e.both(e.batch([e.trade("bob", "dave", 10, 50)], [e.borrow("dave", BASE, 10)]))
    assert info.trade_count == 1
    c, base, quote = e.client.contract, *e.tokens
    dave = e.addr("dave")
    assert (c.balance_of(dave, base), c.balance_of(dave, quote), c.debt_of(dave, base)) == (0, 80, 10)
    assert c.pool(BASE) == (0, 10, 10)  # cash, borrowed, shares
    assert c.margin_of(dave, MARKS) == (65, 80)  # 10 * 5 * 1.3 against 80 quote
    assert c.has_debt(dave)
    e.assert_mirrors()


def test_batch_below_maintenance_reverts_naming_account_required_available(menv):
    e = menv
    short_setup(e, collateral=10)
    err = e.both(e.batch([e.trade("bob", "dave", 10, 50)], [e.borrow("dave", BASE, 10)]))
    assert err.error_name == "BelowMaintenance"
    assert err.args_decoded == (e.addr("dave"), 65, 60)
    e.assert_mirrors()  # nothing moved


def test_borrowing_more_than_the_pool_holds_reverts(menv):
    e = menv
    short_setup(e, collateral=100)
    err = e.both(e.batch([e.trade("bob", "dave", 11, 55)], [e.borrow("dave", BASE, 11)]))
    assert (err.error_name, err.args_decoded) == ("PoolExhausted", (e.tokens[0], 11, 10))


def test_selling_without_inventory_or_borrow_reverts(menv):
    e = menv
    short_setup(e)
    err = e.both(e.batch([e.trade("bob", "dave", 10, 50)]))
    assert (err.error_name, err.args_decoded) == ("InsufficientBalance", (e.addr("dave"), e.tokens[0], 10, 0))


def test_mark_rise_blocks_trading_and_a_liquidation_batch_closes_through_the_book(menv):
    e = menv
    short_setup(e)
    e.both(e.batch([e.trade("bob", "dave", 10, 50)], [e.borrow("dave", BASE, 10)]))
    high = (7, 1)  # 10 * 7 * 1.3 = 91 > 80
    err = e.both(e.batch([e.trade("bob", "dave", 0, 1)], marks=high))  # any batch touching dave
    assert (err.error_name, err.args_decoded) == ("BelowMaintenance", (e.addr("dave"), 91, 81))
    # the liquidation engine buys 6 back at 8 (all the book had): still below, reported, settles
    part = e.batch([e.trade("dave", "bob", 6, 48)], [e.borrow("dave", BASE, -6)], marks=high, liquidated=("dave",))
    info = e.both(part)
    assert info.trade_count == 1
    c = e.client.contract
    assert (c.debt_of(e.addr("dave"), e.tokens[0]), c.margin_of(e.addr("dave"), high)) == (4, (37, 32))
    assert e.book.margin(e.addr("dave"), high) == (37, 32)
    # a liquidated account may not borrow
    err = e.both(e.batch([e.trade("bob", "dave", 1, 7)], [e.borrow("dave", BASE, 1)], marks=high,
                         liquidated=("dave",)))
    assert (err.error_name, err.args_decoded) == ("LiquidatedBorrows", (e.addr("dave"),))
    # the rest: covered, debt repaid, pool whole again
    e.both(e.batch([e.trade("dave", "bob", 4, 28)], [e.borrow("dave", BASE, -4)], marks=high, liquidated=("dave",)))
    assert c.balance_of(e.addr("dave"), e.tokens[1]) == 4
    assert c.debt_of(e.addr("dave"), e.tokens[0]) == 0 and c.pool(BASE) == (10, 0, 10)
    e.assert_mirrors()


def test_borrow_fee_accrues_to_lenders(menv):
    e = menv
    short_setup(e)
    e.both(e.batch([e.trade("bob", "dave", 10, 50)], [e.borrow("dave", BASE, 10)]))
    e.both(e.batch([e.trade("dave", "bob", 11, 55)], [e.borrow("dave", BASE, -11, fee=1)]))
    c = e.client.contract
    assert c.pool(BASE) == (11, 0, 10) and c.debt_of(e.addr("dave"), e.tokens[0]) == 0
    err = e.both(e.batch([e.trade("dave", "bob", 1, 5)], [e.borrow("dave", BASE, -1)]))
    assert (err.error_name, err.args_decoded) == ("RepayExceedsDebt", (e.addr("dave"), e.tokens[0], 1, 0))
    c.request_pool_exit(e.tokens[0], 10, sender="carol")
    e.chain.mine(e.client.max_validity)
    before = e.client.token(e.tokens[0]).balance_of(e.addr("carol"))
    c.claim_pool_exit(e.tokens[0], sender="carol")
    assert e.client.token(e.tokens[0]).balance_of(e.addr("carol")) - before == 11  # 10 lent + 1 fee
    assert c.pool(BASE) == (0, 0, 0)


def test_the_validators_plan_borrows_the_shortfall_and_repays_from_purchases(menv):
    e = menv
    short_setup(e)
    e.deposit("dave", BASE, 4)  # dave holds 4 base, sells 10: borrows 6
    sale = e.batch([e.trade("bob", "dave", 10, 50)])
    plan = e.book.plan(sale.margin.deltas)
    assert plan == (e.borrow("dave", BASE, 6),)
    e.both(e.batch([e.trade("bob", "dave", 10, 50)], plan))
    assert e.client.contract.debt_of(e.addr("dave"), e.tokens[0]) == 6
    cover = e.batch([e.trade("dave", "bob", 8, 40)])
    plan = e.book.plan(cover.margin.deltas, {(e.addr("dave"), BASE): 1})
    assert plan == (e.borrow("dave", BASE, -7, fee=1),)  # the debt with its fee, 7, repaid; 1 base left
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
    batch = e.batch([e.trade("bob", "dave", 10, 50)], [e.borrow("dave", BASE, 10, fee=0)])
    e.both(batch)
    ledger.apply(batch)
    c, base, quote = e.client.contract, *e.tokens
    dave = e.addr("dave")
    assert ledger.balance(dave, base) == c.balance_of(dave, base) == 0
    assert ledger.balance(dave, quote) == c.balance_of(dave, quote) == 80
    assert ledger.debt(dave, base) == c.debt_of(dave, base) == 10
    assert ledger.marks == {base: 5, quote: 1}
    cover = e.batch([e.trade("dave", "bob", 11, 55)], [e.borrow("dave", BASE, -11, fee=1)])
    e.both(cover)
    ledger.apply(cover)
    assert (ledger.debt(dave, base), ledger.balance(dave, base), ledger.balance(dave, quote)) == (0, 0, 25)
    assert ledger.debts == {}


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
    save_ledger(ledger, tmp_path / "ledger.json")
    again = load_ledger(tmp_path / "ledger.json", e.client.token_index)  # rebuilds the batch: same root
    assert again.settled_batches[batch.sequence].margin == batch.margin
    assert (again.debts, again.marks, again.balances()) == (ledger.debts, ledger.marks, ledger.balances())


def test_pool_exit_waits_for_cash(menv):
    e = menv
    short_setup(e)
    e.both(e.batch([e.trade("bob", "dave", 10, 50)], [e.borrow("dave", BASE, 10)]))
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
    e.both(e.batch([e.trade("bob", "dave", 10, 50)], [e.borrow("dave", BASE, 10)]))
    with pytest.raises(ContractRevertError) as info:
        e.client.request_withdrawal(e.tokens[1], 1, sender="dave")
    assert (info.value.error_name, info.value.args_decoded) == ("DebtOutstanding", (e.addr("dave"),))


def test_leveraged_long_borrows_quote(menv):
    e = menv
    e.lend("carol", QUOTE, 400)
    e.deposit("bob", BASE, 100)
    e.deposit("erin", QUOTE, 200)
    # erin buys 100 base at 5 = 500 quote with 200 own + 300 borrowed: 500 value against 300 * 1.3 = 390
    e.both(e.batch([e.trade("erin", "bob", 100, 500)], [e.borrow("erin", QUOTE, 300)]))
    c = e.client.contract
    assert c.margin_of(e.addr("erin"), MARKS) == (390, 500)
    err = e.both(e.batch([e.trade("bob", "erin", 0, 1)], marks=(3, 1)))  # 300 + 1 < 390
    assert (err.error_name, err.args_decoded) == ("BelowMaintenance", (e.addr("erin"), 390, 301))
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
        if kind == "short":  # borrow qty base, sell it to bob
            e.deposit("bob", QUOTE, qty * price)
            e.both(e.batch([e.trade("bob", who, qty, qty * price)], [e.borrow(who, BASE, qty)], marks=marks))
        else:  # borrow the whole price in quote, buy from bob
            e.deposit("bob", BASE, qty)
            e.both(e.batch([e.trade(who, "bob", qty, qty * price)], [e.borrow(who, QUOTE, qty * price)],
                           marks=marks))
    elif kind == "cover":
        _, who, qty, fee = op
        debt = book.debts.get((e.addr(who), BASE), 0)
        qty = min(qty, debt + fee)
        if qty == 0 and fee == 0:
            return
        if qty:
            e.deposit("bob", BASE, qty)
        e.both(e.batch([e.trade(who, "bob", qty, qty * 5)], [e.borrow(who, BASE, -qty, fee)],
                       liquidated=(who,)))
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
        have = book.balances.get((e.addr(who), index), 0)
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
