"""Batch certification by the networked protocol, on the simulation's kernel: what the settlement pipeline uses.

Two modes over one Cluster (bft, streamlet, majority; raft for comparison, crash faults only - it is NOT
Byzantine-tolerant: one lying node can make it certify anything, and its followers run no check hook):

- log-follower, `NetworkCertifier`: executed trades (approved before execution at the engine's trade boundary by
  `validate_trade`, or handed in with `add`) enter the validators' pools; the protocol's leader proposes blocks;
  each certified block (height == on-chain batch sequence) goes to `on_certified(block)` at the simulated time
  the first honest node holds its quorum certificate. The pipeline settles the blocks in order.
- certify-this-batch, `BatchCertifier`: the async certifier protocol `request(batch, trades, on_certified,
  on_refused)`: the leader of height `batch.sequence` proposes exactly that batch.

Settlement hooks: `header(height) -> (state_block, expires_at)` the proposer stamps on its block; `check(block)
-> refusal reason or None`, run by every honest validator on a proposal (solvency at the stated block, a sane
expiry); `extra_leaves` (net deltas) go into the Merkle root as in the synchronous committee.

Requeue and the dedup rule. `requeue(trades)` hands back trades of a batch whose certificate expired unsettled
(its block has expires_at != 0): their block is marked expired on every validator (validators read expiry off
the chain), the trades are no longer final in the validators' state, and they go back into the pools, to be
certified again in a later block. The canonical log may then hold a trade id twice. `CertLog` allows exactly
this and nothing else: a trade id may occur in several blocks only if every occurrence but the last is in an
expired block from which that very trade was handed back; a repeat inside one block, a repeat after a live
(unexpired or not handed back) occurrence, and an expired mark on a block that never expires are log errors.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from market_sim.core.errors import ConsensusError
from market_sim.core.events import Trade
from market_sim.core.orders import NewOrder
from market_sim.consensus.cluster import BlockCheck, Cluster, HeaderHook, Reconfiguration, Submission, percentiles
from market_sim.consensus.config import ConsensusConfig
from market_sim.consensus.log import ExtraLeaves, LogBlock, LogVerification, TradeLog
from market_sim.consensus.merkle import LeafEncoder, default_leaf_encoder
from market_sim.consensus.node import Behaviour, ConsensusNode
from market_sim.consensus.signing import GENESIS_HASH, SigningDomain
from market_sim.consensus.state import BalanceView, TradeClaim
from market_sim.simulation.kernel import Kernel

__all__ = ["CertLog", "BatchStat", "NetworkCertifier", "BatchCertifier", "OnCertified", "OnRefused"]

OnCertified = Callable[[LogBlock], None]
OnRefused = Callable[[str], None]


class CertLog(TradeLog):
    """A TradeLog with validator sets per height and the requeue rule (module docstring): a trade id repeats only
    after an expired occurrence it was handed back from."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.released: dict[int, set[int]] = {}       # expired height -> trade ids handed back from it
        self._occurs: dict[int, list[int]] = {}       # trade id -> heights it occurs at, ascending
        self._sets: list[tuple[int, tuple[str, ...], int]] = []

    # -- validator sets ----------------------------------------------------------------------------------
    def set_validators(self, first_height: int, validators: Sequence[str], threshold: int) -> None:
        """From `first_height` on, certificates are checked against this set and threshold."""
        self._sets = sorted([*(s for s in self._sets if s[0] != first_height),
                             (first_height, tuple(validators), threshold)])

    def validators_at(self, height: int) -> tuple[tuple[str, ...], int]:
        for start, validators, threshold in reversed(self._sets):
            if start <= height:
                return validators, threshold
        return self.validators, self.threshold

    def _problem(self, block: LogBlock, height: int, parent: bytes) -> str | None:
        if not self._sets:
            return super()._problem(block, height, parent)
        saved = self.validators, self.threshold
        self.validators, self.threshold = self.validators_at(height)
        try:
            return super()._problem(block, height, parent)
        finally:
            self.validators, self.threshold = saved

    # -- the requeue rule --------------------------------------------------------------------------------
    def occurrences(self, trade_id: int) -> tuple[int, ...]:
        """Heights holding this trade id (more than one only after a requeue)."""
        return tuple(self._occurs.get(trade_id, ()))

    def _live(self, trade_id: int, heights: Iterable[int]) -> int | None:
        """The first of `heights` where the trade is not released (expired and handed back), or None."""
        return next((h for h in heights if trade_id not in self.released.get(h, ())), None)

    def duplicate_problem(self, block: LogBlock) -> str | None:
        seen: set[int] = set()
        for trade in block.trades:
            tid = trade.trade_id
            if tid in seen:
                return f"trade {tid} appears twice in the block"
            seen.add(tid)
            live = self._live(tid, self._occurs.get(tid, ()))
            if live is not None:
                return f"trade {tid} is already in block {live}"
        return None

    def append(self, block: LogBlock, *, checked: bool = False) -> None:
        problem = self.duplicate_problem(block)
        if problem:
            raise ConsensusError(f"cannot append block {block.height}: {problem}")
        index = self._index
        saved = {t.trade_id: index.pop(t.trade_id) for t in block.trades if t.trade_id in index}
        try:
            super().append(block, checked=checked)  # the index then points at the newest occurrence
        except ConsensusError:
            index.update(saved)
            raise
        for trade in block.trades:
            self._occurs.setdefault(trade.trade_id, []).append(block.height)

    def release(self, height: int, trade_ids: Iterable[int]) -> None:
        """Block `height` expired unsettled and these of its trades were handed back: they may be logged again."""
        ids = set(trade_ids)
        if height <= self.height:
            block = self.block(height)
            if block.expires_at == 0:
                raise ConsensusError(f"block {height} never expires (expires_at is 0): its trades cannot be requeued")
            missing = ids - {t.trade_id for t in block.trades}
            if missing:
                raise ConsensusError(f"trades {sorted(missing)} are not in block {height}")
        self.released.setdefault(height, set()).update(ids)

    def verify(self) -> LogVerification:
        """TradeLog.verify with the requeue rule instead of 'no trade id twice'."""
        parent, last = GENESIS_HASH, {}
        for i, block in enumerate(self.blocks):
            height = i + 1
            problem = self._problem(block, height, parent)
            if problem is None and height in self.released and block.expires_at == 0:
                problem = "marked expired but never expires"
            if problem is None:
                seen: set[int] = set()
                for trade in block.trades:
                    tid = trade.trade_id
                    prev = last.get(tid)
                    if tid in seen:
                        problem = f"trade {tid} appears twice in the block"
                    elif prev is not None and tid not in self.released.get(prev, ()):
                        problem = f"trade {tid} appears twice in the log (block {prev} was not expired and requeued)"
                    if problem:
                        break
                    seen.add(tid)
                    last[tid] = height
            if problem:
                return LogVerification(False, len(self.blocks), height, problem)
            parent = block.hash
        return LogVerification(True, len(self.blocks))


