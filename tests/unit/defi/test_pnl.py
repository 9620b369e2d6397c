"""DeFi agent PnL: tokens on the bridge are part of the portfolio, so PnL does not drop while they travel."""

from __future__ import annotations

import copy

from market_sim.defi import sim as _plugin  # noqa: F401  (registers [defi] and the amm venue kind)
from market_sim.defi.sim import world_of
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import parse_scenario
from tests.unit.defi.test_venues import RAW

E18 = 10**18
S = 10**9


def test_pnl_is_continuous_while_tokens_are_in_transit_on_the_bridge() -> None:
    raw = copy.deepcopy(RAW)
    # One agent that never trades within the run (its first wake-up is after an hour); no price process, so the
    # mark is the first pool's price, which nothing moves. The bridge delay is 30 s, its fee 10 bps.
    raw["agents"] = [{"type": "amm_noise", "name": "holder", "pool": "amm-A", "interval": "1h"}]
    sim = Simulation(parse_scenario(raw)).build()
    agent = sim.agent("holder-1")
    world = world_of(sim)
    seen: dict[str, tuple[int, dict[str, int]]] = {}
    marks = []

    def look(label: str) -> None:
        seen[label] = (agent.pnl(), agent.in_transit())
        marks.append((agent.true_price(), agent.gas_cost))

    sim.kernel.schedule_at(4 * S, look, "before")
    sim.kernel.schedule_at(5 * S, agent.bridge, "base", E18, "A", "B")
    sim.kernel.schedule_at(6 * S, look, "in transit")
    sim.kernel.schedule_at(40 * S, look, "arrived")
    sim.run()

    fee = E18 * 10 // 10_000
    (price, _), (_, gas), _ = marks
    assert [m[0] for m in marks] == [price] * 3  # (the final arbitrage pass after the run moves the pools)
    before, _ = seen["before"]
    moving, transit = seen["in transit"]
    arrived, after = seen["arrived"]
    (transfer,) = [t for t in world.relayer.transfers if t.sender == agent.id]
    assert transfer.arrived_at == 35 * S and transfer.received == E18 - fee
    assert transit == {"base": E18 - fee, "quote": 0} and after == {"base": 0, "quote": 0}
    # Sending costs the lock's gas and the bridge fee, nothing more; the arrival changes nothing.
    assert abs(gas - transfer.sender_gas * world.runtime("A").gas_price_wei * price) <= 1 and marks[2][1] == gas
    assert abs(moving - (before - gas - int(fee * price))) <= 1
    assert abs(arrived - moving) <= 1
    assert before == 0
