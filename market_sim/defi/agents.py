"""DeFi agents: they trade AMM venues (and the order book) through the simulation's Agent API and book exact PnL.

Every agent's token balances per chain, LP tokens, tokens in transit on the bridge and gas are entries of its core
account (`self.account`, booked by market_sim.defi.ledger from the chain's events; the chain stays the source of
truth and the agent reads its balances from it). It trades only when the profit it can compute (closed-form optimal
size on constant-product pools with fees, minus gas valued in the quote token at the external price, and bridge fees)
is positive. PnL is computed from the account in integer quote units: the account now against the account it
started with, both marked now (DefiWorld.marks: each chain's tokens at that chain's pool price, tokens in transit
like the destination's, gas like the chain's base token). Slippage limits (min_out) make
the executed amounts at least the computed ones; a leg that would do worse reverts instead (its gas is still paid).
Every swap carries a Router deadline `deadline_blocks` block times after the agent decided (chain time follows
simulated time), so a swap that would land later reverts with Expired and is booked as failed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from market_sim.core.clock import NS_PER_SECOND
from market_sim.core.errors import ConfigError
from market_sim.core.events import Event
from market_sim.core.orders import Side, TimeInForce
from market_sim.defi.amm_math import get_amount_in
from market_sim.defi.arbitrage import QuotePool, best_cross_pool_trade, best_price_trade, gas_cost
from market_sim.defi.ledger import BRIDGE, lp_asset, split_asset
from market_sim.defi.venues import AmmVenue, SwapCommand, SwapExecuted, SwapFailed
from market_sim.simulation.agents.base import Agent, register_agent_type
from market_sim.simulation.params import param

if TYPE_CHECKING:
    from market_sim.defi.world import DefiWorld

__all__ = [
    "DefiAgent", "AmmNoiseTrader", "LiquidityProvider", "PriceArbitrageur", "InventoryArbitrageur",
    "BridgeArbitrageur", "BookAmmArbitrageur", "Decision", "DEFI_AGENT_KINDS",
]


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision to trade: what the agent expected to gain and the costs it knew of (quote units)."""

    ts: int
    agent: str
    kind: str
    venues: str
    quote_in: int
    expected_gross: int
    known_costs: int

    @property
    def expected_net(self) -> int:
        return self.expected_gross - self.known_costs


