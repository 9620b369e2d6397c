"""A sandwich (MEV) searcher on the in-process chain's mempool.

The searcher is a block builder of the pool's chain (`ChainRuntime.add_block_builder`): at the start of every block
it reads the swaps waiting in the mempool (`ChainRuntime.pending`, queued but not yet mined) and, for a victim whose
slippage limit (`min_out`) leaves room, returns a bundle of three swaps that execute in this order in the same
block: the front-run (the victim's direction, buying what the victim buys), the victim's own queued swap (taken out
of the mempool), the back-run (selling everything the front-run bought). The victim still gets at least its
`min_out`; the searcher ends flat in the token it bought and keeps the difference in the token it paid.

Sizing (all integers, the Pair's own math in market_sim.defi.amm_math): the victim swaps v of token I for token O on
reserves (R, B) with fee f, γ = 1 − f. A front-run of x leaves (R + x, B·R/(R + γx)) (continuous), and the victim
gets γ·v·B·R / ((R + γx)(R + x + γv)) ≥ m exactly when

    γ·x² + (R(1 + γ) + γ²v)·x + R(R + γv) − γ·v·B·R/m ≤ 0,

so the largest front-run is the positive root (`max_front_run`, computed scaled by 10⁴ in integers and then made
exact on the integer amounts by bisection: the victim's output falls monotonically with x). The profit
y(x) − x (y: the back-run's output) rises with x up to that bound in the usual case, so the front-run is the bound,
capped by the searcher's balance; when the profit is already falling there (a victim with a loose limit and a
large fee), an integer ternary search below the bound takes the best size. The bundle is sent only when the
profit, valued in quote at the external price, beats the gas of two swaps plus `min_profit`. Every leg carries its
planned output as `min_out` (they execute exactly as planned; a leg that would not reverts instead).

`SandwichSearcher.sandwiches` records each bundle: the victim's output without the front-run on the same pool
state, the output it got, the searcher's profit; `study()` in market_sim.strategies.defi compares runs with the
searcher active and inactive on the same seeds (`strategies-mev`).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import isqrt
from typing import Any

from market_sim.core.orders import Side
from market_sim.defi.agents import DefiAgent
from market_sim.defi.amm_math import FEE_DENOMINATOR, get_amount_out
from market_sim.defi.venues import AmmVenue, SwapCommand, SwapExecuted, SwapFailed
from market_sim.simulation.agents.base import register_agent_type
from market_sim.simulation.params import param

__all__ = ["SandwichPlan", "SandwichRecord", "SandwichSearcher", "SandwichParams", "max_front_run", "plan_sandwich",
           "victim_output"]


def _out(amount_in: int, r_in: int, r_out: int, fee_bps: int) -> int:
    return get_amount_out(amount_in, r_in, r_out, fee_bps) if amount_in > 0 else 0


def victim_output(r_in: int, r_out: int, fee_bps: int, front: int, victim_in: int) -> int:
    """What a victim swapping victim_in of token I gets after a front-run of `front` I on reserves (r_in, r_out)."""
    got = _out(front, r_in, r_out, fee_bps)
    if got >= r_out:
        return 0
    return _out(victim_in, r_in + front, r_out - got, fee_bps)


def _closed_form_front_run(r_in: int, r_out: int, fee_bps: int, victim_in: int, min_out: int) -> int:
    """The positive root of the quadratic in the module docstring, scaled by N = 10⁴ (rounded down; 0: no room)."""
    n, g = FEE_DENOMINATOR, FEE_DENOMINATOR - fee_bps
    a = g * n
    b = g * (n * r_in + g * victim_in) + n * n * r_in
    c = n * r_in * (n * r_in + g * victim_in) - n * g * victim_in * r_out * r_in // min_out
    if c >= 0:
        return 0
    return (isqrt(b * b - 4 * a * c) - b) // (2 * a)


def max_front_run(r_in: int, r_out: int, fee_bps: int, victim_in: int, min_out: int, cap: int) -> int:
    """The largest front-run x ≤ cap after which the victim still gets at least min_out (exact integers; 0 when even
    x = 1 leaves it short). min_out = 0 (no limit) gives cap."""
    def ok(x: int) -> bool:
        return victim_output(r_in, r_out, fee_bps, x, victim_in) >= min_out

    if min_out <= 0:
        return cap
    if not ok(0):
        return 0
    x0 = min(_closed_form_front_run(r_in, r_out, fee_bps, victim_in, min_out), cap)
    if ok(x0):  # the root is rounded down and the integers round the pool's way: the exact bound may lie above
        lo, step = x0, 1
        while True:
            nxt = min(x0 + step, cap)
            if nxt == lo:
                return lo  # the cap binds
            if not ok(nxt):
                hi = nxt
                break
            lo, step = nxt, step * 2
    else:
        hi, step = x0, 1
        while True:
            nxt = max(x0 - step, 0)
            if ok(nxt):  # ok(0) holds
                lo = nxt
                break
            hi, step = nxt, step * 2
    while hi - lo > 1:  # ok(lo), not ok(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


@dataclass(frozen=True, slots=True)
class SandwichPlan:
    """Exact amounts of one sandwich: front-run front_in I → front_out O, the victim's victim_in I → victim_out O
    (clean_out without the front-run), back-run front_out O → back_out I; reserves (I, O) after the three."""

    front_in: int
    front_out: int
    victim_in: int
    victim_out: int
    clean_out: int
    back_out: int
    reserve_in: int
    reserve_out: int

    @property
    def profit(self) -> int:
        """The searcher's gain in token I (before gas)."""
        return self.back_out - self.front_in


