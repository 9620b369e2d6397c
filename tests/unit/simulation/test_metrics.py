"""Typed results: the one renderer (dataclass -> JSON, dataclass -> summary rows, headline first), metrics.json
version 2 round trips to the same dataclasses, and metrics.json from before typed results (version 1) still loads."""

from __future__ import annotations

import dataclasses
import json

import pytest

from market_sim.consensus.results import ConsensusSectionResult
from market_sim.defi.results import (
    BridgeResult, ChainResult, DefiAgentResult, DefiSectionResult, FinalPass, LvrSectionResult, PriceGap)
from market_sim.settlement.results import SettlementSectionResult
from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.metrics import (
    METRICS_VERSION, RESULT_TYPES, MarketResult, MetricsFormatError, RunResults, SymbolStats, from_json,
    metrics_json, results_from_json, run_results, summary_rows, to_json)
from market_sim.simulation.results import load_run, write_run
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import load_scenario

MARKET = MarketResult("x", 3, 60 * 10**9, agents=2, orders=10, commands=12, trades=4, volume=9,
                      symbols={"A": SymbolStats(4, 9, 1.0, 0.5, 1.5, 1.25)}, pnl_by_group={"noise": -0.5})
DEFI = DefiSectionResult(
    arbitrage_pnl=1.5, arbitrageurs=1, swaps=7,
    bridge=BridgeResult(transfers=3, supply_ok=True, pending=1, supply_ok_after_final_pass=True,
                        flows={"A->B.base": 1.25}),
    price_gap_bps=PriceGap(final=4.5, mean=3.0, max=9.0), agents={"arb-1": DefiAgentResult(1.5, 7, 0.25, 3)},
    chains={"A": ChainResult(5, 7, 900, 0), "B": ChainResult(2, 1, 50, 3)}, lp_pnl_vs_hodl={"amm-A": -0.125},
    final_pass=FinalPass(trades=2, gap_bps=1.0, fee_band_bps=60.09, no_arbitrage=True))
CONSENSUS = ConsensusSectionResult(trades_finalized=3, batches_finalized=1, trades_rejected_by_validators=1,
                                   finality_latency_ms_p50=12.5, trade_log_verified=True, protocol="bft",
                                   validators=4, quorum=3, byzantine={"v2": "equivocate"})
SETTLEMENT = SettlementSectionResult(trades_settled=4, settlement_batches=1, reconciled=False,
                                     trades_rejected_by_validators=0, gas_per_settled_trade=None,
                                     reconciliation_differences=2)
LVR = LvrSectionResult(ratio=0.97, ratio_stderr=0.3, measured=2.5, theory=2.6, steps=10)


def test_results_are_frozen_slotted_dataclasses_with_bools_and_ints() -> None:
    for result in (MARKET, DEFI, CONSENSUS, SETTLEMENT, LVR):
        assert dataclasses.is_dataclass(result) and not hasattr(result, "__dict__")
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(result, dataclasses.fields(result)[0].name, None)
    assert to_json(CONSENSUS)["trade_log_verified"] is True and to_json(SETTLEMENT)["reconciled"] is False
    assert set(RESULT_TYPES) >= {"consensus", "settlement", "defi", "lvr"}


def test_json_keeps_field_order_and_nests_per_agent_and_chain() -> None:
    data = to_json(DEFI)
    assert list(data)[:3] == ["arbitrage_pnl", "arbitrageurs", "swaps"]
    assert data["agents"] == {"arb-1": {"pnl": 1.5, "swaps": 7, "gas_cost": 0.25, "bridge_transfers": 3}}
    assert data["chains"]["B"] == {"blocks": 2, "transactions": 1, "gas_used": 50, "clock_ahead_max_s": 3}
    assert data["bridge"]["flows"] == {"A->B.base": 1.25}


@pytest.mark.parametrize("result", [MARKET, DEFI, CONSENSUS, SETTLEMENT, LVR])
def test_every_result_round_trips_through_json(result: object) -> None:
    assert from_json(type(result), json.loads(json.dumps(to_json(result)))) == result


