"""A committee on the simulated network: trades pass the pre-trade vote, enter the validators' pools, and a
protocol (majority, bft, streamlet) orders and certifies them into every node's TradeLog, on the Kernel."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from market_sim.core.errors import ConsensusError
from market_sim.core.events import Trade
from market_sim.core.orders import NewOrder
from market_sim.consensus.committee import Committee, build_nodes
from market_sim.consensus.config import ConsensusConfig
from market_sim.consensus.log import ExtraLeaves, LogBlock, TradeLog
from market_sim.consensus.merkle import LeafEncoder, default_leaf_encoder
from market_sim.consensus.network import Network
from market_sim.consensus.node import Behaviour, ConsensusNode
from market_sim.consensus.signing import SigningDomain
from market_sim.consensus.state import BalanceView, TradeClaim
from market_sim.simulation.kernel import Kernel

__all__ = ["Cluster", "ConsensusResult", "Submission", "run_consensus", "percentiles", "HeaderHook", "BlockCheck",
           "ClaimSelector", "Reconfiguration"]

# Settlement hooks (None: off). header(height) -> (state_block, expires_at) the proposer puts in the block it proposes;
# check(block) -> a refusal reason or None: what an honest validator finds wrong with a proposed block's header and
# trades beyond the trade checks (solvency at the stated chain block, a sane expiry, the batch it was asked for).
HeaderHook = Callable[[int], tuple[int, int]]
BlockCheck = Callable[[LogBlock], "str | None"]
# selector(node, height) -> the claims the leader proposes for that height (directed mode); () means "nothing yet"
ClaimSelector = Callable[[ConsensusNode, int], Sequence[TradeClaim]]


@dataclass(frozen=True, slots=True)
class Reconfiguration:
    """From log height `height` on, node `remove` leaves the validator set and node `add` (a standby that followed
    the log as an observer until then) joins it. Supported by the bft protocol."""

    height: int
    remove: int
    add: int


def percentiles(values: Sequence[int], points: Sequence[float] = (50, 90, 99)) -> dict[str, int]:
    """Nearest-rank percentiles of integer samples (ns), plus max; zeros when there are none."""
    ordered = sorted(values)
    if not ordered:
        return {**{f"p{p:g}": 0 for p in points}, "max": 0}
    n = len(ordered)
    out = {f"p{p:g}": ordered[min(n - 1, max(0, math.ceil(n * p / 100) - 1))] for p in points}
    out["max"] = ordered[-1]
    return out


@dataclass(frozen=True, slots=True)
class Submission:
    """A trade the exchange hands to the committee at simulated time `at` (ns)."""

    at: int
    claim: TradeClaim


@dataclass(slots=True)
class ConsensusResult:
    """What a network run produced: every node's log, rejections, timings and message counts."""

    config: ConsensusConfig
    nodes: list[ConsensusNode]
    submitted: dict[int, int]          # trade id -> submission time (ns)
    certified_at: dict[int, int]       # trade id -> first time an honest node held it in a certified block
    rejections: dict[int, str]         # trade id -> reason (pre-trade vote or an honest proposer's check)
    messages: Counter                  # by message type
    rounds: int                        # epochs (Streamlet) or views (bft / majority) started
    sim_time: int
    wall_seconds: float
    pretrade_latencies: list[int] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    equivocations: int = 0
    refused: list[tuple[int, TradeClaim, str]] = field(default_factory=list)  # every pre-trade refusal
    gst: int = 0                          # effective global stabilisation time (after the last partition heals)
    rounds_at_gst: int = 0
    rounds_at_last_commit: int = 0

    def rejected(self) -> list[tuple[int, str]]:
        """(trade id, reason) of every refused submission: pre-trade refusals, then proposers' rejections."""
        out = [(c.trade_id, reason) for _, c, reason in self.refused]
        seen = {tid for tid, _ in out}
        return out + sorted((t, r) for t, r in self.rejections.items() if t not in seen)

    @property
    def honest(self) -> list[ConsensusNode]:
        return [n for n in self.nodes if n.honest]

    @property
    def reference_log(self) -> TradeLog:
        """The longest honest log."""
        return max((n.log for n in self.honest), key=len)

    @property
    def batches(self) -> int:
        return len(self.reference_log)

    @property
    def finalized(self) -> int:
        return sum(len(b.trades) for b in self.reference_log.blocks)

    def latencies(self) -> list[int]:
        """Submission -> certified, per finalized trade (ns)."""
        return sorted(self.certified_at[t] - self.submitted[t] for t in self.certified_at if t in self.submitted)

    def messages_per_batch(self) -> float:
        return sum(self.messages.values()) / max(self.batches, 1)

    def summary(self) -> dict:
        """Figures for reports and the CLI: counts, latency percentiles (ms), messages, log checks."""
        checks = {n.name: n.log.verify() for n in self.honest}
        heads = {n.log.head_hash for n in self.honest if len(n.log) == len(self.reference_log)}
        ms = 1_000_000
        return {
            "protocol": self.config.protocol, "nodes": self.config.nodes, "quorum": self.config.quorum,
            "behaviours": {n.name: str(n.behaviour) for n in self.nodes if not n.honest},
            "submitted": len(self.submitted), "finalized": self.finalized, "batches": self.batches,
            "rejected": len(self.rejected()), "rounds": self.rounds,
            "gst_ms": self.gst / ms, "rounds_after_gst": max(0, self.rounds_at_last_commit - self.rounds_at_gst),
            "last_commit_after_gst_ms": max(0, max(self.certified_at.values(), default=0) - self.gst) / ms,
            "latency_ms": {k: v / ms for k, v in percentiles(self.latencies()).items()},
            "pretrade_latency_ms": {k: v / ms for k, v in percentiles(self.pretrade_latencies).items()},
            "messages": sum(self.messages.values()), "messages_per_batch": round(self.messages_per_batch(), 1),
            "messages_by_type": dict(sorted(self.messages.items())),
            "sim_seconds": self.sim_time / 1e9, "wall_seconds": round(self.wall_seconds, 3),
            "logs_verified": all(c.ok for c in checks.values()),
            "log_problems": {k: f"height {c.height}: {c.reason}" for k, c in checks.items() if not c.ok},
            "honest_logs_agree": len(heads) == 1 and not self.safety_problems(),
            "head_hash": "0x" + self.reference_log.head_hash.hex(), "equivocations_seen": self.equivocations,
        }

    def safety_problems(self, valid: dict[int, object] | None = None) -> list[str]:
        """Conflicting honest logs, invalid or repeated trades, logs that fail verification (empty when safe)."""
        out = list(self.violations)
        logs = [(n.name, n.log) for n in self.honest]
        for name, log in logs:
            check = log.verify()
            if not check.ok:
                out.append(f"{name}: log invalid at height {check.height}: {check.reason}")
            if valid is not None:
                for t in log.trades:
                    if valid.get(t.trade_id) != t:
                        out.append(f"{name}: finalized invalid trade {t.trade_id}")
        for i, (a, la) in enumerate(logs):
            for b, lb in logs[i + 1:]:
                k = min(len(la), len(lb))
                if k and la.blocks[k - 1].hash != lb.blocks[k - 1].hash:
                    out.append(f"{a} and {b} finalized conflicting logs (differ at or below height {k})")
        return out


