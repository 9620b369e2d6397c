"""AMM pools as simulation venues: swap commands queue in their chain's mempool and execute at block times.

Chain time follows simulated time: a chain's clock starts at `epoch` (unix seconds) when the simulation starts,
and before a simulated block's transactions run, the chain is moved forward so that the block's first transaction
gets `block.timestamp = epoch + kernel.now // 1 s`. The in-process chain mines every transaction in a block of its
own and block timestamps must strictly increase, so the k-th transaction of a simulated block gets that timestamp
+ k (consecutive seconds). A block with more transactions than its block time has seconds therefore leaves the
chain's clock ahead of simulated time until a quieter block; `clock_ahead_max` reports the largest lead (a
reverted swap is mined too and takes its second). Transactions outside blocks (bridge lock/burn/relay) are
synchronised the same way at the simulated time they are sent.

Bus events (market_sim.defi.events): a pool publishes Swap and LiquidityChanged on (venue, symbol); a chain publishes
ChainTransaction for each transaction and BlockProduced after each block on ("chain", name). Block builders
(`ChainRuntime.add_block_builder`, e.g. a top-of-block arbitrageur) are an explicit, ordered call at the start of a
block, not a bus subscription: their swaps go first, in the order the builders were added.

The mempool is visible before it is mined: `ChainRuntime.pending()` lists the queued swaps (arrived at their venue,
not yet in a block) in mempool order. Each builder is called in turn and its bundle executes before the next builder
is called, so every builder plans on the pool as its predecessors left it (`AmmVenue.pool` is exact). A bundle may
include swaps that are pending (a sandwich: front-run, the victim's queued swap, back-run): those leave the mempool
and execute where the bundle puts them, exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from market_sim.blockchain import Chain
from market_sim.blockchain.clients import ERC20, Receipt
from market_sim.core.clock import NS_PER_SECOND
from market_sim.core.errors import ConfigError, ContractRevertError, ValidationError
from market_sim.core.events import Event
from market_sim.core.instruments import Instrument
from market_sim.core.orders import Side
from market_sim.defi.amm import NO_DEADLINE, Amm, PairInfo
from market_sim.defi.arbitrage import QuotePool
from market_sim.defi.events import BlockProduced, ChainTransaction, LiquidityChanged, Swap, chain_topic
from market_sim.simulation.venues import Quote

if TYPE_CHECKING:
    from market_sim.simulation.runner import Simulation

__all__ = ["SwapCommand", "SwapExecuted", "SwapFailed", "AmmVenue", "ChainRuntime", "BlockBuilder", "FAILED_SWAP_GAS",
           "SIM_EPOCH"]

# A swap that reverts without a receipt (refused before mining) is charged this estimate; a mined revert (the
# usual case: swaps carry an explicit gas limit) is charged its receipt's gas.
FAILED_SWAP_GAS = 45_000
# Default chain timestamp of simulated time 0 (2033-05-18 03:33:20 UTC): fixed so seeded runs give the same
# timestamps, price accumulators and deadlines; later than any wall-clock time the set-up blocks get.
SIM_EPOCH = 2_000_000_000


@dataclass(frozen=True, slots=True)
class SwapCommand:
    """Swap exactly `amount_in` on an AMM venue: BUY pays quote for base, SELL pays base for quote."""

    trader: str
    symbol: str
    side: Side
    amount_in: int
    min_out: int = 0
    tag: str = ""  # the agent's own label, echoed in the result (e.g. an arbitrage id)
    deadline: int | None = None  # latest chain timestamp (s) the Router accepts; None: no deadline


@dataclass(frozen=True, slots=True)
class SwapExecuted(Event):
    """A swap was mined: exact amounts, gas used and the pool's reserves afterwards."""

    trader: str
    venue: str
    symbol: str
    side: Side
    amount_in: int
    amount_out: int
    gas_used: int
    gas_price_wei: int
    reserve_quote: int
    reserve_base: int
    tag: str
    tx_hash: str = ""


