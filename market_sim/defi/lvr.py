"""Loss-versus-rebalancing (Milionis et al. 2022): LP value against a portfolio that holds the pool's base reserve
and rebalances at the external price, compared with the constant-product rate σ²/8 of pool value per unit time.

Section `[lvr]` (plug-in market_sim.defi.sim): pool = AMM venue name. σ comes from the instrument's GBM process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from market_sim.core.errors import ConfigError
from market_sim.defi.events import BlockProduced, LiquidityChanged
from market_sim.defi.results import LvrSectionResult
from market_sim.defi.world import no_defi_section, world_of
from market_sim.simulation.params import param
from market_sim.simulation.scenario import ParseContext, Section, register_section

if TYPE_CHECKING:
    from market_sim.simulation.runner import Simulation

__all__ = ["LvrTracker", "LvrResult", "LvrSection"]


@dataclass(frozen=True, slots=True)
class LvrResult:
    """Measured LVR, the theoretical σ²/8 integral, their ratio and the ratio's standard error (quote units)."""

    steps: int
    measured: float
    theory: float
    ratio: float
    ratio_stderr: float
    lp_change: float
    hodl_change: float


@dataclass
class LvrTracker:
    """Samples (t, price, base reserve, quote reserve) after every block (a BlockProduced subscriber of the pool's
    chain) and integrates LVR and its theory."""

    sigma: float  # volatility per `rate_unit` ns
    rate_unit: int
    samples: list[tuple[int, float, float, float]] = field(default_factory=list)
    flows: list[float] = field(default_factory=list)  # per sample: value deposited (+) / withdrawn (-) since the last
    _flow: float = 0.0

    def record(self, t: int, price: float, base: float, quote: float) -> None:
        """Add a sample; amounts and price in decimal units (quote per base)."""
        self.samples.append((t, price, base, quote))
        self.flows.append(self._flow)
        self._flow = 0.0

    def liquidity(self, price: float, base: float, quote: float) -> None:
        """Liquidity added (positive amounts) or removed (negative) since the last sample: not a loss or a gain of
        the LP position, so the next interval's LP value change leaves it out."""
        self._flow += base * price + quote

    def steps(self) -> list[tuple[int, float, float]]:
        """Per interval: (end time, measured LVR increment, theoretical increment)."""
        out = []
        for (t0, p0, x0, y0), (t1, p1, x1, y1), flow in zip(self.samples, self.samples[1:], self.flows[1:]):
            rebalancing = x0 * (p1 - p0)  # P&L of holding the pool's base between samples
            lp = (x1 * p1 + y1) - (x0 * p0 + y0) - flow
            theory = self.sigma ** 2 / 8 * (x0 * p0 + y0) * (t1 - t0) / self.rate_unit
            out.append((t1, rebalancing - lp, theory))
        return out

    def result(self) -> LvrResult:
        steps = self.steps()
        if not steps:
            raise ConfigError("LVR needs at least two samples (run longer than one block)", key="lvr", value=None)
        measured = sum(s[1] for s in steps)
        theory = sum(s[2] for s in steps)
        n = len(steps)
        mean = measured / n
        var = sum((s[1] - mean) ** 2 for s in steps) / max(1, n - 1)
        (_, p0, x0, y0), (_, p1, x1, y1) = self.samples[0], self.samples[-1]
        return LvrResult(n, measured, theory, measured / theory if theory else math.nan,
                         math.sqrt(var * n) / theory if theory else math.nan,
                         (x1 * p1 + y1) - (x0 * p0 + y0), x0 * p1 + y0 - (x0 * p0 + y0))


@dataclass(frozen=True, slots=True)
class LvrConfig:
    pool: str = param(help="name of the AMM venue ([[venues]] kind = \"amm\") to measure")


def _gbm(processes: Any) -> Any:
    return next((p for p in processes if p.kind == "gbm"), None)