def _unfinalize(node: ConsensusNode, trades: Sequence[Trade]) -> None:
    """Undo ValidationState.finalize for trades whose block expired unsettled (they will be certified again)."""
    state = node.state
    for trade in trades:
        if trade.trade_id not in state.final_ids:
            continue
        state.final_ids.discard(trade.trade_id)
        for oid in (trade.buy_order_id, trade.sell_order_id):
            state.filled[oid] -= trade.quantity
            if not state.filled[oid]:
                del state.filled[oid]
        if state.balances is not None:
            state.balances.apply(trade, -1)


@dataclass(frozen=True, slots=True)
class BatchStat:
    """One certified height: its trades, when its first trade was ready (executed or requeued), when the first
    honest node held the certificate, and the consensus messages sent since the previous certified height."""

    height: int
    trades: int
    ready_at: int
    certified_at: int
    messages: int
    requeued: int = 0  # trades certified again after an expired batch

    @property
    def latency(self) -> int:
        return self.certified_at - self.ready_at


@dataclass(slots=True)
class _Stats:
    batches: list[BatchStat] = field(default_factory=list)
    messages_seen: int = 0


class NetworkCertifier:
    """Log-follower mode: the protocol decides batch contents; `on_certified(block)` receives each certified block
    in height order, at the simulated time the first honest node holds its certificate."""

    def __init__(self, config: ConsensusConfig, *, kernel: Kernel | None = None, accounts: Iterable[str] | None = None,
                 balances: BalanceView | None = None, domain: SigningDomain | None = None,
                 leaf_encoder: LeafEncoder = default_leaf_encoder, extra_leaves: ExtraLeaves | None = None,
                 header: HeaderHook | None = None, check: BlockCheck | None = None,
                 on_certified: OnCertified | None = None, pretrade: bool = True, standby: Iterable[int] = (),
                 reconfigurations: Iterable[Reconfiguration] = (),
                 _selector: Callable[[ConsensusNode, int], Sequence[TradeClaim]] | None = None) -> None:
        self.cluster = Cluster(config, accounts=accounts, balances=balances, domain=domain, leaf_encoder=leaf_encoder,
                               extra_leaves=extra_leaves, pretrade=pretrade, kernel=kernel, stop_when_done=False,
                               header=header, check=check, selector=_selector, log_type=CertLog, standby=standby,
                               reconfigurations=reconfigurations)
        self.kernel = self.cluster.kernel
        self.on_certified = on_certified
        self.claims: dict[int, TradeClaim] = {}     # every trade handed in, by id
        self.ready_at: dict[int, int] = {}          # trade id -> when it (last) entered the pools
        self.requeued: Counter[int] = Counter()     # trade id -> times handed back
        self.blocks: list[LogBlock] = []            # the canonical log as certified, in height order
        self._where: dict[int, list[int]] = {}      # trade id -> canonical heights holding it
        self._stats = _Stats()
        self._deferred: list[dict[int, list[Trade]]] = [{} for _ in self.cluster.nodes]  # node -> height -> trades
        self._started = False
        self.cpu_seconds = 0.0
        self.cluster.certified_listeners.append(self._certified)
        self.cluster.node_listeners.append(self._node_appended)

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the protocol's timers (once; also done by run())."""
        if not self._started:
            self._started = True
            self.cluster.protocol.start()

    def run(self, until: int | None = None) -> None:
        """Run the kernel (standalone use and tests) until `until` or the config's horizon."""
        self.start()
        cpu = time.process_time()
        self.kernel.run(until=self.cluster.config.horizon if until is None else until)
        self.cpu_seconds += time.process_time() - cpu

    @property
    def nodes(self) -> list[ConsensusNode]:
        return self.cluster.nodes

    def validators_at(self, height: int) -> tuple[str, ...]:
        """The validator set certifying `height` (the settlement contract must hold it from then on)."""
        return self.cluster.addresses_at(height)

    # -- trades in ---------------------------------------------------------------------------------------
    def validate_trade(self, trade: Trade, buy: NewOrder, sell: NewOrder) -> str | None:
        """TradeValidator at the engine's trade boundary: the signed pre-trade vote now (None: approved); an
        approved trade reaches the validators' pools one vote round trip later."""
        claim = TradeClaim(trade, buy, sell)
        reason = self.cluster._admit(claim)
        if reason is None:
            self._accepted(claim)
        return reason

    def add(self, claims: Iterable[TradeClaim | Submission]) -> None:
        """Hand in executed, already approved trades (a Submission at its time, a claim now)."""
        for item in claims:
            sub = item if isinstance(item, Submission) else Submission(self.kernel.now, item)
            self.kernel.schedule_at(max(sub.at, self.kernel.now), self._add_now, sub.claim)

    def _add_now(self, claim: TradeClaim) -> None:
        if self.cluster._admit(claim) is None:
            self._accepted(claim)

    def _accepted(self, claim: TradeClaim) -> None:
        self.claims[claim.trade_id] = claim
        self.ready_at[claim.trade_id] = self.kernel.now

    # -- certification out -------------------------------------------------------------------------------
    def _certified(self, block: LogBlock) -> None:
        now = self.kernel.now
        sent = self.cluster.network.messages
        ready = min((self.ready_at.get(t.trade_id, now) for t in block.trades), default=now)
        again = sum(1 for t in block.trades if self.requeued[t.trade_id])
        self._stats.batches.append(BatchStat(block.height, len(block.trades), ready, now,
                                             sent - self._stats.messages_seen, again))
        self._stats.messages_seen = sent
        self.blocks.append(block)
        for t in block.trades:
            self._where.setdefault(t.trade_id, []).append(block.height)
        if self.on_certified is not None:
            self.on_certified(block)

    def _node_appended(self, node: ConsensusNode, block: LogBlock) -> None:
        trades = self._deferred[node.index].pop(block.height, None)
        if trades is not None:  # it learnt of an expiry before it had the block
            self._hand_back(node, trades)

    @property
    def batches(self) -> list[BatchStat]:
        return list(self._stats.batches)

    # -- requeue -----------------------------------------------------------------------------------------
    def requeue(self, trades: Iterable[Trade]) -> None:
        """Trades of batches that expired unsettled: certify them again in a later block (module docstring)."""
        trades = list(trades)
        by_height: dict[int, list[Trade]] = {}
        for trade in trades:
            tid = trade.trade_id
            heights = self._where.get(tid)
            if not heights:
                raise ConsensusError(f"trade {tid} was never certified: nothing to requeue")
            h = heights[-1]
            block = self.blocks[h - 1]
            if block.expires_at == 0:
                raise ConsensusError(f"trade {tid} is in block {h}, which never expires: it cannot be requeued")
            if tid in {t.trade_id for t in by_height.get(h, ())} or self._released(h, tid):
                raise ConsensusError(f"trade {tid} of block {h} was already requeued")
            by_height.setdefault(h, []).append(trade)
        for h, ts in by_height.items():
            ids = [t.trade_id for t in ts]
            for node in self.cluster.nodes:
                node.log.release(h, ids)  # type: ignore[attr-defined]
                if node.log.height >= h:
                    self._hand_back(node, ts)
                else:
                    self._deferred[node.index].setdefault(h, []).extend(ts)
            for t in ts:
                self.requeued[t.trade_id] += 1
                self.ready_at[t.trade_id] = self.kernel.now
                self.cluster.expected.add(t.trade_id)

    def _released(self, height: int, trade_id: int) -> bool:
        log = next(n.log for n in self.cluster.nodes if n.honest)
        return trade_id in log.released.get(height, ())  # type: ignore[attr-defined]

    def _hand_back(self, node: ConsensusNode, trades: Sequence[Trade]) -> None:
        _unfinalize(node, trades)
        if node.behaviour is Behaviour.CRASHED:
            return
        back = [c for c in (self.claims.get(t.trade_id) for t in trades) if c is not None]
        pool = self.cluster.pools[node.index]
        for claim in back:  # pool them all first: the leader proposes them together
            pool[claim.trade_id] = claim
        for claim in back:
            self.cluster.protocol.on_trade(node, claim)

    # -- figures -----------------------------------------------------------------------------------------
    def certified_trade_ids(self) -> Counter[int]:
        """Trade id -> times certified in the canonical log (2 only for a requeued trade)."""
        return Counter(t.trade_id for b in self.blocks for t in b.trades)

    def stalls(self, longer_than: int) -> list[tuple[int, int]]:
        """(from, to) simulated-time gaps between consecutive certifications longer than `longer_than` ns."""
        times = [b.certified_at for b in self._stats.batches]
        return [(a, b) for a, b in zip(times, times[1:]) if b - a > longer_than]

    def rows(self) -> list[dict]:
        """One results-table row per certified height (simulated ns; latency in ms)."""
        return [{"height": s.height, "trades": s.trades, "requeued": s.requeued, "ready_ns": s.ready_at,
                 "certified_ns": s.certified_at, "latency_ms": s.latency / 1e6, "messages": s.messages}
                for s in self._stats.batches]

    def summary(self) -> dict:
        """Per-batch certification figures: count, latency percentiles (ms), messages per batch, safety."""
        stats = self._stats.batches
        ms = 1_000_000
        result = self.cluster.result()
        span = (stats[-1].certified_at - stats[0].ready_at) if stats else 0
        return {
            "protocol": self.cluster.config.protocol, "validators": len(self.cluster.members(1)),
            "batches": len(stats), "trades": sum(s.trades for s in stats),
            "requeued": sum(s.requeued for s in stats),
            "batch_latency_ms": {k: v / ms for k, v in percentiles([s.latency for s in stats]).items()},
            "messages_per_batch": round(sum(s.messages for s in stats) / max(len(stats), 1), 1),
            "batches_per_sim_second": round(len(stats) / (span / 1e9), 3) if span else None,
            "safety_problems": result.safety_problems(),
        }