@dataclass(frozen=True, slots=True)
class SwapFailed(Event):
    """A swap reverted on chain (slippage limit, balance...); the gas was still paid."""

    trader: str
    venue: str
    symbol: str
    side: Side
    amount_in: int
    reason: str
    gas_used: int
    gas_price_wei: int
    tag: str


# Called at the start of each block, before the mempool runs: the swaps to put at the top of the block (a bundle; it
# may include pending swaps, see ChainRuntime.pending).
BlockBuilder = Callable[[], "list[tuple[AmmVenue, SwapCommand]]"]


class ChainRuntime:
    """One chain inside a simulation: its mempool, block production every `block_time` ns on the Kernel, its clock
    (chain timestamps follow simulated time from `epoch`); it publishes ChainTransaction and BlockProduced events
    on the simulation's bus (topic ("chain", name))."""

    def __init__(self, name: str, chain: Chain, block_time: int, gas_price_wei: int, *, epoch: int = SIM_EPOCH,
                 sim: "Simulation | None" = None) -> None:
        self.name = name
        self.chain = chain
        self.block_time = block_time
        self.gas_price_wei = gas_price_wei
        self.epoch = epoch
        self.blocks = 0
        self.transactions = 0
        self.gas_used = 0
        self.clock_ahead_max = 0  # largest lead of the chain's clock over simulated time at a sync (s)
        self._mempool: list[tuple[AmmVenue, SwapCommand]] = []
        self._sim = sim  # set before start() too, so set-up transactions are published
        self._clock_started = False
        self._builders: list[BlockBuilder] = []
        self._block_txs = 0  # transactions and gas of the block being produced
        self._block_gas = 0
        self.topic = chain_topic(name)

    def start(self, sim: "Simulation") -> None:
        """Start the chain's clock at `epoch` (simulated time 0) and produce blocks on the simulation clock."""
        self._sim = sim
        latest = self.chain.timestamp
        if latest >= self.epoch - 1:
            raise ConfigError(f"chain {self.name}'s clock ({latest}) is already past the simulation epoch; "
                              "choose a later one", key="defi.epoch", value=self.epoch)
        self.chain.time_travel(self.epoch - 1)  # the next transaction is mined at epoch + 0
        self._clock_started = True
        sim.every(self.block_time, self.produce_block)

    # ---- time -----------------------------------------------------------------------------------------------------
    def timestamp_at(self, now: int) -> int:
        """Chain timestamp (s) of simulated time `now` (ns)."""
        return self.epoch + now // NS_PER_SECOND

    def deadline(self, now: int, blocks: int) -> int:
        """A Router deadline `blocks` block times after simulated time `now`."""
        return self.timestamp_at(now) + blocks * -(-self.block_time // NS_PER_SECOND)

    def sync_clock(self) -> None:
        """Move the chain forward so that the next transaction is mined at the current simulated second (never back:
        a chain that is ahead stays ahead, its next transactions take the following seconds)."""
        if not self._clock_started:
            return  # set-up before the run keeps the chain's own clock
        target = self.timestamp_at(self._sim.kernel.now)
        latest = self.chain.timestamp
        if target > latest + 1:
            self.chain.time_travel(target - 1)  # mines an empty block one second before
        else:
            self.clock_ahead_max = max(self.clock_ahead_max, latest + 1 - target)

    def now(self) -> int:
        """Simulated time (ns; 0 without a simulation)."""
        return 0 if self._sim is None else self._sim.kernel.now

    # ---- events ---------------------------------------------------------------------------------------------------
    def transaction(self, kind: str, sender: str, tx_hash: str | None, gas_used: int, status: str) -> None:
        """Publish a ChainTransaction (nothing without a simulation)."""
        if self._sim is not None:
            self._sim.bus.publish(ChainTransaction(self._sim.kernel.now, self.name, kind, sender, tx_hash, gas_used,
                                                   self.gas_price_wei, status), self.topic)

    def receipt(self, kind: str, sender: str, receipt: Receipt) -> None:
        """Publish a mined transaction from its receipt."""
        self.transaction(kind, sender, receipt.tx_hash, receipt.gas_used, "ok" if receipt.ok else "reverted")

    def publish(self, event: Event, topic: tuple) -> None:
        """Publish a pool's event on the simulation's bus (nothing without a simulation)."""
        if self._sim is not None:
            self._sim.bus.publish(event, topic)

    # ---- blocks ---------------------------------------------------------------------------------------------------
    def add_block_builder(self, builder: BlockBuilder) -> None:
        """Give `builder` the top of every block: called before the mempool runs, in the order builders were added;
        the swaps it returns execute first."""
        self._builders.append(builder)

    def pending(self, venue: AmmVenue | None = None) -> tuple[tuple[AmmVenue, SwapCommand], ...]:
        """The swaps queued for the next block (all, or on `venue`), in mempool order (read-only snapshot)."""
        return tuple(e for e in self._mempool if venue is None or e[0] is venue)

    def submit(self, venue: AmmVenue, command: SwapCommand, *, first: bool = False) -> None:
        """Queue a swap for the next block (`first`: ahead of what is already queued)."""
        if first:
            self._mempool.insert(0, (venue, command))
        else:
            self._mempool.append((venue, command))

    def produce_block(self) -> None:
        """Call each block builder and execute its bundle (pending swaps it includes leave the mempool), then execute
        the rest of the mempool in order; send each swap its result and publish BlockProduced."""
        self.blocks += 1
        self._block_txs = self._block_gas = 0
        for builder in self._builders:
            bundle = builder()
            if bundle:
                self._withdraw(bundle)
                self._execute(bundle)
        pending, self._mempool = self._mempool, []
        self._execute(pending)
        self.gas_used += self._block_gas
        self._sim.bus.publish(BlockProduced(self._sim.kernel.now, self.name, self.blocks, self._block_txs,
                                            self._block_gas), self.topic)

    def _withdraw(self, bundle: list[tuple[AmmVenue, SwapCommand]]) -> None:
        """Take the bundle's pending swaps (by identity) out of the mempool."""
        ids = {id(command) for _, command in bundle}
        if any(id(c) in ids for _, c in self._mempool):
            self._mempool = [e for e in self._mempool if id(e[1]) not in ids]

    def _execute(self, swaps: list[tuple[AmmVenue, SwapCommand]]) -> None:
        now = self._sim.kernel.now
        if swaps and not self._block_txs:
            self.sync_clock()  # before the block's first transaction
        for venue, command in swaps:
            event = venue.execute(command, now)
            self.transactions += 1
            self._block_txs += 1
            self._block_gas += event.gas_used
            self._sim.record("defi_swaps", {
                "ts": now, "chain": self.name, "venue": venue.name, "agent": command.trader,
                "side": int(command.side), "amount_in": str(command.amount_in),
                "amount_out": str(getattr(event, "amount_out", 0)), "gas_used": event.gas_used,
                "ok": type(event) is SwapExecuted, "reason": getattr(event, "reason", ""), "tag": command.tag,
                "price_after": venue.price_float(),
            })
            self._sim.publish(venue, command, [event])


class AmmVenue:
    """A Pair on one chain behind the simulation's Venue protocol (one symbol: base/quote)."""

    kind = "amm"

    def __init__(self, name: str, instrument: Instrument, runtime: ChainRuntime, amm: Amm, base: ERC20,
                 quote: ERC20, info: PairInfo) -> None:
        self.name = name
        self.instrument = instrument
        self.symbols = (instrument.symbol,)
        self.runtime = runtime
        self.amm = amm
        self.base = base
        self.quote_token = quote
        self.info = info
        self._base_is_token0 = info.token0 == base.address
        self._price_scale = 10 ** (instrument.base_decimals - instrument.quote_decimals) / float(instrument.tick_size)
        self.topic = (name, instrument.symbol)
        self.refresh()

    @property
    def chain(self) -> Chain:
        return self.runtime.chain

    @property
    def fee_bps(self) -> int:
        return self.info.fee_bps

    def refresh(self) -> QuotePool:
        """Re-read the reserves from the chain."""
        state = self.amm.pool(self.info)
        self._set(state.reserve0, state.reserve1)
        return self.pool

    def _set(self, r0: int, r1: int) -> None:
        base, quote = (r0, r1) if self._base_is_token0 else (r1, r0)
        self.pool = QuotePool(quote, base, self.info.fee_bps)

    def price_float(self) -> float:
        """Marginal price in quote per base (display)."""
        return self.pool.quote / self.pool.base * 10 ** (self.instrument.base_decimals - self.instrument.quote_decimals)

    # ---- Venue protocol -------------------------------------------------------------------------------------------
    def handle(self, command: Any, ts: int) -> list[Event]:
        if not isinstance(command, SwapCommand):
            raise ValidationError(f"AMM venue {self.name} accepts SwapCommand, got {type(command).__name__}")
        self.runtime.submit(self, command)
        return []  # results are published when the block is produced

    def quote(self, symbol: str, ts: int) -> Quote:
        # Marginal price net of the fee on each side: what an infinitesimal sell / buy gets.
        mid = self.pool.quote / self.pool.base * self._price_scale
        keep = 1 - self.info.fee_bps / 10_000
        return Quote(ts, self.name, symbol, max(1, int(mid * keep)), 0, max(1, round(mid / keep + 0.5)), 0, None)

    def depth(self, symbol: str, levels: int = 10) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        return [], []

    def end_session(self, ts: int) -> list[Event]:
        return []

    def expire(self, ts: int) -> list[Event]:
        return []

    # ---- liquidity ------------------------------------------------------------------------------------------------
    def add_liquidity(self, provider: str, base: int, quote: int) -> tuple[int, int, int]:
        """Deposit base and quote from `provider` (the pool's ratio binds one of them); returns (base, quote, LP
        tokens minted) and publishes LiquidityChanged."""
        deposited = self.amm.add_liquidity(self.base, self.quote_token, base, quote, sender=provider)
        self.refresh()
        self.runtime.publish(LiquidityChanged(self.runtime.now(), self.name, self.instrument.symbol, self.runtime.name,
                                              provider, deposited[0], deposited[1], deposited[2], self.pool.base,
                                              self.pool.quote), self.topic)
        return deposited

    # ---- execution ------------------------------------------------------------------------------------------------
    def execute(self, command: SwapCommand, ts: int) -> SwapExecuted | SwapFailed:
        """Send the swap transaction now (called by the chain at block time)."""
        buy = command.side is Side.BUY
        token_in, token_out = (self.quote_token, self.base) if buy else (self.base, self.quote_token)
        gas_price = self.runtime.gas_price_wei
        deadline = NO_DEADLINE if command.deadline is None else command.deadline
        try:
            result = self.amm.swap_exact_in(token_in, token_out, command.amount_in, sender=command.trader,
                                            min_out=command.min_out, deadline=deadline,
                                            approve=False)  # approved when funded
        except ContractRevertError as err:
            gas = err.gas_used if err.gas_used is not None else FAILED_SWAP_GAS
            self.runtime.transaction("swap", command.trader, err.tx_hash, gas, "reverted")
            return SwapFailed(ts, command.trader, self.name, command.symbol, command.side, command.amount_in,
                              err.error_name or str(err), gas, gas_price, command.tag)
        self._set(result.pool.reserve0, result.pool.reserve1)
        self.runtime.publish(Swap(self.runtime.now(), self.name, command.symbol, self.runtime.name, command.trader,
                                  command.side, result.amount_in, result.amount_out, self.pool.base, self.pool.quote,
                                  result.tx_hash), self.topic)
        return SwapExecuted(ts, command.trader, self.name, command.symbol, command.side, result.amount_in,
                            result.amount_out, result.gas_used, gas_price, self.pool.quote, self.pool.base,
                            command.tag, result.tx_hash)
