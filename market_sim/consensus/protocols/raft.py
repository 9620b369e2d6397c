"""Raft (Ongaro & Ousterhout, 2014) as a crash-fault-tolerant comparison: n = 2f+1 nodes survive f crashes, not
one Byzantine node (the config refuses every behaviour other than crashed and delayed).

Nodes are followers until a randomized election timeout (6Δ-12Δ, drawn from the seeded rng: same seed, same
run) makes one a candidate for the next term; it wins with votes from a majority whose logs are not more
up to date than its own. The leader appends a no-op entry for its term, then one batch of approved trades at a
time (the next once everything before is committed), and replicates with AppendEntries (log-matching check on
the previous entry, conflicting suffixes overwritten, heartbeats every 2Δ). An entry of the leader's term is
committed once a majority (n//2 + 1) holds it; committing it commits everything before it.

Every node applies committed entries in order: a batch entry becomes the next TradeLog block (height = number
of batches so far, parent = previous batch's hash), the node's validation state takes its trades and the node
signs the block's EIP-712 Batch digest (a committed entry is final, so the one-digest-per-height rule holds).
Followers return their signatures in AppendEntries replies; the leader builds the quorum certificate from a
majority of them (`ConsensusConfig.quorum` is n//2 + 1 for raft: the TradeLog threshold is Raft's majority, not
2f+1 of 3f+1) and ships certified blocks to followers in later AppendEntries (and followers to a new leader
that lacks them, in replies).

Deviations from the paper: no membership changes, no log compaction or snapshots, no client sessions (the trade
feed reaches every node; the leader takes what its pool holds); one batch in flight at a time; CheckQuorum
(Raft thesis §6.2): a leader that has not heard from a majority for 12Δ steps down, so a leader cut off in a
minority partition stops leading; no PreVote, so a node rejoining from a minority with a higher term forces
one extra election.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from market_sim.consensus.log import LogBlock, QuorumCertificate
from market_sim.consensus.node import Behaviour, ConsensusNode
from market_sim.consensus.protocols.base import Protocol, select_claims
from market_sim.consensus.signing import GENESIS_HASH, try_recover
from market_sim.consensus.state import Pending, TradeClaim

__all__ = ["Raft", "Entry", "RequestVote", "VoteReply", "AppendEntries", "AppendReply"]

MAX_ENTRIES = 16  # entries (and certified blocks) per AppendEntries


@dataclass(frozen=True, slots=True)
class Entry:
    """A Raft log entry: its term and a batch (uncertified TradeLog block), or None for a leader's no-op."""

    term: int
    block: LogBlock | None


@dataclass(frozen=True, slots=True)
class RequestVote:
    term: int
    last_index: int
    last_term: int


@dataclass(frozen=True, slots=True)
class VoteReply:
    term: int
    granted: bool


@dataclass(frozen=True, slots=True)
class AppendEntries:
    term: int
    prev_index: int
    prev_term: int
    entries: tuple[Entry, ...]
    commit: int
    log_height: int                                   # the leader's TradeLog height
    certified: tuple[LogBlock, ...]                   # certified blocks the follower lacks


@dataclass(frozen=True, slots=True)
class AppendReply:
    term: int
    success: bool
    match: int                                        # last index known to match (a hint on failure)
    log_height: int
    shares: tuple[tuple[bytes, bytes], ...]           # (Batch digest, signature) of batches not certified here
    certified: tuple[LogBlock, ...]                   # blocks above the leader's TradeLog height


class _Replica:
    """One node's Raft state."""

    __slots__ = ("term", "voted_for", "role", "log", "commit", "applied", "votes", "next", "match", "sent",
                 "known", "last_ack", "deadline", "pending", "own", "shares")

    def __init__(self, n: int) -> None:
        self.term = 0
        self.voted_for: int | None = None
        self.role = "follower"
        self.log: list[Entry] = [Entry(0, None)]           # index 0 is a sentinel
        self.commit = self.applied = 0
        self.votes: set[int] = set()
        self.next = [1] * n                                 # leader: next index to send to each node
        self.match = [0] * n                                # leader: highest index known replicated there
        self.sent = [0] * n                                 # leader: highest index sent there
        self.known = [0] * n                                # leader: each node's TradeLog height
        self.last_ack = [0] * n                             # leader: when each node last answered
        self.deadline = 0
        self.pending: dict[int, tuple[LogBlock, bytes]] = {}   # applied, awaiting certificate: height -> block
        self.own: dict[int, tuple[bytes, bytes]] = {}          # height -> (digest, own signature)
        self.shares: dict[bytes, dict[str, bytes]] = {}        # digest -> signer -> signature

    @property
    def last(self) -> int:
        return len(self.log) - 1


