"""Reconciliation: the off-chain ledger and the committee's log against the contract, balance by balance, height by
height and trade by trade.

- Balances: every (account, token) in the ledger against the contract, and per token the contract's ERC20 custody
  against the sum of the ledger's balances.
- Heights: for every batch height the ledger, the committee log or the chain knows, the ledger's root, the log's
  root and the on-chain root. A height is `settled` when all three agree; `skipped` when the chain skipped it (an
  expired certified batch, given in `skipped`) with no root on chain, the ledger has not booked it and the log holds
  it; anything else is a difference (log root != chain root, certified in the log but not on chain, ...).
- Trades: every settled trade is proven off chain, with the OpenZeppelin MerkleProof algorithm
  (`consensus.merkle.verify_proof`: sorted-pair keccak256 over the double-hashed leaf), against the root read from
  the chain. The off-chain verifier is itself checked against the contract's `verifyTrades` on a seeded sample of
  `onchain_sample` trades and as many tampered proofs (each must be accepted resp. refused by both).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from market_sim.consensus.log import LogBlock, TradeLog
from market_sim.consensus.merkle import EMPTY_ROOT, verify_proof
from market_sim.settlement.batch import SettlementBatch
from market_sim.settlement.client import SettlementClient
from market_sim.settlement.ledger import Ledger
from market_sim.settlement.trades import SettledTrade

__all__ = ["Difference", "HeightCheck", "ReconciliationReport", "reconcile", "prove_off_chain", "ONCHAIN_SAMPLE"]

_PROOFS_PER_CALL = 250  # trades proven per verifyTrades eth_call
ONCHAIN_SAMPLE = 32     # trades (and as many tampered proofs) the contract checks the off-chain verifier on


@dataclass(frozen=True, slots=True)
class Difference:
    """One disagreement between the ledger, the committee log and the chain."""

    kind: str  # "balance" | "batch" | "log root" | "unsettled" | "skipped" | "trade" | "verifier" | "custody"
    subject: str
    ledger: object     # what the off-chain side says (the ledger's, or the committee log's when side is "log")
    chain: object
    side: str = "ledger"

    def __str__(self) -> str:
        return f"{self.kind} {self.subject}: {self.side} {self.ledger!r} != chain {self.chain!r}"


@dataclass(frozen=True, slots=True)
class HeightCheck:
    """One batch height: the roots the ledger, the committee log and the chain hold ('' = none) and the verdict."""

    height: int
    ledger_root: str
    log_root: str
    chain_root: str
    status: str  # "settled" | "skipped" | "difference"


@dataclass(frozen=True, slots=True)
class ReconciliationReport:
    """What was compared and every difference found; ok when there is none."""

    balances_checked: int
    batches_checked: int
    trades_checked: int
    tokens_checked: int
    differences: tuple[Difference, ...]
    heights: tuple[HeightCheck, ...] = ()
    proofs_on_chain: int = 0       # of them tampered: as many as genuine
    log_checked: bool = False      # the committee log's roots were compared too

    @property
    def ok(self) -> bool:
        return not self.differences

    @property
    def skipped(self) -> tuple[int, ...]:
        """Heights the chain skipped with the log's agreement (expired certified batches)."""
        return tuple(h.height for h in self.heights if h.status == "skipped")

    def summary(self) -> str:
        log = ", the committee log's roots" if self.log_checked else ""
        head = (f"{self.balances_checked} balances, {self.batches_checked} batches{log}, {self.trades_checked} trade "
                f"proofs (off chain; the verifier checked on chain on {self.proofs_on_chain} proofs), "
                f"{self.tokens_checked} token custody totals checked")
        skipped = self.skipped
        tail = [f"  heights skipped on chain (expired certified batches, log agrees): "
                f"{', '.join(map(str, skipped))}"] if skipped else []
        if self.ok:
            return "\n".join([f"reconciliation OK: {head}", *tail])
        return "\n".join([f"reconciliation FAILED ({len(self.differences)} differences): {head}",
                          *(f"  - {d}" for d in self.differences), *tail])


def _hex(root: bytes | None) -> str:
    return "" if root is None or root == EMPTY_ROOT else "0x" + root.hex()


def _chain_balances(client: SettlementClient, pairs: list[tuple[str, str]]) -> list[int]:
    """The contract's balance of every pair, read in one go when the client's contract can (in-process chain)."""
    many = getattr(getattr(client, "contract", None), "balances_of", None)
    return many(pairs) if many is not None else [client.balance(a, t) for a, t in pairs]


def prove_off_chain(batch: SettlementBatch, root: bytes) -> list[bool]:
    """Whether each trade of `batch` is a leaf of the tree with `root` (its proof from the batch's tree)."""
    return [verify_proof(batch.tree.proof(i), root, trade.leaf()) for i, trade in enumerate(batch.trades)]


def _tampered(batch: SettlementBatch, index: int) -> tuple[SettledTrade, list[bytes]]:
    """A proof that must be refused: the trade with its quote amount off by one, and its genuine proof."""
    t = batch.trades[index]
    wrong = SettledTrade(t.trade_id, t.buyer, t.seller, t.base_token, t.quote_token, t.base_amount,
                         t.quote_amount + 1, t.buyer_fee, t.seller_fee)
    return wrong, batch.tree.proof(index)


