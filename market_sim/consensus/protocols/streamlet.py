"""Streamlet (Chan & Shi, 2020) ordering batches of approved trades, followed by on-chain-style certification.

Per epoch (length 2Δ and a small margin, synchronised clocks) the leader `epoch mod n` proposes a block extending the tip of a
longest notarized chain it has seen; an honest node votes (signed EIP-712 Vote('streamlet', epoch, blockHash))
for the first proposal of the epoch's leader that it receives during that epoch if it extends one of the
longest notarized chains it has seen and every trade checks out; a block with >= 2n/3 votes is notarized;
when a notarized chain has three adjacent blocks of consecutive epochs, the prefix up to the second is final.
Every non-empty final block becomes the next TradeLog block; nodes sign its Batch digest (one digest per
height, only for final blocks) and >= quorum signatures form its quorum certificate.

Deviations from the paper, all for message economy or robustness under loss:
- no implicit echo of every message: a proposal carries the leader's notarization certificate chain of its
  parent (linked, so ancestors the receiver lacks come with it) and votes carry the block they vote for;
- leader rotation is round-robin (epoch mod n) instead of a hash;
- certificates for final log blocks are re-requested each epoch by nodes that still miss one (loss before GST).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from market_sim.consensus.log import LogBlock, QuorumCertificate
from market_sim.consensus.merkle import EMPTY_ROOT
from market_sim.consensus.node import Behaviour, ConsensusNode
from market_sim.consensus.protocols.base import Protocol, forge_invalid, select_claims, some_peers, split_committee
from market_sim.consensus.signing import keccak, try_recover, vote_digest
from market_sim.consensus.state import Pending, TradeClaim

__all__ = ["Streamlet", "SBlock", "Notarization"]


def _u(v: int) -> bytes:
    return v.to_bytes(32, "big")


@dataclass(frozen=True, slots=True)
class SBlock:
    """A Streamlet block: epoch, parent hash, height, Merkle root of its trades (bytes32(0) if empty), proposer."""

    epoch: int
    parent: bytes
    height: int
    root: bytes
    claims: tuple[TradeClaim, ...]
    proposer: int
    state_block: int = 0   # the settlement header its log block will carry (Cluster.header), hashed when set
    expires_at: int = 0
    hash: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        header = _u(self.state_block) + _u(self.expires_at) if self.state_block or self.expires_at else b""
        object.__setattr__(self, "hash", keccak(_u(self.epoch) + self.parent + _u(self.height) + self.root
                                                + _u(self.proposer % 2**256) + header))

    @property
    def trades(self) -> tuple:
        return tuple(c.trade for c in self.claims)


GENESIS = SBlock(0, bytes(32), 0, EMPTY_ROOT, (), -1)


@dataclass(frozen=True, slots=True)
class Notarization:
    """A block with >= 2n/3 signed votes, linked to its parent's notarization (None above genesis)."""

    block: SBlock
    votes: tuple[tuple[str, bytes], ...]
    parent: Notarization | None


GENESIS_NOTARIZATION = Notarization(GENESIS, (), None)


@dataclass(frozen=True, slots=True)
class Propose:
    block: SBlock
    parent: Notarization
    signature: bytes


@dataclass(frozen=True, slots=True)
class Vote:
    block: SBlock
    voter: int
    signature: bytes


@dataclass(frozen=True, slots=True)
class CertShare:
    height: int
    digest: bytes
    signer: int
    signature: bytes


@dataclass(frozen=True, slots=True)
class CertRequest:
    height: int


@dataclass(frozen=True, slots=True)
class CertReply:
    block: LogBlock