class LvrSection(Section):
    """Measures LVR of one AMM venue against its instrument's GBM price and reports the ratio to σ²/8."""

    name = "lvr"
    description = "loss-versus-rebalancing of an AMM pool vs the σ²/8 theory"
    result = LvrSectionResult  # what finish() reports (sim.metrics["lvr"])
    params = LvrConfig

    def parse(self, raw: Any, ctx: ParseContext) -> LvrConfig:
        pool = raw.get("pool")
        if not isinstance(pool, str):
            raise ConfigError("must name an AMM venue", key="lvr.pool", value=pool)
        unknown = set(raw) - {"pool"}
        if unknown:
            key = sorted(unknown)[0]
            raise ConfigError("unknown key; expected: pool", key=f"lvr.{key}", value=raw[key])
        pools = [v.name for v in ctx.parsed.get("venues", ()) if v.kind == "amm"]
        if pool not in pools:  # checked when the scenario is read, before anything is built
            raise ConfigError(f"no AMM venue by this name; AMM venues: {', '.join(pools)}", key="lvr.pool",
                              value=pool)
        if _gbm(ctx.parsed.get("processes", {}).values()) is None:
            raise ConfigError("the LVR theory needs a GBM price process", key="processes", value=None)
        return LvrConfig(pool)

    def prepare(self, sim: "Simulation", config: LvrConfig) -> LvrTracker:
        """Check the scenario has a [defi] world (the pool and the GBM process were checked by parse); the section
        state is the tracker the pool's blocks feed (`sim.state("lvr")`)."""
        if "defi" not in sim.scenario.extensions:
            raise no_defi_section()
        proc = _gbm(sim.scenario.processes.values())
        return LvrTracker(proc.params.sigma, proc.params.rate_unit)

    def install(self, sim: "Simulation", config: LvrConfig, tracker: LvrTracker) -> None:
        world = world_of(sim)
        venue = world.venues[config.pool]
        symbol = world.instrument.symbol
        inst = world.instrument
        bscale, qscale = 10 ** inst.base_decimals, 10 ** inst.quote_decimals

        def sample(_: BlockProduced | None = None) -> None:
            pool = venue.pool
            tracker.record(sim.kernel.now, sim.fundamental(symbol), pool.base / bscale, pool.quote / qscale)

        def liquidity(ev: LiquidityChanged) -> None:
            if ev.venue == config.pool:
                sign = 1 if ev.liquidity >= 0 else -1
                tracker.liquidity(sim.fundamental(symbol), sign * abs(ev.base_amount) / bscale,
                                  sign * abs(ev.quote_amount) / qscale)

        sample()
        sim.bus.subscribe(BlockProduced, sample, venue.runtime.topic)
        sim.bus.subscribe(LiquidityChanged, liquidity, venue.topic)

    def finish(self, sim: "Simulation", config: LvrConfig, tracker: LvrTracker) -> None:
        r = tracker.result()
        sim.metrics["lvr"] = LvrSectionResult(
            ratio=round(r.ratio, 4), ratio_stderr=round(r.ratio_stderr, 4), measured=round(r.measured, 6),
            theory=round(r.theory, 6), steps=r.steps, lp_value_change=round(r.lp_change, 6),
            hodl_value_change=round(r.hodl_change, 6))
        cum_m = cum_t = 0.0
        rows = []
        for t, m, th in tracker.steps():
            cum_m += m
            cum_t += th
            rows.append({"ts": t, "lvr": m, "theory": th, "cum_lvr": cum_m, "cum_theory": cum_t})
            sim.record("lvr", rows[-1])
        _write_lvr_files(sim, rows, r, config.pool)


def _write_lvr_files(sim: "Simulation", rows: list[dict[str, float]], r: LvrResult, pool: str) -> None:
    import pandas as pd

    from market_sim.defi.plots import lvr_png

    frame = pd.DataFrame(rows)
    sim.extra_files["lvr.csv"] = frame.to_csv(index=False).encode()
    inst = world_of(sim).instrument
    sim.extra_files["lvr.png"] = lvr_png(frame, pool, list(sim.venues), inst.symbol,
                                         inst.quote_asset or inst.symbol.split("/")[-1], r.ratio, r.ratio_stderr,
                                         r.steps)


register_section(LvrSection())
