"""BlockProducer: the chain on the simulation clock -- blocks every `block_time` ns of simulated time, a mempool with
inclusion by gas price under a gas limit per block, confirmations, reorgs, background load and node outages.

The producer owns block production: the node never mines on its own (anvil: automine off; in-process eth-tester:
transactions go into the pending block only when their block is built). At each block slot it

1. drops expired transactions, adds the background load due then;
2. selects transactions like geth's miner: best effective priority fee first (ties: first submitted), each sender's
   transactions in submission (nonce) order, a transaction fits while the gas limits of the block's transactions
   sum to at most `gas_limit`; a transaction whose max fee is below the base fee waits;
3. sends them with nonces it assigns, sets the block's timestamp (epoch + simulated seconds) and mines one block;
4. reports each transaction included (block, gas used, status, a revert decoded to ContractRevertError), final once
   its block has `confirmations` confirmations (the including block counts as one), orphaned by a reorg (it returns
   to the mempool and is included again) or dropped (with the reason).

The fee market is modelled here (EIP-1559: a base fee that moves by 1/8 per block toward half-full blocks, measured
on the gas the chain reports used; legacy `gas_price` bids too); the node is sent its own acceptable fee fields.
A reorg reverts the chain to a snapshot before the orphaned blocks and re-mines as many replacement blocks (empty,
same timestamps) before the current slot's block. An unreachable node (connection failures through web3) makes the
producer retry the block with exponential backoff in simulated time; the block's transactions stay selected and
nothing accepted is lost or sent twice (a retry reuses each transaction's nonce and checks what the node has).
web3's HTTPProvider retries some failed requests itself, sleeping in real time; set
`chain.w3.provider.exception_retry_configuration = None` to leave all retrying to the producer's simulated clock.

While a producer runs, send the chain's transactions through it: an RPC node no longer mines on its own, and a
transaction sent around it on eth-tester takes a block of its own between the producer's.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from hexbytes import HexBytes

from market_sim.blockchain.chain import Chain, PreparedTx
from market_sim.core.clock import NS_PER_MS, NS_PER_SECOND
from market_sim.core.errors import ChainError, ConfigError, ContractRevertError, ValidationError

__all__ = [
    "Scheduler", "BlockProducer", "BlockRecord", "TxRecord", "TxState", "DropReason", "ChainFigures", "Outage",
    "BackgroundLoad", "Reorg", "TxSubmitted", "TxIncluded", "TxFinal", "TxOrphaned", "TxDropped", "BlockMined",
    "NodeDown", "NodeUp", "Reorged", "ProducerEvent", "NodeUnreachable", "is_unreachable",
]

GWEI = 10**9
LOAD_ACCOUNT_BALANCE = 10**21  # 1000 ETH per background-load account


class Scheduler(Protocol):
    """What the producer needs of a clock: the simulation Kernel satisfies it (`now` in ns, `schedule(delay, fn)`)."""

    now: int

    def schedule(self, delay: int, fn: Callable[..., Any], *args: Any) -> Any: ...

    def cancel(self, timer: Any) -> None: ...


class NodeUnreachable(ChainError):
    """The node did not answer (connection refused/reset, timeout): the producer retries."""


class TxState(Enum):
    PENDING = "pending"
    INCLUDED = "included"
    FINAL = "final"
    DROPPED = "dropped"


class DropReason(Enum):
    EXPIRED = "expired"  # its ttl passed before inclusion
    EVICTED = "evicted"  # the mempool was full and it bid least
    REJECTED = "rejected"  # the node refused it (e.g. balance too low for gas and value)
    CANCELLED = "cancelled"  # BlockProducer.cancel


# ---- faults -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BackgroundLoad:
    """Other users' transactions: from `start` to `end` (ns), `txs_per_block` ETH self-transfers of `gas` each join
    the mempool at every block slot, bidding `priority_fee` (and `max_fee`, default base fee x2 + priority fee).
    A high bid over a window is a gas-price spike. Load still pending at `end` leaves the mempool."""

    start: int
    end: int
    txs_per_block: int
    priority_fee: int
    gas: int = 21_000
    max_fee: int | None = None


@dataclass(frozen=True, slots=True)
class Reorg:
    """At the first block slot at or after `at` (ns), the last `depth` blocks are orphaned."""

    at: int
    depth: int


# ---- records ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BlockRecord:
    """A block the producer mined: number, timestamp (s), simulated time (ns), gas, transactions, base fee."""

    number: int
    timestamp: int
    sim_time: int
    gas_used: int  # as the chain reports it
    gas_reserved: int  # sum of the included transactions' gas limits (what fills a block)
    gas_limit: int
    txs: int  # all included, background load too
    load_txs: int
    base_fee: int  # the modelled base fee this block charged
    replacement: bool = False  # an empty block of the fork that replaced orphaned blocks


@dataclass(frozen=True, slots=True)
class Outage:
    """A time the node could not be reached: first failure to recovery (ns), failed attempts, the first error."""

    start: int
    end: int | None
    attempts: int
    error: str


@dataclass(slots=True)
class TxRecord:
    """One submitted transaction as the producer tracks it (read it, do not change it)."""

    tx_id: int
    prepared: PreparedTx
    label: str
    submitted_at: int
    seq: int
    priority_fee: int
    max_fee: int
    expires_at: int | None
    background: bool = False
    state: TxState = TxState.PENDING
    nonce: int | None = None
    tx_hash: str | None = None
    block_number: int | None = None
    index: int | None = None
    included_at: int | None = None
    first_included_at: int | None = None
    gas_used: int | None = None
    status: int | None = None
    error: ContractRevertError | None = None
    effective_gas_price: int | None = None
    orphaned: int = 0
    drop_reason: DropReason | None = None
    drop_detail: str = ""
    listener: Callable[[Any], None] | None = field(default=None, repr=False)

    @property
    def wait_ns(self) -> int | None:
        """Time in the mempool: submission to (latest) inclusion."""
        return None if self.included_at is None else self.included_at - self.submitted_at


# ---- events -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TxSubmitted:
    ts: int
    tx_id: int
    label: str
    gas: int


@dataclass(frozen=True, slots=True)
class TxIncluded:
    """Mined (status 1) or reverted (status 0, `error` decoded); `wait_ns` is its time in the mempool."""

    ts: int
    tx_id: int
    label: str
    block_number: int
    block_timestamp: int
    index: int  # position in the block
    tx_hash: str
    gas_used: int
    status: int
    wait_ns: int
    effective_gas_price: int
    error: ContractRevertError | None = field(default=None, compare=False)
    receipt: Any = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == 1


@dataclass(frozen=True, slots=True)
class TxFinal:
    ts: int
    tx_id: int
    label: str
    block_number: int
    status: int


@dataclass(frozen=True, slots=True)
class TxOrphaned:
    """Its block left the chain in a reorg; it is back in the mempool."""

    ts: int
    tx_id: int
    label: str
    block_number: int
    tx_hash: str


@dataclass(frozen=True, slots=True)
class TxDropped:
    ts: int
    tx_id: int
    label: str
    reason: DropReason
    detail: str


@dataclass(frozen=True, slots=True)
class BlockMined:
    ts: int
    block: BlockRecord


@dataclass(frozen=True, slots=True)
class NodeDown:
    ts: int
    error: str


@dataclass(frozen=True, slots=True)
class NodeUp:
    ts: int
    outage: Outage


@dataclass(frozen=True, slots=True)
class Reorged:
    ts: int
    depth: int
    orphaned_blocks: tuple[int, ...]
    orphaned_txs: tuple[int, ...]


ProducerEvent = (TxSubmitted | TxIncluded | TxFinal | TxOrphaned | TxDropped | BlockMined | NodeDown | NodeUp
                 | Reorged)


@dataclass(frozen=True, slots=True)
class ChainFigures:
    """Totals of a run: blocks, transactions, gas, mempool waits (ns) of the submitted (not background) txs."""

    blocks: int
    txs_included: int
    load_txs_included: int
    gas_used: int
    gas_per_block: float
    txs_per_block: float
    wait_p50_ns: int | None
    wait_p90_ns: int | None
    wait_max_ns: int | None
    final: int
    pending: int
    dropped: int
    reverted: int
    reorgs: int
    orphaned_txs: int
    outages: tuple[Outage, ...]
    base_fee_max: int


def _percentile(values: list[int], q: float) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _is_unreachable(exc: BaseException) -> bool:
    """A failure to reach the node (as opposed to the node answering with an error)."""
    import requests

    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError,
                        TimeoutError)):
        return True
    return isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError)


def is_unreachable(exc: BaseException) -> bool:
    """Whether an exception from a chain call means the node could not be reached (retry later), directly or as
    the cause of a ChainError."""
    return _is_unreachable(exc) or (isinstance(exc, ChainError) and _is_unreachable(exc.__context__ or exc))


@contextmanager
def _receipts_cached(chain: Chain) -> Iterator[None]:
    """In-process: eth-tester decodes all of a block's receipts for each receipt asked for (quadratic in the block's
    size); while reading one block, decode them once."""
    if not chain.is_local:
        yield
        return
    chaindb = chain._tester.backend.chain.chaindb
    decode = chaindb.get_receipts
    cache: dict[bytes, Any] = {}

    def cached(header: Any, decoder: Any) -> Any:
        key = header.hash
        if key not in cache:
            cache[key] = decode(header, decoder)
        return cache[key]

    chaindb.get_receipts = cached
    try:
        yield
    finally:
        del chaindb.get_receipts


@dataclass(slots=True)
class _Attempt:
    """The block being built: selected once, then sent/mined/read, each step safe to repeat after a failure."""

    txs: list[TxRecord]
    number: int  # the number it will have
    base_fee: int
    reserved: int
    sent: set[int] = field(default_factory=set)  # tx ids the node accepted
    nonces: dict[str, int] = field(default_factory=dict)
    snapshot_taken: bool = False


class BlockProducer:
    """Produces the blocks of `chain` on `scheduler`'s clock (the simulation Kernel). Call start(), then submit()."""

    def __init__(self, chain: Chain, scheduler: Scheduler, *, block_time: int, gas_limit: int = 30_000_000,
                 confirmations: int = 1, epoch: int | None = None, base_fee: int = GWEI,
                 mempool_limit: int | None = None, faults: Sequence[BackgroundLoad | Reorg] = (),
                 reorg_window: int = 0, retry_first: int = 100 * NS_PER_MS, retry_max: int | None = None) -> None:
        def positive(name: str, value: Any, minimum: int = 1) -> None:
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ConfigError(f"{name} must be an integer >= {minimum}", key=name, value=value)

        positive("block_time", block_time)
        positive("gas_limit", gas_limit, 21_000)
        positive("confirmations", confirmations)
        positive("base_fee", base_fee, 0)
        positive("reorg_window", reorg_window, 0)
        positive("retry_first", retry_first)
        if mempool_limit is not None:
            positive("mempool_limit", mempool_limit)
        node_limit = int(chain.w3.eth.get_block("latest")["gasLimit"])
        if gas_limit > node_limit:
            raise ConfigError(f"gas_limit exceeds the node's block gas limit {node_limit}", key="gas_limit",
                              value=gas_limit)
        self.chain = chain
        self.scheduler = scheduler
        self.block_time = block_time
        self.gas_limit = gas_limit
        self.confirmations = confirmations
        self.epoch = epoch
        self.base_fee = base_fee
        self.mempool_limit = mempool_limit
        self.retry_first = retry_first
        self.retry_max = retry_max if retry_max is not None else max(block_time, retry_first)
        self.blocks: list[BlockRecord] = []  # the canonical chain's blocks mined here, oldest first
        self.orphaned_blocks: list[BlockRecord] = []
        self.outages: list[Outage] = []
        self.reorgs = 0
        self._loads: list[BackgroundLoad] = []
        self._reorgs: list[Reorg] = []
        self._reorg_window = reorg_window
        self._txs: dict[int, TxRecord] = {}
        self._pending: dict[int, TxRecord] = {}  # tx id -> pending record (insertion = submission order)
        self._unfinal: list[TxRecord] = []  # included, not final yet
        self._listeners: list[Callable[[Any], None]] = []
        self._before_block: list[Callable[[int], None]] = []
        self._next_id = 0
        self._seq = 0
        self._timer: Any = None
        self._attempt: _Attempt | None = None
        self._backoff = retry_first
        self._outage_start: int | None = None
        self._outage_attempts = 0
        self._outage_error = ""
        self._snapshots: list[tuple[int, Any]] = []  # (head number when taken, snapshot id), oldest first
        self._load_accounts: list[str] = []
        self._load_next = 0
        self._started = False
        self._start_time = 0
        for fault in faults:
            self.add_fault(fault)

    # ---- set-up ---------------------------------------------------------------------------------------------------
    def add_fault(self, fault: BackgroundLoad | Reorg) -> None:
        """Stage a fault on the clock (before or after start())."""
        if isinstance(fault, Reorg):
            if not isinstance(fault.depth, int) or fault.depth < 1:
                raise ConfigError("reorg depth must be at least 1", key="reorg.depth", value=fault.depth)
            if fault.depth >= self.confirmations:
                raise ConfigError(f"a reorg of depth {fault.depth} would orphan final blocks (confirmations "
                                  f"{self.confirmations}); use more confirmations", key="reorg.depth",
                                  value=fault.depth)
            self._reorgs.append(fault)
            self._reorgs.sort(key=lambda r: r.at)
            self._reorg_window = max(self._reorg_window, fault.depth)
        elif isinstance(fault, BackgroundLoad):
            if fault.end <= fault.start or fault.txs_per_block < 1 or fault.gas < 21_000 or fault.priority_fee < 0:
                raise ConfigError("background load needs start < end, txs_per_block >= 1, gas >= 21000 and a "
                                  "non-negative priority fee", key="load", value=fault)
            if fault.gas > self.gas_limit:
                raise ConfigError("background load gas exceeds the block gas limit", key="load.gas", value=fault.gas)
            self._loads.append(fault)
            if self._started:
                self._ensure_load_accounts()
        else:
            raise ConfigError("a fault is a BackgroundLoad or a Reorg", key="fault", value=fault)

    def before_block(self, hook: Callable[[int], None]) -> None:
        """Call hook(now) at each block slot before the block's transactions are selected (after expiries and the
        background load): what it submits competes for that block (a block builder's top-of-block bundle bids high).
        """
        self._before_block.append(hook)

    def subscribe(self, listener: Callable[[Any], None]) -> None:
        """Call listener(event) for every event (transactions, blocks, outages, reorgs), in order."""
        self._listeners.append(listener)

    def _ensure_load_accounts(self) -> None:
        want = min(8, max(f.txs_per_block for f in self._loads))
        while len(self._load_accounts) < want:
            name = f"load-{len(self._load_accounts)}"
            if name in self.chain.accounts:
                self._load_accounts.append(name)
                continue
            if self._started and not self.chain.is_local:
                raise ConfigError("add background load on an RPC node before start() (its accounts are funded "
                                  "while the node still mines on its own)", key="load")
            self.chain.add_account(name, balance=LOAD_ACCOUNT_BALANCE)
            self._load_accounts.append(name)

    def start(self) -> None:
        """Take over mining (anvil: automine off), fix the epoch, and schedule the first block at now + block_time."""
        if self._started:
            raise ConfigError("the producer is already started", key="producer")
        if self._loads:
            self._ensure_load_accounts()
        now = self.scheduler.now
        latest = self.chain.timestamp
        if self.epoch is None:
            self.epoch = latest + 1 - now // NS_PER_SECOND
        elif self.epoch + now // NS_PER_SECOND <= latest:
            raise ConfigError(f"the chain's clock ({latest}) is already past the epoch at simulated time {now}",
                              key="epoch", value=self.epoch)
        if not self.chain.is_local:
            self.chain._rpc("evm_setAutomine", False)
        self._started = True
        self._start_time = now
        self._timer = self.scheduler.schedule(self.block_time, self._on_slot)

    def stop(self) -> None:
        """Stop producing blocks (pending transactions stay in the mempool); an RPC node mines on its own again."""
        if self._timer is not None:
            self.scheduler.cancel(self._timer)
            self._timer = None
        if self._started and not self.chain.is_local:
            try:
                self.chain._rpc("evm_setAutomine", True)
            except Exception:  # noqa: BLE001 - an unreachable node keeps its setting
                pass
        self._started = False

    # ---- submitting -----------------------------------------------------------------------------------------------
    def submit(self, tx: PreparedTx, *, priority_fee: int = GWEI, max_fee: int | None = None,
               gas_price: int | None = None, ttl: int | None = None, label: str = "",
               on_event: Callable[[Any], None] | None = None) -> int:
        """Put a prepared transaction in the mempool; returns its id. Bid EIP-1559 style (`priority_fee`, `max_fee`,
        default 2 x current base fee + priority fee) or legacy (`gas_price`). `ttl` (ns): dropped if not included
        by then. `on_event(event)` receives this transaction's events."""
        return self._submit(tx, priority_fee, max_fee, gas_price, ttl, label, on_event, False)

    def _submit(self, tx: PreparedTx, priority_fee: int, max_fee: int | None, gas_price: int | None,
                ttl: int | None, label: str, on_event: Callable[[Any], None] | None, background: bool) -> int:
        if not isinstance(tx, PreparedTx):
            raise ValidationError(f"submit takes a PreparedTx (Chain.prepare), got {type(tx).__name__}")
        if tx.gas > self.gas_limit:
            raise ValidationError(f"transaction gas {tx.gas} exceeds the block gas limit {self.gas_limit}: it could "
                                  "never be included")
        if gas_price is not None:
            if not isinstance(gas_price, int) or gas_price < 0:
                raise ValidationError(f"gas_price must be a non-negative integer (wei), got {gas_price!r}")
            priority_fee = max_fee = gas_price
        else:
            if not isinstance(priority_fee, int) or priority_fee < 0:
                raise ValidationError(f"priority_fee must be a non-negative integer (wei), got {priority_fee!r}")
            if max_fee is None:
                max_fee = 2 * self.base_fee + priority_fee
            if not isinstance(max_fee, int) or max_fee < priority_fee:
                raise ValidationError(f"max_fee must be an integer >= priority_fee, got {max_fee!r}")
        if ttl is not None and (not isinstance(ttl, int) or ttl < 1):
            raise ValidationError(f"ttl must be a positive integer (ns), got {ttl!r}")
        now = self.scheduler.now
        self._next_id += 1
        self._seq += 1
        record = TxRecord(self._next_id, tx, label, now, self._seq, priority_fee, max_fee,
                          None if ttl is None else now + ttl, background=background, listener=on_event)
        self._txs[record.tx_id] = record
        self._pending[record.tx_id] = record
        if not background:
            self._emit(record, TxSubmitted(now, record.tx_id, label, tx.gas))
        if self.mempool_limit is not None and len(self._pending) > self.mempool_limit:
            building = {r.tx_id for r in self._attempt.txs} if self._attempt is not None else set()
            candidates = [r for r in self._pending.values() if r.tx_id not in building]
            worst = min(candidates, key=lambda r: (self._tip(r, self.base_fee), -r.seq))  # never empty: record
            self._drop(worst, DropReason.EVICTED, f"mempool full ({self.mempool_limit}); lowest bid")
        return record.tx_id

    def cancel(self, tx_id: int) -> bool:
        """Remove a pending transaction (not one already selected for a block being built); True if removed."""
        record = self._pending.get(tx_id)
        if record is None or (self._attempt is not None and record in self._attempt.txs):
            return False
        self._drop(record, DropReason.CANCELLED, "cancelled")
        return True

    def tx(self, tx_id: int) -> TxRecord:
        """The record of a submitted transaction."""
        try:
            return self._txs[tx_id]
        except KeyError:
            raise ConfigError("no such transaction", key="tx_id", value=tx_id) from None

    def records(self) -> list[TxRecord]:
        """Every submitted transaction (not the background load), in submission order."""
        return [r for r in self._txs.values() if not r.background]

    @property
    def pending(self) -> int:
        """Transactions in the mempool (background load included)."""
        return len(self._pending)

    # ---- events ---------------------------------------------------------------------------------------------------
    def _emit(self, record: TxRecord | None, event: Any) -> None:
        if record is not None:
            if record.background:
                return
            if record.listener is not None:
                record.listener(event)
        for listener in self._listeners:
            listener(event)

    def _drop(self, record: TxRecord, reason: DropReason, detail: str) -> None:
        self._pending.pop(record.tx_id, None)
        record.state = TxState.DROPPED
        record.drop_reason = reason
        record.drop_detail = detail
        self._emit(record, TxDropped(self.scheduler.now, record.tx_id, record.label, reason, detail))

    # ---- fees -----------------------------------------------------------------------------------------------------
    @staticmethod
    def _tip(record: TxRecord, base_fee: int) -> int:
        return min(record.priority_fee, record.max_fee - base_fee)

    def _next_base_fee(self, base: int, gas_used: int) -> int:
        target = self.gas_limit // 2
        if gas_used == target or target == 0:
            return base
        if gas_used > target:
            return base + max(base * (gas_used - target) // target // 8, 1)
        return max(base - base * (target - gas_used) // target // 8, 0)

    # ---- block production -----------------------------------------------------------------------------------------
    def _timestamp(self, now: int) -> int:
        assert self.epoch is not None
        return self.epoch + now // NS_PER_SECOND

    def _on_slot(self) -> None:
        self._timer = None
        now = self.scheduler.now
        try:
            if self._outage_start is not None and not self.chain.is_local:
                # a node restarted meanwhile mines on its own again and has lost its pool
                self._node(self.chain._rpc, "evm_setAutomine", False)
                if self._attempt is not None:
                    self._recheck_sent(self._attempt)
            if self._attempt is None:
                self._prepare_block(now)
            self._build(now)
        except NodeUnreachable as exc:
            self._failed(now, str(exc))
            return
        self._recovered(now)
        self._schedule_next(now)

    def _schedule_next(self, now: int) -> None:
        elapsed = now - self._start_time
        slot = (elapsed // self.block_time + 1) * self.block_time
        self._timer = self.scheduler.schedule(slot - elapsed, self._on_slot)

    def _failed(self, now: int, error: str) -> None:
        if self._outage_start is None:
            self._outage_start = now
            self._outage_attempts = 0
            self._outage_error = error
            self._backoff = self.retry_first
            self._emit(None, NodeDown(now, error))
        self._outage_attempts += 1
        self._timer = self.scheduler.schedule(self._backoff, self._on_slot)
        self._backoff = min(2 * self._backoff, self.retry_max)

    def _recovered(self, now: int) -> None:
        if self._outage_start is None:
            return
        outage = Outage(self._outage_start, now, self._outage_attempts, self._outage_error)
        self.outages.append(outage)
        self._outage_start = None
        self._emit(None, NodeUp(now, outage))

    def _node(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call the node; a connection failure becomes NodeUnreachable."""
        try:
            return fn(*args)
        except NodeUnreachable:
            raise
        except Exception as exc:  # noqa: BLE001
            if is_unreachable(exc):
                raise NodeUnreachable(f"the node at {self.chain.url} is unreachable: {exc}"[:300]) from None
            raise

    def _prepare_block(self, now: int) -> None:
        """Reorgs and expiries due now, the background load, then select the block's transactions."""
        head = int(self._node(lambda: self.chain.w3.eth.block_number))
        while self._reorgs and self._reorgs[0].at <= now:
            reorg = self._reorgs[0]
            self._reorg(now, reorg.depth)
            self._reorgs.pop(0)
            head = int(self._node(lambda: self.chain.w3.eth.block_number))
        for record in [r for r in self._pending.values() if r.expires_at is not None and r.expires_at <= now]:
            if record.background:
                self._pending.pop(record.tx_id)
                record.state = TxState.DROPPED
            else:
                self._drop(record, DropReason.EXPIRED, f"not included within its ttl (by {record.expires_at} ns)")
        for load in self._loads:
            if load.start <= now < load.end:
                for _ in range(load.txs_per_block):
                    name = self._load_accounts[self._load_next % len(self._load_accounts)]
                    self._load_next += 1
                    tx = self.chain.prepare_eth(name, 0, sender=name, gas=load.gas)
                    self._submit(tx, load.priority_fee, load.max_fee, None, load.end - now, "load", None, True)
        for hook in self._before_block:
            hook(now)
        selected, reserved = self._select(self.base_fee)
        self._attempt = _Attempt(selected, head + 1, self.base_fee, reserved)

    def _select(self, base_fee: int, exclude: set[int] = frozenset(),  # type: ignore[assignment]
                budget: int | None = None) -> tuple[list[TxRecord], int]:
        queues: dict[str, list[TxRecord]] = {}
        for record in self._pending.values():  # submission order
            if record.tx_id not in exclude:
                queues.setdefault(record.prepared.sender, []).append(record)
        heap: list[tuple[int, int, str, int]] = []
        for sender, queue in queues.items():
            heapq.heappush(heap, (-self._tip(queue[0], base_fee), queue[0].seq, sender, 0))
        chosen: list[TxRecord] = []
        budget = self.gas_limit if budget is None else budget
        left = budget
        while heap and left >= 21_000:
            _, _, sender, i = heapq.heappop(heap)
            record = queues[sender][i]
            if record.max_fee < base_fee or record.prepared.gas > left:
                continue  # this sender waits (its later transactions cannot go first)
            chosen.append(record)
            left -= record.prepared.gas
            if i + 1 < len(queues[sender]):
                nxt = queues[sender][i + 1]
                heapq.heappush(heap, (-self._tip(nxt, base_fee), nxt.seq, sender, i + 1))
        return chosen, budget - left

    def _take_snapshot(self, head: int) -> None:
        if self._reorg_window <= 0:
            return
        self._snapshots.append((head, self._node(self.chain.snapshot)))
        if len(self._snapshots) > self._reorg_window:
            del self._snapshots[0]

    def _build(self, now: int) -> None:
        attempt = self._attempt
        assert attempt is not None
        ts = max(self._timestamp(now), (self.blocks[-1].timestamp + 1) if self.blocks else 0,
                 self._node(lambda: self.chain.timestamp) + 1)
        head = int(self._node(lambda: self.chain.w3.eth.block_number))
        if head < attempt.number - 1:
            raise ChainError(f"the chain's head moved back to {head} under the producer (block {attempt.number} "
                             "was being built): something else reverted it")
        if head == attempt.number - 1:
            if not attempt.snapshot_taken:
                self._take_snapshot(head)
                attempt.snapshot_taken = True
            if self.chain.is_local:
                self._mine_local(attempt, ts)
            else:
                self._send_rpc(attempt)
                self._node(self.chain._rpc, "evm_setNextBlockTimestamp", ts)
                self._node(self.chain._rpc, "evm_mine")
        # else: a lost answer to evm_mine -- the block exists; read it
        self._read_block(now, attempt)
        self._attempt = None

    def _nonce(self, attempt: _Attempt, sender: str) -> int:
        if sender not in attempt.nonces:
            attempt.nonces[sender] = int(self._node(self.chain.w3.eth.get_transaction_count, sender, "latest"))
        return attempt.nonces[sender]

    def _tx_dict(self, record: TxRecord) -> dict[str, Any]:
        p = record.prepared
        tx: dict[str, Any] = {"from": p.sender, "value": p.value, "gas": p.gas, "data": p.data, "nonce": record.nonce}
        if p.to is not None:
            tx["to"] = p.to
        return tx

    def _mine_local(self, attempt: _Attempt, ts: int) -> None:
        # All of the block's transactions run in one VM on the pending header, then eth-tester mines that header:
        # py-evm's Chain.apply_transaction rebuilds the block's tries per transaction (quadratic in the block's
        # size), and EthereumTester.send_transaction with auto-mining off runs each transaction twice.
        tester = self.chain._tester
        evm_chain = tester.backend.chain
        evm_chain.header = evm_chain.header.copy(timestamp=ts)  # the pending block holds nothing yet
        vm = evm_chain.get_vm(evm_chain.header)
        work: dict[str, Any] = {"vm": vm, "header": evm_chain.header, "txs": [], "receipts": []}
        self._send_block(attempt, lambda a, r: self._apply_local(work, r))
        if work["txs"]:
            vm.state.persist()  # the state db batches writes until told to persist (py-evm Chain.apply_transaction)
            header = work["header"].copy(state_root=vm.state.state_root)
            block = vm.set_block_transactions_and_withdrawals(vm.get_block(), header, work["txs"], work["receipts"])
            evm_chain.header = block.header
        tester.mine_blocks(1)

    def _apply_local(self, work: dict[str, Any], record: TxRecord) -> bool:
        tester = self.chain._tester
        tx = self._tx_dict(record)
        tester.validator.validate_inbound_transaction(tx, txn_internal_type="send")
        raw = tester.normalizer.normalize_inbound_transaction(tx)
        signed = tester.backend._get_normalized_and_signed_evm_transaction(raw)
        vm = work["vm"]
        snapshot = vm.state.snapshot()
        try:
            receipt, _ = vm.apply_transaction(work["header"], signed)
        except Exception:
            vm.state.revert(snapshot)
            raise
        header = vm.add_receipt_to_header(work["header"], receipt)
        work["header"] = vm.increment_blob_gas_used(header, signed)
        work["txs"].append(signed)
        work["receipts"].append(receipt)
        record.tx_hash = HexBytes(signed.hash).to_0x_hex()
        return True

    def _send_block(self, attempt: _Attempt, send: Callable[[_Attempt, TxRecord], bool]) -> None:
        """Send the block's transactions not sent yet, in order; a refused one leaves, and the space it frees is
        filled from the mempool (as a builder skips an invalid transaction)."""
        while True:
            refused = 0
            for record in list(attempt.txs):
                if record.tx_id in attempt.sent:
                    continue
                sender = record.prepared.sender
                if record.nonce is None:
                    record.nonce = self._nonce(attempt, sender)
                    attempt.nonces[sender] = record.nonce + 1
                try:
                    accepted = send(attempt, record)
                except NodeUnreachable:
                    raise
                except Exception as exc:  # noqa: BLE001 - the node answered with an error (py-evm: ValidationError)
                    attempt.nonces[sender] = record.nonce
                    self._reject(attempt, record, str(exc))
                    refused += 1
                    continue
                if accepted:
                    attempt.sent.add(record.tx_id)
            if not refused:
                return
            chosen = {r.tx_id for r in attempt.txs}
            extra, reserved = self._select(attempt.base_fee, exclude=chosen, budget=self.gas_limit - attempt.reserved)
            if not extra:
                return
            attempt.txs.extend(extra)
            attempt.reserved += reserved

    def _reject(self, attempt: _Attempt, record: TxRecord, why: str) -> None:
        record.nonce = None
        attempt.txs.remove(record)
        attempt.reserved -= record.prepared.gas
        self._drop(record, DropReason.REJECTED, f"the node refused it: {why}"[:300])

    def _recheck_sent(self, attempt: _Attempt) -> None:
        """After an outage: a transaction the node accepted before it but no longer holds (its pool was lost in a
        restart) is sent again, with the same nonce."""
        held: dict[str, int] = {}
        for record in attempt.txs:
            if record.tx_id not in attempt.sent:
                continue
            sender = record.prepared.sender
            if sender not in held:
                held[sender] = int(self._node(self.chain.w3.eth.get_transaction_count, sender, "pending"))
            if held[sender] <= (record.nonce or 0):
                attempt.sent.discard(record.tx_id)

    def _send_rpc(self, attempt: _Attempt) -> None:
        self._send_block(attempt, self._send_remote)

    def _send_remote(self, attempt: _Attempt, record: TxRecord) -> bool:
        try:
            self._node(self._send_one, record)
        except NodeUnreachable:
            raise
        except Exception:
            # A resend after a lost answer: the node already holds this nonce from this sender.
            held = int(self._node(self.chain.w3.eth.get_transaction_count, record.prepared.sender, "pending"))
            if held > (record.nonce or 0):
                return True
            raise
        return True

    def _send_one(self, record: TxRecord) -> None:
        from eth_account import Account

        chain = self.chain
        tx = dict(self._tx_dict(record), **chain._fee_fields())
        name = record.prepared.sender_name
        if name is not None and name in chain._keys:
            signed = Account.sign_transaction(dict(tx, chainId=chain.chain_id), chain._keys[name])
            chain.w3.eth.send_raw_transaction(signed.raw_transaction)
            chain._nonces.pop(name, None)  # Chain's own nonce cache resynchronises from the node
        else:
            chain.w3.eth.send_transaction(tx)

    def _read_block(self, now: int, attempt: _Attempt) -> None:
        w3 = self.chain.w3
        block = self._node(w3.eth.get_block, attempt.number, True)
        by_sender_nonce = {(tx["from"], int(tx["nonce"])): HexBytes(tx["hash"]).to_0x_hex()
                           for tx in block["transactions"]}
        included = []
        receipts = []
        with _receipts_cached(self.chain):
            for record in attempt.txs:
                if record.tx_id not in attempt.sent:
                    continue
                tx_hash = by_sender_nonce.get((record.prepared.sender, record.nonce))
                if tx_hash is None:  # accepted, then not mined (lost by the node): it stays in the mempool
                    record.nonce = None
                    record.tx_hash = None
                    continue
                included.append(record)
                receipts.append(self._node(w3.eth.get_transaction_receipt, tx_hash))
        gas_used = int(block["gasUsed"])
        load = sum(r.background for r in included)
        rec = BlockRecord(attempt.number, int(block["timestamp"]), now, gas_used,
                          sum(r.prepared.gas for r in included), self.gas_limit,
                          len(included), load, attempt.base_fee)
        self.blocks.append(rec)
        self.base_fee = self._next_base_fee(attempt.base_fee, gas_used)
        for record, receipt in zip(included, receipts):
            self._pending.pop(record.tx_id, None)
            record.tx_hash = HexBytes(receipt["transactionHash"]).to_0x_hex()
            record.block_number = attempt.number
            record.index = int(receipt["transactionIndex"])
            record.included_at = now
            if record.first_included_at is None:
                record.first_included_at = now
            record.gas_used = int(receipt["gasUsed"])
            record.status = int(receipt["status"])
            record.effective_gas_price = attempt.base_fee + self._tip(record, attempt.base_fee)
            record.state = TxState.INCLUDED
            if record.status != 1 and not record.background:
                record.error = self._node(self.chain._failed, receipt, record.prepared.contract)
            if record.background:
                continue
            self._unfinal.append(record)
            self._emit(record, TxIncluded(now, record.tx_id, record.label, attempt.number, rec.timestamp,
                                          record.index, record.tx_hash, record.gas_used, record.status,
                                          record.wait_ns or 0,
                                          record.effective_gas_price, record.error, receipt))
        self._emit(None, BlockMined(now, rec))
        self._finalise(now, attempt.number)

    def _finalise(self, now: int, head: int) -> None:
        still = []
        for record in self._unfinal:
            assert record.block_number is not None
            if head - record.block_number + 1 >= self.confirmations:
                record.state = TxState.FINAL
                self._emit(record, TxFinal(now, record.tx_id, record.label, record.block_number, record.status or 0))
            else:
                still.append(record)
        self._unfinal = still

    # ---- reorgs ---------------------------------------------------------------------------------------------------
    def _reorg(self, now: int, depth: int) -> None:
        """Orphan the last `depth` blocks: revert to before them, mine as many empty blocks at their timestamps, and
        put their transactions back in the mempool (first in line again, in their original order)."""
        head = int(self._node(lambda: self.chain.w3.eth.block_number))
        target = head - depth
        index = next((i for i, (h, _) in enumerate(self._snapshots) if h == target), None)
        mined = [b for b in self.blocks if b.number > target]
        if index is None or len(mined) != depth:
            raise ChainError(f"cannot reorg {depth} blocks at head {head}: the producer holds no snapshot of block "
                             f"{target} among its own blocks (reorg_window {self._reorg_window})")
        snapshot = self._snapshots[index][1]
        del self._snapshots[index:]
        self._node(self.chain.revert, snapshot)
        orphaned_numbers = tuple(b.number for b in mined)
        self.blocks = [b for b in self.blocks if b.number <= target]
        self.orphaned_blocks.extend(mined)
        orphans = sorted((r for r in self._txs.values() if r.state is TxState.INCLUDED and r.block_number is not None
                          and r.block_number > target), key=lambda r: r.seq)
        for record in orphans:
            old_block, old_hash = record.block_number, record.tx_hash or ""
            record.state = TxState.PENDING
            record.block_number = record.index = record.included_at = record.gas_used = record.status = None
            record.error = None
            record.tx_hash = None
            record.nonce = None
            record.orphaned += 1
            if record in self._unfinal:
                self._unfinal.remove(record)
            if record.background:
                continue
            self._emit(record, TxOrphaned(now, record.tx_id, record.label, old_block or 0, old_hash))
        # back into the mempool in submission order (dict order decides equal bids)
        rest = [r for r in self._pending.values()]
        self._pending = {r.tx_id: r for r in sorted(orphans + rest, key=lambda r: r.seq) if not r.background
                         or r.expires_at is None or r.expires_at > now}
        # the fork that won: as many empty blocks, same timestamps
        base_fee = mined[0].base_fee
        for old in mined:
            self._take_snapshot(old.number - 1)
            if self.chain.is_local:
                chain = self.chain._tester.backend.chain
                chain.header = chain.header.copy(timestamp=old.timestamp)
                self.chain._tester.mine_blocks(1)
            else:
                self._node(self.chain._rpc, "evm_setNextBlockTimestamp", old.timestamp)
                self._node(self.chain._rpc, "evm_mine")
            block = self.chain.w3.eth.get_block(old.number)
            rec = BlockRecord(old.number, int(block["timestamp"]), now, int(block["gasUsed"]), 0, self.gas_limit, 0,
                              0, base_fee, replacement=True)
            self.blocks.append(rec)
            base_fee = self._next_base_fee(base_fee, rec.gas_used)
        self.base_fee = base_fee
        self.reorgs += 1
        self._emit(None, Reorged(now, depth, orphaned_numbers, tuple(r.tx_id for r in orphans if not r.background)))

    def reorg(self, depth: int) -> None:
        """Orphan the last `depth` blocks at the next block slot (same as the fault Reorg(now, depth))."""
        self.add_fault(Reorg(self.scheduler.now, depth))

    # ---- figures --------------------------------------------------------------------------------------------------
    def figures(self) -> ChainFigures:
        """Totals so far."""
        mined = [b for b in self.blocks if not b.replacement]
        own = [r for r in self._txs.values() if not r.background]
        waits = [r.wait_ns for r in own if r.wait_ns is not None]
        n = len(self.blocks)
        outages = tuple(self.outages)
        if self._outage_start is not None:
            outages += (Outage(self._outage_start, None, self._outage_attempts, self._outage_error),)
        return ChainFigures(
            blocks=n,
            txs_included=sum(b.txs - b.load_txs for b in mined),
            load_txs_included=sum(b.load_txs for b in mined),
            gas_used=sum(b.gas_used for b in self.blocks),
            gas_per_block=sum(b.gas_used for b in self.blocks) / n if n else 0.0,
            txs_per_block=sum(b.txs for b in self.blocks) / n if n else 0.0,
            wait_p50_ns=_percentile(waits, 0.5),
            wait_p90_ns=_percentile(waits, 0.9),
            wait_max_ns=max(waits) if waits else None,
            final=sum(r.state is TxState.FINAL for r in own),
            pending=sum(r.state is TxState.PENDING for r in own),
            dropped=sum(r.state is TxState.DROPPED for r in own),
            reverted=sum(r.status == 0 for r in own),
            reorgs=self.reorgs,
            orphaned_txs=sum(r.orphaned for r in own),
            outages=outages,
            base_fee_max=max((b.base_fee for b in self.blocks), default=self.base_fee),
        )
