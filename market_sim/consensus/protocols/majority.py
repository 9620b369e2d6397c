"""The seed's majority vote on the network: a fixed coordinator (node 0) proposes each batch, validators reply
with a signed approval (the Batch digest) or a reason, and > n/2 approvals make the batch final.

No Byzantine guarantees: a faulty coordinator stops progress or equivocates, and approve-everything nodes only
need a bare majority. Kept as the baseline the BFT protocols are compared with.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from market_sim.core.errors import ConsensusError
from market_sim.consensus.log import LogBlock, QuorumCertificate
from market_sim.consensus.node import Behaviour, ConsensusNode
from market_sim.consensus.protocols.base import Protocol, SyncRequest, forge_invalid
from market_sim.consensus.signing import try_recover
from market_sim.consensus.state import Pending, TradeClaim

__all__ = ["MajorityVote", "MajorityConsensus"]

COORDINATOR = 0


@dataclass(frozen=True, slots=True)
class Ballot:
    block: LogBlock
    claims: tuple[TradeClaim, ...]


@dataclass(frozen=True, slots=True)
class Reply:
    digest: bytes
    voter: int
    signature: bytes | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class Commit:
    block: LogBlock


class MajorityVote(Protocol):
    name = "majority"
    tolerates = "half"

    def __init__(self, cluster) -> None:  # noqa: ANN001
        super().__init__(cluster)
        self.current: Ballot | None = None
        self.digest = b""
        self.approvals: dict[str, bytes] = {}
        self.refusals: dict[int, str] = {}
        self.timer: list | None = None
        self._fresh_id = 10**15
        self._watching: set[int] = set()  # validators running a catch-up timer
        self.rng = random.Random(f"majority:{cluster.config.seed}")

    @property
    def coordinator(self) -> ConsensusNode:
        return self.cluster.nodes[COORDINATOR]

    def on_trade(self, node: ConsensusNode, claim: TradeClaim) -> None:
        if node is self.coordinator:
            if self.current is None:
                self._propose()
        elif node.index not in self._watching:
            self._watching.add(node.index)
            self.cluster.kernel.schedule(8 * self.cluster.delta, self._check_behind, node, node.log.height)

    def _check_behind(self, node: ConsensusNode, height: int) -> None:
        """A validator with trades waiting and no commit for a while asks the coordinator for what it missed."""
        if not self.cluster.pools[node.index]:
            self._watching.discard(node.index)
            return
        if node.log.height == height:
            self.cluster.send(node, self.coordinator.name, SyncRequest(height))
        self.cluster.kernel.schedule(8 * self.cluster.delta, self._check_behind, node, node.log.height)

    def _propose(self) -> None:
        c, node = self.cluster, self.coordinator
        if self.current is not None or node.behaviour is Behaviour.CRASHED:
            return
        claims = tuple(c.select(node, Pending(), c.config.batch_size))
        if not claims:
            self.current = None
            return
        if node.behaviour is Behaviour.MALICIOUS_LEADER:
            self._fresh_id += 1
            claims = claims + (forge_invalid(claims[0], self.rng, None, self._fresh_id),)
        block = c.build_block(node, [cl.trade for cl in claims])
        self.current, self.digest = Ballot(block, claims), block.digest(c.domain)
        self.approvals, self.refusals = {}, {}
        self.rounds += 1
        c.broadcast(node, self.current)
        self.timer = c.kernel.schedule(4 * c.delta, self._retry, self.digest)

    def _retry(self, digest: bytes) -> None:
        if self.current is not None and digest == self.digest:  # replies lost: ask again (same batch)
            self.rounds += 1
            self.cluster.broadcast(self.coordinator, self.current)
            self.timer = self.cluster.kernel.schedule(4 * self.cluster.delta, self._retry, digest)

    def on_message(self, node: ConsensusNode, src: str, msg: object) -> None:
        c = self.cluster
        if isinstance(msg, Ballot):
            if c.index_of(src) != COORDINATOR:
                return
            block = msg.block
            if block.height <= node.log.height:
                return
            if block.height > node.log.height + 1:  # missed commits: catch up first
                c.send(node, src, SyncRequest(node.log.height))
                return
            if block.parent_hash != node.log.head_hash:
                reason = f"out_of_sequence: node is at height {node.log.height}"
            elif (tuple(cl.trade for cl in msg.claims) != block.trades
                  or not c.verified(block, lambda: node.log.tree(block.trades).root == block.merkle_root)):
                reason = "merkle root does not match the trades"
            else:
                reason = node.check_claims(msg.claims) or c.judge_block(node, block)
            digest = block.digest(c.domain)
            sig = node.sign_batch(digest, block.height, reason)
            c.send(node, src, Reply(digest, node.index, sig, None if sig else (reason or str(node.behaviour))))
        elif isinstance(msg, Reply) and node is self.coordinator:
            self._on_reply(msg)
        elif isinstance(msg, Commit):
            if msg.block.height == node.log.height + 1:
                try:
                    node.finalize(msg.block)  # checks parent, root and certificate
                except ConsensusError:  # a forged commit is ignored
                    return
                c.on_certified(node, msg.block)
        else:
            super().on_message(node, src, msg)

    def _on_reply(self, msg: Reply) -> None:
        c = self.cluster
        if self.current is None or msg.digest != self.digest or not 0 <= msg.voter < len(c.nodes):
            return
        address = c.validators[msg.voter]
        if msg.signature is not None and try_recover(msg.digest, msg.signature) == address:
            self.approvals[address] = msg.signature
            self.refusals.pop(msg.voter, None)
        elif msg.signature is None:
            self.refusals[msg.voter] = msg.reason or "refused"
        if len(self.approvals) >= c.quorum:
            certified = self.current.block.with_qc(QuorumCertificate.build(self.digest, self.approvals))
            self._close()
            c.broadcast(self.coordinator, Commit(certified))
            c.kernel.schedule(c.delta, self._propose)  # the coordinator's own commit lands first
        elif len(c.nodes) - len(self.refusals) < c.quorum:
            # a majority refused: drop the trades they named, put the rest back and try again
            named = {}
            for reason in self.refusals.values():
                head, _, rest = reason.partition(": ")
                if head.startswith("trade ") and head[6:].isdigit():
                    named.setdefault(int(head[6:]), rest)
            claims = self.current.claims
            self._close()
            pool = c.pools[COORDINATOR]
            for cl in claims:
                if cl.trade_id in named or not named:
                    pool.pop(cl.trade_id, None)
                    c.reject(self.coordinator, cl, named.get(cl.trade_id, "refused by a majority"))
            c.kernel.schedule(0, self._propose)

    def _close(self) -> None:
        if self.timer is not None:
            self.cluster.kernel.cancel(self.timer)
        self.current, self.timer = None, None


MajorityConsensus = MajorityVote  # the seed's name for the majority-vote protocol
