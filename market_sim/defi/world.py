"""The DeFi world of a simulation: several in-process chains, tokens, AMM pools, a bridge, funded accounts.

Scenario schema (section `[defi]`, registered by importing market_sim.defi.sim):
    [defi]            home_chain (where the original tokens live), sample_interval, epoch (chain timestamp of
                      simulated time 0, unix seconds; default 2_000_000_000)
    [[defi.chains]]   name, chain_id, block_time, gas_price_gwei
    [defi.bridge]     validators, threshold, fee_bps, delay
and AMM pools as venues: [[venues]] kind = "amm", chain, fee_bps, liquidity (base units as a decimal amount),
price_offset (relative start offset from the instrument's initial price).

Every chain balance the world moves is also an entry of the simulation's accounts (market_sim.defi.ledger, booked
from the bus events); `reconcile()` compares them with the chains at the end of a run. `marks()` prices those
entries in quote units: tokens at their own chain's pool price, tokens in transit like the destination chain's token,
LP tokens at their share of the pool, gas like the chain's base token (the native coin is taken to be the base asset,
as `arbitrage.gas_cost` does), holdings off chain (an order book's) at the external price.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from market_sim.blockchain import Chain
from market_sim.blockchain.clients import ERC20, TestToken
from market_sim.consensus.signing import validator_keys
from market_sim.core.clock import NS_PER_SECOND
from market_sim.core.defaults import DEFAULT_BRIDGE_FEE_BPS, DEFAULT_THRESHOLD, DEFAULT_VALIDATORS
from market_sim.core.errors import ConfigError
from market_sim.core.instruments import Instrument
from market_sim.core.orders import Side
from market_sim.defi.amm import Amm, deploy_token
from market_sim.defi.arbitrage import CrossPoolTrade, best_cross_pool_trade, gas_cost
from market_sim.defi.bridge import BridgeRelayer
from market_sim.defi.ledger import BRIDGE, DefiLedger, Mismatch, split_asset
from market_sim.defi.venues import SIM_EPOCH, AmmVenue, ChainRuntime, SwapCommand, SwapExecuted
from market_sim.simulation.params import build_params, param

if TYPE_CHECKING:
    from market_sim.simulation.runner import Simulation

__all__ = ["ChainConfig", "BridgeConfig", "DefiConfig", "DefiTableKeys", "AmmVenueParams", "DefiWorld", "GWEI",
           "world_of", "no_defi_section"]

GWEI = 10**9
SERVICE_ACCOUNTS = ("deployer", "lp", "relayer")
FEE_RECIPIENT = "relayer"  # receives the bridge fees


@dataclass(frozen=True, slots=True)
class ChainConfig:
    name: str = param(help="chain name used by venues and agents")
    chain_id: int = param(min=1)
    block_time: int = param(12 * NS_PER_SECOND, duration=True, min=1)
    gas_price_gwei: float = param(1.0, min=0.0)


@dataclass(frozen=True, slots=True)
class BridgeConfig:
    validators: int = param(DEFAULT_VALIDATORS, min=1)
    threshold: int = param(DEFAULT_THRESHOLD, min=1)
    fee_bps: int = param(DEFAULT_BRIDGE_FEE_BPS, min=0, max=1000)
    delay: int = param(60 * NS_PER_SECOND, duration=True, min=0)


@dataclass(frozen=True, slots=True)
class DefiConfig:
    chains: tuple[ChainConfig, ...]
    bridge: BridgeConfig
    home_chain: str
    sample_interval: int
    epoch: int = SIM_EPOCH


@dataclass(frozen=True, slots=True)
class AmmVenueParams:
    chain: str = param(help="name of the [[defi.chains]] entry the pool lives on")
    fee_bps: int = param(30, min=0, max=1000)
    liquidity: float = param(1000.0, min=0.0, help="initial base-asset liquidity (decimal amount)")
    price_offset: float = param(0.0, min=-0.9, max=10.0, help="start price = initial price * (1 + offset)")


@dataclass(frozen=True, slots=True)
class DefiTableKeys:
    """The top-level keys of [defi] besides its chains and bridge sub-tables (parse_defi reads them)."""

    home_chain: str = param("", help="where the original tokens live (default: the first chain)")
    sample_interval: int = param("10s", duration=True, min=1, help="period of the AMM price samples")
    epoch: int = param(SIM_EPOCH, min=1, max=2**32 - 1, help="unix time of simulated time zero on every chain")


def parse_defi(raw: dict[str, Any]) -> DefiConfig:
    """Validate the [defi] table."""
    known = {"chains", "bridge", "home_chain", "sample_interval", "epoch"}
    for key in raw:
        if key not in known:
            raise ConfigError(f"unknown key; expected one of: {', '.join(sorted(known))}", key=f"defi.{key}",
                              value=raw[key])
    chains_raw = raw.get("chains")
    if not isinstance(chains_raw, list) or not chains_raw:
        raise ConfigError("needs at least one [[defi.chains]] entry", key="defi.chains", value=chains_raw)
    chains = tuple(build_params(ChainConfig, c, f"defi.chains[{i}]") for i, c in enumerate(chains_raw))
    names = [c.name for c in chains]
    if len(set(names)) != len(names) or len({c.chain_id for c in chains}) != len(chains):
        raise ConfigError("chain names and chain ids must be unique", key="defi.chains", value=names)
    bridge = build_params(BridgeConfig, raw.get("bridge", {}), "defi.bridge")
    if bridge.threshold > bridge.validators:
        raise ConfigError("must not exceed defi.bridge.validators", key="defi.bridge.threshold", value=bridge.threshold)
    home = raw.get("home_chain", names[0])
    if home not in names:
        raise ConfigError(f"unknown chain; defined: {', '.join(names)}", key="defi.home_chain", value=home)
    from market_sim.simulation.latency import parse_duration

    sample = parse_duration(raw.get("sample_interval", "10s"), "defi.sample_interval")
    epoch = raw.get("epoch", SIM_EPOCH)
    if type(epoch) is not int or not 0 < epoch < 2**32:
        raise ConfigError("must be a unix time in seconds (integer below 2**32)", key="defi.epoch", value=epoch)
    return DefiConfig(chains, bridge, home, sample, epoch)


@dataclass
class _Tokens:
    base: ERC20
    quote: ERC20


@dataclass
class DefiWorld:
    """Chains, tokens (originals on the home chain, bridged copies elsewhere), AMM venues and the bridge."""

    config: DefiConfig
    instrument: Instrument
    runtimes: dict[str, ChainRuntime]
    relayer: BridgeRelayer
    tokens: dict[str, _Tokens]
    amms: dict[str, Amm]
    venues: dict[str, AmmVenue] = field(default_factory=dict)
    lp_deposits: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # venue -> (base, quote, lp tokens)
    account_names: tuple[str, ...] = ()  # every account the chains know (service accounts and DeFi agents)
    fee_recipient: str = FEE_RECIPIENT
    ledger: DefiLedger | None = None
    chain_stats: dict[str, Any] = field(default_factory=dict)  # chain -> counts from its BlockProduced events

    @classmethod
    def build(cls, sim: "Simulation", config: DefiConfig, accounts: list[str]) -> DefiWorld:
        """Deploy everything on fresh in-process chains (one per [[defi.chains]])."""
        instruments = [c.instrument for c in sim.scenario.instruments]
        if not instruments:
            raise ConfigError("the DeFi world needs an instrument (base/quote pair)", key="instruments", value=None)
        instrument = instruments[0]
        names = list(SERVICE_ACCOUNTS) + [a for a in accounts if a not in SERVICE_ACCOUNTS]
        runtimes = {c.name: ChainRuntime(c.name, Chain.local(names, chain_id=c.chain_id, network=c.name),
                                         c.block_time, int(c.gas_price_gwei * GWEI), epoch=config.epoch, sim=sim)
                    for c in config.chains}
        b = config.bridge
        keys = validator_keys(b.validators, seed=sim.seed)
        relayer = BridgeRelayer.deploy(sim.kernel, [r.chain for r in runtimes.values()], keys, threshold=b.threshold,
                                       fee_bps=b.fee_bps, delay_ns=b.delay, fee_recipient=FEE_RECIPIENT)
        home = runtimes[config.home_chain].chain
        base_sym = instrument.base_asset or instrument.symbol.split("/")[0]
        quote_sym = instrument.quote_asset or instrument.symbol.split("/")[-1]
        base = deploy_token(home, base_sym, base_sym, instrument.base_decimals)
        quote = deploy_token(home, quote_sym, quote_sym, instrument.quote_decimals)
        tokens = {config.home_chain: _Tokens(base, quote)}
        for name, rt in runtimes.items():
            if name != config.home_chain:
                tokens[name] = _Tokens(relayer.create_wrapped(home.chain_id, base, rt.chain.chain_id),
                                       relayer.create_wrapped(home.chain_id, quote, rt.chain.chain_id))
        amms = {name: Amm.deploy(rt.chain) for name, rt in runtimes.items()}
        relayer.chains = {rt.chain.chain_id: rt for rt in runtimes.values()}
        relayer.bus = sim.bus
        for name, amm in amms.items():
            amm.receipts = runtimes[name]
        world = cls(config, instrument, runtimes, relayer, tokens, amms, account_names=tuple(names))
        world.ledger = DefiLedger(sim.accounts, sim.bus, world)
        return world

    # ---- lookups --------------------------------------------------------------------------------------------------
    def runtime(self, chain: str) -> ChainRuntime:
        try:
            return self.runtimes[chain]
        except KeyError:
            raise ConfigError(f"unknown chain; defined: {', '.join(self.runtimes)}", key="chain", value=chain) from None

    def chain(self, name: str) -> Chain:
        return self.runtime(name).chain

    def token(self, chain: str, asset: str) -> ERC20:
        """The base or quote token contract on a chain."""
        t = self.tokens[chain]
        return t.base if asset == "base" else t.quote

    def balance(self, account: str, chain: str, asset: str) -> int:
        return self.token(chain, asset).balance_of(self.chain(chain).address(account))

    def asset_names(self) -> tuple[str, str]:
        """The base and quote token names (the instrument's assets, e.g. "WETH", "USDC")."""
        inst = self.instrument
        return (inst.base_asset or inst.symbol.split("/")[0], inst.quote_asset or inst.symbol.split("/")[-1])

    def token_balance_at(self, chain: str, asset: str, address: str) -> int:
        """Base or quote token balance of an address on a chain."""
        return self.token(chain, asset).balance_of(address)

    def lp_balance(self, venue: str, address: str) -> int:
        """LP tokens of a pool held by an address."""
        v = self.venues[venue]
        return v.amm.pair(v.info.address).balance_of(address)

    def lp_supply(self, venue: str) -> int:
        """Total LP tokens of a pool."""
        v = self.venues[venue]
        return v.amm.pair(v.info.address).total_supply()

    def units(self, amount: float | Decimal, asset: str) -> int:
        """A decimal amount of base or quote to integer token units."""
        decimals = self.instrument.base_decimals if asset == "base" else self.instrument.quote_decimals
        return int(Decimal(str(amount)).scaleb(decimals))

    def price_fraction(self, price: float) -> Fraction:
        """A float price (quote per base) as quote units per base unit."""
        inst = self.instrument
        return Fraction(price).limit_denominator(10**12) * Fraction(10**inst.quote_decimals, 10**inst.base_decimals)

    # ---- funding and pools ----------------------------------------------------------------------------------------
    def fund(self, account: str, chain: str, base: int, quote: int) -> None:
        """Give `account` base and quote tokens on `chain` (minted at home, bridged without delay elsewhere) and
        approve the chain's router to spend both for good."""
        amm = self.amms[chain]
        amm.approve_router(self.token(chain, "base"), account)
        amm.approve_router(self.token(chain, "quote"), account)
        home_name = self.config.home_chain
        home = self.chain(home_name)
        t = self.tokens[home_name]
        if chain == home_name:
            for which, token, amount in (("base", t.base, base), ("quote", t.quote, quote)):
                if amount:
                    TestToken.at(home, token.address).mint(home.address(account), amount)
                    self._minted(account, home_name, which, amount)
            return
        dest = self.chain(chain)
        for which, token, amount in (("base", t.base, base), ("quote", t.quote, quote)):
            if amount:
                gross = amount * 10_000 // (10_000 - self.config.bridge.fee_bps) + 1  # net of the bridge fee
                TestToken.at(home, token.address).mint(home.address("deployer"), gross)
                self._minted("deployer", home_name, which, gross)
                self.relayer.lock(home.chain_id, token, gross, dest.chain_id, sender="deployer",
                                  recipient=dest.address(account))
        self.relayer.flush()

    def _minted(self, account: str, chain: str, which: str, amount: int) -> None:
        if self.ledger is not None:
            self.ledger.minted(self.runtime(chain).now(), account, chain, which, amount)

    def add_pool(self, name: str, params: AmmVenueParams, price: float) -> AmmVenue:
        """Create a pool on params.chain and seed it from the `lp` account at `price` (quote per base)."""
        rt = self.runtime(params.chain)
        toks = self.tokens[params.chain]
        amm = self.amms[params.chain]
        base_amount = self.units(params.liquidity, "base")
        quote_amount = int(base_amount * self.price_fraction(price * (1 + params.price_offset)))
        info = amm.create_pair(toks.base.address, toks.quote.address, params.fee_bps)
        self.fund("lp", params.chain, base_amount, quote_amount)
        venue = AmmVenue(name, self.instrument, rt, amm, toks.base, toks.quote, info)
        self.venues[name] = venue
        self.lp_deposits[name] = venue.add_liquidity("lp", base_amount, quote_amount)
        return venue

    # ---- marks and reconciliation ---------------------------------------------------------------------------------
    def marks(self, external: Fraction) -> Callable[[str], Fraction | None]:
        """price_of(asset) for Account.value: quote units per base unit of each account entry (see the module
        docstring); `external` is the external price (quote units per base unit) for holdings off chain."""
        base_token, quote_token = self.asset_names()
        pool_price = {v.runtime.name: Fraction(v.pool.quote, v.pool.base) for v in self.venues.values()
                      if v.pool.base}
        cache: dict[str, Fraction | None] = {}

        def base_price(chain: str) -> Fraction:
            return pool_price.get(chain, external)

        def price_of(asset: str) -> Fraction | None:
            if asset in cache:
                return cache[asset]
            token, place = split_asset(asset)
            chain = place.partition(":")[2] if place.startswith(f"{BRIDGE}:") else place
            price: Fraction | None
            if token == quote_token:
                price = Fraction(1)
            elif token == base_token:
                price = base_price(chain) if chain else external
            elif token == "gas":
                price = base_price(chain)
            elif token.startswith("LP.") and token[3:] in self.venues:
                venue = token[3:]
                pool = self.venues[venue].pool
                supply = self.lp_supply(venue)
                price = (pool.quote + pool.base * base_price(chain)) / supply if supply else Fraction(0)
            else:
                price = None
            cache[asset] = price
            return price

        return price_of

    def reconcile(self) -> tuple[int, list[Mismatch]]:
        """Every account's chain entries against the chains, in-transit entries against the bridge:
        (entries checked, differences)."""
        if self.ledger is None:
            return 0, []
        return self.ledger.reconcile()

    # ---- arbitrage pass -------------------------------------------------------------------------------------------
    def arbitrage_costs(self, venue_a: str, venue_b: str, price: float, gas_swap: int) -> int:
        """Gas of one swap on each venue's chain, in quote units at `price`."""
        p = self.price_fraction(price)
        return sum(gas_cost(gas_swap, self.venues[v].runtime.gas_price_wei, p) for v in (venue_a, venue_b))

    def arbitrage_pass(self, venue_a: str, venue_b: str, price: float, *, gas_swap: int = 130_000,
                       account: str = "deployer", max_rounds: int = 20) -> list[CrossPoolTrade]:
        """Trade the two pools against each other right now (both legs, ample inventory) until no round trip pays
        its gas; returns the trades. Used to check the no-arbitrage band once no bridge transfer is pending."""
        a, b = self.venues[venue_a], self.venues[venue_b]
        costs = self.arbitrage_costs(venue_a, venue_b, price, gas_swap)
        done: list[CrossPoolTrade] = []
        for _ in range(max_rounds):
            trade = best_cross_pool_trade((a.pool, b.pool), fixed_costs=costs)
            if trade is None:
                break
            buy, sell = (a, b) if trade.buy_index == 0 else (b, a)
            for venue, (base, quote) in ((buy, (0, trade.quote_in)), (sell, (trade.base_sold, 0))):
                self.fund(account, venue.runtime.name, base, quote)
            symbol = self.instrument.symbol
            for venue in (buy, sell):
                venue.runtime.sync_clock()
            legs = (buy.execute(SwapCommand(account, symbol, Side.BUY, trade.quote_in, trade.base_bought), 0),
                    sell.execute(SwapCommand(account, symbol, Side.SELL, trade.base_sold, trade.quote_out), 0))
            if not all(isinstance(leg, SwapExecuted) for leg in legs):
                break
            done.append(trade)
        return done

    # ---- invariants -----------------------------------------------------------------------------------------------
    def supply_ok(self) -> bool:
        """For every token, its bridged supply summed over all destinations is at most what its source locks."""
        return all(c.ok for c in self.relayer.supply_checks())


def no_defi_section() -> ConfigError:
    """The error for a scenario that uses AMM venues or [lvr] without a [defi] section."""
    return ConfigError("AMM venues and [lvr] need a [defi] section (chains and bridge)", key="defi", value=None)


def world_of(sim: "Simulation") -> DefiWorld:
    """The DeFi world the [defi] section built for this simulation: its section state (`sim.state("defi")`)."""
    world = sim.state("defi")
    if not isinstance(world, DefiWorld):
        raise no_defi_section()
    return world
