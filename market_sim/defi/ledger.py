"""DeFi holdings on the simulation's accounts: every chain balance the DeFi side moves is an account entry.

The chains stay the source of truth for what the contracts hold; the accounts (market_sim.core.accounts) are the
off-chain record, booked from the DeFi bus events as they are published, and `reconcile` compares the two.

Asset ids (base units of each token):
    "WETH@A", "USDC@A"        the instrument's base / quote token on chain A (original or bridged copy)
    "WETH@bridge:B"           in transit on the bridge to chain B, as it will arrive (net of the bridge fee, which
                              leaves the sender's account when it sends)
    "LP.amm-A@A"              LP tokens of the pool `amm-A` on chain A
    "gas@A"                   wei of chain A's native coin spent on gas at the chain's configured gas price (negative;
                              a notional entry: the in-process chain charges its own price, so it is not reconciled)
An AMM swap is a core Fill (Liquidity.POOL) on the pool symbol "ETH/USDC@A", booked on the trader's account and, the
other way, on the pool's account "pool:<venue>" (whose entries reconcile with the pair's token balances).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from market_sim.core.accounts import Accounts, Fill, Liquidity, Transfer
from market_sim.core.bus import Bus
from market_sim.core.orders import Side
from market_sim.defi.events import BridgeLocked, BridgeMinted, ChainTransaction, LiquidityChanged, Swap

if TYPE_CHECKING:
    from market_sim.defi.world import DefiWorld

__all__ = ["DefiLedger", "Mismatch", "pool_account", "asset_id", "lp_asset", "transit_asset", "gas_asset",
           "split_asset"]

BRIDGE = "bridge"


def asset_id(token: str, place: str) -> str:
    return f"{token}@{place}"


def lp_asset(venue: str, chain: str) -> str:
    return f"LP.{venue}@{chain}"


def transit_asset(token: str, dest_chain: str) -> str:
    return f"{token}@{BRIDGE}:{dest_chain}"


def gas_asset(chain: str) -> str:
    return f"gas@{chain}"


def pool_account(venue: str) -> str:
    return f"pool:{venue}"


def split_asset(asset: str) -> tuple[str, str]:
    """("WETH", "A") from "WETH@A"; ("USD", "") from an asset held nowhere in particular."""
    token, _, place = asset.partition("@")
    return token, place


@dataclass(frozen=True, slots=True)
class Mismatch:
    """An account entry that differs from what the chain (or the bridge) holds for it."""

    account: str
    asset: str
    booked: int
    actual: int

    @property
    def difference(self) -> int:
        return self.booked - self.actual


class DefiLedger:
    """Books the DeFi events of one world on the simulation's accounts and publishes each booking (the swap's Fill, a
    Transfer otherwise) on ("account", id)."""

    def __init__(self, accounts: Accounts, bus: Bus, world: DefiWorld) -> None:
        self.accounts = accounts
        self.bus = bus
        self.world = world
        self.fee_bps = world.config.bridge.fee_bps
        inst = world.instrument
        self.base_token, self.quote_token = world.asset_names()
        self._symbol = inst.symbol
        self._chain_of_id = {rt.chain.chain_id: name for name, rt in world.runtimes.items()}
        self._token_of: dict[tuple[int, str], str] = {}  # (chain id, token address) -> token name
        for name, toks in world.tokens.items():
            cid = world.runtimes[name].chain.chain_id
            self._token_of[(cid, toks.base.address)] = self.base_token
            self._token_of[(cid, toks.quote.address)] = self.quote_token
        self._names: dict[int, dict[str, str]] = {}  # chain id -> address -> account name
        for rt in world.runtimes.values():
            self._names[rt.chain.chain_id] = {rt.chain.address(n): n for n in world.account_names}
        bus.subscribe(Swap, self._swap)
        bus.subscribe(LiquidityChanged, self._liquidity)
        for rt in world.runtimes.values():
            bus.subscribe(ChainTransaction, self._gas, rt.topic)
        bus.subscribe(BridgeLocked, self._locked, ("bridge", world.relayer.name))
        bus.subscribe(BridgeMinted, self._minted, ("bridge", world.relayer.name))

    # ---- booking --------------------------------------------------------------------------------------------------
    def _transfer(self, ts: int, account: str, asset: str, amount: int, reason: str) -> None:
        t = Transfer(ts, account, asset, amount, reason)
        self.accounts.transfer(t)
        self.bus.publish(t, ("account", account))

    def _fill(self, fill: Fill) -> None:
        self.accounts.apply(fill)
        self.bus.publish(fill, ("account", fill.account))

    def minted(self, ts: int, account: str, chain: str, which: str, amount: int) -> None:
        """Tokens minted to `account` on `chain` (set-up funding): which is "base" or "quote"."""
        token = self.base_token if which == "base" else self.quote_token
        self._transfer(ts, account, asset_id(token, chain), amount, "mint")

    def _swap(self, ev: Swap) -> None:
        if ev.venue not in self.world.venues:
            return
        symbol = f"{ev.symbol}@{ev.chain}"
        base, quote = asset_id(self.base_token, ev.chain), asset_id(self.quote_token, ev.chain)
        for account, side in ((ev.trader, ev.side), (pool_account(ev.venue), Side.SELL if ev.side is Side.BUY
                                                     else Side.BUY)):
            self._fill(Fill(ev.ts, account, ev.venue, symbol, side, base, ev.base_amount, quote, ev.quote_amount,
                            liquidity=Liquidity.POOL))

    def _liquidity(self, ev: LiquidityChanged) -> None:
        if ev.venue not in self.world.venues:
            return
        base, quote = asset_id(self.base_token, ev.chain), asset_id(self.quote_token, ev.chain)
        sign = 1 if ev.liquidity >= 0 else -1
        reason = "lp_mint" if sign > 0 else "lp_burn"
        for asset, amount in ((base, ev.base_amount), (quote, ev.quote_amount)):
            self._transfer(ev.ts, ev.provider, asset, -sign * amount, reason)
            self._transfer(ev.ts, pool_account(ev.venue), asset, sign * amount, reason)
        self._transfer(ev.ts, ev.provider, lp_asset(ev.venue, ev.chain), ev.liquidity, reason)

    def _gas(self, ev: ChainTransaction) -> None:
        wei = ev.gas_used * ev.gas_price_wei
        if wei:
            self._transfer(ev.ts, ev.sender, gas_asset(ev.chain), -wei, "gas")

    def _locked(self, ev: BridgeLocked) -> None:
        src, dst = self._chain_of_id[ev.source_chain_id], self._chain_of_id[ev.dest_chain_id]
        token = self._token_of[(ev.source_chain_id, ev.token)]
        net = ev.amount - ev.amount * self.fee_bps // 10_000
        self._transfer(ev.ts, ev.sender, asset_id(token, src), -ev.amount, f"bridge_{ev.kind}")
        self._transfer(ev.ts, ev.sender, transit_asset(token, dst), net, f"bridge_{ev.kind}")

    def _minted(self, ev: BridgeMinted) -> None:
        home_id = self.world.runtimes[self.world.config.home_chain].chain.chain_id
        token = self._token_of[(home_id, ev.token)]
        dst = self._chain_of_id[ev.dest_chain_id]
        recipient = self._names[ev.dest_chain_id].get(ev.recipient, ev.recipient)
        self._transfer(ev.ts, ev.sender, transit_asset(token, dst), -ev.received, f"bridge_{ev.kind}")
        self._transfer(ev.ts, recipient, asset_id(token, dst), ev.received, f"bridge_{ev.kind}")
        if ev.fee:
            self._transfer(ev.ts, self.world.fee_recipient, asset_id(token, dst), ev.fee, "bridge_fee")

    # ---- reconciliation -------------------------------------------------------------------------------------------
    def reconcile(self) -> tuple[int, list[Mismatch]]:
        """Compare every account's chain entries with the chain (token and LP balances) and its in-transit entries
        with the bridge's pending transfers; returns (entries checked, differences). Every account is checked on
        both tokens of every chain, so tokens the chain holds for an account that booked nothing show too."""
        world = self.world
        pending: dict[tuple[str, str], int] = {}
        for t in world.relayer.pending:
            token = self._token_of[(world.runtimes[world.config.home_chain].chain.chain_id, t.relay.token)]
            key = (t.sender, transit_asset(token, self._chain_of_id[t.dest_chain_id]))
            pending[key] = pending.get(key, 0) + t.relay.amount - t.relay.amount * self.fee_bps // 10_000
        pools = {pool_account(v): v for v in world.venues}
        checked = 0
        out: list[Mismatch] = []
        for acct in sorted(self.accounts, key=lambda a: a.id):
            venue = pools.get(acct.id)
            if venue is None and acct.id not in world.account_names:
                continue  # not a chain account (e.g. an order-book-only agent)
            expected: dict[str, int] = {}
            for chain in world.runtimes:
                if venue is not None and world.venues[venue].runtime.name != chain:
                    continue
                for which, token in (("base", self.base_token), ("quote", self.quote_token)):
                    address = (world.venues[venue].info.address if venue is not None
                               else world.chain(chain).address(acct.id))
                    expected[asset_id(token, chain)] = world.token_balance_at(chain, which, address)
            for asset, amount in acct.balances.items():
                token, place = split_asset(asset)
                if token.startswith("LP."):
                    v = world.venues[token[3:]]
                    expected[asset] = world.lp_balance(token[3:], v.chain.address(acct.id))
                elif place.startswith(f"{BRIDGE}:"):
                    expected[asset] = pending.get((acct.id, asset), 0)
            for key, amount in pending.items():
                if key[0] == acct.id:
                    expected.setdefault(key[1], amount)
            for asset, actual in sorted(expected.items()):
                checked += 1
                booked = acct.balance(asset)
                if booked != actual:
                    out.append(Mismatch(acct.id, asset, booked, actual))
        return checked, out
