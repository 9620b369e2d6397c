"""`market-sim describe NAME|FILE` and the [scenario].guide every shipped scenario carries."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from market_sim.cli.main import main
from market_sim.core.errors import ConfigError
from market_sim.learn import TUTORIALS, tutorials_using
from market_sim.simulation.catalog import scenarios
from market_sim.simulation.scenario import parse_scenario

WORKTREE = Path(__file__).resolve().parents[3]
MARKET_SIM = shutil.which("market-sim", path=str(Path(sys.executable).parent))
INSTRUMENTS = [{"symbol": "XYZ", "initial_price": 50.0}]


def _out(capsys) -> str:
    return " ".join(capsys.readouterr().out.split())


def test_describe_prints_the_guide_groups_and_tutorial_of_a_shipped_scenario(capsys):
    assert main(["describe", "settlement-faults"]) == 0
    out = _out(capsys)
    assert out.startswith("settlement-faults (")
    assert "duration 5min, seed 7, 20 agents" in out
    assert "What to look at in the results" in out
    for table in ("settlement_certification", "chain_blocks", "validator_swaps", "settlement_lifecycle"):
        assert table in out
    assert "│ market_maker │ 3 │ market_maker │" in out and "│ noise │ 17 │ noise │" in out
    assert "│ settlement │" in out and "│ agents │ 2 groups, 20 agents (below) │" in out
    assert "Tutorial: 4. Settlement on chain: a batch's life (market-sim learn 4)" in out
    assert out.endswith("Run it: market-sim run settlement-faults")


def test_describe_a_file_without_a_guide_says_so(tmp_path, capsys):
    path = tmp_path / "mine.toml"
    path.write_text('[scenario]\ndescription = "my own"\nseed = 3\nduration = "90s"\n'
                    '[[instruments]]\nsymbol = "XYZ"\ninitial_price = 50.0\n'
                    '[[agents]]\ntype = "noise"\ncount = 4\n')
    assert main(["describe", str(path)]) == 0
    out = _out(capsys)
    assert "my own duration 90s, seed 3, 4 agents" in out
    assert "(no [scenario].guide yet" in out
    assert "│ noise │ 4 │ noise │ XYZ │" in out
    assert "Tutorial: none uses it" in out and out.endswith(f"Run it: market-sim run {path}")


@pytest.mark.parametrize("name", sorted(scenarios()))
def test_every_shipped_scenario_has_a_guide(name):
    """A scenario shipped without [scenario].guide fails here: write what to look at in its results."""
    header = tomllib.loads(scenarios()[name].path.read_text())["scenario"]
    guide = header.get("guide", "")
    assert isinstance(guide, str) and len(guide.strip().splitlines()) >= 3, name


@pytest.mark.parametrize("name", sorted(scenarios()))
def test_every_shipped_scenario_describes_with_its_guide(name, capsys):
    assert main(["describe", name]) == 0
    guide = tomllib.loads(scenarios()[name].path.read_text())["scenario"]["guide"]
    assert " ".join(guide.split()) in _out(capsys)


def test_the_guide_is_parsed_and_kept_in_the_effective_table():
    sc = parse_scenario({"scenario": {"guide": "look at the trades table"}, "instruments": INSTRUMENTS})
    assert sc.guide == "look at the trades table"
    assert json.loads(json.dumps(sc.raw))["scenario"]["guide"] == "look at the trades table"  # = scenario.json
    assert parse_scenario({"instruments": INSTRUMENTS}).guide == ""
    with pytest.raises(ConfigError, match=r"scenario\.gide: unknown key; expected one of: description, duration, "
                                          r"guide, name, plugins, seed"):
        parse_scenario({"scenario": {"gide": "x"}, "instruments": INSTRUMENTS})
    with pytest.raises(ConfigError, match=r"scenario\.guide"):
        parse_scenario({"scenario": {"guide": 3}, "instruments": INSTRUMENTS})


def test_the_tutorials_name_shipped_scenarios_they_use():
    shipped = scenarios()
    for t in TUTORIALS:
        source = (WORKTREE / "tutorials" / "src" / f"{t.slug}.py").read_text()
        for name in t.scenarios:
            assert name in shipped and f"{name}" in source, (t.slug, name)
    assert [t.number for t in tutorials_using("flash-crash")] == [2]
    assert tutorials_using("random-market") == ()


@pytest.mark.skipif(MARKET_SIM is None, reason="the market-sim console script is not installed")
def test_describe_an_unknown_scenario_is_a_usage_error():
    env = dict(os.environ, PYTHONPATH=str(WORKTREE), COLUMNS="200")
    proc = subprocess.run([MARKET_SIM, "describe", "no-such-scenario"], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("Usage: market-sim describe")
    assert "no scenario or file 'no-such-scenario'; named scenarios: amm-lvr, byzantine-validators," in proc.stderr