class DefiAgent(Agent):
    """Base of the DeFi agents: chain balances, swaps on AMM venues, gas and bridge accounting, PnL."""

    kind = ""
    deadline_blocks = 5  # Router deadline of every swap: this many block times after the decision

    def __init__(self, agent_id: str, params: Any = None) -> None:
        super().__init__(agent_id, params)
        self.world: DefiWorld | None = None
        self.swaps = 0
        self.failed_swaps = 0
        self.gas_units = 0
        self.gas_cost = 0  # quote units, each payment valued at the external price when paid (the account has the gas)
        self.bridge_transfers = 0
        self.bridged = {"base": 0, "quote": 0}
        self.decisions: list[Decision] = []
        self.realized: list[int] = []  # net result of each completed arbitrage (quote units, after gas)
        self._start: dict[str, int] = {}  # account balances when the run started
        self._in_flight = 0
        # Only this agent's own swaps and bridge transfers change its balances: cache reads until one happens.
        self._balances: dict[tuple[str, str], int] = {}

    # ---- wiring ---------------------------------------------------------------------------------------------------
    def funding(self) -> dict[str, tuple[float, float]]:
        """Chain name -> (base, quote) decimal amounts this agent starts with (override)."""
        return {}

    def attach(self, world: DefiWorld) -> None:
        """Called by the [defi] section before the run, after funding."""
        self.world = world

    def on_start(self) -> None:
        self.remember_start()
        self.wake_up_in(getattr(self.params, "interval", NS_PER_SECOND))

    def remember_start(self) -> None:
        """Record the starting account balances (PnL is measured against simply holding them)."""
        self._start = dict(self.account.balances)

    # ---- reading --------------------------------------------------------------------------------------------------
    def venue(self, name: str) -> AmmVenue:
        return self.world.venues[name]

    def true_price(self) -> Fraction:
        """External price in quote units per base unit (the scenario's price process)."""
        f = self.fundamental(self.world.instrument.symbol)
        if f is None:
            f = next(iter(self.world.venues.values())).price_float()
        return self.world.price_fraction(f)

    def balance(self, chain: str, asset: str) -> int:
        """This agent's token balance on a chain (read from the chain, cached until its next own action lands)."""
        key = (chain, asset)
        value = self._balances.get(key)
        if value is None:
            value = self._balances[key] = self.world.balance(self.id, chain, asset)
        return value

    def gas_quote(self, gas: int, chain: str) -> int:
        """Cost of `gas` on `chain` in quote units at the external price."""
        return gas_cost(gas, self.world.runtime(chain).gas_price_wei, self.true_price())

    def in_transit(self) -> dict[str, int]:
        """Base and quote units on the bridge now (sent, not yet arrived), as they will arrive (net of the fee), from
        the account's in-transit entries."""
        base, quote = self.world.asset_names()
        out = {"base": 0, "quote": 0}
        for asset, amount in self.account.balances.items():
            token, place = split_asset(asset)
            if place.startswith(f"{BRIDGE}:"):
                out["base" if token == base else "quote"] += amount
        return out

    def _value(self, balances: dict[str, int]) -> Fraction:
        price_of = self.world.marks(self.true_price())
        total = Fraction(0)
        for asset, amount in balances.items():
            if amount:
                price = price_of(asset)
                total += amount * (price if price is not None else 0)
        return total

    def portfolio_value(self) -> int:
        """The account marked now (quote units, rounded down): tokens on every chain at that chain's pool price,
        tokens in transit like the destination's, LP tokens at their pool share, gas spent (negative) like the
        chain's base token, order-book holdings at the external price."""
        return math.floor(self._value(self.account.balances))

    def hodl_value(self) -> int:
        """The starting account marked now (quote units, rounded down)."""
        return math.floor(self._value(self._start))

    def pnl(self) -> int:
        """Marked value of the account now minus that of just holding the starting balances (quote units; gas is in
        the account)."""
        return self.portfolio_value() - self.hodl_value()

    # ---- acting ---------------------------------------------------------------------------------------------------
    def mark_pnl(self, symbol: str, mark: object) -> int:
        """The whole DeFi PnL in quote units on the first symbol (so the runner's PnL tables show it)."""
        if self.world is None or symbol != self.symbols[0]:
            return 0
        return self.pnl()

    def swap(self, venue: str, side: Side, amount_in: int, min_out: int = 0, tag: str = "") -> None:
        """Send a swap to an AMM venue (arrives after the agent→venue latency, executes in the next block)."""
        self._in_flight += 1
        self.send(venue, SwapCommand(self.id, self.world.instrument.symbol, side, amount_in, min_out, tag,
                                     self.swap_deadline(venue)))

    def swap_deadline(self, venue: str) -> int:
        """Router deadline (chain timestamp) for a swap on `venue` decided now."""
        return self.venue(venue).runtime.deadline(self.now, self.deadline_blocks)

    def decide(self, kind: str, venues: str, quote_in: int, gross: int, costs: int) -> Decision:
        d = Decision(self.now, self.id, kind, venues, quote_in, gross, costs)
        self.decisions.append(d)
        return d

    def on_order_event(self, event: Event) -> None:
        self._balances.clear()
        if isinstance(event, SwapExecuted):
            self._in_flight -= 1
            self.swaps += 1
            self._pay_gas(event.gas_used, event.venue)
            self.on_swap(event)
        elif isinstance(event, SwapFailed):
            self._in_flight -= 1
            self.failed_swaps += 1
            self._pay_gas(event.gas_used, event.venue)
            self.on_swap_failed(event)

    def _pay_gas(self, gas: int, venue: str) -> None:
        self.gas_units += gas
        self.gas_cost += self.gas_quote(gas, self.venue(venue).runtime.name)

    def on_swap(self, event: SwapExecuted) -> None:
        """A swap of this agent was mined."""

    def on_swap_failed(self, event: SwapFailed) -> None:
        """A swap of this agent reverted."""

    def bridge(self, asset: str, amount: int, src: str, dst: str, on_arrival: Any = None) -> None:
        """Move `amount` of base/quote from chain src to dst: lock at home or burn the wrapped copy elsewhere."""
        world = self.world
        relayer = world.relayer
        home = world.config.home_chain
        if home not in (src, dst) or src == dst:
            raise ConfigError(f"bridging runs between the home chain {home!r} and another chain", key="bridge",
                              value=f"{src}->{dst}")
        src_chain, dst_chain = world.chain(src), world.chain(dst)
        recipient = dst_chain.address(self.id)
        self._balances.clear()
        on_arrival = self._arrival_hook(on_arrival)
        if src == home:
            t = relayer.lock(src_chain.chain_id, world.token(src, asset), amount, dst_chain.chain_id, sender=self.id,
                             recipient=recipient, on_arrival=on_arrival)
        else:
            t = relayer.burn(src_chain.chain_id, world.token(src, asset), amount, sender=self.id,
                             recipient=recipient, on_arrival=on_arrival)
        self.bridge_transfers += 1
        self.bridged[asset] += amount
        self.gas_units += t.sender_gas
        self.gas_cost += self.gas_quote(t.sender_gas, src)

    def _arrival_hook(self, fn: Any) -> Any:
        def arrived(transfer: Any) -> None:
            self._balances.clear()
            if fn is not None:
                fn(transfer)

        return arrived

    def report(self) -> dict[str, Any]:
        """Figures for the results table (quote amounts as decimal numbers)."""
        q = 10 ** self.world.instrument.quote_decimals
        b = 10 ** self.world.instrument.base_decimals
        return {
            "agent": self.id, "kind": self.kind, "pnl": self.pnl() / q, "swaps": self.swaps,
            "failed_swaps": self.failed_swaps, "book_fills": self.fills, "gas_units": self.gas_units,
            "gas_cost": self.gas_cost / q, "decisions": len(self.decisions), "arbitrages_done": len(self.realized),
            "arbitrage_profit": sum(self.realized) / q, "bridge_transfers": self.bridge_transfers,
            "bridged_base": self.bridged["base"] / b, "bridged_quote": self.bridged["quote"] / q,
        }


