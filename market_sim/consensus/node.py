"""Validator nodes: an Ethereum key, an own copy of the validation state and log, and a (Byzantine) behaviour."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from market_sim.core.errors import ConfigError
from market_sim.core.events import Trade
from market_sim.consensus.log import LogBlock, TradeLog
from market_sim.consensus.signing import DeferredSignature, SigningDomain, ValidatorKey, trade_vote_digest
from market_sim.consensus.state import Pending, TradeClaim, ValidationState

__all__ = ["Behaviour", "parse_behaviour", "ConsensusNode", "TradeVote", "BYZANTINE_BEHAVIOURS"]


class Behaviour(StrEnum):
    HONEST = "honest"
    CRASHED = "crashed"                    # silent: sends nothing
    REJECT = "reject"                      # refuses everything
    APPROVE_ALL = "approve-all"            # approves everything, invalid trades and conflicting blocks included
    EQUIVOCATE = "equivocate"              # different votes to different peers; conflicting proposals as leader
    DELAYED = "delayed"                    # honest, but every message it sends is late
    MALICIOUS_LEADER = "malicious-leader"  # votes honestly; as leader proposes invalid or conflicting batches


BYZANTINE_BEHAVIOURS = tuple(b for b in Behaviour if b is not Behaviour.HONEST)
_ALIASES = {"silent": Behaviour.CRASHED, "crash": Behaviour.CRASHED, "always-reject": Behaviour.REJECT,
            "approve-everything": Behaviour.APPROVE_ALL, "approve": Behaviour.APPROVE_ALL,
            "equivocating": Behaviour.EQUIVOCATE, "delay": Behaviour.DELAYED, "leader": Behaviour.MALICIOUS_LEADER}


def parse_behaviour(name: str | Behaviour) -> Behaviour:
    """A behaviour by name ('equivocate', 'approve_all', 'silent', ...); ConfigError lists the choices."""
    if isinstance(name, Behaviour):
        return name
    key = str(name).strip().lower().replace("_", "-")
    try:
        return _ALIASES.get(key) or Behaviour(key)
    except ValueError:
        raise ConfigError("unknown behaviour; choose one of " + ", ".join(b.value for b in Behaviour),
                          key="behaviour", value=name) from None


@dataclass(frozen=True, slots=True)
class TradeVote:
    """A signed pre-trade vote: EIP-712 TradeVote(tradeLeaf, approve) by `voter`.

    `signature` is a `DeferredSignature`: its 65 bytes (`bytes(vote.signature)`) are made only when read, since every
    validator votes on every trade and nothing but a check of it (`try_recover`) reads most votes."""

    voter: str
    trade_leaf: bytes
    approve: bool
    reason: str | None
    signature: bytes | DeferredSignature


class ConsensusNode:
    """One validator. Honest logic lives here; protocols ask it to judge and sign, behaviours bend the answers."""

    __slots__ = ("index", "name", "key", "behaviour", "state", "log", "locks", "pretrade")

    def __init__(self, index: int, key: ValidatorKey, state: ValidationState, log: TradeLog,
                 behaviour: Behaviour | str = Behaviour.HONEST) -> None:
        self.index = index
        self.name = f"v{index}"
        self.key = key
        self.behaviour = parse_behaviour(behaviour)
        self.state = state
        self.log = log
        self.locks: dict[int, bytes] = {}        # sequence -> the only batch digest this node signs for it
        self.pretrade: dict[int, Trade] = {}     # trades it approved before execution, not yet final

    def __repr__(self) -> str:
        return f"ConsensusNode({self.name}, {self.address[:10]}, {self.behaviour})"

    @property
    def address(self) -> str:
        return self.key.address

    @property
    def honest(self) -> bool:
        return self.behaviour is Behaviour.HONEST

    # -- pre-trade votes -------------------------------------------------------------------------------------
    def vote_trade(self, domain: SigningDomain, claim: TradeClaim, leaf: bytes) -> list[TradeVote]:
        """This node's signed vote(s) on a proposed trade: none if silent, two contradicting ones if equivocating."""
        b = self.behaviour
        if b is Behaviour.CRASHED:
            return []
        self.state.record_orders(claim)
        reason = self.state.check(claim, self.state.approved)
        if b is Behaviour.EQUIVOCATE:
            return [self._trade_vote(domain, leaf, True, None), self._trade_vote(domain, leaf, False, "equivocation")]
        if b is Behaviour.REJECT:
            reason = reason or "byzantine_reject: refuses every trade"
        elif b is Behaviour.APPROVE_ALL:
            reason = None
        return [self._trade_vote(domain, leaf, reason is None, reason)]

    def _trade_vote(self, domain: SigningDomain, leaf: bytes, approve: bool, reason: str | None) -> TradeVote:
        signature = DeferredSignature(self.key, trade_vote_digest(domain, leaf, approve))
        return TradeVote(self.address, leaf, approve, reason, signature)

    def trade_decided(self, trade: Trade, approved: bool) -> None:
        """The committee's outcome: an approved trade holds its amounts until it is final."""
        if approved and trade.trade_id not in self.state.final_ids:
            self.state.approved.add(trade, self.state.balances)
            self.pretrade[trade.trade_id] = trade

    # -- batches ---------------------------------------------------------------------------------------------
    def check_claims(self, claims: Sequence[TradeClaim], pending: Pending | None = None) -> str | None:
        """Honest judgement of a batch of claims on top of the final state and `pending` (not modified)."""
        local = pending.copy() if pending is not None else Pending()
        for claim in claims:
            reason = self.state.check(claim, local, known_orders_only=True)
            if reason:
                return f"trade {claim.trade_id}: {reason}"
            local.add(claim.trade, self.state.balances)
        return None

    def check_pretraded(self, trades: Sequence[Trade]) -> str | None:
        """Honest judgement of a batch of trades this node must have approved before execution."""
        problem = self.pretraded_problem(trades)
        return None if problem is None else f"trade {problem[0]}: {problem[1]}: {problem[2]}"

    def pretraded_problem(self, trades: Sequence[Trade]) -> tuple[int, str, str] | None:
        """check_pretraded as (trade id, code, detail): the first trade of the batch this node refuses."""
        seen: set[int] = set()
        for trade in trades:
            tid = trade.trade_id
            if tid in self.state.final_ids or tid in seen:
                return tid, "duplicate_trade", "already approved"
            if self.pretrade.get(tid) != trade:
                return tid, "not_approved", "this validator did not approve this trade before execution"
            seen.add(tid)
        return None

    def sign_batch(self, digest: bytes, sequence: int, reason: str | None) -> bytes | None:
        """Sign a batch digest if the node accepts it; honest nodes sign one digest per sequence, ever."""
        b = self.behaviour
        if b is Behaviour.CRASHED or b is Behaviour.REJECT:
            return None
        if b is Behaviour.APPROVE_ALL or b is Behaviour.EQUIVOCATE:
            return self.key.sign(digest)
        if reason is not None:
            return None
        locked = self.locks.setdefault(sequence, digest)
        if locked != digest:
            return None
        return self.key.sign(digest)

    def unlock(self, sequence: int, digest: bytes) -> None:
        """Forget a signature given for a batch whose certificate provably never formed (the trusted committee
        discarded it), so a corrected batch can be signed for the same sequence."""
        if self.locks.get(sequence) == digest:
            del self.locks[sequence]

    def apply(self, trades: Sequence[Trade]) -> None:
        """Trades became final (ordered): update the validation state."""
        self.state.finalize(trades)
        for trade in trades:
            self.pretrade.pop(trade.trade_id, None)

    def expire(self, height: int) -> None:
        """Block `height` expired unsettled: its trades are pending again (a later block may carry them)."""
        if height > self.log.height:
            return
        block = self.log.block(height)
        self.log.expire(height)
        self.state.unfinalize(block.trades)
        for trade in block.trades:
            self.pretrade[trade.trade_id] = trade

    def finalize(self, block: LogBlock, *, checked: bool = False) -> None:
        """Append a certified block to this node's log and apply it to its state."""
        self.log.append(block, checked=checked)
        self.apply(block.trades)
