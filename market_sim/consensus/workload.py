"""Synthetic trade streams for consensus runs: valid trades between funded accounts plus labelled invalid ones."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from decimal import Decimal

from market_sim.core.errors import ConfigError
from market_sim.core.events import Trade
from market_sim.core.instruments import Instrument
from market_sim.core.orders import NewOrder, Side
from market_sim.consensus.cluster import Submission
from market_sim.consensus.state import BalanceView, TradeClaim

__all__ = ["Workload", "make_workload", "simulate", "INVALID_KINDS", "WORKLOAD_INSTRUMENT"]

WORKLOAD_INSTRUMENT = Instrument("XYZ/USD", tick_size=Decimal("0.01"), lot_size=Decimal("1"),
                                 base_decimals=0, quote_decimals=2)
INVALID_KINDS = ("zero_quantity", "zero_price", "self_trade", "unknown_account", "outside_limit",
                 "exceeds_order", "duplicate", "insolvent")


@dataclass(frozen=True, slots=True)
class Workload:
    submissions: tuple[Submission, ...]
    valid: dict[int, Trade]       # trade id -> the valid trade (what may be finalized)
    invalid: dict[int, str]       # submission index -> kind of the invalid trade submitted there
    accounts: tuple[str, ...]
    instruments: tuple[Instrument, ...]

    def balances(self) -> BalanceView:
        """Settled balances that keep every valid trade solvent (and the 'insolvent' ones not)."""
        inst = self.instruments[0]
        return BalanceView(self.instruments, {
            **{(a, inst.quote_asset): 10**12 for a in self.accounts},
            **{(a, inst.base_asset): 10**9 for a in self.accounts}})


def make_workload(trades: int, *, seed: int = 0, invalid_rate: float = 0.2, accounts: int = 8,
                  spacing: int = 1_000_000, start: int = 0) -> Workload:
    """`trades` submissions spaced `spacing` ns apart; a fraction `invalid_rate` of them invalid (labelled)."""
    if trades < 1:
        raise ConfigError("must be at least 1", key="trades", value=trades)
    if not 0.0 <= invalid_rate <= 1.0:
        raise ConfigError("must be in [0, 1]", key="invalid_rate", value=invalid_rate)
    rng = random.Random(f"workload:{seed}")
    names = tuple(f"acct{i}" for i in range(max(accounts, 2)))
    symbol = WORKLOAD_INSTRUMENT.symbol
    subs: list[Submission] = []
    valid: dict[int, Trade] = {}
    invalid: dict[int, str] = {}
    for i in range(trades):
        tid, oid = i + 1, 2 * i + 1
        buyer, seller = rng.sample(names, 2)
        limit = rng.randint(9_000, 11_000)
        price = limit - rng.randint(0, 50)
        qty = rng.randint(1, 20)
        t = Trade(start + i * spacing, tid, symbol, price, qty, oid, oid + 1, buyer, seller,
                  rng.choice((Side.BUY, Side.SELL)))
        buy = NewOrder(oid, buyer, symbol, Side.BUY, qty + rng.randint(0, 5), price=limit)
        sell = NewOrder(oid + 1, seller, symbol, Side.SELL, qty + rng.randint(0, 5), price=price - rng.randint(0, 20))
        claim = TradeClaim(t, buy, sell)
        if i > 0 and rng.random() < invalid_rate:
            kind = rng.choice(INVALID_KINDS)
            invalid[i] = kind
            if kind == "zero_quantity":
                claim = dataclasses.replace(claim, trade=dataclasses.replace(t, quantity=0))
            elif kind == "zero_price":
                claim = dataclasses.replace(claim, trade=dataclasses.replace(t, price=0))
            elif kind == "self_trade":
                t2 = dataclasses.replace(t, seller=buyer)
                claim = TradeClaim(t2, buy, dataclasses.replace(sell, trader=buyer))
            elif kind == "unknown_account":
                t2 = dataclasses.replace(t, buyer="mallory")
                claim = TradeClaim(t2, dataclasses.replace(buy, trader="mallory"), sell)
            elif kind == "outside_limit":
                claim = dataclasses.replace(claim, trade=dataclasses.replace(t, price=limit + 1))
            elif kind == "exceeds_order":
                claim = dataclasses.replace(claim, trade=dataclasses.replace(t, quantity=buy.quantity + 1))
            elif kind == "duplicate":
                earlier = subs[rng.randrange(len(subs))].claim
                claim = earlier
            else:  # insolvent: the seller cannot deliver this much
                big = 10**10
                claim = TradeClaim(dataclasses.replace(t, quantity=big), dataclasses.replace(buy, quantity=big),
                                   dataclasses.replace(sell, quantity=big))
        else:
            valid[tid] = t
        subs.append(Submission(start + i * spacing, claim))
    return Workload(tuple(subs), valid, invalid, names, (WORKLOAD_INSTRUMENT,))


def simulate(config, trades: int, *, invalid_rate: float = 0.1, spacing: int = 5_000_000,
             pretrade: bool = True):  # noqa: ANN001, ANN201 - (Workload, ConsensusResult)
    """Run a synthetic workload through a committee on the simulated network."""
    from market_sim.consensus.cluster import Cluster

    w = make_workload(trades, seed=config.seed, invalid_rate=invalid_rate, spacing=spacing)
    return w, Cluster(config, accounts=w.accounts, balances=w.balances(), pretrade=pretrade).run(w.submissions)