class _Replica:
    """One node's Streamlet view."""

    __slots__ = ("blocks", "votes", "notar", "children", "best", "voted", "final", "pending_log", "tip_hash",
                 "tip_height", "shares", "waiting_since", "last_final", "orphans")

    def __init__(self) -> None:
        self.blocks: dict[bytes, SBlock] = {GENESIS.hash: GENESIS}
        self.votes: dict[bytes, dict[str, bytes]] = {}
        self.notar: dict[bytes, Notarization] = {GENESIS.hash: GENESIS_NOTARIZATION}
        self.children: dict[bytes, list[bytes]] = {}
        self.best = GENESIS_NOTARIZATION
        self.voted: set[int] = set()
        self.final = GENESIS
        self.pending_log: list[tuple[LogBlock, bytes]] = []  # final, awaiting certificate: (block, digest)
        self.tip_hash = bytes(32)
        self.tip_height = 0
        self.shares: dict[bytes, dict[str, bytes]] = {}
        self.waiting_since = 0
        self.last_final: TradeClaim | None = None  # what a malicious leader replays
        self.orphans: dict[bytes, set[bytes]] = {}  # parent hash -> voted-in blocks waiting for it


class Streamlet(Protocol):
    name = "streamlet"

    def __init__(self, cluster) -> None:  # noqa: ANN001
        super().__init__(cluster)
        self.replicas = [_Replica() for _ in cluster.nodes]
        self.epoch = 0
        # 2Δ plus a margin: votes sent on a proposal that took exactly Δ must land before the next epoch starts
        self.epoch_len = 2 * cluster.delta + cluster.delta // 4 + 1
        self.rng = random.Random(f"streamlet:{cluster.config.seed}")
        self._fresh_id = 10**15

    # -- timing -----------------------------------------------------------------------------------------
    def start(self) -> None:
        self.cluster.kernel.every(self.epoch_len, self._tick)

    def _tick(self) -> None:
        self.epoch += 1
        self.rounds = self.epoch
        c = self.cluster
        leader = c.nodes[self.epoch % len(c.nodes)]
        if leader.behaviour is not Behaviour.CRASHED:
            self._propose(leader)
        for node, r in zip(c.nodes, self.replicas):
            if r.pending_log and self.epoch - r.waiting_since >= 2 and node.behaviour is not Behaviour.CRASHED:
                r.waiting_since = self.epoch
                c.broadcast(node, CertRequest(r.pending_log[0][0].height))

    # -- proposing --------------------------------------------------------------------------------------
    def _chain_pending(self, node: ConsensusNode, r: _Replica, tip: SBlock) -> Pending | None:
        """Trades in the unfinalized part of the chain ending at tip; None if it does not extend the final block."""
        pending = Pending()
        b = tip
        while b.height > r.final.height:
            for c in b.claims:
                pending.add(c.trade, node.state.balances)
            b = r.blocks.get(b.parent)
            if b is None:
                return None
        return pending if b.hash == r.final.hash else None

    def _block(self, node: ConsensusNode, parent: SBlock, claims: list[TradeClaim],
               header: tuple[int, int] = (0, 0)) -> SBlock:
        root = node.log.tree([c.trade for c in claims]).root if claims else EMPTY_ROOT
        return SBlock(self.epoch, parent.hash, parent.height + 1, root, tuple(claims), node.index, *header)

    def _log_view(self, r: _Replica, tip: SBlock) -> tuple[int, bytes] | None:
        """(height, parent hash) the next non-empty block on the chain ending at `tip` gets in the TradeLog."""
        chain = []
        b = tip
        while b.height > r.final.height:
            chain.append(b)
            b = r.blocks.get(b.parent)
            if b is None:
                return None
        if b.hash != r.final.hash:
            return None
        height, parent = r.tip_height, r.tip_hash
        for blk in reversed(chain):
            if blk.claims:
                height += 1
                parent = self._log_block((height, parent), blk).hash
        return height + 1, parent

    def _log_block(self, view: tuple[int, bytes], blk: SBlock) -> LogBlock:
        return LogBlock(view[0], view[1], blk.root, blk.trades, state_block=blk.state_block,
                        expires_at=blk.expires_at)

    def _header(self, view: tuple[int, bytes] | None) -> tuple[int, int]:
        c = self.cluster
        return c.header(view[0]) if c.header is not None and view is not None else (0, 0)

    def _passing(self, node: ConsensusNode, parent: SBlock, view: tuple[int, bytes],
                 claims: list[TradeClaim]) -> list[TradeClaim]:
        """The honest proposer's largest greedy subset of claims the check hook accepts (the rest stays pooled)."""
        c = self.cluster

        def ok(cs: list[TradeClaim]) -> bool:
            blk = self._block(node, parent, cs, self._header(view))
            return c.judge_block(node, self._log_block(view, blk)) is None

        if ok(claims):
            return claims
        kept: list[TradeClaim] = []
        for claim in claims:
            if ok([*kept, claim]):
                kept.append(claim)
        return kept

    def _propose(self, node: ConsensusNode) -> None:
        c, r = self.cluster, self.replicas[node.index]
        parent = r.best
        pending = self._chain_pending(node, r, parent.block) or Pending()
        view = self._log_view(r, parent.block) if (c.header or c.check or c.selector) else None
        if c.selector is not None:
            claims = list(c.selector(node, view[0])) if view is not None else []
        else:
            claims = select_claims(node, c.pools[node.index], pending, c.config.batch_size, c.reject)
            if claims and c.check is not None and node.honest and view is not None:
                claims = self._passing(node, parent.block, view, claims)
        header = self._header(view) if claims else (0, 0)
        b = node.behaviour
        if b is Behaviour.EQUIVOCATE or (b is Behaviour.MALICIOUS_LEADER and self.epoch % 2 == 0):
            # conflicting proposals: different batches to the two halves of the committee
            first, second = split_committee(c, node, self.rng)
            alt = claims[1:] if claims else []
            for batch, dsts in ((claims, first), (alt, second)):
                blk = self._block(node, parent.block, batch, header if batch else (0, 0))
                c.broadcast(node, Propose(blk, parent, self._sign(node, "propose", blk)), dsts)
            return
        if b is Behaviour.MALICIOUS_LEADER and claims:
            replay = r.last_final.trade if r.last_final is not None else None
            self._fresh_id += 1
            claims = claims + [forge_invalid(claims[0], self.rng, replay, self._fresh_id)]
        blk = self._block(node, parent.block, claims, header if claims else (0, 0))
        c.broadcast(node, Propose(blk, parent, self._sign(node, "propose", blk)))

    def _sign(self, node: ConsensusNode, kind: str, blk: SBlock) -> bytes:
        return node.key.sign(vote_digest(self.cluster.domain, kind, blk.epoch, blk.hash))

    # -- messages ---------------------------------------------------------------------------------------
    def on_message(self, node: ConsensusNode, src: str, msg: object) -> None:
        if isinstance(msg, Vote):
            self._on_vote(node, msg)
        elif isinstance(msg, Propose):
            self._on_propose(node, msg)
        elif isinstance(msg, CertShare):
            self._on_share(node, msg)
        elif isinstance(msg, CertRequest):
            self._on_cert_request(node, src, msg)
        elif isinstance(msg, CertReply):
            self._on_cert_reply(node, msg)

    def _valid_notarization(self, nz: Notarization) -> bool:
        c = self.cluster

        def check() -> bool:
            digest = vote_digest(c.domain, "vote", nz.block.epoch, nz.block.hash)
            signers = {try_recover(digest, sig) for _, sig in nz.votes}
            return len(signers & set(c.validators)) >= c.quorum and (nz.parent is None) == (nz.block.height == 0)

        return c.verified(nz, check)

    def _ingest(self, node: ConsensusNode, r: _Replica, nz: Notarization) -> bool:
        """Learn a notarized chain; False if any link is bad."""
        missing = []
        while nz is not None and nz.block.hash not in r.notar:
            if (not self._valid_notarization(nz) or not self._root_ok(nz.block)
                    or (nz.parent is not None and nz.parent.block.hash != nz.block.parent)):
                return False
            missing.append(nz)
            nz = nz.parent
        if nz is None:
            return False
        for link in reversed(missing):
            r.blocks[link.block.hash] = link.block
            self._notarized(node, r, link)
        return True

    def _on_propose(self, node: ConsensusNode, msg: Propose) -> None:
        c, r, blk = self.cluster, self.replicas[node.index], msg.block
        leader = c.nodes[blk.epoch % len(c.nodes)]
        if blk.proposer != leader.index or try_recover(
                vote_digest(c.domain, "propose", blk.epoch, blk.hash), msg.signature) != leader.address:
            return
        if msg.parent.block.hash != blk.parent or not self._ingest(node, r, msg.parent):
            return
        if blk.hash not in r.blocks and self._root_ok(blk):
            r.blocks[blk.hash] = blk
        b = node.behaviour
        if b is Behaviour.REJECT:
            return
        if b is not Behaviour.APPROVE_ALL:
            if blk.epoch != self.epoch or (blk.epoch in r.voted and b is not Behaviour.EQUIVOCATE):
                return
            parent = r.notar[blk.parent].block
            if blk.height != parent.height + 1 or blk.epoch <= parent.epoch or parent.height != r.best.block.height:
                return
            pending = self._chain_pending(node, r, parent)
            if pending is None or not self._root_ok(blk) or node.check_claims(blk.claims, pending) is not None:
                return
            if not self._header_ok(node, r, parent, blk):
                return
        r.voted.add(blk.epoch)
        vote = Vote(blk, node.index, self._sign(node, "vote", blk))
        if b is Behaviour.EQUIVOCATE:  # its vote reaches only part of the committee
            c.broadcast(node, vote, some_peers(c, self.rng))
        else:
            c.broadcast(node, vote)

    def _header_ok(self, node: ConsensusNode, r: _Replica, parent: SBlock, blk: SBlock) -> bool:
        """An empty block carries no header; a non-empty one passes the cluster's check hook as the log block it
        becomes (without hooks: any header is refused, so blocks stay as they were)."""
        c = self.cluster
        if not blk.claims:
            return not (blk.state_block or blk.expires_at)
        if c.check is None:
            return c.header is not None or not (blk.state_block or blk.expires_at)
        view = self._log_view(r, parent)
        return view is not None and c.judge_block(node, self._log_block(view, blk)) is None

    def _root_ok(self, blk: SBlock) -> bool:
        def check() -> bool:
            if not blk.claims:
                return blk.root == EMPTY_ROOT
            return self.cluster.nodes[0].log.tree(blk.trades).root == blk.root

        return self.cluster.verified(blk, check)

    def _on_vote(self, node: ConsensusNode, msg: Vote) -> None:
        c, r, blk = self.cluster, self.replicas[node.index], msg.block
        if not 0 <= msg.voter < len(c.nodes):
            return
        address = c.validators[msg.voter]
        if try_recover(vote_digest(c.domain, "vote", blk.epoch, blk.hash), msg.signature) != address:
            return
        votes = r.votes.setdefault(blk.hash, {})
        votes[address] = msg.signature
        if blk.hash not in r.blocks and self._root_ok(blk):  # a vote may carry a doctored copy
            r.blocks[blk.hash] = blk
        self._try_notarize(node, r, blk.hash)

    def _try_notarize(self, node: ConsensusNode, r: _Replica, h: bytes) -> None:
        if h in r.notar:
            return
        votes = r.votes.get(h)
        blk = r.blocks.get(h)
        if blk is None or votes is None or len(votes) < self.cluster.quorum:
            return
        parent = r.notar.get(blk.parent)
        if parent is None:
            r.orphans.setdefault(blk.parent, set()).add(h)  # retried when the parent is notarized
            return
        self._notarized(node, r, Notarization(blk, tuple(votes.items()), parent))

    def _notarized(self, node: ConsensusNode, r: _Replica, nz: Notarization) -> None:
        blk = nz.block
        if blk.hash in r.notar:
            return
        r.notar[blk.hash] = nz
        r.children.setdefault(blk.parent, []).append(blk.hash)
        if blk.height > r.best.block.height:
            r.best = nz
        self._check_final(node, r, blk)
        for child in sorted(r.orphans.pop(blk.hash, ())):
            self._try_notarize(node, r, child)

    def _check_final(self, node: ConsensusNode, r: _Replica, blk: SBlock) -> None:
        notar = r.notar
        p = notar[blk.parent].block if blk.height > 0 else None
        if p is not None and p.height > 0 and p.epoch == blk.epoch - 1:
            g = notar[p.parent].block
            if g.epoch == p.epoch - 1:
                self._finalize(node, r, p)
        for ch in r.children.get(blk.hash, ()):
            cb = notar[ch].block if ch in notar else None
            if cb is None or cb.epoch != blk.epoch + 1:
                continue
            if p is not None and p.epoch == blk.epoch - 1:
                self._finalize(node, r, blk)
            for gch in r.children.get(ch, ()):
                if gch in notar and notar[gch].block.epoch == cb.epoch + 1:
                    self._finalize(node, r, cb)

    def _finalize(self, node: ConsensusNode, r: _Replica, blk: SBlock) -> None:
        chain = []
        b = blk
        while b.height > r.final.height:
            chain.append(b)
            b = r.blocks[b.parent]
        if b.hash != r.final.hash:
            self.cluster.violations.append(
                f"{node.name} ({node.behaviour}) saw conflicting final blocks at height {b.height}")
            return
        c = self.cluster
        for b in reversed(chain):
            r.final = b
            if not b.claims:
                continue
            trades = b.trades
            node.apply(trades)
            r.last_final = b.claims[-1]
            lb = LogBlock(r.tip_height + 1, r.tip_hash, b.root, trades, state_block=b.state_block,
                          expires_at=b.expires_at)
            digest = lb.digest(c.domain)
            r.tip_height, r.tip_hash = lb.height, lb.hash
            if not r.pending_log:
                r.waiting_since = self.epoch
            r.pending_log.append((lb, digest))
            sig = node.sign_batch(digest, lb.height, None)
            if sig is not None:
                c.broadcast(node, CertShare(lb.height, digest, node.index, sig))
        self._try_certify(node, r)

    # -- certification of final blocks ------------------------------------------------------------------
    def _on_share(self, node: ConsensusNode, msg: CertShare) -> None:
        c, r = self.cluster, self.replicas[node.index]
        if not 0 <= msg.signer < len(c.nodes) or try_recover(msg.digest, msg.signature) != c.validators[msg.signer]:
            return
        r.shares.setdefault(msg.digest, {})[c.validators[msg.signer]] = msg.signature
        self._try_certify(node, r)

    def _try_certify(self, node: ConsensusNode, r: _Replica) -> None:
        c = self.cluster
        while r.pending_log:
            lb, digest = r.pending_log[0]
            sigs = r.shares.get(digest)
            if sigs is None or len(sigs) < c.quorum:
                return
            certified = lb.with_qc(QuorumCertificate.build(digest, sigs))
            r.pending_log.pop(0)
            r.waiting_since = self.epoch
            node.log.append(certified, checked=True)
            del r.shares[digest]
            c.on_certified(node, certified)

    def _on_cert_request(self, node: ConsensusNode, src: str, msg: CertRequest) -> None:
        c, r = self.cluster, self.replicas[node.index]
        if node.log.height >= msg.height:
            c.send(node, src, CertReply(node.log.block(msg.height)))
            return
        for lb, digest in r.pending_log:
            if lb.height == msg.height:
                sig = node.sign_batch(digest, lb.height, None)
                if sig is not None:
                    c.send(node, src, CertShare(lb.height, digest, node.index, sig))

    def _on_cert_reply(self, node: ConsensusNode, msg: CertReply) -> None:
        c, r = self.cluster, self.replicas[node.index]
        if not r.pending_log or r.pending_log[0][0].hash != msg.block.hash or msg.block.qc is None:
            return
        if msg.block.qc.digest != r.pending_log[0][1] or msg.block.qc.problems(c.validators, c.quorum):
            return
        r.pending_log.pop(0)
        node.log.append(msg.block, checked=True)
        c.on_certified(node, msg.block)
        self._try_certify(node, r)