def test_summary_rows_put_headline_figures_first_with_labels() -> None:
    rows = summary_rows(DEFI)
    head = [(r.label, r.value) for r in rows if r.headline]
    assert head == [("arbitrage PnL (quote)", 1.5), ("arbitrageurs", 1), ("swaps", 7), ("bridge transfers", 3),
                    ("bridge supply ok", True), ("price gap (bps) at end", 4.5)]
    assert rows[:len(head)] == [r for r in rows if r.headline]
    rest = {r.path: r.label for r in rows if not r.headline}
    assert rest["agents.arb-1.pnl"] == "agent arb-1 PnL (quote)" and rest["chains.B.blocks"] == "chain B blocks"
    assert [r.label for r in summary_rows(SETTLEMENT) if r.headline] == [
        "settled trades", "settled batches", "reconciliation ok", "rejected by validators"]  # None is not shown


def test_metrics_json_round_trips_to_the_same_typed_results() -> None:
    metrics = {**to_json(MARKET), "events": 26, "wall_seconds": 0.5, "events_per_second": 52,
               "defi": DEFI, "consensus": CONSENSUS, "settlement": SETTLEMENT, "lvr": LVR}
    written = metrics_json(metrics)
    assert written["version"] == METRICS_VERSION and written["trades"] == 4
    assert list(written["sections"]) == ["defi", "consensus", "settlement", "lvr"]
    back = results_from_json(json.loads(json.dumps(written)))
    assert back == run_results(metrics)
    assert back.market == MARKET and back["defi"] == DEFI and back["settlement"].reconciled is False
    with pytest.raises(KeyError, match=r"no \[nope\] result in this run; sections: defi, consensus"):
        back["nope"]


def test_metrics_json_from_before_typed_results_still_loads() -> None:
    v1 = {**to_json(MARKET), "events": 26, "wall_seconds": 0.5, "events_per_second": 52, "odd.figure": "kept"}
    back = results_from_json(v1)
    assert back.version == 1 and back.market == MARKET and back.sections == {}
    assert back.legacy == {"odd.figure": "kept"}


def test_version_1_section_figures_are_read_into_the_typed_results() -> None:
    """Flat keys and yes/NO/OK strings as metrics.json had them before (from a cross-chain-arbitrage run)."""
    v1 = {**to_json(MARKET), "events": 26, "wall_seconds": 0.5, "events_per_second": 52,
          "bridge.flow.A->B.base": 0.814922, "bridge.pending": 1, "bridge.supply_ok": True,
          "bridge.supply_ok_after_final_pass": True, "bridge.transfers": 1, "chain.A.blocks": 10,
          "chain.A.clock_ahead_max_s": 3, "chain.A.gas_used": 900606, "chain.A.transactions": 10,
          "defi.arb-1.bridge_transfers": 1, "defi.arb-1.gas_cost": 1.19, "defi.arb-1.pnl": -13.2,
          "defi.arb-1.swaps": 1, "defi.arbitrage_pnl": -13.2, "defi.arbitrageurs": 1, "defi.swaps": 24,
          "final_pass.fee_band_bps": 35.108, "final_pass.gap_bps": 35.083, "final_pass.no_arbitrage": True,
          "final_pass.trades": 1, "lp.amm-A.pnl_vs_hodl": 82.6, "defi.reconciliation": "2 differences",
          "defi.accounts_checked": 60, "price_gap_bps.final": 67.0,
          "price_gap_bps.max": 200.0, "price_gap_bps.mean": 71.3,
          "gas_per_settled_trade": 121379, "ledger_corrections": 0, "log_roots_equal_chain_roots": "yes",
          "reconciliation": "FAILED (2 differences)", "settled_trades_per_second": 0.1, "settlement_batches": 2,
          "settlement_chain": "eth-tester", "settlement_contract": "0xF2", "settlement_reverts": 0,
          "trade_log_verified": "NO", "trades_failed_settlement": 0, "trades_rejected_by_validators": 0,
          "trades_settled": 2, "validators": "4 (1 equivocate), quorum 3"}
    back = results_from_json(v1)
    assert back.legacy == {}
    s = back["settlement"]
    assert (s.reconciled, s.reconciliation_differences, s.trade_log_verified, s.log_roots_equal_chain_roots) == \
        (False, 2, False, True)
    assert (s.validators, s.byzantine, s.behaviour, s.quorum, s.gas_per_settled_trade) == (4, 1, "equivocate", 3,
                                                                                            121379)
    d = back["defi"]
    assert d.agents == {"arb-1": DefiAgentResult(-13.2, 1, 1.19, 1)} and d.chains["A"] == ChainResult(10, 10, 900606, 3)
    assert d.bridge == BridgeResult(1, True, 1, True, {"A->B.base": 0.814922})
    assert d.final_pass == FinalPass(1, 35.083, 35.108, True) and d.lp_pnl_vs_hodl == {"amm-A": 82.6}
    assert d.price_gap_bps == PriceGap(67.0, 71.3, 200.0) and d.swaps == 24
    assert (d.accounts_reconciled, d.accounts_checked, d.account_differences) == (False, 60, 2)
    c = results_from_json({**to_json(MARKET), "consensus_protocol": "streamlet", "trades_finalized": 384,
                           "validators": "7 (2 equivocate (v1, v3)), quorum 5", "trade_log_verified": "yes",
                           "honest_logs_agree": "yes"})["consensus"]
    assert (c.protocol, c.validators, c.quorum, c.byzantine, c.trade_log_verified) == \
        ("streamlet", 7, 5, {"v1": "equivocate", "v3": "equivocate"}, True)


