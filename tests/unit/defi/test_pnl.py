"""DeFi agent PnL from the account: integer quote units, each chain's tokens at its pool price, tokens on the bridge
valued like the destination's, so a transfer's arrival changes nothing."""

from __future__ import annotations

import copy
import math
from fractions import Fraction

from market_sim.defi import sim as _plugin  # noqa: F401  (registers [defi] and the amm venue kind)
from market_sim.defi.sim import world_of
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import parse_scenario
from tests.unit.defi.test_venues import RAW

E18 = 10**18
S = 10**9


def test_pnl_is_continuous_while_tokens_are_in_transit_on_the_bridge() -> None:
    raw = copy.deepcopy(RAW)
    # One agent that never trades within the run (its first wake-up is after an hour): nothing moves the pools, so
    # the marks are the pools' start prices (A 2000, B 2020). The bridge delay is 30 s, its fee 10 bps.
    raw["agents"] = [{"type": "amm_noise", "name": "holder", "pool": "amm-A", "interval": "1h"}]
    sim = Simulation(parse_scenario(raw)).build()
    agent = sim.agent("holder-1")
    world = world_of(sim)
    seen: dict[str, tuple[int, dict[str, int], dict[str, int]]] = {}

    def look(label: str) -> None:
        seen[label] = (agent.pnl(), agent.in_transit(), dict(agent.account.balances))

    sim.kernel.schedule_at(4 * S, look, "before")
    sim.kernel.schedule_at(5 * S, agent.bridge, "base", E18, "A", "B")
    sim.kernel.schedule_at(6 * S, look, "in transit")
    sim.kernel.schedule_at(40 * S, look, "arrived")
    sim.run()

    a, b = world.venues["amm-A"], world.venues["amm-B"]
    price_a, price_b = Fraction(2000 * 10**6, E18), Fraction(2020 * 10**6, E18)
    fee = E18 * 10 // 10_000
    (transfer,) = [t for t in world.relayer.transfers if t.sender == agent.id]
    gas_wei = transfer.sender_gas * world.runtime("A").gas_price_wei
    before, _, start = seen["before"]
    moving, transit, balances = seen["in transit"]
    arrived, after, end = seen["arrived"]
    assert before == 0 and type(moving) is int and type(arrived) is int
    assert transfer.arrived_at == 35 * S and transfer.received == E18 - fee
    assert transit == {"base": E18 - fee, "quote": 0} and after == {"base": 0, "quote": 0}
    # The account: 1 ETH left chain A, 0.999 is on its way to B, the lock's gas is spent on A.
    assert balances["ETH@A"] == start["ETH@A"] - E18 and balances["ETH@bridge:B"] == E18 - fee
    assert balances["gas@A"] == -gas_wei
    assert end["ETH@bridge:B"] == 0 and end["ETH@B"] == start.get("ETH@B", 0) + E18 - fee
    # Sending costs the gas and the fee and moves the ether to B's price; the arrival changes nothing.
    assert moving == math.floor(-E18 * price_a + (E18 - fee) * price_b - gas_wei * price_a)
    assert arrived == moving
    assert (a.pool.price(), b.pool.price()) != (price_a, price_b)  # (the final arbitrage pass after the run)


def test_pnl_of_a_trader_is_its_account_marked_at_the_pool_price() -> None:
    raw = copy.deepcopy(RAW)
    raw["agents"] = [{"type": "amm_noise", "name": "noise", "pool": "amm-A", "interval": "5s"}]
    raw["scenario"]["duration"] = "40s"
    sim = Simulation(parse_scenario(raw)).build()
    agent = sim.agent("noise-1")
    seen = {}

    def look() -> None:
        price = agent.venue("amm-A").pool.price()
        acct = agent.account
        value = sum(v * (1 if k == "USDC@A" else price) for k, v in acct.balances.items())
        start = sum(v * (1 if k == "USDC@A" else price) for k, v in agent._start.items())
        seen["pnl"], seen["expected"], seen["fills"] = agent.pnl(), math.floor(value) - math.floor(start), \
            acct.position("ETH/USDC@A")

    sim.kernel.schedule_at(39 * S, look)
    sim.run()
    assert agent.swaps > 0 and seen["fills"].fills == agent.swaps
    assert seen["pnl"] == seen["expected"] != 0
