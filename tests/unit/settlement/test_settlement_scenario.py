"""The [settlement] scenario section: bad input gets a clear error naming the key; the demo scenario is listed."""

from __future__ import annotations

import pytest

from market_sim.core.errors import ConfigError, ConsensusError
from market_sim.simulation.catalog import resolve_scenario, scenarios
from market_sim.simulation.scenario import load_scenario


def demo(*overrides: str):
    return load_scenario(resolve_scenario("settlement-demo"), list(overrides))


def test_demo_is_in_the_catalog_and_parses():
    assert scenarios()["settlement-demo"].package == "settlement"
    cfg = demo().extensions["settlement"]
    assert (cfg.validators, cfg.byzantine, cfg.behaviour, cfg.max_batch, cfg.mode) == (4, 1, "equivocate", 250, "net")
    assert cfg.max_delay == 60_000_000_000 and cfg.deposit["USDC"] == "5000000"


@pytest.mark.parametrize("override,error,match", [
    ("settlement.deposit.DOGE=5", ConfigError, "settlement.deposit.DOGE: no instrument trades this asset"),
    ("settlement.deposit.USDC=-1", ConfigError, "settlement.deposit.USDC: must be a positive number"),
    ("settlement.deposit.USDC=lots", ConfigError, "settlement.deposit.USDC: must be a positive number"),
    ("settlement.byzantine=2", ConsensusError, "f=2 needs n >= 7"),
    ("settlement.behaviour=sneaky", ConfigError, "unknown behaviour"),
    ("settlement.mode=magic", ConfigError, "settlement.mode"),
    ("settlement.max_batch=0", ConfigError, "settlement.max_batch"),
    ("settlement.colour=blue", ConfigError, "settlement.colour: unknown key"),
])
def test_bad_settlement_settings(override, error, match):
    with pytest.raises(error, match=match):
        demo(override)


def test_demo_wiring_state_object_validator_bus_and_deposits_in_accounts():
    from market_sim.settlement.scenario import SettlementRun
    from market_sim.simulation.runner import Simulation

    sc = load_scenario(resolve_scenario("settlement-demo"), ["scenario.duration=5s"])
    sim = Simulation(sc)
    out = sim.run()
    run = sim.state("settlement")
    assert isinstance(run, SettlementRun)                              # the section's state, nothing attached
    assert [name for name, _ in sim.trade_validators] == ["settlement"]
    p = run.stack.pipeline
    assert out.metrics["trades"] > 0 and p.settled_count + len(p.failed) == out.metrics["trades"]  # via the bus
    assert out.metrics["settlement"].reconciled is True and out.metrics["settlement"].reconciliation_differences == 0
    for (trader, asset), amount in run.stack.venue.deposits.items():   # deposits are the accounts' opening balances
        acct = sim.accounts[trader]
        moved = sum((pos.quantity if pos.base_asset == asset else 0)
                    + (pos.realized - pos.cost if pos.quote_asset == asset else 0) for pos in acct.positions.values())
        assert acct.balance(asset) == amount + moved