class Cluster:
    """Validators wired to a Network on a Kernel, running one protocol; `run()` returns a ConsensusResult."""

    def __init__(self, config: ConsensusConfig, *, accounts: Iterable[str] | None = None,
                 balances: BalanceView | None = None, domain: SigningDomain | None = None,
                 leaf_encoder: LeafEncoder = default_leaf_encoder, extra_leaves: ExtraLeaves | None = None,
                 pretrade: bool = True, kernel: Kernel | None = None, stop_when_done: bool = True,
                 header: HeaderHook | None = None, check: BlockCheck | None = None,
                 selector: ClaimSelector | None = None, log_type: type[TradeLog] = TradeLog,
                 standby: Iterable[int] = (), reconfigurations: Iterable[Reconfiguration] = ()) -> None:
        from market_sim.consensus.protocols import make_protocol

        self.config = config
        self.kernel = kernel or Kernel()
        self.stop_when_done = stop_when_done  # False when embedded in a larger simulation
        self.network = Network(self.kernel, config.latency, seed=config.seed, loss=config.loss, gst=config.gst,
                               delta=config.delta, partitions=config.partitions)
        self.delta = self.network.delta
        self.domain = domain or SigningDomain()
        self.nodes = build_nodes(config, accounts=accounts, balances=balances, domain=self.domain,
                                 leaf_encoder=leaf_encoder, extra_leaves=extra_leaves, log_type=log_type)
        self.quorum = config.quorum
        self.validators = tuple(n.address for n in self.nodes)
        self.header, self.check, self.selector = header, check, selector
        self._sets = self._validator_sets(config, tuple(standby), tuple(reconfigurations))
        self._everyone = len(self._sets) == 1 and len(self._sets[0][1]) == len(self.nodes)
        if len(self._sets) > 1 and config.protocol != "bft":
            raise ConsensusError(f"validator set changes are supported by the bft protocol, not {config.protocol}")
        for node in self.nodes:
            set_validators = getattr(node.log, "set_validators", None)
            if set_validators is not None:
                for start, members, quorum in self._sets:
                    set_validators(start, tuple(self.validators[i] for i in members), quorum)
        # called once per height, when the first honest node holds the block's certificate: listener(block)
        self.certified_listeners: list[Callable[[LogBlock], None]] = []
        self.node_listeners: list[Callable[[ConsensusNode, LogBlock], None]] = []  # every node's every append
        # observers of what validators send: tap(node, msg, dsts) once per send or broadcast (dsts None: everyone)
        self.taps: list[Callable[[ConsensusNode, object, "Iterable[str] | None"], None]] = []
        self.height_certified_at: dict[int, int] = {}
        self.committee = Committee(self.nodes, quorum=self.quorum, domain=self.domain, leaf_encoder=leaf_encoder,
                                   extra_leaves=extra_leaves, latency=config.latency,
                                   delayed_extra=3 * self.delta, seed=config.seed) if pretrade else None
        self.pools: list[dict[int, TradeClaim]] = [{} for _ in self.nodes]
        self.submitted: dict[int, int] = {}
        self.certified_at: dict[int, int] = {}
        self.rejections: dict[int, str] = {}
        self.expected: set[int] = set()
        self.violations: list[str] = []
        self.pretrade_latencies: list[int] = []
        self.refused: list[tuple[int, TradeClaim, str]] = []  # (time, claim, reason) of every pre-trade refusal
        self._verified: dict[int, tuple[object, bool]] = {}
        self._wall = time.perf_counter()
        self._rounds_at_gst = self._rounds_at_commit = 0
        self._outstanding_feeds = 0
        self._honest = [n for n in self.nodes if n.honest]
        self.protocol = make_protocol(config.protocol, self)
        if self.network.gst:
            self.kernel.schedule_at(self.network.gst, self._mark_gst)
        for node in self.nodes:
            self.network.attach(node.name, self._handler(node))

    # -- plumbing used by protocols ----------------------------------------------------------------------
    def _handler(self, node: ConsensusNode):  # noqa: ANN202
        if node.behaviour is Behaviour.CRASHED:
            return lambda src, msg: None
        on_message = self.protocol.on_message
        return lambda src, msg: on_message(node, src, msg)

    def _extra(self, node: ConsensusNode) -> int:
        return 3 * self.delta if node.behaviour is Behaviour.DELAYED else 0

    def send(self, node: ConsensusNode, dst: str, msg: object) -> None:
        """Send from a node (silent nodes send nothing; delayed nodes' messages are late)."""
        if node.behaviour is not Behaviour.CRASHED:
            for tap in self.taps:
                tap(node, msg, (dst,))
            self.network.send(node.name, dst, msg, self._extra(node))

    def broadcast(self, node: ConsensusNode, msg: object, dsts: Iterable[str] | None = None) -> None:
        """Send to every node (or `dsts`), the sender included."""
        if node.behaviour is not Behaviour.CRASHED:
            if self.taps:
                dsts = None if dsts is None else tuple(dsts)
                for tap in self.taps:
                    tap(node, msg, dsts)
            self.network.broadcast(node.name, msg, dsts, self._extra(node))

    def verified(self, obj: object, check) -> bool:  # noqa: ANN001
        """Memoised check of an immutable message part: all nodes receive the same object, the answer is equal."""
        hit = self._verified.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        ok = bool(check())
        self._verified[id(obj)] = (obj, ok)
        return ok

    def index_of(self, name: str) -> int:
        return int(name[1:])

    # -- validator sets, block building and judging (settlement hooks) -----------------------------------
    def _validator_sets(self, config: ConsensusConfig, standby: tuple[int, ...],
                        changes: tuple[Reconfiguration, ...]) -> list[tuple[int, tuple[int, ...], int]]:
        """[(first height, member indices, quorum)], ascending; one entry (everyone, config.quorum) by default."""
        n = config.nodes
        for i in (*standby, *(x for c in changes for x in (c.remove, c.add))):
            if not 0 <= i < n:
                raise ConsensusError(f"validator index {i} is not a node (0..{n - 1})")
        members = tuple(i for i in range(n) if i not in standby)
        if not standby and not changes:
            return [(1, members, config.quorum)]
        out = [(1, members, self._quorum_of(config, len(members)))]
        for c in sorted(changes, key=lambda c: c.height):
            if c.height <= out[-1][0]:
                raise ConsensusError(f"validator set changes need increasing heights > 1, got {c.height}")
            if c.remove not in members or c.add in members:
                raise ConsensusError(f"at height {c.height}: node {c.remove} must be a member and {c.add} not")
            members = tuple(sorted((set(members) - {c.remove}) | {c.add}))
            out.append((c.height, members, self._quorum_of(config, len(members))))
        return out

    @staticmethod
    def _quorum_of(config: ConsensusConfig, n: int) -> int:
        return ConsensusConfig(nodes=n, protocol=config.protocol, allow_unsafe=True).quorum

    def _set_at(self, height: int) -> tuple[int, tuple[int, ...], int]:
        sets = self._sets
        if len(sets) == 1:
            return sets[0]
        return next(s for s in reversed(sets) if s[0] <= height)

    def members(self, height: int) -> tuple[int, ...]:
        """Indices of the validators that certify `height`."""
        return self._set_at(height)[1]

    def quorum_at(self, height: int) -> int:
        return self._set_at(height)[2]

    def addresses_at(self, height: int) -> tuple[str, ...]:
        """The validator set (addresses) that certifies `height`: what the settlement contract must hold then."""
        if self._everyone:
            return self.validators
        return tuple(self.validators[i] for i in self._set_at(height)[1])

    def is_member(self, node: ConsensusNode, height: int) -> bool:
        return self._everyone or node.index in self.members(height)

    def select(self, node: ConsensusNode, pending, limit: int):  # noqa: ANN001, ANN201
        """The claims `node` proposes next: the directed batch for its next height, or valid pool claims."""
        from market_sim.consensus.protocols.base import select_claims

        if self.selector is not None:
            return list(self.selector(node, node.log.height + 1))
        claims = select_claims(node, self.pools[node.index], pending, limit, self.reject)
        if self.check is None or not claims or not node.honest:
            return claims
        return self._passing(node, claims)

    def _passing(self, node: ConsensusNode, claims: list[TradeClaim]) -> list[TradeClaim]:
        """An honest proposer's largest greedy subset of `claims` whose block the check hook accepts (the others
        stay pooled: a refusal may pass later, e.g. once the stated chain block is visible)."""
        if self.judge_block(node, self.build_block(node, [c.trade for c in claims])) is None:
            return claims
        kept: list[TradeClaim] = []
        for claim in claims:
            trial = [*kept, claim]
            if self.judge_block(node, self.build_block(node, [c.trade for c in trial])) is None:
                kept = trial
        return kept

    def build_block(self, node: ConsensusNode, trades: Sequence[Trade]) -> LogBlock:
        """The uncertified block extending `node`'s log with `trades`, with the header hook's fields."""
        block = node.log.next_block(trades)
        if self.header is None:
            return block
        state_block, expires_at = self.header(block.height)
        return LogBlock(block.height, block.parent_hash, block.merkle_root, block.trades,
                        state_block=state_block, expires_at=expires_at)

    def judge_block(self, node: ConsensusNode, block: LogBlock) -> str | None:
        """The check hook's refusal of a proposed block (None: acceptable, or no hook)."""
        return None if self.check is None else self.check(block)

    def reject(self, node: ConsensusNode, claim: TradeClaim, reason: str) -> None:
        """An honest node found a pooled trade invalid: it will never be finalized."""
        if node.honest:
            self.rejections.setdefault(claim.trade_id, reason)
            self.expected.discard(claim.trade_id)
            self._maybe_stop()

    def _mark_gst(self) -> None:
        self._rounds_at_gst = self.protocol.rounds

    def on_certified(self, node: ConsensusNode, block: LogBlock) -> None:
        """A node appended a certified block: record times, prune its pool, stop when every honest node is done."""
        now = self.kernel.now
        self._rounds_at_commit = self.protocol.rounds
        pool = self.pools[node.index]
        for t in block.trades:
            pool.pop(t.trade_id, None)
            if node.honest:
                self.certified_at.setdefault(t.trade_id, now)
        for listener in self.node_listeners:
            listener(node, block)
        if node.honest and block.height not in self.height_certified_at:
            self.height_certified_at[block.height] = now
            for listener in self.certified_listeners:
                listener(block)
        if node.honest:
            self._maybe_stop()

    def _maybe_stop(self) -> None:
        if self.stop_when_done and self._outstanding_feeds == 0 and self._done():
            self.kernel.stop()

    def _done(self) -> bool:
        need = len(self.expected)
        return all(len(n.log.trade_ids()) >= need and self.expected <= n.log.trade_ids() for n in self._honest)

    # -- the exchange side -----------------------------------------------------------------------------
    def submit(self, submissions: Iterable[Submission]) -> None:
        """Schedule trades: at `at` the committee votes; approved trades reach every pool one delay later."""
        for s in submissions:
            self._outstanding_feeds += 1
            self.kernel.schedule_at(max(s.at, self.kernel.now), self._arrive, s.claim)

    def _arrive(self, claim: TradeClaim) -> None:
        self._outstanding_feeds -= 1
        self._admit(claim)

    def _admit(self, claim: TradeClaim) -> str | None:
        """Pre-trade vote (if enabled); an approved trade reaches every pool one vote round trip later."""
        tid = claim.trade_id
        now = self.kernel.now
        if self.committee is not None:
            decision = self.committee.decide(claim)
            self.pretrade_latencies.append(decision.latency_ns)
            if not decision.approved:
                reason = decision.reason or "rejected"
                self.refused.append((now, claim, reason))
                # keyed by id only if no approved trade has it: a resubmitted duplicate carries an approved id,
                # and a matching engine gives a refused trade's id to its next trade
                if tid not in self.submitted:
                    self.rejections.setdefault(tid, reason)
                return reason
            delay = decision.latency_ns
        else:
            delay = self.network.latency.sample("exchange", "validators", self.network.rng)
        self.submitted[tid] = now
        self.rejections.pop(tid, None)
        self.expected.add(tid)
        self._outstanding_feeds += 1
        self.kernel.schedule(delay, self._feed, claim)
        return None

    def validate_trade(self, trade: Trade, buy: NewOrder, sell: NewOrder) -> str | None:
        """TradeValidator for a venue on the same kernel: signed pre-trade votes now, ordering on the network."""
        return self._admit(TradeClaim(trade, buy, sell))

    def _feed(self, claim: TradeClaim) -> None:
        # The exchange's trade feed is reliable and reaches every validator at the same time (it is not the
        # consensus network): validators must know the orders to judge a proposal.
        self._outstanding_feeds -= 1
        for node in self.nodes:
            if node.behaviour is Behaviour.CRASHED:
                continue
            node.state.record_orders(claim)
            if claim.trade_id not in node.state.final_ids:
                self.pools[node.index][claim.trade_id] = claim
                self.protocol.on_trade(node, claim)

    def run(self, submissions: Iterable[Submission] = ()) -> ConsensusResult:
        """Run until every honest node holds every approved trade, or the horizon."""
        self.submit(submissions)
        self._wall = time.perf_counter()
        self.protocol.start()
        self.kernel.run(until=self.config.horizon)
        return self.result()

    def result(self) -> ConsensusResult:
        """The outcome so far (also for a cluster embedded in a simulation)."""
        return ConsensusResult(
            config=self.config, nodes=self.nodes, submitted=self.submitted, certified_at=self.certified_at,
            rejections=self.rejections, messages=Counter(self.network.sent), rounds=self.protocol.rounds,
            sim_time=self.kernel.now, wall_seconds=time.perf_counter() - self._wall,
            pretrade_latencies=self.pretrade_latencies, violations=self.violations,
            equivocations=len(self.committee.equivocations) if self.committee else 0, refused=self.refused,
            gst=self.network.gst, rounds_at_gst=self._rounds_at_gst, rounds_at_last_commit=self._rounds_at_commit)


def run_consensus(config: ConsensusConfig, submissions: Sequence[Submission], **kwargs: object) -> ConsensusResult:
    """Build a Cluster for `config` and run `submissions` through it."""
    if not submissions:
        raise ConsensusError("nothing to run: no trades submitted")
    return Cluster(config, **kwargs).run(submissions)  # type: ignore[arg-type]