@dataclass(slots=True)
class _Request:
    batch: object
    claims: tuple[TradeClaim, ...]
    header: tuple[int, int]
    on_certified: OnCertified
    on_refused: OnRefused
    at: int
    open: bool = True
    checked: bool = False  # passed the honest pre-check when its height became next: proposable


class BatchCertifier:
    """Certify-this-batch mode, the async certifier protocol: `request(batch, trades, on_certified, on_refused)`.

    `batch` needs `.sequence` and `.header` with `.merkle_root` and `.prev_hash` (a SettlementBatch), and may carry
    `state_block` / `expires_at` on its header (else the `header` hook, else 0). The leader of height
    `batch.sequence` proposes exactly these trades; honest validators vote only for the requested batch (and run
    `check`). `on_certified(block)` at the simulated time the first honest node holds the certificate;
    `on_refused(reason)` when the batch cannot be certified: a trade not approved at the trade boundary, a root or
    parent that differs from the validators' (leaf encoders differ, or the log moved on), or an honest validator's
    refusal of the batch (judged by the first honest node at the height below, as every honest node would)."""

    def __init__(self, config: ConsensusConfig, *, kernel: Kernel | None = None, header: HeaderHook | None = None,
                 check: BlockCheck | None = None, **kwargs: object) -> None:
        self._user_header, self._user_check = header, check
        self.requests: dict[int, _Request] = {}
        hooks: dict = {"header": self._header, "check": self._check, "on_certified": self._certified,
                       "_selector": self._select}
        self.net = NetworkCertifier(config, kernel=kernel, **hooks, **kwargs)
        self.cluster = self.net.cluster
        self.kernel = self.net.kernel
        self.refused: list[tuple[int, str]] = []   # (sequence, reason)

    # the engine boundary and lifecycle are the follower's
    def validate_trade(self, trade: Trade, buy: NewOrder, sell: NewOrder) -> str | None:
        return self.net.validate_trade(trade, buy, sell)

    def add(self, claims: Iterable[TradeClaim | Submission]) -> None:
        self.net.add(claims)

    def start(self) -> None:
        self.net.start()

    def run(self, until: int | None = None) -> None:
        self.net.run(until)

    @property
    def batches(self) -> list[BatchStat]:
        return self.net.batches

    def summary(self) -> dict:
        return {**self.net.summary(), "refused": len(self.refused)}

    def requeue(self, trades: Iterable[Trade]) -> None:
        """Mark trades of an expired batch requeueable; the pipeline then requests them in a new batch."""
        trades = list(trades)
        self.net.requeue(trades)
        for trade in trades:
            for node in self.cluster.nodes:  # the selector decides contents: no stray pool entries
                self.cluster.pools[node.index].pop(trade.trade_id, None)

    def _honest_head(self) -> ConsensusNode:
        honest = [n for n in self.cluster.nodes if n.honest] or self.cluster.nodes
        return max(honest, key=lambda n: n.log.height)

    # -- the async certifier protocol ----------------------------------------------------------------------
    def request(self, batch: object, trades: Sequence[Trade], on_certified: OnCertified,
                on_refused: OnRefused) -> None:
        seq = batch.sequence  # type: ignore[attr-defined]
        head = self._honest_head()

        def refuse(reason: str) -> None:
            self.refused.append((seq, reason))
            on_refused(reason)

        if seq <= head.log.height:
            return refuse(f"batch {seq}: height {seq} is already certified (log height {head.log.height})")
        if seq in self.requests and self.requests[seq].open:
            return refuse(f"batch {seq}: a batch for this sequence is already being certified")
        claims = []
        for trade in trades:
            claim = self.net.claims.get(trade.trade_id)
            if claim is None or claim.trade != trade:
                return refuse(f"batch {seq}: trade {trade.trade_id} was not approved at the trade boundary")
            claims.append(claim)
        if not claims:
            return refuse(f"batch {seq} has no trades")
        root = head.log.tree([c.trade for c in claims]).root
        if root != batch.header.merkle_root:  # type: ignore[attr-defined]
            return refuse(f"batch {seq}: the validators compute root 0x{root.hex()}, the batch says "
                          f"0x{batch.header.merkle_root.hex()} (leaf encoders differ)")  # type: ignore[attr-defined]
        h = batch.header  # type: ignore[attr-defined]
        fields = (getattr(h, "state_block", None), getattr(h, "expires_at", None))
        if fields[0] is None and fields[1] is None:
            fields = self._user_header(seq) if self._user_header is not None else (0, 0)
        req = _Request(batch, tuple(claims), (int(fields[0] or 0), int(fields[1] or 0)), on_certified,
                       on_refused, self.kernel.now)
        self.requests[seq] = req
        if head.log.height == seq - 1:
            self._open(seq)

    def _open(self, seq: int) -> None:
        """The batch's height is next: check it as an honest validator would, then let the leader propose it."""
        req = self.requests.get(seq)
        if req is None or not req.open:
            return
        head = self._honest_head()
        expected_prev = req.batch.header.prev_hash  # type: ignore[attr-defined]
        reason = None
        if head.log.head_hash != expected_prev:
            reason = f"prev hash 0x{expected_prev.hex()} is not the log head 0x{head.log.head_hash.hex()}"
        else:
            reason = head.check_claims(req.claims)
            if reason is None:
                reason = self._check(self._block_for(head, req))
        if reason is not None:
            req.open = False
            self.refused.append((seq, reason))
            req.on_refused(f"batch {seq}: {reason}")
            return
        req.checked = True
        for claim in req.claims:  # a nudge: every validator sees the batch it is asked to certify
            self.net.ready_at[claim.trade_id] = req.at
            for node in self.cluster.nodes:
                self.cluster.protocol.on_trade(node, claim)

    def _block_for(self, node: ConsensusNode, req: _Request) -> LogBlock:
        base = node.log.next_block([c.trade for c in req.claims])
        return LogBlock(base.height, base.parent_hash, base.merkle_root, base.trades,
                        state_block=req.header[0], expires_at=req.header[1])

    def _select(self, node: ConsensusNode, height: int) -> Sequence[TradeClaim]:
        req = self.requests.get(height)
        return req.claims if req is not None and req.open and req.checked else ()

    def _header(self, height: int) -> tuple[int, int]:
        req = self.requests.get(height)
        return req.header if req is not None else (0, 0)

    def _check(self, block: LogBlock) -> str | None:
        req = self.requests.get(block.height)
        if req is None or not req.open:
            return f"no batch was requested for height {block.height}"
        if block.trades != tuple(c.trade for c in req.claims):
            return "not the batch requested for this height"
        if (block.state_block, block.expires_at) != req.header:
            return (f"header (state_block {block.state_block}, expires_at {block.expires_at}) is not the requested "
                    f"({req.header[0]}, {req.header[1]})")
        return self._user_check(block) if self._user_check is not None else None

    def _certified(self, block: LogBlock) -> None:
        req = self.requests.get(block.height)
        if req is not None and req.open:
            req.open = False
            req.on_certified(block)
        nxt = block.height + 1
        if nxt in self.requests:
            self._open(nxt)
