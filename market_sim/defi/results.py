"""The [defi] and [lvr] sections' typed results (rendered into metrics.json and the run summary). Amounts are in
quote currency (decimal), net of gas where they are PnL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from market_sim.simulation.metrics import RESULT_TYPES, SectionResult, figure, yes

__all__ = ["DefiAgentResult", "ChainResult", "BridgeResult", "PriceGap", "FinalPass", "DefiSectionResult",
           "LvrSectionResult"]


@dataclass(frozen=True, slots=True)
class DefiAgentResult:
    pnl: float = figure("PnL (quote)")
    swaps: int = figure("swaps")
    gas_cost: float = figure("gas cost (quote)")
    bridge_transfers: int = figure("bridge transfers")


@dataclass(frozen=True, slots=True)
class ChainResult:
    blocks: int = figure("blocks")
    transactions: int = figure("transactions")
    gas_used: int = figure("gas used")
    clock_ahead_max_s: int = figure("clock ahead max (s)")  # whole seconds (chain timestamps)


@dataclass(frozen=True, slots=True)
class BridgeResult:
    """Transfers sent during the run (not the set-up funding), and the bridge's supply invariant."""

    transfers: int = figure("transfers", headline=True)
    supply_ok: bool = figure("supply ok", headline=True)
    pending: int = figure("pending", default=0)
    supply_ok_after_final_pass: bool | None = figure("supply ok after final pass", default=None)
    # "A->B.base" -> tokens moved (decimal) from chain A to chain B
    flows: dict[str, float] = field(default_factory=dict, metadata={"label": "flows"})


@dataclass(frozen=True, slots=True)
class PriceGap:
    """Largest pool price over smallest, in basis points, over the samples of the run."""

    final: float = figure("at end", headline=True)
    mean: float = figure("mean")
    max: float = figure("max")


@dataclass(frozen=True, slots=True)
class FinalPass:
    """One more arbitrage pass between the first two pools after the run, then whether any profit is left."""

    trades: int = figure("trades")
    gap_bps: float = figure("gap (bps)")
    fee_band_bps: float = figure("fee band (bps)")
    no_arbitrage: bool = figure("no arbitrage left")


