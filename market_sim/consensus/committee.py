"""The validator committee the matching engine and the settlement pipeline call synchronously.

`validate_trade` (the core TradeValidator protocol): every node votes with an EIP-712 signed TradeVote before
the engine changes any state; the trade passes with `quorum` distinct valid approvals. `certify_batch`: the BFT
quorum certificate of a batch of approved trades: each node checks the batch (height, parent, trades it approved,
one digest per height) and signs the EIP-712 Batch digest; >= quorum signatures make the block final.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from market_sim.core.errors import ConsensusError
from market_sim.core.events import Trade
from market_sim.core.orders import NewOrder
from market_sim.consensus.config import ConsensusConfig
from market_sim.consensus.log import ExtraLeaves, LogBlock, QuorumCertificate, TradeLog
from market_sim.consensus.merkle import LeafEncoder, default_leaf_encoder, leaf_hash
from market_sim.consensus.network import default_delta
from market_sim.consensus.node import Behaviour, ConsensusNode, TradeVote
from market_sim.consensus.signing import SigningDomain, trade_vote_digest, try_recover, validator_keys
from market_sim.consensus.state import BalanceView, Refusal, TradeClaim, ValidationState
from market_sim.simulation.latency import LatencyModel

__all__ = ["Committee", "PreTradeDecision", "BatchRejected", "BatchRejection", "RejectionCode", "build_nodes"]


# Why a validator did not sign a batch: every trade-level refusal (consensus.state.Refusal, the one list of those) plus
# the batch-level codes: not_approved (a trade this validator did not approve before execution), out_of_sequence (the
# batch does not extend this validator's log), no_signature (a faulty validator gave no valid signature),
# bad_option_leaf (an option leaf the validator re-derives differently: settlement.options).
# DUPLICATE_TRADE (a trade already final, or twice in the batch) comes from Refusal.
RejectionCode = StrEnum("RejectionCode", [
    ("NOT_APPROVED", "not_approved"), ("OUT_OF_SEQUENCE", "out_of_sequence"), ("NO_SIGNATURE", "no_signature"),
    ("BAD_OPTION_LEAF", "bad_option_leaf"),
    *((m.name, m.value) for m in Refusal)], module=__name__)


@dataclass(frozen=True, slots=True)
class BatchRejection:
    """One validator's refusal to sign a batch: the code, the trade it names (None for the whole batch), detail."""

    validator: str
    code: RejectionCode
    trade_id: int | None
    detail: str

    def __str__(self) -> str:
        where = f"trade {self.trade_id}: " if self.trade_id is not None else ""
        return f"{where}{self.code}: {self.detail}" if self.detail else f"{where}{self.code}"


class BatchRejected(ConsensusError):
    """A batch did not get a quorum certificate: its `sequence`, the `trade_ids` validators refused (sorted), the
    most common `reason` among the refusals, and `detail`; `rejections` holds every validator's BatchRejection."""

    def __init__(self, sequence: int, trade_ids: tuple[int, ...], reason: RejectionCode, detail: str, *,
                 signatures: int = 0, quorum: int = 0, rejections: tuple[BatchRejection, ...] = ()) -> None:
        super().__init__(f"batch {sequence} not certified: {signatures} signatures, quorum is {quorum} ({detail})")
        self.sequence = sequence
        self.trade_ids = tuple(trade_ids)
        self.reason = reason
        self.detail = detail
        self.signatures = signatures
        self.quorum = quorum
        self.rejections = tuple(rejections)

    @classmethod
    def from_rejections(cls, sequence: int, signatures: int, quorum: int,
                        rejections: Sequence[BatchRejection]) -> "BatchRejected":
        counts = Counter(r.code for r in rejections)
        reason = max(counts, key=lambda c: (counts[c], -[r.code for r in rejections].index(c))) if counts \
            else RejectionCode.NO_SIGNATURE
        trade_ids = tuple(sorted({r.trade_id for r in rejections if r.trade_id is not None}))
        detail = "; ".join(f"{r.validator}: {r}" for r in sorted(rejections, key=lambda r: r.validator))
        return cls(sequence, trade_ids, reason, detail, signatures=signatures, quorum=quorum,
                   rejections=tuple(rejections))

    @property
    def height(self) -> int:
        """The batch's sequence (its log height)."""
        return self.sequence

    @property
    def reasons(self) -> dict[str, str]:
        """Validator name -> its refusal as text."""
        return {r.validator: str(r) for r in self.rejections}

    @property
    def bad_trades(self) -> dict[int, str]:
        """Trade id -> the first refusal naming it, as 'code: detail'."""
        out: dict[int, str] = {}
        for r in self.rejections:
            if r.trade_id is not None:
                out.setdefault(r.trade_id, f"{r.code}: {r.detail}")
        return out