def _plan(r_in: int, r_out: int, fee_bps: int, victim_in: int, front: int) -> SandwichPlan | None:
    a = _out(front, r_in, r_out, fee_bps)
    if a <= 0 or a >= r_out:
        return None
    ri, ro = r_in + front, r_out - a
    o = _out(victim_in, ri, ro, fee_bps)
    if o >= ro:
        return None
    ri, ro = ri + victim_in, ro - o
    y = _out(a, ro, ri, fee_bps)
    return SandwichPlan(front, a, victim_in, o, _out(victim_in, r_in, r_out, fee_bps), y, ri - y, ro + a)


def plan_sandwich(r_in: int, r_out: int, fee_bps: int, victim_in: int, min_out: int, cap: int) -> SandwichPlan | None:
    """The most profitable sandwich of a victim swapping victim_in of token I (reserve r_in) for at least min_out of
    token O (reserve r_out), front-running at most `cap` I; None when no front-run leaves the victim its min_out or
    none gains anything before gas."""
    if victim_in <= 0 or cap <= 0:
        return None
    hi = max_front_run(r_in, r_out, fee_bps, victim_in, min_out, cap)
    if hi <= 0:
        return None

    def profit(x: int) -> int:
        p = _plan(r_in, r_out, fee_bps, victim_in, x)
        return p.profit if p is not None else -(1 << 256)

    best = hi
    below = max(1, hi - max(1, hi // 1000))
    if below < hi and profit(below) > profit(hi):  # the profit is falling at the bound: search below it
        lo, top = 1, hi
        while top - lo > 2:
            m1, m2 = lo + (top - lo) // 3, top - (top - lo) // 3
            if profit(m1) < profit(m2):
                lo = m1
            else:
                top = m2
        best = max(range(lo, top + 1), key=profit)
    plan = _plan(r_in, r_out, fee_bps, victim_in, best)
    return plan if plan is not None and plan.profit > 0 else None


@dataclass(frozen=True, slots=True)
class SandwichRecord:
    """One sandwich sent: the victim, its swap's side and amounts (token I in, token O out), the searcher's legs and
    its expected profit in quote units before gas (`profit_quote`) and the victim's extra cost in quote units
    (`victim_cost_quote`: clean_out − victim_out valued at the external price), both at the time of the block."""

    ts: int
    victim: str
    side: Side
    plan: SandwichPlan
    victim_min_out: int
    profit_quote: int
    victim_cost_quote: int
    costs: int
    tag: str


@dataclass(frozen=True, slots=True)
class SandwichParams:
    pool: str = param(help="AMM venue whose chain's mempool the searcher watches")
    gas_swap: int = param(110_000, min=0, help="gas budgeted per leg (two legs per sandwich)")
    min_profit: float = param(1.0, min=0.0, help="profit required per sandwich after gas (quote, decimal)")
    base_balance: float = param(100.0, min=0.0, help="base tokens on the pool's chain (front-runs of sells)")
    quote_balance: float = param(300_000.0, min=0.0, help="quote tokens on the pool's chain (front-runs of buys)")
    active: bool = param(True, help="false: watch only, never trade (the same run without the searcher)")


@register_agent_type
class SandwichSearcher(DefiAgent):
    """Sandwiches pending swaps with slippage room: front-run, victim, back-run as a top-of-block bundle."""

    kind = "sandwich"
    Params = SandwichParams

    def __init__(self, agent_id: str, params: Any = None) -> None:
        super().__init__(agent_id, params)
        self.sandwiches: list[SandwichRecord] = []
        self.skipped = 0  # pending swaps looked at and left alone (no room, no profit after costs, or own)
        self._legs: dict[str, list[Any]] = {}

    def funding(self) -> dict[str, tuple[float, float]]:
        p = self.params
        return {self.world.venues[p.pool].runtime.name: (p.base_balance, p.quote_balance)}

    def attach(self, world: Any) -> None:
        super().attach(world)
        world.venues[self.params.pool].runtime.add_block_builder(self._build)

    def on_start(self) -> None:
        self.remember_start()

    # ---- block building -------------------------------------------------------------------------------------------
    def _build(self) -> list[tuple[AmmVenue, SwapCommand]]:
        """Block builder: a bundle of sandwiches of this block's pending swaps on the pool (in mempool order)."""
        if not self.params.active:
            return []
        p = self.params
        v = self.venue(p.pool)
        rt = v.runtime
        chain = rt.name
        price = self.true_price()
        costs = self.gas_quote(2 * p.gas_swap, chain) + self.world.units(p.min_profit, "quote")
        quote, base = v.pool.quote, v.pool.base
        spare = {"quote": self.balance(chain, "quote"), "base": self.balance(chain, "base")}
        # the earliest chain timestamp this block's transactions get (the chain may run ahead of simulated time)
        ts0 = max(rt.timestamp_at(self.now), rt.chain.timestamp + 1)
        bundle: list[tuple[AmmVenue, SwapCommand]] = []
        for _, victim in rt.pending(v):
            if victim.trader == self.id or victim.symbol != self.world.instrument.symbol:
                continue
            buy = victim.side is Side.BUY
            token_in = "quote" if buy else "base"
            r_in, r_out = (quote, base) if buy else (base, quote)
            late = victim.deadline is not None and victim.deadline < ts0 + len(bundle) + 3
            funded = not late and self.world.balance(victim.trader, chain, token_in) >= victim.amount_in
            plan = plan_sandwich(r_in, r_out, v.pool.fee_bps, victim.amount_in, victim.min_out,
                                 spare[token_in]) if funded else None
            if plan is None:
                self.skipped += 1
                continue
            profit_quote = plan.profit if buy else int(plan.profit * price)
            lost = plan.clean_out - plan.victim_out
            victim_cost = int(lost * price) if buy else lost
            if profit_quote <= costs:
                self.skipped += 1
                continue
            tag = f"sandwich-{len(self.sandwiches)}"
            self.decide("sandwich", p.pool, plan.front_in if buy else 0, profit_quote, costs)
            self.sandwiches.append(SandwichRecord(self.now, victim.trader, victim.side, plan, victim.min_out,
                                                  profit_quote, victim_cost, costs,
                                                  tag))
            symbol, deadline = victim.symbol, self.swap_deadline(p.pool)
            back_side = Side.SELL if buy else Side.BUY
            bundle += [(v, SwapCommand(self.id, symbol, victim.side, plan.front_in, plan.front_out, tag, deadline)),
                       (v, victim),
                       (v, SwapCommand(self.id, symbol, back_side, plan.front_out, plan.back_out, tag, deadline))]
            spare[token_in] -= plan.front_in
            self._in_flight += 2
            self._legs[tag] = []
            quote, base = ((plan.reserve_in, plan.reserve_out) if buy else (plan.reserve_out, plan.reserve_in))
        return bundle

    # ---- results --------------------------------------------------------------------------------------------------
    def _leg(self, event: SwapExecuted | SwapFailed) -> None:
        legs = self._legs.get(event.tag)
        if legs is None:
            return
        legs.append(event)
        if len(legs) == 2:
            del self._legs[event.tag]
            if all(isinstance(e, SwapExecuted) for e in legs):
                record = next(r for r in reversed(self.sandwiches) if r.tag == event.tag)
                gas = sum(self.gas_quote(e.gas_used, self.venue(e.venue).runtime.name) for e in legs)
                self.realized.append(record.profit_quote - gas)

    def on_swap(self, event: SwapExecuted) -> None:
        self._leg(event)

    def on_swap_failed(self, event: SwapFailed) -> None:
        self._leg(event)

    def report(self) -> dict[str, Any]:
        out = super().report()
        q = 10 ** self.world.instrument.quote_decimals
        out.update(sandwiches=len(self.sandwiches), skipped=self.skipped,
                   victim_cost=sum(r.victim_cost_quote for r in self.sandwiches) / q)
        return out