@dataclass(frozen=True, slots=True)
class DefiSectionResult(SectionResult):
    """Chains, pools, bridge and DeFi agents of a run."""

    section = "defi"

    arbitrage_pnl: float = figure("arbitrage PnL (quote)", headline=True)  # sum over the arbitrageurs, after gas
    arbitrageurs: int = figure("arbitrageurs", headline=True)
    swaps: int = figure("swaps", headline=True)
    bridge: BridgeResult | None = figure("bridge", headline=True, default=None)  # with two chains or more
    price_gap_bps: PriceGap | None = figure("price gap (bps)", headline=True, default=None)  # with two pools
    agents: dict[str, DefiAgentResult] = field(default_factory=dict, metadata={"label": "agent"})
    chains: dict[str, ChainResult] = field(default_factory=dict, metadata={"label": "chain"})
    lp_pnl_vs_hodl: dict[str, float] = field(default_factory=dict,
                                             metadata={"label": "LP PnL vs holding (quote)"})
    final_pass: FinalPass | None = figure("final pass", default=None)
    # every account's chain entries against the chains after the final pass (None: not checked in this run)
    accounts_reconciled: bool | None = figure("accounts reconciled with the chains", default=None)
    accounts_checked: int = figure("accounts checked", default=0)
    account_differences: int = figure("account differences", default=0)

    @classmethod
    def from_legacy(cls, flat: Mapping[str, Any]) -> tuple["DefiSectionResult", set[str]] | None:
        """The figures of a version-1 metrics.json (flat 'defi.*', 'chain.*', 'bridge.*', 'lp.*' keys)."""
        if "defi.swaps" not in flat:
            return None
        used: set[str] = set()

        def take(key: str, default: Any = None) -> Any:
            if key in flat:
                used.add(key)
            return flat.get(key, default)

        agents: dict[str, DefiAgentResult] = {}
        chains: dict[str, ChainResult] = {}
        lp: dict[str, float] = {}
        flows: dict[str, float] = {}
        for key in flat:
            head, _, rest = key.partition(".")
            name, _, figure_name = rest.rpartition(".")
            if head == "defi" and figure_name == "pnl" and name:
                agents[name] = DefiAgentResult(take(key), take(f"defi.{name}.swaps", 0),
                                               take(f"defi.{name}.gas_cost", 0.0),
                                               take(f"defi.{name}.bridge_transfers", 0))
            elif head == "chain" and figure_name == "blocks" and name:
                chains[name] = ChainResult(take(key), take(f"chain.{name}.transactions", 0),
                                           take(f"chain.{name}.gas_used", 0),
                                           int(take(f"chain.{name}.clock_ahead_max_s", 0)))
            elif head == "lp" and figure_name == "pnl_vs_hodl" and name:
                lp[name] = take(key)
            elif key.startswith("bridge.flow."):
                flows[key.removeprefix("bridge.flow.")] = take(key)
        bridge = None
        if "bridge.transfers" in flat:
            after = take("bridge.supply_ok_after_final_pass")
            bridge = BridgeResult(take("bridge.transfers"), yes(take("bridge.supply_ok")), take("bridge.pending", 0),
                                  None if after is None else yes(after), flows)
        gap = PriceGap(take("price_gap_bps.final"), take("price_gap_bps.mean"), take("price_gap_bps.max")) \
            if "price_gap_bps.final" in flat else None
        final = FinalPass(take("final_pass.trades"), take("final_pass.gap_bps"), take("final_pass.fee_band_bps"),
                          yes(take("final_pass.no_arbitrage"))) if "final_pass.trades" in flat else None
        recon = take("defi.reconciliation")
        differences = str(recon or "").split(" ")[0]
        result = cls(arbitrage_pnl=take("defi.arbitrage_pnl", 0.0), arbitrageurs=take("defi.arbitrageurs", 0),
                     swaps=take("defi.swaps"), bridge=bridge, price_gap_bps=gap, agents=agents, chains=chains,
                     lp_pnl_vs_hodl=lp, final_pass=final, accounts_reconciled=None if recon is None else yes(recon),
                     accounts_checked=take("defi.accounts_checked", 0),
                     account_differences=int(differences) if differences.isdigit() else 0)
        return result, used


@dataclass(frozen=True, slots=True)
class LvrSectionResult(SectionResult):
    """Loss-versus-rebalancing of one AMM pool measured against the σ²/8 theory (quote)."""

    section = "lvr"

    ratio: float = figure("LVR / theory (σ²/8)", headline=True)
    ratio_stderr: float = figure("ratio std. error", headline=True)
    measured: float = figure("LVR measured (quote)", headline=True)
    theory: float = figure("LVR theory (quote)", headline=True)
    steps: int = figure("LVR steps", default=0)
    lp_value_change: float = figure("LP value change (quote)", default=0.0)
    hodl_value_change: float = figure("holding value change (quote)", default=0.0)

    @classmethod
    def from_legacy(cls, flat: Mapping[str, Any]) -> tuple["LvrSectionResult", set[str]] | None:
        """The figures of a version-1 metrics.json (flat 'lvr.*' keys)."""
        if "lvr.ratio" not in flat:
            return None
        names = ("ratio", "ratio_stderr", "measured", "theory", "steps", "lp_value_change", "hodl_value_change")
        return cls(**{n: flat[f"lvr.{n}"] for n in names if f"lvr.{n}" in flat}), \
            {f"lvr.{n}" for n in names if f"lvr.{n}" in flat}


RESULT_TYPES.register(DefiSectionResult)
RESULT_TYPES.register(LvrSectionResult)