@dataclass(frozen=True, slots=True)
class PreTradeDecision:
    """The committee's verdict on one proposed trade, with the signed votes behind it."""

    trade: Trade
    approved: bool
    reason: str | None
    votes: tuple[TradeVote, ...]
    latency_ns: int  # simulated time until the outcome was known (quorum-th vote's round trip)


def build_nodes(config: ConsensusConfig, *, accounts: Iterable[str] | None = None,
                balances: BalanceView | None = None, domain: SigningDomain | None = None,
                leaf_encoder: LeafEncoder = default_leaf_encoder,
                extra_leaves: ExtraLeaves | None = None, log_type: type[TradeLog] = TradeLog) -> list[ConsensusNode]:
    """The committee's nodes, each with its own key, state copy and log (a `log_type`, TradeLog by default)."""
    keys = validator_keys(config.nodes, config.key_seed)
    addresses = [k.address for k in keys]
    base = ValidationState(accounts, balances)
    domain = domain or SigningDomain()
    return [ConsensusNode(i, keys[i], base.copy(),
                          log_type(domain, validators=addresses, threshold=config.quorum,
                                   leaf_encoder=leaf_encoder, extra_leaves=extra_leaves), behaviour)
            for i, behaviour in enumerate(config.assignment())]


class Committee:
    """A synchronous validator committee: a TradeValidator plus batch certification into a TradeLog."""

    def __init__(self, nodes: Sequence[ConsensusNode], *, quorum: int, domain: SigningDomain | None = None,
                 leaf_encoder: LeafEncoder = default_leaf_encoder, extra_leaves: ExtraLeaves | None = None,
                 latency: LatencyModel | None = None, delayed_extra: int = 0, seed: int = 0) -> None:
        if not 1 <= quorum <= len(nodes):
            raise ConsensusError(f"quorum must be in 1..{len(nodes)}, got {quorum}")
        self.nodes = list(nodes)
        self.quorum = quorum
        self.domain = domain or SigningDomain()
        self.leaf_encoder = leaf_encoder
        self.validators = tuple(n.address for n in self.nodes)
        self._by_address = {n.address: n for n in self.nodes}
        self.log = TradeLog(self.domain, validators=self.validators, threshold=quorum,
                            leaf_encoder=leaf_encoder, extra_leaves=extra_leaves)
        self.latency = latency
        self.delayed_extra = delayed_extra
        self.rng = random.Random(f"committee:{seed}")
        self.decisions: list[PreTradeDecision] = []
        self.equivocations: list[tuple[str, int]] = []  # (validator, trade id) that signed both ways
        # extra checks every honest node runs on a proposed block: (node, block) -> (code, trade id, detail) or None
        self.batch_checks: list[Callable[[ConsensusNode, LogBlock], tuple[RejectionCode, int | None, str] | None]] = []

    @classmethod
    def create(cls, config: ConsensusConfig | None = None, *, accounts: Iterable[str] | None = None,
               balances: BalanceView | None = None, domain: SigningDomain | None = None,
               leaf_encoder: LeafEncoder = default_leaf_encoder, extra_leaves: ExtraLeaves | None = None,
               **config_kwargs: object) -> Committee:
        """Build a committee from a config (or ConsensusConfig(**config_kwargs)).

        accounts: known trader ids (None accepts any); balances: settled balances for the solvency check
        (None disables it); domain / leaf_encoder / extra_leaves: what settlement verifies on-chain.
        """
        config = config or ConsensusConfig(**config_kwargs)  # type: ignore[arg-type]
        nodes = build_nodes(config, accounts=accounts, balances=balances, domain=domain,
                            leaf_encoder=leaf_encoder, extra_leaves=extra_leaves)
        delta = config.delta if config.delta is not None else default_delta(config.latency)
        return cls(nodes, quorum=config.quorum, domain=domain, leaf_encoder=leaf_encoder,
                   extra_leaves=extra_leaves, latency=config.latency, delayed_extra=3 * delta, seed=config.seed)

    @property
    def addresses(self) -> tuple[str, ...]:
        return self.validators

    def deposit(self, account: str, asset: str, amount: int) -> None:
        """Tell every validator about a settled deposit (negative amount: a withdrawal)."""
        for node in self.nodes:
            if node.state.balances is not None:
                node.state.balances.deposit(account, asset, amount)

    def withdrawal_requested(self, account: str, asset: str, requested: int) -> None:
        """Every validator reads a withdrawal request on chain: `requested` is unavailable from now on."""
        for node in self.nodes:
            if node.state.balances is not None:
                node.state.balances.reserve(account, asset, requested)

    def withdrawal_claimed(self, account: str, asset: str, amount: int) -> None:
        """Every validator reads a paid-out withdrawal request on chain."""
        for node in self.nodes:
            if node.state.balances is not None:
                node.state.balances.claimed(account, asset, amount)

    def expire(self, height: int) -> None:
        """Certified block `height` expired unsettled (settlement skips it on chain): every validator frees its
        trades, so they may be certified again at a later height. The block stays in the log."""
        self.log.expire(height)
        for node in self.nodes:
            node.expire(height)

    # -- TradeValidator ----------------------------------------------------------------------------------
    def validate_trade(self, trade: Trade, buy: NewOrder, sell: NewOrder) -> str | None:
        """Approve (None) or refuse (reason) a proposed trade by a signed vote of every validator."""
        return self.decide(TradeClaim(trade, buy, sell)).reason

    def decide(self, claim: TradeClaim) -> PreTradeDecision:
        """Collect, verify and count the validators' signed votes on a claim; every node learns the outcome."""
        leaf = leaf_hash(self.leaf_encoder(claim.trade))
        votes: list[TradeVote] = []
        arrivals: list[tuple[int, bool]] = []
        by_voter: dict[str, set[bool]] = {}
        for node in self.nodes:
            cast = node.vote_trade(self.domain, claim, leaf)
            rtt = self._round_trip(node)
            for vote in cast:
                signer = try_recover(trade_vote_digest(self.domain, vote.trade_leaf, vote.approve), vote.signature)
                if signer != node.address or vote.trade_leaf != leaf:
                    continue  # forged or mis-addressed: ignored
                by_voter.setdefault(signer, set()).add(vote.approve)
                votes.append(vote)
                arrivals.append((rtt, vote.approve))
        equivocators = {v for v, choices in by_voter.items() if len(choices) > 1}
        for v in sorted(equivocators):
            self.equivocations.append((v, claim.trade_id))
        approvals = sorted(t for (t, ok), vote in zip(arrivals, votes) if ok and vote.voter not in equivocators)
        approved = len(approvals) >= self.quorum
        if approved:
            reason, latency = None, approvals[self.quorum - 1]
        else:
            reasons = Counter(v.reason for v in votes if not v.approve and v.voter not in equivocators and v.reason)
            reason = (reasons.most_common(1)[0][0] if reasons
                      else f"no_quorum: {len(approvals)} approvals, need {self.quorum}")
            latency = max((t for t, _ in arrivals), default=0)
        for node in self.nodes:
            node.trade_decided(claim.trade, approved)
        decision = PreTradeDecision(claim.trade, approved, reason, tuple(votes), latency)
        self.decisions.append(decision)
        return decision

    def _round_trip(self, node: ConsensusNode) -> int:
        if self.latency is None:
            return 0
        rtt = self.latency.sample("exchange", node.name, self.rng) + self.latency.sample(node.name, "exchange", self.rng)
        return rtt + (self.delayed_extra if node.behaviour is Behaviour.DELAYED else 0)

    # -- batch certification (BFT quorum) ----------------------------------------------------------------
    def certify_batch(self, trades: Sequence[Trade], *, state_block: int = 0, expires_at: int = 0) -> LogBlock:
        """Certify the next batch of pre-approved trades, checked against the chain's balances at `state_block`
        and valid up to block `expires_at`; returns the appended block with its quorum certificate.

        Raises BatchRejected (with per-trade reasons) when fewer than `quorum` validators sign; nothing changes then.
        """
        block = self.log.next_block(trades, state_block=state_block, expires_at=expires_at)
        digest = block.digest(self.domain)
        signatures: dict[str, bytes] = {}
        rejections: list[BatchRejection] = []
        for node in self.nodes:
            problem = self._batch_problem(node, block)
            for check in self.batch_checks if problem is None else ():
                problem = problem or check(node, block)
            sig = node.sign_batch(digest, block.height, None if problem is None else f"{problem[0]}: {problem[2]}")
            if sig is not None and try_recover(digest, sig) == node.address:
                signatures[node.address] = sig
            else:
                rejections.append(BatchRejection(node.name, RejectionCode.NO_SIGNATURE, None, str(node.behaviour))
                                  if problem is None else BatchRejection(node.name, *problem))
        if len(signatures) < self.quorum:
            for node in self.nodes:  # the signatures are discarded here, so the batch can never be certified
                node.unlock(block.height, digest)
            raise BatchRejected.from_rejections(block.height, len(signatures), self.quorum, rejections)
        certified = block.with_qc(QuorumCertificate.build(digest, signatures))
        self.log.append(certified)
        for node in self.nodes:
            if node.log.height == certified.height - 1:
                node.finalize(certified)
        return certified

    @staticmethod
    def _batch_problem(node: ConsensusNode, block: LogBlock) -> tuple[RejectionCode, int | None, str] | None:
        """(code, trade id or None, detail) of what `node` finds wrong with the batch, or None."""
        if block.height != node.log.height + 1 or block.parent_hash != node.log.head_hash:
            return RejectionCode.OUT_OF_SEQUENCE, None, f"node is at height {node.log.height}"
        problem = node.pretraded_problem(block.trades)
        if problem is None:
            return None
        tid, code, detail = problem
        return RejectionCode(code), tid, detail
