"""DeFi events on the simulation's bus (market_sim.core.bus): chains, AMM pools and the bridge publish them.

Topics:
    ("chain", name)    BlockProduced after a simulated block's transactions ran; ChainTransaction for every
                       transaction the DeFi side sends (swaps, liquidity, bridge lock/burn/mint/release)
    (venue, symbol)    Swap and LiquidityChanged of an AMM pool (the same topic as an order book's market data)
    ("bridge", name)   BridgeLocked (lock or burn mined on the source chain), BridgeRelayed (the attested relay mined
                       on the destination chain) and BridgeMinted (what the recipient and the fee recipient got)

Delivery is synchronous at the simulated time of the publish (Event.ts). Nothing a chain or the bridge does depends on
who listens: what must happen in order (the chain clock's sync before a transaction, block builders' transactions at
the top of a block) is an explicit call in ChainRuntime / BridgeRelayer, not a bus handler.
"""

from __future__ import annotations

from dataclasses import dataclass

from market_sim.core.events import Event
from market_sim.core.orders import Side

__all__ = ["BlockProduced", "ChainTransaction", "Swap", "LiquidityChanged", "BridgeLocked", "BridgeRelayed",
           "BridgeMinted", "chain_topic", "bridge_topic"]


def chain_topic(chain: str) -> tuple[str, str]:
    return ("chain", chain)


def bridge_topic(bridge: str) -> tuple[str, str]:
    return ("bridge", bridge)


@dataclass(frozen=True, slots=True)
class BlockProduced(Event):
    """A simulated block of `chain` ran: its number (1 for the run's first), the swaps it executed and their gas."""

    chain: str
    number: int
    transactions: int
    gas_used: int


@dataclass(frozen=True, slots=True)
class ChainTransaction(Event):
    """A transaction sent to a chain (mined, or refused before mining: tx_hash None). `sender` is the account name;
    gas is charged at `gas_price_wei`, the chain's configured price."""

    chain: str
    kind: str            # "swap", "lp_mint", "lp_burn", "bridge_lock", "bridge_burn", "bridge_mint", "bridge_release"
    sender: str
    tx_hash: str | None
    gas_used: int
    gas_price_wei: int
    status: str          # "ok" or "reverted"

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True, slots=True)
class Swap(Event):
    """A swap mined on an AMM pool: who, which way (BUY: quote in, base out), exact amounts and the reserves after."""

    venue: str
    symbol: str
    chain: str
    trader: str
    side: Side
    amount_in: int
    amount_out: int
    reserve_base: int
    reserve_quote: int
    tx_hash: str = ""

    @property
    def base_amount(self) -> int:
        return self.amount_out if self.side is Side.BUY else self.amount_in

    @property
    def quote_amount(self) -> int:
        return self.amount_in if self.side is Side.BUY else self.amount_out


@dataclass(frozen=True, slots=True)
class LiquidityChanged(Event):
    """Liquidity added to (liquidity > 0) or removed from (< 0) an AMM pool by `provider`: the token amounts that
    moved, the LP tokens minted or burned and the reserves after."""

    venue: str
    symbol: str
    chain: str
    provider: str
    base_amount: int
    quote_amount: int
    liquidity: int
    reserve_base: int
    reserve_quote: int


@dataclass(frozen=True, slots=True)
class BridgeLocked(Event):
    """A lock (home chain) or burn (wrapped copy) mined on the source chain: `amount` of `token` left `sender`."""

    bridge: str
    kind: str                # "lock" or "burn"
    source_chain_id: int
    dest_chain_id: int
    nonce: int
    token: str               # the token contract sent on the source chain (original or wrapped)
    sender: str              # account name
    recipient: str           # address on the destination chain
    amount: int


@dataclass(frozen=True, slots=True)
class BridgeRelayed(Event):
    """The validators' attested relay was executed on the destination chain by the relayer."""

    bridge: str
    kind: str                # "mint" or "release"
    source_chain_id: int
    dest_chain_id: int
    nonce: int
    signatures: int
    relayer: str
    tx_hash: str
    gas_used: int


@dataclass(frozen=True, slots=True)
class BridgeMinted(Event):
    """A transfer arrived: `received` paid to `recipient` and `fee` to the bridge's fee recipient on the destination
    chain (minted wrapped tokens, or released originals)."""

    bridge: str
    kind: str                # "mint" or "release"
    source_chain_id: int
    dest_chain_id: int
    nonce: int
    token: str               # the original token (on the home chain)
    sender: str              # account name that sent it
    recipient: str           # address on the destination chain
    received: int
    fee: int