# ---- noise ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AmmNoiseParams:
    pool: str = param(help="AMM venue to trade")
    interval: int = param(30 * NS_PER_SECOND, duration=True, min=1, help="mean time between swaps")
    max_quote: float = param(5000.0, min=0.0, help="largest swap, in quote (decimal)")
    base_balance: float = param(100.0, min=0.0)
    quote_balance: float = param(300000.0, min=0.0)
    slippage_bps: int = param(10_000, min=0, max=10_000,
                              help="slippage tolerance: min_out = the output at the pool when sent × (1 − this/10⁴); "
                                   "10000: no limit (min_out 0)")


@register_agent_type
class AmmNoiseTrader(DefiAgent):
    """Swaps a random amount in a random direction at exponential intervals (no view on price)."""

    kind = "amm_noise"
    Params = AmmNoiseParams

    def funding(self) -> dict[str, tuple[float, float]]:
        p = self.params
        return {self.world.venues[p.pool].runtime.name: (p.base_balance, p.quote_balance)}

    def on_wakeup(self) -> None:
        p = self.params
        v = self.venue(p.pool)
        chain = v.runtime.name
        quote_amount = int(self.rng.random() * self.world.units(p.max_quote, "quote")) + 1
        if self.rng.random() < 0.5:
            amount = min(quote_amount, self.balance(chain, "quote"))
            side = Side.BUY
        else:
            amount = min(int(quote_amount / v.pool.price()), self.balance(chain, "base"))
            side = Side.SELL
        if amount > 0:
            min_out = 0
            if p.slippage_bps < 10_000:
                expected = v.pool.buy_base(amount) if side is Side.BUY else v.pool.sell_base(amount)
                min_out = expected * (10_000 - p.slippage_bps) // 10_000
            self.swap(p.pool, side, amount, min_out, tag="noise")
        self.wake_up_in(int(self.rng.expovariate(1.0) * p.interval) + 1)