def test_bad_or_newer_metrics_json_is_a_clear_error() -> None:
    with pytest.raises(MetricsFormatError, match="version 99 is newer than this market-sim reads"):
        results_from_json({"version": 99})
    bad = {**to_json(MARKET), "version": 2, "sections": {"lvr": {**to_json(LVR), "steps": "ten"}}}
    with pytest.raises(MetricsFormatError, match=r"sections.lvr.steps: expected int, got 'ten'"):
        results_from_json(bad)
    unknown = results_from_json({**to_json(MARKET), "version": 2, "sections": {"desk": {"filled": 3}}})
    assert unknown.sections == {"desk": {"filled": 3}}  # a section whose plug-in is not installed stays as written


def test_a_stored_run_gives_its_typed_results_back(tmp_path) -> None:
    overrides = ["scenario.duration=10s", "agents.noise.count=4", "agents.fundamental.count=1",
                 "agents.momentum.count=1", "agents.market_maker.count=1"]
    out = Simulation(load_scenario(resolve_scenario("random-market"), overrides)).run()
    rec = write_run(out, tmp_path, plots=False)
    data = load_run(rec.run_id, tmp_path)
    assert isinstance(data.results, RunResults) and data.results == run_results(out.metrics)
    assert data.results.market.trades == len(data["trades"]) > 0
    assert json.loads((tmp_path / rec.run_id / "metrics.json").read_text())["version"] == METRICS_VERSION


def test_a_plugin_sections_result_type_is_registered_with_the_section_and_loads_back() -> None:
    from market_sim.simulation.metrics import SectionResult, figure
    from market_sim.simulation.scenario import SECTIONS, Section, register_section

    @dataclasses.dataclass(frozen=True, slots=True)
    class DeskResult(SectionResult):
        section = "test_desk"
        filled: int = figure("filled", headline=True)
        flat: bool = figure("flat at end")

    class Desk(Section):
        name = "test_desk"
        result = DeskResult

    register_section(Desk())
    try:
        written = metrics_json({**to_json(MARKET), "test_desk": DeskResult(3, True)})
        assert written["sections"] == {"test_desk": {"filled": 3, "flat": True}}
        assert results_from_json(written)["test_desk"] == DeskResult(3, True)
        assert [(r.label, r.headline) for r in summary_rows(DeskResult(3, True))] == [("filled", True),
                                                                                      ("flat at end", False)]
    finally:
        SECTIONS.pop("test_desk")
        RESULT_TYPES.pop("test_desk")
