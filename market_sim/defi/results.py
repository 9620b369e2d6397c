"""The [defi] and [lvr] sections' typed results (rendered into metrics.json and the run summary). Amounts are in
quote currency (decimal), net of gas where they are PnL."""

from __future__ import annotations

from dataclasses import dataclass, field

from market_sim.simulation.metrics import RESULT_TYPES, SectionResult, figure

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
    clock_ahead_max_s: float = figure("clock ahead max (s)")


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


RESULT_TYPES.register(DefiSectionResult)
RESULT_TYPES.register(LvrSectionResult)