# ---- liquidity provider ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LiquidityProviderParams:
    pool: str = param(help="AMM venue to provide liquidity to")
    base_amount: float = param(50.0, min=0.0, help="base deposited at the start (quote added at the pool's ratio)")


@register_agent_type
class LiquidityProvider(DefiAgent):
    """Deposits into a pool at the start and holds the LP tokens: its PnL is fee income minus divergence loss."""

    kind = "amm_lp"
    Params = LiquidityProviderParams

    def funding(self) -> dict[str, tuple[float, float]]:
        p = self.params
        v = self.world.venues[p.pool]
        quote = float(p.base_amount * v.pool.price() * 10 ** (v.instrument.base_decimals - v.instrument.quote_decimals))
        return {v.runtime.name: (p.base_amount, quote * 1.01)}  # 1 % spare so the ratio never binds on quote

    def on_start(self) -> None:
        self.remember_start()
        v = self.venue(self.params.pool)
        base = self.world.units(self.params.base_amount, "base")
        quote = self.balance(v.runtime.name, "quote")
        v.add_liquidity(self.id, base, quote)
        self._balances.clear()

    def lp_value(self) -> int:
        """This agent's LP tokens (from its account) at their share of the pool, marked at the pool's price."""
        v = self.venue(self.params.pool)
        asset = lp_asset(v.name, v.runtime.name)
        price = self.world.marks(self.true_price())(asset)
        return math.floor(self.account.balance(asset) * price) if price is not None else 0


# ---- arbitrage against the external price (CEX / true price) ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PriceArbParams:
    pool: str = param(help="AMM venue to keep at the external price")
    gas_swap: int = param(110_000, min=0, help="gas the agent budgets per swap")
    min_profit: float = param(0.0, min=0.0, help="extra profit required per trade (quote, decimal)")
    base_balance: float = param(10_000.0, min=0.0)
    quote_balance: float = param(50_000_000.0, min=0.0)
    top_of_block: bool = param(True, help="trade first in every block (builder access) instead of on wake-ups")
    interval: int = param(12 * NS_PER_SECOND, duration=True, min=1, help="wake-up period when not top_of_block")


@register_agent_type
class PriceArbitrageur(DefiAgent):
    """Trades an AMM pool to the external price when the gain at that price beats gas (LVR's arbitrageur)."""

    kind = "amm_arbitrageur"
    Params = PriceArbParams

    def funding(self) -> dict[str, tuple[float, float]]:
        p = self.params
        return {self.world.venues[p.pool].runtime.name: (p.base_balance, p.quote_balance)}

    def __init__(self, agent_id: str, params: Any = None) -> None:
        super().__init__(agent_id, params)
        self._expected: dict[str, int] = {}

    def attach(self, world: DefiWorld) -> None:
        super().attach(world)
        if self.params.top_of_block:
            world.venues[self.params.pool].runtime.add_block_builder(self._top_of_block)

    def on_start(self) -> None:
        self.remember_start()
        if not self.params.top_of_block:
            self.wake_up_in(self.params.interval)

    def _plan(self) -> SwapCommand | None:
        p = self.params
        v = self.venue(p.pool)
        chain = v.runtime.name
        costs = self.gas_quote(p.gas_swap, chain) + self.world.units(p.min_profit, "quote")
        trade = best_price_trade(v.pool, self.true_price(), costs=costs, max_quote_in=self.balance(chain, "quote"),
                                 max_base_in=self.balance(chain, "base"))
        if trade is None:
            return None
        d = self.decide("price", p.pool, trade.amount_in if trade.buy_base else 0, trade.gross, costs)
        side = Side.BUY if trade.buy_base else Side.SELL
        tag = f"arb-{len(self.decisions)}"
        self._expected[tag] = d.expected_net
        return SwapCommand(self.id, self.world.instrument.symbol, side, trade.amount_in, trade.amount_out, tag,
                           self.swap_deadline(p.pool))

    def on_swap(self, event: SwapExecuted) -> None:
        # min_out pinned the output to the planned one, so the gain is at least the planned gain at that price
        self.realized.append(self._expected.pop(event.tag, 0))

    def on_swap_failed(self, event: SwapFailed) -> None:
        self._expected.pop(event.tag, None)

    def _top_of_block(self) -> list[tuple[AmmVenue, SwapCommand]]:
        """Block builder: the swap (if any) that trades the pool to the external price, first in the block."""
        command = self._plan()
        if command is None:
            return []
        self._in_flight += 1
        return [(self.venue(self.params.pool), command)]

    def on_wakeup(self) -> None:
        command = self._plan()
        if command is not None:
            self._in_flight += 1
            self.send(self.params.pool, command)
        self.wake_up_in(self.params.interval)


