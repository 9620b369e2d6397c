"""Price processes: seeded, query-pattern independent, statistically sane; CSV replay."""

import math
import statistics

import pytest

from market_sim.core.errors import ConfigError
from market_sim.simulation.processes import (
    GBM, CsvReplay, GBMParams, MertonJumpDiffusion, MertonParams, OrnsteinUhlenbeck, OUParams, CsvParams,
    validate_process,
)

SEC = 1_000_000_000
HOUR = 3600 * SEC


def test_gbm_is_seeded_and_independent_of_query_times():
    p = GBMParams(s0=100.0, sigma=0.5, dt=SEC, rate_unit=HOUR)
    a, b = GBM(p, 7), GBM(p, 7)
    dense = [a.value_at(t * SEC) for t in range(0, 600)]
    assert b.value_at(599 * SEC) == dense[-1]
    assert GBM(p, 8).value_at(599 * SEC) != dense[-1]
    assert dense[0] == 100.0 and a.value_at(599 * SEC + SEC // 2) == dense[-1]  # constant within a step


def test_gbm_log_returns_have_the_configured_volatility():
    p = GBMParams(s0=100.0, sigma=0.4, dt=SEC, rate_unit=HOUR)
    g = GBM(p, 1)
    xs = [g.value_at(t * SEC) for t in range(20_001)]
    rets = [math.log(b / a) for a, b in zip(xs, xs[1:])]
    per_step = 0.4 * math.sqrt(1 / 3600)
    assert statistics.pstdev(rets) == pytest.approx(per_step, rel=0.03)


def test_ou_reverts_to_its_mean():
    p = OUParams(x0=150.0, mean=100.0, theta=5.0, sigma=2.0, dt=SEC, rate_unit=HOUR)
    o = OrnsteinUhlenbeck(p, 3)
    late = [o.value_at(t * SEC) for t in range(3600 * 2, 3600 * 4, 10)]
    assert abs(statistics.mean(late) - 100.0) < 1.5
    # stationary std = sigma / sqrt(2 theta)
    assert statistics.pstdev(late) == pytest.approx(2.0 / math.sqrt(10), rel=0.25)


def test_merton_jumps_happen_at_the_configured_rate():
    p = MertonParams(s0=50.0, sigma=0.1, jump_intensity=60.0, jump_std=0.02, dt=SEC, rate_unit=HOUR)
    m = MertonJumpDiffusion(p, 5)
    m.value_at(10 * HOUR)
    assert 500 < m.jumps < 700  # ~600 expected
    assert m.value_at(10 * HOUR) > 0


def test_csv_replay_steps_through_the_file(tmp_path):
    f = tmp_path / "px.csv"
    f.write_text("time,price\n0,10.5\n2s,11\n5000000000,9.75\n")
    c = CsvReplay(CsvParams(path="px.csv"), 0, tmp_path)
    assert [c.value_at(t * SEC) for t in (0, 1, 2, 4, 5, 100)] == [10.5, 10.5, 11.0, 11.0, 9.75, 9.75]


def test_csv_errors_name_the_problem(tmp_path):
    f = tmp_path / "px.csv"
    f.write_text("t,price\n0,1\n")
    with pytest.raises(ConfigError, match="time"):
        CsvReplay(CsvParams(path=str(f)), 0)
    f.write_text("time,price\n0,abc\n")
    with pytest.raises(ConfigError, match=r"px.csv:2"):
        CsvReplay(CsvParams(path=str(f)), 0)
    f.write_text("time,price\n5s,1\n1s,2\n")
    with pytest.raises(ConfigError, match="decrease"):
        CsvReplay(CsvParams(path=str(f)), 0)


def test_validate_process_names_bad_keys():
    with pytest.raises(ConfigError) as info:
        validate_process({"kind": "ou", "x0": 1.0, "mean": 1.0, "theta": -1.0, "sigma": 1.0}, "processes.A")
    assert info.value.key == "processes.A.theta"
    with pytest.raises(ConfigError) as info:
        validate_process({"kind": "gbm", "s0": 1.0, "vol": 1.0}, "processes.A")
    assert info.value.key == "processes.A.vol"


def test_csv_process_in_a_scenario_resolves_relative_to_the_file(tmp_path):
    from market_sim.simulation.runner import Simulation
    from market_sim.simulation.scenario import load_scenario, parse_scenario

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "px.csv").write_text("time,price\n0,20\n1s,21.5\n")
    f = tmp_path / "s.toml"
    f.write_text('[scenario]\nduration = "3s"\n[[instruments]]\nsymbol = "A"\n'
                 '[processes.A]\nkind = "csv"\npath = "data/px.csv"\n')
    sc = load_scenario(f)
    sim = Simulation(sc).build()
    sim.kernel.run(until=2 * SEC)
    assert sim.fundamental("A") == 21.5 and sim.initial_ticks("A") == 2000
    again = parse_scenario(sc.raw)   # e.g. from a run's scenario.json, read elsewhere
    assert Simulation(again).fundamental("A") == 20.0
