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


def test_demo_reports_each_trades_lifecycle_and_reads_back_typed(tmp_path):
    from market_sim.settlement.results import SettlementSectionResult, StageLatency
    from market_sim.simulation.metrics import metrics_json, results_from_json, summary_rows
    from market_sim.simulation.runner import Simulation

    sc = load_scenario(resolve_scenario("settlement-demo"), ["scenario.duration=5s", "output.plots=false"])
    sim = Simulation(sc)
    out = sim.run()
    result = out.metrics["settlement"]
    lifecycle = out.tables["settlement_lifecycle"]
    assert lifecycle["trade_id"] == sorted(out.tables["trades"]["trade_id"])     # every trade, once
    assert set(lifecycle["outcome"]) == {"final"} and result.trades_final == out.metrics["trades"]
    assert all(f >= e for e, f in zip(lifecycle["executed_ns"], lifecycle["final_ns"]))
    assert result.stage_latency["executed_to_final"].trades == out.metrics["trades"]
    assert result.latency_ms_p50_executed_to_final == result.stage_latency["executed_to_final"].p50_ms
    assert result.max_pending_exposure > 0 and result.pending_exposure_asset == "USDC"
    assert set(out.tables["settlement_reconciliation"]["status"]) == {"settled"}
    assert result.trades_proven_off_chain == result.trades_settled and result.proofs_checked_on_chain > 0
    assert [r.path for r in summary_rows(result)][:3] == ["latency_ms_p50_executed_to_final",
                                                          "latency_ms_p99_executed_to_final", "max_pending_exposure"]
    back = results_from_json(metrics_json(out.metrics))["settlement"]
    assert isinstance(back, SettlementSectionResult) and back == result
    assert isinstance(back.stage_latency["included_to_final"], StageLatency)
    assert not any(name.endswith(".png") for name in out.extra_files)                # output.plots=false


def test_demo_plots_are_pngs():
    from market_sim.simulation.runner import Simulation

    out = Simulation(load_scenario(resolve_scenario("settlement-demo"), ["scenario.duration=5s"])).run()
    for name in ("settlement_latency.png", "settlement_exposure.png", "settlement_blocks.png"):
        assert out.extra_files[name][:8] == b"\x89PNG\r\n\x1a\n"