# ---- cross-chain: inventory on both chains ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CrossChainParams:
    venue_a: str = param(help="AMM venue on one chain")
    venue_b: str = param(help="AMM venue on the other chain")
    interval: int = param(4 * NS_PER_SECOND, duration=True, min=1)
    gas_swap: int = param(130_000, min=0)
    gas_bridge: int = param(120_000, min=0)
    min_profit: float = param(1.0, min=0.0, help="required profit after costs (quote, decimal)")
    base_balance: float = param(50.0, min=0.0, help="per chain")
    quote_balance: float = param(150_000.0, min=0.0, help="per chain")
    rebalance_below: float = param(0.3, min=0.0, max=1.0,
                                   help="inventory arbitrageur: bridge when a balance falls below this share")


class _CrossChain(DefiAgent):
    """Shared by the two cross-chain arbitrageurs: two AMM venues on different chains."""

    def funding(self) -> dict[str, tuple[float, float]]:
        p = self.params
        return {self._chain(p.venue_a): (p.base_balance, p.quote_balance),
                self._chain(p.venue_b): (p.base_balance, p.quote_balance)}

    def _chain(self, venue: str) -> str:
        return self.world.venues[venue].runtime.name

    def _pools(self) -> tuple[QuotePool, QuotePool]:
        return self.venue(self.params.venue_a).pool, self.venue(self.params.venue_b).pool


