"""BFT quorum: n = 3f+1 validators agree on each batch (Tendermint-style rounds), then certify it with
>= 2f+1 signatures over its EIP-712 Batch digest - the certificate the settlement contract verifies.

Per height, round r has leader (height + r) mod n. The leader proposes a batch (or re-proposes the batch of the
highest prepared round it knows, with that round's prevotes as justification). A node prevotes
(Vote('prevote', r, digest)) a proposal it judges valid unless it is locked on another batch from a round the
proposal cannot justify away; 2f+1 prevotes of one round lock a node on that batch and make it precommit it;
2f+1 precommits of one round decide the batch. Only then does a node sign the Batch digest, once per height, so
two certificates for one height would need an honest node to have decided twice: impossible with <= f faults.
Rounds time out (4Δ plus Δ per round), votes are broadcast, lagging nodes fetch certified blocks. This is the
locking rule of Tendermint (Buchman, Kwon, Milosevic 2018) without nil votes; timeouts replace them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from market_sim.consensus.log import LogBlock, QuorumCertificate
from market_sim.consensus.node import Behaviour, ConsensusNode
from market_sim.consensus.protocols.base import (
    Protocol, SyncReply, SyncRequest, forge_invalid, some_peers, split_committee)
from market_sim.consensus.signing import try_recover, vote_digest
from market_sim.consensus.state import Pending, TradeClaim

__all__ = ["BftQuorum", "Proposal", "RoundVote", "BatchSignature"]


@dataclass(frozen=True, slots=True)
class Proposal:
    height: int
    round: int
    block: LogBlock                      # uncertified
    claims: tuple[TradeClaim, ...]
    valid_round: int = -1                # >= 0: a re-proposal justified by that round's prevotes
    justification: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class RoundVote:
    """A signed prevote or precommit for a batch digest in a round; carries the batch it votes for."""

    kind: str                            # "prevote" | "precommit"
    height: int
    round: int
    digest: bytes
    voter: int
    signature: bytes
    block: LogBlock
    claims: tuple[TradeClaim, ...]


@dataclass(frozen=True, slots=True)
class BatchSignature:
    """A validator's signature over a decided batch's EIP-712 digest: one share of its quorum certificate."""

    height: int
    digest: bytes
    voter: int
    signature: bytes


@dataclass(slots=True)
class _Height:
    round: int = 0
    locked_round: int = -1
    locked: bytes | None = None
    valid_round: int = -1
    valid: bytes | None = None
    batches: dict = field(default_factory=dict)      # digest -> (block, claims)
    votes: dict = field(default_factory=dict)        # (kind, round, digest) -> {address: sig}
    voted: set = field(default_factory=set)          # (kind, round) this node voted in
    proposed: set = field(default_factory=set)       # rounds it proposed in
    decided: bytes | None = None
    shares: dict = field(default_factory=dict)       # digest -> {address: sig}
    timer: list | None = None


class BftQuorum(Protocol):
    name = "bft"

    def __init__(self, cluster) -> None:  # noqa: ANN001
        super().__init__(cluster)
        self.heights: list[dict[int, _Height]] = [{} for _ in cluster.nodes]
        self.helped: list[set] = [set() for _ in cluster.nodes]
        self.synced: list[int] = [-1 for _ in cluster.nodes]
        self.rng = random.Random(f"bft:{cluster.config.seed}")
        self._fresh_id = 10**15
        self._entered: set[tuple[int, int]] = set()  # (height, round) any node started: `rounds` counts them

    def leader(self, height: int, round_: int) -> int:
        members = self.cluster.members(height)
        return members[(height + round_) % len(members)]

    def _h(self, node: ConsensusNode, height: int) -> _Height:
        hs = self.heights[node.index]
        st = hs.get(height)
        if st is None:
            st = hs[height] = _Height()
            self._count(height, 0)
        return st

    def _count(self, height: int, round_: int) -> None:
        self._entered.add((height, round_))
        self.rounds = len(self._entered)

    # -- rounds -----------------------------------------------------------------------------------------
    def on_trade(self, node: ConsensusNode, claim: TradeClaim) -> None:
        st = self._h(node, node.log.height + 1)
        self._arm(node, st)
        self._propose(node)

    def _arm(self, node: ConsensusNode, st: _Height) -> None:
        if st.timer is None:
            c = self.cluster
            st.timer = c.kernel.schedule((4 + st.round) * c.delta, self._timeout, node, node.log.height + 1, st.round)

    def _timeout(self, node: ConsensusNode, height: int, round_: int) -> None:
        st = self._h(node, height)
        st.timer = None
        if node.log.height + 1 != height or st.round != round_:
            return
        if st.decided is not None:  # decided but certificate incomplete: repeat this node's share
            self._share(node, st, height)
        self._enter(node, st, height, round_ + 1)

    def _enter(self, node: ConsensusNode, st: _Height, height: int, round_: int) -> None:
        if round_ <= st.round and st.timer is not None:
            return
        st.round = round_
        self._count(height, round_)
        if st.timer is not None:
            self.cluster.kernel.cancel(st.timer)
            st.timer = None
        self._arm(node, st)
        if self.leader(height, round_) == node.index:
            self.cluster.kernel.schedule(self.cluster.delta if round_ else 0, self._propose, node)
        for key in list(st.votes):  # votes of this round that arrived early
            if key[1] == round_:
                self._check_quorum(node, st, height, *key)

    def _propose(self, node: ConsensusNode) -> None:
        c = self.cluster
        height = node.log.height + 1
        st = self._h(node, height)
        r = st.round
        if self.leader(height, r) != node.index or r in st.proposed or st.decided is not None:
            return
        vr, just = -1, ()
        if st.valid is not None:
            block, claims = st.batches[st.valid]
            vr = st.valid_round
            just = tuple(st.votes[("prevote", vr, st.valid)].items())
        else:
            claims = tuple(c.select(node, Pending(), c.config.batch_size))
            if not claims:
                return
            block = c.build_block(node, [cl.trade for cl in claims])
        st.proposed.add(r)
        b = node.behaviour
        if b is Behaviour.EQUIVOCATE or (b is Behaviour.MALICIOUS_LEADER and (height + r) % 2 == 0):
            first, second = split_committee(c, node, self.rng)
            alt_claims = claims[1:] if len(claims) > 1 else claims
            alt = c.build_block(node, [cl.trade for cl in alt_claims])
            c.broadcast(node, Proposal(height, r, block, claims, vr, just), first)
            c.broadcast(node, Proposal(height, r, alt, alt_claims), second)
            return
        if b is Behaviour.MALICIOUS_LEADER:
            self._fresh_id += 1
            replay = node.log.blocks[-1].trades[0] if node.log.blocks else None
            claims = claims + (forge_invalid(claims[0], self.rng, replay, self._fresh_id),)
            block, vr, just = c.build_block(node, [cl.trade for cl in claims]), -1, ()
        c.broadcast(node, Proposal(height, r, block, claims, vr, just))

    # -- messages ---------------------------------------------------------------------------------------
    def on_message(self, node: ConsensusNode, src: str, msg: object) -> None:
        if isinstance(msg, RoundVote):
            self._on_vote(node, src, msg)
        elif isinstance(msg, BatchSignature):
            self._on_share(node, src, msg)
        elif isinstance(msg, Proposal):
            self._on_proposal(node, src, msg)
        else:
            super().on_message(node, src, msg)

    def _out_of_step(self, node: ConsensusNode, src: str, height: int) -> bool:
        """True for a message about a past height (the sender lags: help it) or one too far ahead (catch up)."""
        if height <= node.log.height:
            helped = self.helped[node.index]
            if (src, height) not in helped:
                helped.add((src, height))
                self.cluster.send(node, src, SyncReply(tuple(node.log.blocks[height - 1:])))
            return True
        if height > node.log.height + 1 and self.synced[node.index] != node.log.height:
            self.synced[node.index] = node.log.height
            self.cluster.send(node, src, SyncRequest(node.log.height))
        return False

    def _consistent(self, height: int, block: LogBlock, claims: tuple[TradeClaim, ...]) -> bool:
        """The claims are exactly the block's trades and its root is theirs (hashing done once per block)."""
        if block.height != height or not claims or len(claims) != len(block.trades):
            return False
        if not all(cl.trade is t or cl.trade == t for cl, t in zip(claims, block.trades)):
            return False
        tree = self.cluster.nodes[0].log.tree
        return self.cluster.verified(block, lambda: tree(block.trades).root == block.merkle_root)

    def _learn(self, st: _Height, height: int, block: LogBlock, claims: tuple[TradeClaim, ...]) -> bytes | None:
        digest = block.digest(self.cluster.domain)
        if digest not in st.batches:
            if not self._consistent(height, block, claims):
                return None
            st.batches[digest] = (block, claims)
        return digest

    def _judge(self, node: ConsensusNode, st: _Height, digest: bytes) -> bool:
        """Would an honest node accept this batch on top of its log?"""
        block, claims = st.batches[digest]
        return (block.parent_hash == node.log.head_hash and node.check_claims(claims) is None
                and self.cluster.judge_block(node, block) is None)

    def _justified(self, height: int, msg: Proposal, digest: bytes) -> bool:
        c = self.cluster
        if not 0 <= msg.valid_round < msg.round:
            return False
        d = vote_digest(c.domain, "prevote", msg.valid_round, digest)
        signers = {try_recover(d, sig) for _, sig in msg.justification}
        return len(signers & set(c.addresses_at(height))) >= c.quorum_at(height)

    def _on_proposal(self, node: ConsensusNode, src: str, msg: Proposal) -> None:
        c = self.cluster
        if self._out_of_step(node, src, msg.height) or msg.height != node.log.height + 1:
            return
        if self.leader(msg.height, msg.round) != c.index_of(src):
            return
        st = self._h(node, msg.height)
        if msg.round < st.round:
            return
        digest = self._learn(st, msg.height, msg.block, msg.claims)
        if digest is None:
            return
        if msg.round > st.round:
            self._enter(node, st, msg.height, msg.round)
        self._arm(node, st)
        b = node.behaviour
        if ("prevote", msg.round) in st.voted and b is not Behaviour.EQUIVOCATE:
            return
        if not c.is_member(node, msg.height):  # an observer (standby or removed validator) does not vote
            return
        if b is Behaviour.REJECT:
            return
        if b not in (Behaviour.APPROVE_ALL, Behaviour.EQUIVOCATE):
            if msg.valid_round >= 0:
                if not self._justified(msg.height, msg, digest):
                    return
                free = st.locked_round <= msg.valid_round or st.locked == digest
            else:
                free = st.locked is None or st.locked == digest
            if not free or not self._judge(node, st, digest):
                return
        if msg.valid_round >= 0 and ("prevote", msg.valid_round, digest) not in st.votes:
            st.votes[("prevote", msg.valid_round, digest)] = dict(msg.justification)
            self._check_quorum(node, st, msg.height, "prevote", msg.valid_round, digest)
        self._vote(node, st, "prevote", msg.height, msg.round, digest)

    def _vote(self, node: ConsensusNode, st: _Height, kind: str, height: int, round_: int, digest: bytes) -> None:
        c = self.cluster
        st.voted.add((kind, round_))
        block, claims = st.batches[digest]
        sig = node.key.sign(vote_digest(c.domain, kind, round_, digest))
        vote = RoundVote(kind, height, round_, digest, node.index, sig, block, claims)
        if node.behaviour is Behaviour.EQUIVOCATE:  # its vote reaches only part of the committee
            c.broadcast(node, vote, some_peers(c, self.rng))
        else:
            c.broadcast(node, vote)

    def _on_vote(self, node: ConsensusNode, src: str, msg: RoundVote) -> None:
        c = self.cluster
        if self._out_of_step(node, src, msg.height) or msg.kind not in ("prevote", "precommit"):
            return
        if not 0 <= msg.voter < len(c.nodes) or msg.voter not in c.members(msg.height):
            return
        address = c.validators[msg.voter]
        if try_recover(vote_digest(c.domain, msg.kind, msg.round, msg.digest), msg.signature) != address:
            return
        st = self._h(node, msg.height)
        if msg.digest not in st.batches and self._learn(st, msg.height, msg.block, msg.claims) != msg.digest:
            return
        st.votes.setdefault((msg.kind, msg.round, msg.digest), {})[address] = msg.signature
        if msg.height == node.log.height + 1:
            self._check_quorum(node, st, msg.height, msg.kind, msg.round, msg.digest)

    def _check_quorum(self, node: ConsensusNode, st: _Height, height: int, kind: str, round_: int,
                      digest: bytes) -> None:
        c = self.cluster
        votes = st.votes.get((kind, round_, digest))
        if votes is None or len(votes) < c.quorum_at(height):
            return
        b = node.behaviour
        if kind == "prevote":
            if round_ > st.valid_round:
                st.valid_round, st.valid = round_, digest
            if (round_ == st.round and ("precommit", round_) not in st.voted and b is not Behaviour.REJECT
                    and c.is_member(node, height)):
                if b in (Behaviour.APPROVE_ALL, Behaviour.EQUIVOCATE) or self._judge(node, st, digest):
                    st.locked_round, st.locked = round_, digest
                    self._vote(node, st, "precommit", height, round_, digest)
        elif st.decided is None:
            st.decided = digest
            self._share(node, st, height)

    def _share(self, node: ConsensusNode, st: _Height, height: int) -> None:
        if not self.cluster.is_member(node, height):
            return
        sig = node.sign_batch(st.decided, height, None)
        if sig is not None:
            self.cluster.broadcast(node, BatchSignature(height, st.decided, node.index, sig))

    def _on_share(self, node: ConsensusNode, src: str, msg: BatchSignature) -> None:
        c = self.cluster
        if self._out_of_step(node, src, msg.height) or not 0 <= msg.voter < len(c.nodes):
            return
        if msg.voter not in c.members(msg.height):
            return
        address = c.validators[msg.voter]
        if try_recover(msg.digest, msg.signature) != address:
            return
        st = self._h(node, msg.height)
        shares = st.shares.setdefault(msg.digest, {})
        shares[address] = msg.signature
        if msg.height == node.log.height + 1:
            self._try_commit(node, st, msg.digest)

    def _try_commit(self, node: ConsensusNode, st: _Height, digest: bytes) -> None:
        c = self.cluster
        shares = st.shares.get(digest)
        if shares is None or digest not in st.batches:
            return
        block, _ = st.batches[digest]
        if len(shares) < c.quorum_at(block.height):
            return
        if block.parent_hash != node.log.head_hash:
            return
        certified = block.with_qc(QuorumCertificate.build(digest, shares))
        node.finalize(certified, checked=True)
        c.on_certified(node, certified)
        self.after_commit(node)

    def after_commit(self, node: ConsensusNode) -> None:
        hs = self.heights[node.index]
        height = node.log.height
        for h in [h for h in hs if h <= height]:
            if hs[h].timer is not None:
                self.cluster.kernel.cancel(hs[h].timer)
            del hs[h]
        st = self._h(node, height + 1)
        for digest in list(st.shares):
            self._try_commit(node, st, digest)
            if node.log.height != height:
                return
        for key in list(st.votes):
            self._check_quorum(node, st, height + 1, *key)
        if self.cluster.pools[node.index] or st.batches:
            self._enter(node, st, height + 1, st.round)
