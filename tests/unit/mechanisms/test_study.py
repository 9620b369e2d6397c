"""The latency-arbitrage mechanism study: its table's structure and the qualitative result (Budish et al.)."""

from __future__ import annotations

import pytest

from market_sim.core.errors import ConfigError
from market_sim.mechanisms.study import MECHANISM_VARIANTS, METRICS, plot, run_one, study, table
from market_sim.simulation.catalog import resolve_scenario, scenarios

MECHS = ["continuous", "fba-100ms", "speed-bump-50ms"]
SEEDS = [1, 2]


@pytest.fixture(scope="module")
def result():
    return study(MECHS, SEEDS, ["scenario.duration=1min"])


def test_the_scenario_is_listed_and_the_variants_are_the_issues():
    assert scenarios()["latency-arbitrage"].package == "mechanisms"
    assert resolve_scenario("latency-arbitrage").name == "latency-arbitrage.toml"
    assert list(MECHANISM_VARIANTS) == ["continuous", "fba-10ms", "fba-100ms", "fba-1s", "speed-bump-350us",
                                        "speed-bump-50ms"]


def test_table_structure(result):
    keys = [k for k, _, _ in METRICS] + ["one_sided", "trades"]
    assert list(result) == MECHS
    for row in result.values():
        assert list(row) == ["seeds"] + keys
        assert row["seeds"] == SEEDS
        for k in keys:
            assert set(row[k]) == {"mean", "std", "values"} and len(row[k]["values"]) == len(SEEDS)
    text = table(result).splitlines()
    assert [c.strip() for c in text[0].split("|")[1:-1]] == ["mechanism"] + [h for _, h, _ in METRICS]
    assert [line.split("|")[1].strip() for line in text[2:2 + len(MECHS)]] == MECHS
    assert text[-1] == "(mean ± std over seeds [1, 2])"
    assert plot(result)[:8] == b"\x89PNG\r\n\x1a\n"


def test_sniping_rents_vanish_under_batch_auctions_and_a_long_enough_bump(result):
    cont = result["continuous"]
    for seed_i in range(len(SEEDS)):
        assert cont["arb_pnl"]["values"][seed_i] > 0
        for other in ("fba-100ms", "speed-bump-50ms"):
            r = result[other]
            assert r["arb_pnl"]["values"][seed_i] <= 0   # the sniper's orders now lose on the missed legs
            assert r["arb_lots"]["values"][seed_i] < cont["arb_lots"]["values"][seed_i]
            # same flow and seed: the makers keep what the sniper no longer takes
            assert r["maker_pnl"]["values"][seed_i] > cont["maker_pnl"]["values"][seed_i]


def test_same_seed_same_numbers_and_unknown_variant():
    assert run_one("fba-10ms", 3, ["scenario.duration=10s"]) == run_one("fba-10ms", 3, ["scenario.duration=10s"])
    with pytest.raises(ConfigError, match="unknown mechanism variant"):
        run_one("nope", 1)
