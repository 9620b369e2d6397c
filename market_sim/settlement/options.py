"""Cash-settled European options settled on chain through the certified net-deltas batches (issue 17).

Only cash moves on chain: option positions live in the committee's log; every option cash flow is a quote-token
delta in the batch's deltas leaf, so Settlement.sol is unchanged. A batch's tree is

    [spot trade leaves..., OptionTrade leaves..., OptionExpiry leaves..., deltas leaf]

with the deltas leaf (tradeCount = the spot trades) = spot deltas + premiums + expiry payouts. The option leaves
carry their own domain tags (OPTION_TRADE_LEAF_TAG, OPTION_EXPIRY_LEAF_TAG), so none can pass for a trade or a
deltas leaf.

* **Premium at trade time**: `OptionDesk.trade` stages an OptionTrade (buyer pays `premium + fee`, seller receives
  `premium`, the fee account `fee`) for the next batch the pipeline cuts.
* **Collateral locked at writing**: only capped payoffs are settled (a put is capped by its strike; a call needs a
  `cap_ticks`, i.e. it is a capped call / call spread). The writer's maximum payout
  `contracts * tick_value * max_payoff_ticks` is locked in the pipeline's Ledger (`Ledger.locked`) when the trade
  is staged, so no spot trade or later premium can spend it and every expiry batch is solvent. Uncapped calls are
  refused with OptionSettlementError.
* **Settlement price certified by the quorum**: the VWAP of the underlying's certified trades with ts in
  `[expiry - window, expiry)` (the last certified trade before the window if there is none in it), rounded half-even
  to a tick. The proposer states it in the OptionExpiry leaf; every honest validator re-derives it from its own log
  (and the batch's own trades) and the payouts from the positions certified before, and refuses to sign otherwise
  (RejectionCode.BAD_OPTION_LEAF). The expiry rides in the first batch cut at or after the expiry once no spot
  trade before the expiry waits outside the batch.
* **Skipped batches**: an expired certificate requeues its option content with its trades; the expiry is re-derived
  (same price: it depends on certified trades before the expiry only).
* **Reconciliation**: `reconcile_options` checks per series that open interest nets to zero and is empty after
  the expiry, that each settled expiry's price equals the recomputation from the log, and proves every option leaf
  off chain against the on-chain root; balances are the existing `reconcile`'s.

Not covered: the pipeline journal (restart) does not carry option content; validators re-check prices and payouts
but not the writers' collateral (the proposer's Ledger enforces it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from market_sim.blockchain.abi import abi_encode, keccak, to_checksum_address
from market_sim.consensus.committee import Committee, RejectionCode
from market_sim.consensus.log import LogBlock, TradeLog
from market_sim.consensus.merkle import MerkleTree, leaf_hash, verify_proof
from market_sim.core.errors import SettlementError
from market_sim.core.events import Trade
from market_sim.settlement.batch import BatchHeader, SettlementBatch, SettlementMode
from market_sim.settlement.deltas import NetDeltas, deltas_leaf
from market_sim.settlement.trades import SettledTrade

__all__ = ["OptionSettlementError", "OptionSeries", "OptionTrade", "OptionExpiry", "OptionContent", "OptionDesk",
           "settlement_price", "attach_options", "reconcile_options", "OPTION_TRADE_LEAF_TAG",
           "OPTION_EXPIRY_LEAF_TAG"]

OPTION_TRADE_LEAF_TAG = keccak(b"MarketSimSettlement.OptionTrade")
OPTION_EXPIRY_LEAF_TAG = keccak(b"MarketSimSettlement.OptionExpiry")


class OptionSettlementError(SettlementError):
    """An option the chain cannot settle (uncapped call, unknown series, insufficient collateral, ...)."""


@dataclass(frozen=True, slots=True)
class OptionSeries:
    """The terms of a cash-settled European series, fixed at listing (prices in the underlying's ticks).

    tick_value: quote-token base units one contract pays per tick of intrinsic value (multiplier * tick size in
    quote base units); cap_ticks: for a call, the price above which the payoff stops growing (required)."""

    underlying: str
    quote_asset: str
    strike_ticks: int
    expiry: int           # ns
    is_call: bool
    tick_value: int
    cap_ticks: int = 0
    window: int = 60_000_000_000  # ns: settlement-price window before the expiry

    def __post_init__(self) -> None:
        for name in ("strike_ticks", "tick_value"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise OptionSettlementError(f"option {name} must be a positive integer, got {v!r}")
        if self.window <= 0:
            raise OptionSettlementError(f"settlement-price window must be positive, got {self.window}")
        if self.is_call and self.cap_ticks <= self.strike_ticks:
            raise OptionSettlementError(
                f"a call on {self.underlying} at {self.strike_ticks} ticks has no cap above its strike "
                f"(cap_ticks={self.cap_ticks}): only capped payoffs (puts, capped calls / call spreads) can be "
                "fully collateralised on chain; uncapped calls need a liquidation path that is not built")

    @property
    def series_id(self) -> bytes:
        """keccak of the terms: the `series` field of the option leaves."""
        return keccak(abi_encode(("string", "string", "uint256", "uint64", "bool", "uint256", "uint256", "uint64"),
                                 (self.underlying, self.quote_asset, self.strike_ticks, self.expiry, self.is_call,
                                  self.tick_value, self.cap_ticks, self.window)))

    @property
    def label(self) -> str:
        right = f"C{self.strike_ticks}-{self.cap_ticks}" if self.is_call else f"P{self.strike_ticks}"
        return f"{self.underlying}-{self.expiry}-{right}"

    @property
    def max_payoff_ticks(self) -> int:
        return self.cap_ticks - self.strike_ticks if self.is_call else self.strike_ticks

    def payoff(self, settle_ticks: int) -> int:
        """Quote base units one long contract receives at this settlement price."""
        if self.is_call:
            itm = min(max(0, settle_ticks - self.strike_ticks), self.max_payoff_ticks)
        else:
            itm = max(0, self.strike_ticks - settle_ticks)
        return itm * self.tick_value

    def collateral(self, short_contracts: int) -> int:
        """The most a writer short `short_contracts` can owe: what is locked."""
        return max(0, short_contracts) * self.max_payoff_ticks * self.tick_value


@dataclass(frozen=True, slots=True)
class OptionTrade:
    """A premium trade: `contracts` of a series from seller (writer) to buyer; premium and fee in quote units."""

    trade_id: int
    series: OptionSeries
    buyer: str
    seller: str
    contracts: int
    premium: int
    fee: int = 0

    def leaf(self, address: Mapping[str, str]) -> bytes:
        return leaf_hash(abi_encode(
            ("bytes32", "uint256", "bytes32", "address", "address", "uint256", "uint256", "uint256"),
            (OPTION_TRADE_LEAF_TAG, self.trade_id, self.series.series_id, address[self.buyer], address[self.seller],
             self.contracts, self.premium, self.fee)))

    def deltas(self, fee_account: str) -> list[tuple[str, int]]:
        out = [(self.buyer, -(self.premium + self.fee)), (self.seller, self.premium)]
        if self.fee:
            out.append((fee_account, self.fee))
        return out


@dataclass(frozen=True, slots=True)
class OptionExpiry:
    """A series' expiry: the settlement price and one signed payout per open position (account order ascending)."""

    series: OptionSeries
    settlement_price: int
    payouts: tuple[tuple[str, int], ...]

    def leaf(self, address: Mapping[str, str]) -> bytes:
        return leaf_hash(abi_encode(
            ("bytes32", "bytes32", "uint64", "uint256", "address[]", "int256[]"),
            (OPTION_EXPIRY_LEAF_TAG, self.series.series_id, self.series.expiry, self.settlement_price,
             [address[a] for a, _ in self.payouts], [p for _, p in self.payouts])))


@dataclass(frozen=True, slots=True)
class OptionContent:
    """The option leaves a batch carries."""

    trades: tuple[OptionTrade, ...] = ()
    expiries: tuple[OptionExpiry, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.trades or self.expiries)


def settlement_price(trades: Iterable[Trade], series: OptionSeries) -> int:
    """VWAP (ticks) of the underlying's trades with ts in [expiry - window, expiry), half-even to a tick; the last
    trade before the window when none is in it. Raises OptionSettlementError without any trade before the expiry."""
    start, end = series.expiry - series.window, series.expiry
    notional = volume = 0
    last: Trade | None = None
    for t in trades:
        if t.symbol != series.underlying or t.ts >= end:
            continue
        if t.ts >= start:
            notional += t.price * t.quantity
            volume += t.quantity
        elif last is None or (t.ts, t.trade_id) > (last.ts, last.trade_id):
            last = t
    if volume:
        return round(Fraction(notional, volume))  # Fraction rounds half to even
    if last is None:
        raise OptionSettlementError(f"{series.label}: no certified trade of {series.underlying} before the expiry")
    return last.price


def _key(trades: Sequence[Trade]) -> tuple[int, ...]:
    return tuple(t.trade_id for t in trades)


def _positions(trades: Iterable[OptionTrade]) -> dict[OptionSeries, dict[str, int]]:
    out: dict[OptionSeries, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for ot in trades:
        out[ot.series][ot.buyer] += ot.contracts
        out[ot.series][ot.seller] -= ot.contracts
    return out


def _expiry(series: OptionSeries, price: int, positions: Mapping[str, int], address: Mapping[str, str]
            ) -> OptionExpiry:
    rows = sorted(((a, q * series.payoff(price)) for a, q in positions.items() if q), key=lambda r: int(address[r[0]], 16))
    return OptionExpiry(series, price, tuple(rows))


class OptionDesk:
    """The proposer's side: stages option trades and expiries into the pipeline's batches, keeps the book, the
    collateral locks (in the pipeline's Ledger) and the registry of what each certified batch carried."""

    def __init__(self, pipeline, accounts: Mapping[str, str], tokens: Mapping[str, str]) -> None:
        self.pipeline = pipeline
        self.accounts = dict(accounts)          # trader id -> address
        self.tokens = dict(tokens)              # asset -> token address
        self.fee_account = pipeline.fee_account
        self.address = dict(self.accounts)
        self.address.setdefault(self.fee_account, self.fee_account)
        self.series: dict[bytes, OptionSeries] = {}
        self.staged: list[OptionTrade] = []
        self.due: list[OptionSeries] = []        # series whose expiry waits for a batch
        self.registry: dict[tuple[int, ...], OptionContent] = {}  # batch trade ids -> its option content
        self.in_batch: dict[int, OptionContent] = {}              # sequence -> content (built, not booked)
        self.settled: list[tuple[int, OptionContent]] = []       # (sequence, content) booked
        self.expired_series: dict[bytes, OptionExpiry] = {}      # series id -> its expiry (built)
        self.failed: list[tuple[OptionTrade, str]] = []
        self.tamper: dict[bytes, int] = {}                       # tests: series id -> stated (wrong) price
        self._next_id = 1
        self._lock_accounts: set[str] = set()    # addresses whose Ledger lock this desk set

    # ---- listing and trading ----------------------------------------------------------------------------------
    def list_series(self, series: OptionSeries) -> OptionSeries:
        if series.quote_asset not in self.tokens:
            raise OptionSettlementError(f"{series.label}: quote asset {series.quote_asset} is not a listed token")
        self.series[series.series_id] = series
        return series

    def _committed(self) -> list[OptionTrade]:
        out = [ot for _, c in self.settled for ot in c.trades]
        out += [ot for c in self.in_batch.values() for ot in c.trades]
        return out + self.staged

    def locks(self) -> dict[str, int]:
        """Trader -> quote units locked as collateral (short positions of series not yet expired)."""
        out: dict[str, int] = defaultdict(int)
        for series, pos in _positions(self._committed()).items():
            if series.series_id in self.expired_series:
                continue
            for trader, q in pos.items():
                out[trader] += series.collateral(-q)
        return {t: v for t, v in out.items() if v}

    def _relock(self) -> None:
        ledger = self.pipeline.ledger
        for key in [k for k in ledger.locked if k[0] in self._lock_accounts]:
            del ledger.locked[key]
        for trader, amount in self.locks().items():
            if amount:
                token = self.tokens[self._quote_of(trader)]
                ledger.locked[(self.accounts[trader], token)] = amount
                self._lock_accounts.add(self.accounts[trader])

    def _quote_of(self, trader: str) -> str:
        quotes = {s.quote_asset for s in self.series.values()}
        if len(quotes) != 1:
            raise OptionSettlementError(f"option series quote in {sorted(quotes)}: one quote asset is supported")
        return next(iter(quotes))

    def trade(self, series: OptionSeries, buyer: str, seller: str, contracts: int, premium: int, fee: int = 0, *,
              now: int) -> OptionTrade:
        """Stage a premium trade for the next batch; the seller's added maximum payout is locked at once.
        Raises OptionSettlementError if the series is unknown or expired or either side cannot pay."""
        if series.series_id not in self.series:
            raise OptionSettlementError(f"{series.label} is not listed")
        if now >= series.expiry or series.series_id in self.expired_series:
            raise OptionSettlementError(f"{series.label} has expired: no trade at or after its expiry")
        if buyer == seller or buyer not in self.accounts or seller not in self.accounts:
            raise OptionSettlementError(f"option trade between unknown or identical traders {buyer!r}, {seller!r}")
        for name, v in (("contracts", contracts), ("premium", premium), ("fee", fee)):
            if isinstance(v, bool) or not isinstance(v, int) or v < (1 if name == "contracts" else 0):
                raise OptionSettlementError(f"option trade {name} must be a {'positive' if name == 'contracts' else 'non-negative'} integer, got {v!r}")
        ot = OptionTrade(self._next_id, series, buyer, seller, contracts, premium, fee)
        before = self.locks()
        self.staged.append(ot)
        after = self.locks()
        token = self.tokens[series.quote_asset]
        ledger = self.pipeline.ledger
        pending = defaultdict(int)
        for other in self.staged[:-1]:
            for trader, d in other.deltas("__fee__"):
                pending[trader] += d
        for trader, d in ot.deltas("__fee__"):
            if trader == "__fee__":
                continue
            extra = after.get(trader, 0) - before.get(trader, 0)
            free = ledger.available(self.accounts[trader], token) + pending[trader] + min(d, 0) - extra
            if free < 0:
                self.staged.pop()
                raise OptionSettlementError(
                    f"{trader} cannot {'pay the premium' if d < 0 else 'lock the collateral'} of {ot.contracts} "
                    f"{series.label}: needs {-(free) } more quote units")
        self._next_id += 1
        self._relock()
        return ot

    def expire(self, series: OptionSeries) -> None:
        """The series reached its expiry: its OptionExpiry goes into the first batch cut from now on."""
        if series.series_id in self.expired_series or series in self.due:
            raise OptionSettlementError(f"{series.label} already expired")
        self.due.append(series)

    # ---- pipeline hooks ---------------------------------------------------------------------------------------
    def build(self, sequence: int, prev_hash: bytes, settled: Sequence[SettledTrade], source: Sequence[Trade], *,
              state_block: int, expires_at: int) -> SettlementBatch:
        """The pipeline's batch of these spot trades plus the staged option content (pipeline hook)."""
        waiting = list(self.pipeline.pending)
        expiries = []
        for series in list(self.due):
            if any(t.symbol == series.underlying and t.ts < series.expiry for t in waiting):
                continue  # a trade before the expiry is not certified yet: the expiry waits for it
            log_trades = [t for b in self._log_blocks() for t in b.trades] + list(source)
            price = settlement_price(log_trades, series)
            price = self.tamper.get(series.series_id, price)
            positions = _positions([*(ot for _, c in self.settled for ot in c.trades),
                                    *(ot for c in self.in_batch.values() for ot in c.trades),
                                    *self.staged]).get(series, {})
            expiries.append(_expiry(series, price, positions, self.address))
            self.due.remove(series)
        content = OptionContent(tuple(self.staged), tuple(expiries))
        self.staged = []
        for e in expiries:
            self.expired_series[e.series.series_id] = e
        self.in_batch[sequence] = content
        self.registry[_key(source)] = content
        self._relock()
        deltas = self.deltas(settled, content)
        leaves = [t.leaf() for t in settled] + self.option_leaves(content)
        leaves.append(deltas_leaf(len(settled), deltas.encode()))
        tree = MerkleTree(leaves)
        return SettlementBatch(BatchHeader(sequence, prev_hash, tree.root, state_block, expires_at), tuple(settled),
                               SettlementMode.NET, deltas, tree)

    def _log_blocks(self) -> list[LogBlock]:
        log = self.pipeline.certifier.committee.log
        return [b for b in log.blocks if b.height not in log.expired]

    def option_leaves(self, content: OptionContent) -> list[bytes]:
        return [ot.leaf(self.address) for ot in content.trades] + [e.leaf(self.address) for e in content.expiries]

    def deltas(self, settled: Iterable[SettledTrade], content: OptionContent) -> NetDeltas:
        totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for trade in settled:
            for account, token, amount in trade.deltas(self.fee_account):
                totals[account][token] += amount
        for account, token, amount in self.cash(content):
            totals[account][token] += amount
        return NetDeltas.from_mapping(totals, self.pipeline.client.token_index)

    def extra_leaves(self, trades: Sequence[Trade]) -> list[bytes]:
        """The committee's extra-leaves hook: the batch's option leaves, then its deltas leaf."""
        content = self.registry.get(_key(trades), OptionContent())
        encoder = self.pipeline.encoder
        settled = [encoder.settled(t) for t in trades]
        return self.option_leaves(content) + [deltas_leaf(len(settled), self.deltas(settled, content).encode())]

    def booked(self, batch: SettlementBatch) -> None:
        content = self.in_batch.pop(batch.sequence, None)
        if content is not None:
            self.settled.append((batch.sequence, content))
            self.pipeline.ledger.apply_cash(self.cash(content))

    def cash(self, content: OptionContent) -> list[tuple[str, str, int]]:
        """(address, token, amount) of every premium, fee and payout in `content`."""
        out = []
        for ot in content.trades:
            token = self.tokens[ot.series.quote_asset]
            out += [(self.address[t], token, a) for t, a in ot.deltas(self.fee_account)]
        for e in content.expiries:
            token = self.tokens[e.series.quote_asset]
            out += [(self.address[t], token, a) for t, a in e.payouts if a]
        return out

    def requeue(self, batch: SettlementBatch) -> None:
        """The batch expired unsettled: its option trades and expiries go back to be re-derived in a later one."""
        content = self.in_batch.pop(batch.sequence, None)
        if content is None:
            return
        self.staged[:0] = list(content.trades)
        for e in content.expiries:
            del self.expired_series[e.series.series_id]
            self.due.append(e.series)
        self._relock()

    def refused(self, batch: SettlementBatch, reason: str) -> None:
        """The batch was not certified: its option trades fail, its expiries wait for the next batch."""
        content = self.in_batch.pop(batch.sequence, None)
        if content is None:
            return
        self.failed.extend((ot, f"not certified: {reason}") for ot in content.trades)
        for e in content.expiries:
            del self.expired_series[e.series.series_id]
            self.due.append(e.series)
        self._relock()

    # ---- reading -----------------------------------------------------------------------------------------------
    def open_interest(self, series: OptionSeries) -> dict[str, int]:
        """Signed contracts per trader of the settled option trades (empty once the expiry settled)."""
        if any(e.series == series for _, c in self.settled for e in c.expiries):
            return {}
        pos = _positions(ot for _, c in self.settled for ot in c.trades).get(series, {})
        return {a: q for a, q in sorted(pos.items()) if q}

    def batch_of(self, sequence: int) -> OptionContent:
        for seq, content in self.settled:
            if seq == sequence:
                return content
        raise OptionSettlementError(f"batch {sequence} carried no option content")


class OptionValidator:
    """One honest validator's check of a proposed batch's option leaves: every expiry's settlement price
    re-derived from its own log (plus the batch's trades), every payout from the positions it certified."""

    def __init__(self, desk: OptionDesk) -> None:
        self.desk = desk

    def __call__(self, node, block: LogBlock) -> tuple[RejectionCode, int | None, str] | None:
        content = self.desk.registry.get(_key(block.trades))
        if not content or not content.expiries:
            return None
        log: TradeLog = node.log
        blocks = [b for b in log.blocks if b.height not in log.expired]
        earlier = [ot for b in blocks for ot in self.desk.registry.get(_key(b.trades), OptionContent()).trades]
        spot = [t for b in blocks for t in b.trades] + list(block.trades)
        positions = _positions([*earlier, *content.trades])
        for e in content.expiries:
            try:
                price = settlement_price(spot, e.series)
            except OptionSettlementError as exc:
                return RejectionCode.BAD_OPTION_LEAF, None, str(exc)
            if price != e.settlement_price:
                return (RejectionCode.BAD_OPTION_LEAF, None,
                        f"{e.series.label}: settlement price {e.settlement_price} ticks, the log gives {price}")
            expected = _expiry(e.series, price, positions.get(e.series, {}), self.desk.address)
            if expected.payouts != e.payouts:
                return RejectionCode.BAD_OPTION_LEAF, None, f"{e.series.label}: payouts differ from the positions"
        return None


def attach_options(stack) -> OptionDesk:
    """Give a SettlementStack (synchronous committee certification, NET mode) on-chain options: the pipeline
    builds its batches through the desk, the committee's logs take the desk's extra leaves and every validator
    checks the option leaves."""
    pipeline, committee = stack.pipeline, stack.committee
    if not isinstance(committee, Committee):
        raise OptionSettlementError("on-chain options need the synchronous committee certification")
    if pipeline.mode is not SettlementMode.NET:
        raise OptionSettlementError(f"on-chain options settle in net-deltas batches, not {pipeline.mode}")
    desk = OptionDesk(pipeline, stack.venue.accounts, stack.venue.tokens)
    pipeline.options = desk
    committee.log.extra_leaves = desk.extra_leaves
    for node in committee.nodes:
        node.log.extra_leaves = desk.extra_leaves
    committee.batch_checks.append(OptionValidator(desk))
    return desk


@dataclass(frozen=True, slots=True)
class OptionDifference:
    kind: str   # "open interest" | "price" | "proof" | "unsettled"
    subject: str
    detail: str


def reconcile_options(desk: OptionDesk) -> list[OptionDifference]:
    """Per-series checks (module doc); empty when clean. Balances: settlement.reconcile.reconcile."""
    out: list[OptionDifference] = []
    client = desk.pipeline.client
    log = desk.pipeline.certifier.committee.log
    settled_trades = [ot for _, c in desk.settled for ot in c.trades]
    for series in desk.series.values():
        pos = _positions(settled_trades).get(series, {})
        if sum(pos.values()) != 0:
            out.append(OptionDifference("open interest", series.label, f"does not net to zero: {dict(pos)}"))
        expired = [e for _, c in desk.settled for e in c.expiries if e.series == series]
        if len(expired) > 1:
            out.append(OptionDifference("open interest", series.label, f"expired {len(expired)} times"))
        if expired:
            spot = [t for b in log.blocks if b.height not in log.expired for t in b.trades]
            price = settlement_price(spot, series)
            if price != expired[0].settlement_price:
                out.append(OptionDifference("price", series.label,
                                            f"leaf states {expired[0].settlement_price}, the log gives {price}"))
            if sum(p for _, p in expired[0].payouts) != 0:
                out.append(OptionDifference("open interest", series.label, "payouts do not sum to zero"))
    for ot in desk.staged:
        out.append(OptionDifference("unsettled", ot.series.label, f"option trade {ot.trade_id} never settled"))
    for series in desk.due:
        out.append(OptionDifference("unsettled", series.label, "expired, its payouts never settled"))
    for sequence, content in desk.in_batch.items():
        out.append(OptionDifference("unsettled", f"batch {sequence}", "certified option content not booked"))
    for sequence, content in desk.settled:
        root = client.batch_root(sequence)
        block = log.block(sequence)
        first = len(block.trades)
        tree = log.tree(block.trades)
        for i, leaf in enumerate(desk.option_leaves(content)):
            if not verify_proof(tree.proof(first + i), root, leaf):
                out.append(OptionDifference("proof", f"batch {sequence} option leaf {i}",
                                            "does not prove against the on-chain root"))
    return out


# ---- the [settlement] section with listed options (scenario glue) ----------------------------------------------
def series_of(instrument, underlying, window: int) -> OptionSeries:
    """The on-chain terms of a listed cash-settled European option instrument (core.instruments.OptionTerms);
    OptionSettlementError for what the chain cannot settle (physical, American, uncapped calls)."""
    from decimal import Decimal

    terms = instrument.option
    if terms.settlement.value != "cash" or terms.style.value != "european":
        raise OptionSettlementError(f"{instrument.symbol}: only cash-settled European options settle on chain")
    tick_value = Decimal(terms.multiplier) * underlying.tick_size * 10 ** underlying.quote_decimals
    if tick_value != tick_value.to_integral_value():
        raise OptionSettlementError(f"{instrument.symbol}: a tick of the underlying is not whole quote units")
    return OptionSeries(terms.underlying, instrument.quote_asset, underlying.price_to_ticks(terms.strike),
                        terms.expiry, terms.is_call, int(tick_value), window=window)


class OptionGate:
    """The simulation's trade validator with on-chain options: an option trade is approved when the desk can take
    it (the buyer pays the premium, the writer locks the collateral) and staged at once; every other trade goes to
    the committee."""

    def __init__(self, committee, desk: OptionDesk, instruments: Mapping[str, object],
                 series: Mapping[str, OptionSeries]) -> None:
        self.committee = committee
        self.desk = desk
        self.instruments = instruments
        self.series = dict(series)
        self.refused: list[tuple[int, str]] = []

    def validate_trade(self, trade: Trade, buy, sell) -> str | None:
        series = self.series.get(trade.symbol)
        if series is None:
            return self.committee.validate_trade(trade, buy, sell)
        inst = self.instruments[trade.symbol]
        premium = trade.quantity * trade.price * int(inst.quote_units_per_lot_tick)
        try:
            self.desk.trade(series, trade.buyer, trade.seller, trade.quantity, premium, now=trade.ts)
        except OptionSettlementError as exc:
            self.refused.append((trade.trade_id, str(exc)))
            return f"option_collateral: {exc}"
        return None

    def __getattr__(self, name: str):
        return getattr(self.committee, name)