class Raft(Protocol):
    name = "raft"
    tolerates = "crash"

    def __init__(self, cluster) -> None:  # noqa: ANN001
        super().__init__(cluster)
        n = len(cluster.nodes)
        self.replicas = [_Replica(n) for _ in cluster.nodes]
        self.majority = n // 2 + 1
        self.rng = random.Random(f"raft:{cluster.config.seed}")
        self.heartbeat = 2 * cluster.delta
        self.leaders: list[tuple[int, int, str]] = []     # (time ns, term, node) of every election won
        self.step_downs: list[tuple[int, int, str]] = []  # (time ns, term, node) of leaders losing their quorum

    def _alive(self, node: ConsensusNode) -> bool:
        return node.behaviour is not Behaviour.CRASHED  # nodes may also crash mid-run (tests)

    # -- elections ----------------------------------------------------------------------------------------
    def start(self) -> None:
        for node in self.cluster.nodes:
            if self._alive(node):
                self._arm(node, self.replicas[node.index], schedule=True)

    def _arm(self, node: ConsensusNode, r: _Replica, schedule: bool = False) -> None:
        """Push the election deadline to a fresh random timeout; the single timer per node re-checks it lazily."""
        c = self.cluster
        r.deadline = c.kernel.now + self.rng.randint(6 * c.delta, 12 * c.delta)
        if schedule:
            c.kernel.schedule_at(r.deadline, self._on_timer, node)

    def _on_timer(self, node: ConsensusNode) -> None:
        r, kernel = self.replicas[node.index], self.cluster.kernel
        if not self._alive(node):
            return
        if kernel.now < r.deadline:
            kernel.schedule_at(r.deadline, self._on_timer, node)
            return
        if r.role != "leader":
            r.term += 1
            self.rounds = max(self.rounds, r.term)
            r.role, r.voted_for, r.votes = "candidate", node.index, {node.index}
            self.cluster.broadcast(node, RequestVote(r.term, r.last, r.log[-1].term),
                                   [m.name for m in self.cluster.nodes if m is not node])
            if len(r.votes) >= self.majority:
                self._lead(node, r)
        self._arm(node, r, schedule=True)

    def _follow(self, r: _Replica, term: int) -> None:
        if term > r.term:
            r.term, r.voted_for = term, None
        r.role = "follower"

    def _on_request_vote(self, node: ConsensusNode, r: _Replica, src: str, msg: RequestVote) -> None:
        if msg.term > r.term:
            self._follow(r, msg.term)
        cand = self.cluster.index_of(src)
        up_to_date = (msg.last_term, msg.last_index) >= (r.log[-1].term, r.last)
        granted = msg.term == r.term and r.voted_for in (None, cand) and up_to_date
        if granted:
            r.voted_for = cand
            self._arm(node, r)
        self.cluster.send(node, src, VoteReply(r.term, granted))

    def _on_vote_reply(self, node: ConsensusNode, r: _Replica, src: str, msg: VoteReply) -> None:
        if msg.term > r.term:
            self._follow(r, msg.term)
        elif r.role == "candidate" and msg.term == r.term and msg.granted:
            r.votes.add(self.cluster.index_of(src))
            if len(r.votes) >= self.majority:
                self._lead(node, r)

    def _lead(self, node: ConsensusNode, r: _Replica) -> None:
        c = self.cluster
        r.role = "leader"
        self.leaders.append((c.kernel.now, r.term, node.name))
        r.log.append(Entry(r.term, None))  # the no-op commits the previous terms' entries
        n = len(c.nodes)
        r.next, r.match, r.sent = [r.last] * n, [0] * n, [0] * n
        r.known, r.last_ack = [node.log.height] * n, [c.kernel.now] * n
        r.match[node.index] = r.last
        self._advance(node, r, changed=True)
        c.kernel.schedule(self.heartbeat, self._heartbeat, node, r.term)

    def _heartbeat(self, node: ConsensusNode, term: int) -> None:
        c, r = self.cluster, self.replicas[node.index]
        if not self._alive(node) or r.role != "leader" or r.term != term:
            return
        now = c.kernel.now
        heard = sum(1 for i, t in enumerate(r.last_ack) if i == node.index or now - t <= 12 * c.delta)
        if heard < self.majority:  # CheckQuorum: cut off from a majority, stop leading
            self.step_downs.append((now, term, node.name))
            r.role = "follower"
            self._arm(node, r)
            return
        self._replicate(node, r)
        c.kernel.schedule(self.heartbeat, self._heartbeat, node, term)

    # -- replication --------------------------------------------------------------------------------------
    def on_trade(self, node: ConsensusNode, claim: TradeClaim) -> None:
        r = self.replicas[node.index]
        if r.role == "leader" and r.commit == r.last and self._alive(node) and self._propose(node, r):
            self._advance(node, r, changed=True)

    def _propose(self, node: ConsensusNode, r: _Replica) -> bool:
        """Append the next batch of pooled trades (everything before is committed, so nothing is pending)."""
        c = self.cluster
        prev = next((e.block for e in reversed(r.log) if e.block is not None), None)
        height = prev.height + 1 if prev else 1
        if c.selector is not None:
            claims = list(c.selector(node, height))
        else:
            claims = select_claims(node, c.pools[node.index], Pending(), c.config.batch_size, c.reject)
        if not claims:
            return False
        trades = tuple(cl.trade for cl in claims)
        state_block, expires_at = c.header(height) if c.header is not None else (0, 0)
        r.log.append(Entry(r.term, LogBlock(height, prev.hash if prev else GENESIS_HASH,
                                            node.log.tree(trades).root, trades, state_block=state_block,
                                            expires_at=expires_at)))
        r.match[node.index] = r.last
        return True

    def _replicate(self, node: ConsensusNode, r: _Replica, only: int | None = None) -> None:
        c = self.cluster
        for m in c.nodes:
            if m is node or (only is not None and m.index != only):
                continue
            i, k = r.next[m.index], r.known[m.index]
            entries = tuple(r.log[i:i + MAX_ENTRIES])
            r.sent[m.index] = max(r.sent[m.index], i - 1 + len(entries))
            c.send(node, m.name, AppendEntries(r.term, i - 1, r.log[i - 1].term, entries, r.commit,
                                               node.log.height, tuple(node.log.blocks[k:k + MAX_ENTRIES])))

    def _advance(self, node: ConsensusNode, r: _Replica, changed: bool = False) -> bool:
        """Leader: commit the highest entry of its term a majority holds, apply it, propose the next batch when
        nothing is in flight; tell every follower if anything changed. Returns whether it did."""
        while True:
            index = next((i for i in range(r.last, r.commit, -1) if r.log[i].term == r.term
                          and sum(1 for m in r.match if m >= i) >= self.majority), r.commit)
            if index > r.commit:
                r.commit, changed = index, True
                self._apply(node, r)
                self._try_certify(node, r)
            if r.commit < r.last or not self._propose(node, r):
                break
            changed = True
        if changed:
            self._replicate(node, r)
        return changed

    def _on_append(self, node: ConsensusNode, r: _Replica, src: str, msg: AppendEntries) -> None:
        c = self.cluster
        if msg.term >= r.term:
            self._follow(r, msg.term)
            self._arm(node, r)
        ok = msg.term == r.term and msg.prev_index <= r.last and r.log[msg.prev_index].term == msg.prev_term
        match = min(r.last, msg.prev_index - 1)
        if ok:
            for index, entry in enumerate(msg.entries, msg.prev_index + 1):
                if index <= r.last and r.log[index].term != entry.term:
                    if index <= r.commit:
                        c.violations.append(f"{node.name} asked to overwrite committed entry {index}")
                        return
                    del r.log[index:]
                if index > r.last:
                    r.log.append(entry)
            match = msg.prev_index + len(msg.entries)
            if msg.commit > r.commit:
                r.commit = max(r.commit, min(msg.commit, match))
                self._apply(node, r)
            self._accept(node, r, msg.certified)
        shares = tuple(share for h, share in sorted(r.own.items()) if h > node.log.height)
        h = msg.log_height
        c.send(node, src, AppendReply(r.term, ok, match, node.log.height, shares,
                                      tuple(node.log.blocks[h:h + MAX_ENTRIES])))

    def _on_append_reply(self, node: ConsensusNode, r: _Replica, src: str, msg: AppendReply) -> None:
        c = self.cluster
        if msg.term > r.term:
            self._follow(r, msg.term)
            self._arm(node, r)
            return
        if r.role != "leader" or msg.term != r.term:
            return
        j, height = c.index_of(src), node.log.height
        r.last_ack[j], r.known[j] = c.kernel.now, msg.log_height
        for digest, sig in msg.shares:
            if try_recover(digest, sig) == c.validators[j]:
                r.shares.setdefault(digest, {})[c.validators[j]] = sig
        self._accept(node, r, msg.certified)
        self._try_certify(node, r)
        if not msg.success:  # back up to the follower's hint and resend from there
            r.next[j] = max(1, min(r.next[j], msg.match + 1))
            r.sent[j] = r.next[j] - 1
        elif msg.match > r.match[j]:
            r.match[j], r.next[j] = msg.match, msg.match + 1
        # a new certificate goes out with the next AppendEntries to everyone; a lagging node gets what it was
        # never sent now (entries already in flight are not sent twice)
        if not self._advance(node, r, changed=node.log.height > height) and r.sent[j] < r.last:
            self._replicate(node, r, only=j)

    # -- applying and certifying --------------------------------------------------------------------------
    def _apply(self, node: ConsensusNode, r: _Replica) -> None:
        """Apply committed entries in order: state update, Batch-digest signature, block awaiting its QC."""
        while r.applied < r.commit:
            r.applied += 1
            block = r.log[r.applied].block
            if block is None:
                continue
            node.apply(block.trades)
            digest = block.digest(self.cluster.domain)
            r.pending[block.height] = (block, digest)
            sig = node.sign_batch(digest, block.height, None)
            if sig is not None:
                r.own[block.height] = (digest, sig)
                r.shares.setdefault(digest, {})[node.address] = sig

    def _try_certify(self, node: ConsensusNode, r: _Replica) -> None:
        c = self.cluster
        while (p := r.pending.get(node.log.height + 1)) is not None:
            sigs = r.shares.get(p[1], {})
            if len(sigs) < c.quorum:
                return
            self._append(node, r, p[0].with_qc(QuorumCertificate.build(p[1], sigs)))

    def _accept(self, node: ConsensusNode, r: _Replica, blocks: tuple[LogBlock, ...]) -> None:
        """Take certified blocks from another node for batches this node has applied."""
        c = self.cluster
        for block in blocks:
            p = r.pending.get(block.height)
            if block.height != node.log.height + 1 or p is None or p[0].hash != block.hash:
                continue
            if not c.verified(block, lambda b=block: not b.qc.problems(c.validators, c.quorum)):
                return
            self._append(node, r, block)

    def _append(self, node: ConsensusNode, r: _Replica, block: LogBlock) -> None:
        node.log.append(block, checked=True)
        r.pending.pop(block.height, None)
        r.own.pop(block.height, None)
        r.shares.pop(block.qc.digest, None)
        self.cluster.on_certified(node, block)

    def on_message(self, node: ConsensusNode, src: str, msg: object) -> None:
        if not self._alive(node):
            return
        r = self.replicas[node.index]
        if isinstance(msg, AppendEntries):
            self._on_append(node, r, src, msg)
        elif isinstance(msg, AppendReply):
            self._on_append_reply(node, r, src, msg)
        elif isinstance(msg, RequestVote):
            self._on_request_vote(node, r, src, msg)
        elif isinstance(msg, VoteReply):
            self._on_vote_reply(node, r, src, msg)
