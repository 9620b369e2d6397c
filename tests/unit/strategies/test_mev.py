"""The sandwich searcher: exact amounts on a hand-built pool (closed form), a bundle of front-run, victim and back-run
in one block of the in-process chain, victims without profitable room left alone, properties of the sizing."""

from __future__ import annotations

import copy
from fractions import Fraction
from math import isqrt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_sim.core.orders import Side
from market_sim.defi.amm_math import get_amount_out
from market_sim.defi.sim import world_of
from market_sim.defi.venues import SwapCommand
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import parse_scenario
from market_sim.strategies.defi.sandwich import max_front_run, plan_sandwich, victim_output
from tests.unit.defi.test_venues import RAW

E18, E6 = 10**18, 10**6
S = 10**9
R, B = 900_000 * E6, 300 * E18  # quote, base reserves: 3,000 USDC per WETH


def test_sandwich_of_a_buy_has_the_closed_form_amounts() -> None:
    v = 10_000 * E6
    clean = get_amount_out(v, R, B, 30)
    m = clean * 99 // 100  # 1 % slippage limit
    # the quadratic's positive root: (R + γx)(R + x + γv) = γ·v·B·R/m with γ = 0.997
    g = Fraction(9970, 10_000)
    a, b, c = g, R * (1 + g) + g * g * v, R * (R + g * v) - g * v * B * R / m
    root = (-b + Fraction(isqrt(int((b * b - 4 * a * c) * 10**12)), 10**6)) / (2 * a)
    x = max_front_run(R, B, 30, v, m, cap=10**20)
    assert abs(x - root) <= 1
    assert x == 4_565_895_660  # 4,565.90 USDC
    plan = plan_sandwich(R, B, 30, v, m, cap=10**20)
    assert plan is not None and plan.front_in == x
    front_out = get_amount_out(x, R, B, 30)
    victim_out = get_amount_out(v, R + x, B - front_out, 30)
    back_out = get_amount_out(front_out, B - front_out - victim_out, R + x + v, 30)
    assert (plan.front_out, plan.victim_out, plan.back_out, plan.clean_out) == (front_out, victim_out, back_out, clean)
    assert victim_out >= m > victim_output(R, B, 30, x + 1, v)  # the largest front-run the limit allows
    assert plan.profit == back_out - x == 73_279_336  # 73.28 USDC before gas
    assert (plan.reserve_in, plan.reserve_out) == (R + x + v - back_out, B - victim_out)


def test_sandwich_of_a_sell_front_runs_with_base() -> None:
    v = 3 * E18
    clean = get_amount_out(v, B, R, 30)
    m = clean * 995 // 1000
    plan = plan_sandwich(B, R, 30, v, m, cap=10**30)
    assert plan is not None
    assert plan.victim_out >= m > victim_output(B, R, 30, plan.front_in + 1, v)
    assert plan.back_out == get_amount_out(plan.front_out, R - plan.front_out - plan.victim_out,
                                           B + plan.front_in + v, 30)
    assert plan.profit > 0


def test_no_room_no_sandwich_and_the_cap_binds() -> None:
    v = 10_000 * E6
    clean = get_amount_out(v, R, B, 30)
    assert max_front_run(R, B, 30, v, clean, cap=10**20) == 0
    assert plan_sandwich(R, B, 30, v, clean, cap=10**20) is None
    assert plan_sandwich(R, B, 30, v, clean + 1, cap=10**20) is None  # would revert anyway
    m = clean * 99 // 100
    assert plan_sandwich(R, B, 30, v, m, cap=1_000 * E6).front_in == 1_000 * E6
    assert plan_sandwich(R, B, 30, v, m, cap=0) is None


def _k_path(plan, r_in: int, r_out: int) -> list[int]:
    ks = [r_in * r_out]
    r_in, r_out = r_in + plan.front_in, r_out - plan.front_out
    ks.append(r_in * r_out)
    r_in, r_out = r_in + plan.victim_in, r_out - plan.victim_out
    ks.append(r_in * r_out)
    r_in, r_out = r_in - plan.back_out, r_out + plan.front_out
    ks.append(r_in * r_out)
    assert (r_in, r_out) == (plan.reserve_in, plan.reserve_out)
    return ks