@register_agent_type
class InventoryArbitrageur(_CrossChain):
    """Holds base and quote on both chains, trades both legs at once, rebalances through the bridge when low."""

    kind = "xchain_inventory_arb"
    Params = CrossChainParams

    def __init__(self, agent_id: str, params: Any = None) -> None:
        super().__init__(agent_id, params)
        self._legs: dict[str, list[Any]] = {}
        self._rebalancing = 0

    def on_wakeup(self) -> None:
        self.wake_up_in(self.params.interval)
        if self._in_flight or self._rebalancing:
            return
        if not self.try_arbitrage():
            self._rebalance()

    def plan(self) -> tuple[Any, int] | None:
        """The best two-leg trade now and its known costs, or None."""
        p = self.params
        venues = (p.venue_a, p.venue_b)
        chains = tuple(self._chain(v) for v in venues)
        costs = sum(self.gas_quote(p.gas_swap, c) for c in chains) + self.world.units(p.min_profit, "quote")
        trade = best_cross_pool_trade(self._pools(), fixed_costs=costs,
                                      max_quote_in=tuple(self.balance(c, "quote") for c in chains),
                                      max_base_sold=tuple(self.balance(c, "base") for c in chains))
        return None if trade is None else (trade, costs)

    def try_arbitrage(self) -> bool:
        planned = self.plan()
        if planned is None:
            return False
        trade, costs = planned
        venues = (self.params.venue_a, self.params.venue_b)
        buy, sell = venues[trade.buy_index], venues[1 - trade.buy_index]
        tag = f"inv-{len(self.decisions)}"
        self.decide("inventory", f"{buy}->{sell}", trade.quote_in, trade.gross, costs)
        self._legs[tag] = []
        self.swap(buy, Side.BUY, trade.quote_in, trade.base_bought, tag)
        self.swap(sell, Side.SELL, trade.base_sold, trade.quote_out, tag)
        return True

    def _leg_done(self, tag: str, event: Event) -> None:
        legs = self._legs.get(tag)
        if legs is None:
            return
        legs.append(event)
        if len(legs) < 2:
            return
        del self._legs[tag]
        if all(isinstance(e, SwapExecuted) for e in legs):
            spent = next(e.amount_in for e in legs if e.side is Side.BUY)
            got = next(e.amount_out for e in legs if e.side is Side.SELL)
            gas = sum(self.gas_quote(e.gas_used, self.venue(e.venue).runtime.name) for e in legs)
            self.realized.append(got - spent - gas)
        self._rebalance()

    def on_swap(self, event: SwapExecuted) -> None:
        self._leg_done(event.tag, event)

    def on_swap_failed(self, event: SwapFailed) -> None:
        self._leg_done(event.tag, event)

    def _rebalance(self) -> None:
        p = self.params
        a, b = self._chain(p.venue_a), self._chain(p.venue_b)
        for asset, target in (("base", self.world.units(p.base_balance, "base")),
                              ("quote", self.world.units(p.quote_balance, "quote"))):
            have = {a: self.balance(a, asset), b: self.balance(b, asset)}
            low, high = (a, b) if have[a] < have[b] else (b, a)
            if have[low] < target * p.rebalance_below and have[high] > target:
                self._rebalancing += 1
                self.bridge(asset, (have[high] - have[low]) // 2, high, low, on_arrival=self._arrived)

    def _arrived(self, transfer: Any) -> None:
        self._rebalancing -= 1


# ---- cross-chain: buy, bridge, sell ----------------------------------------------------------------------------------
@register_agent_type
class BridgeArbitrageur(_CrossChain):
    """Buys base where it is cheap, bridges it, sells it on the other chain after the delay (carrying price risk)."""

    kind = "xchain_bridge_arb"
    Params = CrossChainParams

    def funding(self) -> dict[str, tuple[float, float]]:
        p = self.params
        return {self._chain(p.venue_a): (0.0, p.quote_balance), self._chain(p.venue_b): (0.0, p.quote_balance)}

    def __init__(self, agent_id: str, params: Any = None) -> None:
        super().__init__(agent_id, params)
        self._busy = False
        self._spent = 0
        self._sell_venue = ""

    def on_wakeup(self) -> None:
        self.wake_up_in(self.params.interval)
        if self._busy:
            return
        p = self.params
        venues = (p.venue_a, p.venue_b)
        chains = tuple(self._chain(v) for v in venues)
        fee_bps = self.world.config.bridge.fee_bps
        # gas: buy swap + bridge (lock or burn) + sell swap; the relay transaction is paid by the relayer's fee
        costs = (self.gas_quote(p.gas_swap, chains[0]) + self.gas_quote(p.gas_swap, chains[1])
                 + self.gas_quote(p.gas_bridge, chains[0]) + self.world.units(p.min_profit, "quote"))
        trade = best_cross_pool_trade(self._pools(), fixed_costs=costs, bridge_fee_bps=fee_bps,
                                      max_quote_in=tuple(self.balance(c, "quote") for c in chains))
        if trade is None:
            return
        buy, sell = venues[trade.buy_index], venues[1 - trade.buy_index]
        self.decide("bridge", f"{buy}->{sell}", trade.quote_in, trade.gross, trade.costs)
        self._busy = True
        self._spent = trade.quote_in
        self._sell_venue = sell
        self.swap(buy, Side.BUY, trade.quote_in, trade.base_bought, "buy")

    def on_swap(self, event: SwapExecuted) -> None:
        if event.tag == "buy":
            src = self.venue(event.venue).runtime.name
            dst = self.venue(self._sell_venue).runtime.name
            self.bridge("base", event.amount_out, src, dst, on_arrival=self._arrived)
        elif event.tag == "sell":
            self.realized.append(event.amount_out - self._spent)  # gas is in gas_cost
            self._busy = False

    def _arrived(self, transfer: Any) -> None:
        self.swap(self._sell_venue, Side.SELL, transfer.received, 0, "sell")

    def on_swap_failed(self, event: SwapFailed) -> None:
        self._busy = False


# ---- order book <-> AMM ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BookAmmParams:
    amm_venue: str = param(help="AMM venue")
    book_venue: str = param("exchange", help="order-book venue")
    interval: int = param(3 * NS_PER_SECOND, duration=True, min=1)
    gas_swap: int = param(130_000, min=0)
    max_lots: int = param(1000, min=1)
    min_profit: float = param(1.0, min=0.0)
    base_balance: float = param(50.0, min=0.0)
    quote_balance: float = param(150_000.0, min=0.0)


@register_agent_type
class BookAmmArbitrageur(DefiAgent):
    """Buys on the AMM and sells at the book's bid (or the reverse) with an IOC order, sized in closed form."""

    kind = "book_amm_arb"
    Params = BookAmmParams

    def funding(self) -> dict[str, tuple[float, float]]:
        p = self.params
        return {self.world.venues[p.amm_venue].runtime.name: (p.base_balance, p.quote_balance)}

    def on_wakeup(self) -> None:
        p = self.params
        self.wake_up_in(p.interval)
        if self._in_flight or self.open_orders:
            return
        inst = self.world.instrument
        v = self.venue(p.amm_venue)
        chain = v.runtime.name
        q = self.quote(inst.symbol, p.book_venue)
        costs = self.gas_quote(p.gas_swap, chain) + self.world.units(p.min_profit, "quote")
        bpl, qult = inst.base_units_per_lot, inst.quote_units_per_lot_tick
        if q.bid is not None and v.pool.price() < Fraction(q.bid * qult, bpl):
            trade = best_price_trade(v.pool, Fraction(q.bid * qult, bpl), costs=costs,
                                     max_quote_in=self.balance(chain, "quote"))
            if trade is None:
                return
            lots = min(trade.amount_out // bpl, q.bid_qty, p.max_lots)
            if lots <= 0:
                return
            quote_in = get_amount_in(lots * bpl, v.pool.quote, v.pool.base, v.pool.fee_bps)
            gross = lots * q.bid * qult - quote_in
            if gross - costs <= 0:
                return
            self.decide("book", f"{p.amm_venue}->{p.book_venue}", quote_in, gross, costs)
            self.swap(p.amm_venue, Side.BUY, quote_in, lots * bpl, "amm-buy")
            self.submit(inst.symbol, Side.SELL, lots, q.bid, tif=TimeInForce.IOC, venue=p.book_venue)
        elif q.ask is not None and v.pool.price() > Fraction(q.ask * qult, bpl):
            trade = best_price_trade(v.pool, Fraction(q.ask * qult, bpl), costs=costs,
                                     max_base_in=self.balance(chain, "base"))
            if trade is None:
                return
            lots = min(trade.amount_in // bpl, q.ask_qty, p.max_lots)
            if lots <= 0:
                return
            out = v.pool.sell_base(lots * bpl)
            gross = out - lots * q.ask * qult
            if gross - costs <= 0:
                return
            self.decide("book", f"{p.book_venue}->{p.amm_venue}", lots * q.ask * qult, gross, costs)
            self.swap(p.amm_venue, Side.SELL, lots * bpl, out, "amm-sell")
            self.submit(inst.symbol, Side.BUY, lots, q.ask, tif=TimeInForce.IOC, venue=p.book_venue)


DEFI_AGENT_KINDS = frozenset(c.kind for c in (AmmNoiseTrader, LiquidityProvider, PriceArbitrageur,
                                               InventoryArbitrageur, BridgeArbitrageur, BookAmmArbitrageur))
