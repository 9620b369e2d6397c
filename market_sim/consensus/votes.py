"""Who voted what: the votes validators send under each protocol, as flat records (for the API and dashboards).

A VoteRecorder taps a Cluster (Cluster.taps) and turns every vote-like message a validator sends into a VoteRecord:
- bft: `prevote` / `precommit` (height, round, the batch digest) and `sign` (the batch signature after deciding);
- streamlet: `vote` (round = epoch, the block's height and hash) and `certify` (the certificate share of a final
  block);
- majority: `reply` to the coordinator's ballot (approve = signed, or the refusal reason);
- raft: `election` (round = term, approve = granted).
An equivocating validator's conflicting votes are separate records (each names the peers it went to). Proposals,
sync and catch-up traffic are not votes. The recorder keeps the last `maxlen` records.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from market_sim.consensus.node import ConsensusNode

if TYPE_CHECKING:
    from market_sim.consensus.cluster import Cluster

__all__ = ["VoteRecord", "VoteRecorder", "vote_of"]


@dataclass(frozen=True, slots=True)
class VoteRecord:
    ts: int                      # simulated ns when it was sent
    protocol: str
    kind: str
    height: int | None           # log height the vote is about (None: not known from the message)
    round: int | None            # round / view / epoch / term
    voter: str                   # node name (v0, v1, ...)
    address: str
    digest: str | None           # 0x hex of what it voted for
    approve: bool
    reason: str | None = None
    to: tuple[str, ...] | None = None  # the peers it was sent to (None: everyone)


def _hex(b: bytes | None) -> str | None:
    return None if b is None else "0x" + bytes(b).hex()


def vote_of(protocol: Any, msg: object) -> tuple[str, int | None, int | None, str | None, bool, str | None] | None:
    """(kind, height, round, digest, approve, reason) of a vote message, or None if `msg` is not a vote."""
    name = type(msg).__name__
    if name == "RoundVote":
        return msg.kind, msg.height, msg.round, _hex(msg.digest), True, None  # type: ignore[attr-defined]
    if name == "BatchSignature":
        return "sign", msg.height, None, _hex(msg.digest), True, None  # type: ignore[attr-defined]
    if name == "Vote" and hasattr(msg, "block"):
        blk = msg.block  # type: ignore[attr-defined]
        return "vote", blk.height, blk.epoch, _hex(blk.hash), True, None
    if name == "CertShare":
        return "certify", msg.height, None, _hex(msg.digest), True, None  # type: ignore[attr-defined]
    if name == "Reply":
        current = getattr(protocol, "current", None)
        height = current.block.height if current is not None and getattr(protocol, "digest", None) == msg.digest \
            else None  # type: ignore[attr-defined]
        signed = msg.signature is not None  # type: ignore[attr-defined]
        return "reply", height, None, _hex(msg.digest), signed, None if signed else msg.reason  # type: ignore
    if name == "VoteReply":
        return "election", None, msg.term, None, bool(msg.granted), None  # type: ignore[attr-defined]
    return None


class VoteRecorder:
    """The last `maxlen` votes of a Cluster's validators; `listener(record)` hears each as it is sent."""

    def __init__(self, cluster: "Cluster", maxlen: int = 10_000,
                 listener: Callable[[VoteRecord], None] | None = None) -> None:
        self.cluster = cluster
        self.records: deque[VoteRecord] = deque(maxlen=maxlen)
        self.total = 0
        self.listener = listener
        cluster.taps.append(self._tap)

    def _tap(self, node: ConsensusNode, msg: object, dsts: Iterable[str] | None) -> None:
        protocol = self.cluster.protocol
        vote = vote_of(protocol, msg)
        if vote is None:
            return
        kind, height, round_, digest, approve, reason = vote
        rec = VoteRecord(self.cluster.kernel.now, protocol.name, kind, height, round_, node.name, node.address,
                         digest, approve, reason, None if dsts is None else tuple(dsts))
        self.records.append(rec)
        self.total += 1
        if self.listener is not None:
            self.listener(rec)