@settings(max_examples=150, deadline=None)
@given(r_in=st.integers(10**6, 10**30), ratio=st.integers(1, 10**6), fee=st.sampled_from([0, 5, 30, 100]),
       victim_share=st.integers(1, 2_000), slippage=st.integers(0, 2_000), cap_share=st.integers(1, 100_000))
def test_victim_gets_its_min_out_and_k_never_falls(r_in, ratio, fee, victim_share, slippage, cap_share) -> None:
    r_out = r_in * ratio // 1000 + 10**6
    v = max(1, r_in * victim_share // 100_000)  # up to 2 % of the reserve
    clean = get_amount_out(v, r_in, r_out, fee)
    m = clean * (10_000 - slippage) // 10_000
    cap = r_in * cap_share // 10_000
    plan = plan_sandwich(r_in, r_out, fee, v, m, cap)
    if plan is None:
        return
    assert plan.front_in <= cap and plan.profit > 0
    assert plan.victim_out >= m
    ks = _k_path(plan, r_in, r_out)
    assert all(k1 >= k0 for k0, k1 in zip(ks, ks[1:]))


# ---- on the in-process chain ------------------------------------------------------------------------------------------
def _sim(duration: str) -> Simulation:
    raw = copy.deepcopy(RAW)
    raw["scenario"]["duration"] = duration
    raw["scenario"]["plugins"] = ["market_sim.defi.sim", "market_sim.strategies.defi"]
    raw["agents"] = [{"type": "sandwich", "name": "mev", "pool": "amm-A", "min_profit": 1.0}]
    return Simulation(parse_scenario(raw)).build()


@pytest.mark.slow
def test_searcher_sandwiches_a_pending_swap_in_one_block_and_skips_victims_without_room() -> None:
    sim = _sim("30s")
    world = world_of(sim)
    world.fund("deployer", "A", 10 * E18, 50_000 * E6)
    venue = world.venues["amm-A"]
    searcher = sim.agent("mev-1")
    r_quote, r_base = venue.pool.quote, venue.pool.base  # 200,000 USDC, 100 WETH
    v = 2_000 * E6
    m = get_amount_out(v, r_quote, r_base, 30) * 99 // 100
    expected = plan_sandwich(r_quote, r_base, 30, v, m, searcher.balance("A", "quote"))
    sim.kernel.schedule_at(S, venue.handle, SwapCommand("deployer", "ETH/USDC", Side.BUY, v, m, "victim"), S)
    late: dict[str, int] = {}

    def second_block() -> None:  # after the first sandwich: one victim without room, one too small to pay the gas
        q, b = venue.pool.quote, venue.pool.base
        late["tight"] = get_amount_out(E18, b, q, 30)
        venue.handle(SwapCommand("deployer", "ETH/USDC", Side.SELL, E18, late["tight"], "tight"), sim.kernel.now)
        small = 50 * E6
        venue.handle(SwapCommand("deployer", "ETH/USDC", Side.BUY, small, get_amount_out(small, q, b, 30) * 99 // 100,
                                 "small"), sim.kernel.now)

    sim.kernel.schedule_at(13 * S, second_block)
    outcome = sim.run()
    rows = outcome.tables["defi_swaps"]
    assert [(r["ts"] // S, r["agent"], r["tag"]) for r in rows] == [
        (12, "mev-1", "sandwich-0"), (12, "deployer", "victim"), (12, "mev-1", "sandwich-0"),
        (24, "deployer", "tight"), (24, "deployer", "small")]
    assert all(r["ok"] for r in rows)
    front, victim, back = rows[:3]
    assert (int(front["amount_in"]), int(front["amount_out"])) == (expected.front_in, expected.front_out)
    assert int(victim["amount_out"]) == expected.victim_out >= m
    assert (int(back["amount_in"]), int(back["amount_out"])) == (expected.front_out, expected.back_out)
    assert int(rows[3]["amount_out"]) == late["tight"]
    (record,) = searcher.sandwiches
    assert record.plan == expected and record.profit_quote == expected.profit
    assert searcher.skipped == 2
    assert searcher.gas_units == front["gas_used"] + back["gas_used"]
    assert searcher.realized == [expected.profit - searcher.gas_cost]  # gas valued when paid
    # flat in base: the searcher sold back exactly what it bought
    assert searcher.balance("A", "base") == world.units(searcher.params.base_balance, "base")


def test_the_searcher_is_a_library_strategy() -> None:
    from market_sim.strategies.compare import library_kinds

    assert "sandwich" in library_kinds()