def reconcile(ledger: Ledger, client: SettlementClient, *, accounts: Iterable[str] = (),
              tokens: Iterable[str] = (), prove_trades: bool = True, log: TradeLog | Sequence[LogBlock] | None = None,
              skipped: Iterable[int] = (), onchain_sample: int = ONCHAIN_SAMPLE,
              seed: int = 0, pool_cash: Mapping[str, int] | None = None) -> ReconciliationReport:
    """Compare balances, custody, every height's roots (ledger, committee `log`, chain) and (prove_trades) every
    settled trade's inclusion off chain; `skipped`: the heights the chain skipped (expired certified batches; those in
    `ledger.skipped` count too).
    The off-chain verifier is checked against the contract on `onchain_sample` trades drawn with `seed`.
    `pool_cash` (margin: token -> the lending pool's cash) is held by the contract besides the balances."""
    diffs: list[Difference] = []
    known = ledger.balances()
    accounts = set(accounts) | {a for a, _ in known}
    tokens = set(tokens) | {t for _, t in known}
    pairs = sorted((a, t) for a in accounts for t in tokens)
    for (account, token), theirs in zip(pairs, _chain_balances(client, pairs)):
        mine = ledger.balance(account, token)
        if mine != theirs:
            diffs.append(Difference("balance", f"{account} in {token}", mine, theirs))

    blocks = {b.height: b for b in (log.blocks if isinstance(log, TradeLog) else log or ())}
    skipped = set(skipped) | set(getattr(ledger, "skipped", ()))  # given, and those the ledger saw a batch skip
    last = client.last_sequence
    heights_seen = sorted(set(ledger.settled_batches) | set(blocks) | set(range(1, last + 1)) | skipped)
    heights: list[HeightCheck] = []
    proven: list[tuple[int, SettlementBatch, bytes]] = []  # (height, batch, on-chain root) with agreeing roots
    many = getattr(client, "batch_roots", None)
    roots = many(heights_seen) if many is not None else [client.batch_root(h) for h in heights_seen]
    for h, chain in zip(heights_seen, roots):
        batch = ledger.settled_batches.get(h)
        block = blocks.get(h)
        mine = batch.header.merkle_root if batch is not None else None
        theirs = block.merkle_root if block is not None else None
        on_chain = chain != EMPTY_ROOT
        found: list[Difference] = []
        if h in skipped and not on_chain and batch is None and (log is None or block is not None):
            heights.append(HeightCheck(h, "", _hex(theirs), "", "skipped"))
            continue
        if h in skipped:
            found.append(Difference("skipped", f"height {h} (expired)", _hex(mine) or "not booked",
                                    _hex(chain) or "no root"))
        if mine is None and on_chain:
            found.append(Difference("batch", f"#{h} root", "not booked", _hex(chain)))
        elif mine is not None and mine != chain:
            found.append(Difference("batch", f"#{h} root", _hex(mine), _hex(chain) or "no root"))
        if log is not None:
            if block is None and (on_chain or mine is not None):
                found.append(Difference("log root", f"height {h}", "not in the committee log",
                                        _hex(chain) or "no root", "log"))
            elif block is not None and not on_chain and h not in skipped:
                found.append(Difference("unsettled", f"height {h}", f"certified {_hex(theirs)}",
                                        "no root, not skipped", "log"))
            elif block is not None and theirs != chain:
                found.append(Difference("log root", f"height {h}", _hex(theirs), _hex(chain), "log"))
        diffs.extend(found)
        heights.append(HeightCheck(h, _hex(mine), _hex(theirs), _hex(chain), "difference" if found else "settled"))
        if batch is not None and mine == chain:
            proven.append((h, batch, chain))
    if last != ledger.last_sequence:  # settled and skipped (expired) batches both count
        diffs.append(Difference("batch", "last sequence", ledger.last_sequence, last))

    trades_checked = 0
    if prove_trades:
        for h, batch, root in proven:
            for trade, ok in zip(batch.trades, prove_off_chain(batch, root)):
                trades_checked += 1
                if not ok:
                    diffs.append(Difference("trade", f"#{trade.trade_id} in batch {h}", "settled", "unprovable"))
    on_chain_checked = _check_verifier(client, proven, onchain_sample, seed, diffs) if prove_trades else 0

    for token in sorted(tokens):
        held = client.token(token).balance_of(client.address)
        owed = sum(ledger.balance(a, token) for a in accounts) + (pool_cash or {}).get(token, 0)
        if held != owed:
            diffs.append(Difference("custody", f"token {token} held by the contract", owed, held))
    return ReconciliationReport(len(pairs), len(ledger.settled_batches), trades_checked, len(tokens), tuple(diffs),
                                tuple(heights), on_chain_checked, log is not None)


def _check_verifier(client: SettlementClient, proven: list[tuple[int, SettlementBatch, bytes]], size: int,
                    seed: int, diffs: list[Difference]) -> int:
    """The off-chain verifier against the contract's verifyTrades on a seeded sample of `size` settled trades plus
    a tampered copy of each; every answer must be the same. Returns the number of proofs the contract checked."""
    population = [(h, i) for h, batch, _ in proven for i in range(len(batch.trades))]
    if not population or size <= 0:
        return 0
    sample = sorted(random.Random(seed).sample(population, min(size, len(population))))
    by_height = {h: (batch, root) for h, batch, root in proven}
    checked = 0
    for h in sorted({h for h, _ in sample}):
        batch, root = by_height[h]
        indices = [i for hh, i in sample if hh == h]
        cases = [(batch.trades[i], batch.tree.proof(i)) for i in indices] + [_tampered(batch, i) for i in indices]
        for start in range(0, len(cases), _PROOFS_PER_CALL):
            chunk = cases[start:start + _PROOFS_PER_CALL]
            answers = client.verify_trades(h, [t for t, _ in chunk], [p for _, p in chunk])
            for (trade, proof), contract in zip(chunk, answers):
                checked += 1
                mine = verify_proof(proof, root, trade.leaf())
                if mine != contract:
                    diffs.append(Difference("verifier", f"trade #{trade.trade_id} in batch {h}",
                                            f"off chain {mine}", f"verifyTrades {contract}"))
    return checked
