"""What `market-sim` prints: help without type tags or swallowed [brackets], a runs table within 80 columns,
summaries that lead with the scenario's headline figures, the registries' catalog (`agents`), bench output."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import market_sim.cli.run as run_cli
from market_sim.cli.main import app
from market_sim.simulation.results import INDEX_NAME, RunIndex, RunRecord

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = Path(sys.executable).with_name("market-sim")
runner = CliRunner()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=_env(**env), cwd=ROOT,
                          timeout=300)


def _on_terminal(columns: int, *args: str, **env: str) -> str:
    """Run the console script on a pseudo-terminal `columns` wide (no COLUMNS variable): what a user sees."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    proc = subprocess.Popen([str(SCRIPT), *args], stdout=slave, stderr=slave, stdin=slave, env=_env(**env), cwd=ROOT)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=300)
    os.close(master)
    text = b"".join(chunks).decode()
    import re

    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace("\r", "")  # drop colours and cursor codes


# ---- help ------------------------------------------------------------------------------------------------------
COMMANDS = ("agents", "bench", "compile", "consensus", "deploy", "list", "replay", "run", "runs", "show")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_no_python_type_tags(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    for tag in ("<bool>", "<int>", "<str>", "<text>", "<float>", "<path>", "<list[", "<integer>"):
        assert tag not in result.output


def test_run_help_prints_brackets_literally_and_names_value_types() -> None:
    out = " ".join(runner.invoke(app, ["run", "--help"]).output.split())
    assert "Random seed (overrides [scenario].seed)." in out
    assert "--seed INT RANGE" in out and "[0<=x<=9223372036854775807]" in out  # the seed range is checked up front
    assert "--out PATH" in out and "--set TEXT..." in out
    assert "--no-plots Skip the PNG plots." in out  # a flag takes no value: nothing between name and help


def test_run_help_fits_an_80_column_terminal() -> None:
    text = _on_terminal(80, "run", "--help")
    assert "[scenario].seed" in text
    assert max(len(line) for line in text.splitlines()) <= 80


# ---- runs ------------------------------------------------------------------------------------------------------
def _index_with_runs(root: Path) -> list[str]:
    index = RunIndex(root / INDEX_NAME)
    ids = ["20261201-101500-cross-chain-arbitrage-s12345", "20261201-101200-random-market-s1"]
    overrides = [["agents.noise.count=50", "scenario.duration=\"10min\"", "processes.ETH.sigma=[0.8]"], []]
    for i, (run_id, ov) in enumerate(zip(ids, overrides)):
        index.add(RunRecord(run_id, run_id.split("-", 2)[2].rsplit("-", 1)[0], {"overrides": ov, "source": None}, 1,
                            f"2026-12-01T10:1{5 - 3 * i}:00+00:00", "2026-12-01T10:20:00+00:00", str(root / run_id),
                            {"trades": 123_456, "events_per_second": 98_765.4}))
    return ids


@pytest.mark.parametrize("columns", [80, 100])
def test_runs_table_fits_the_terminal(tmp_path: Path, columns: int) -> None:
    ids = _index_with_runs(tmp_path)
    for text in (_cli("runs", "--out", str(tmp_path), COLUMNS=str(columns)).stdout,
                 _on_terminal(columns, "runs", "--out", str(tmp_path))):
        lines = text.splitlines()
        assert max(len(line) for line in lines) <= columns
        for run_id in ids:  # the run id (when, scenario, seed) is never cut or wrapped
            assert any(run_id in line for line in lines)
        assert "123,456" in text and "98,765" in text
        flat = "".join(line.strip() for line in lines)
        assert 'agents.noise.count=50' in flat and "processes.ETH.sigma=[0.8]" in flat  # brackets kept


# ---- summaries ---------------------------------------------------------------------------------------------------
def _summary(metrics: object, width: int = 80) -> str:
    import market_sim.consensus.scenario  # noqa: F401  (registers [consensus] before [settlement], as a run does)
    import market_sim.defi.sim  # noqa: F401  (registers [lvr] and [defi] and their result types)
    import market_sim.settlement.scenario  # noqa: F401

    buf = io.StringIO()
    saved = run_cli.console
    run_cli.console = Console(file=buf, width=width, color_system=None)
    try:
        run_cli.print_summary("r1", "/runs/r1", metrics)
    finally:
        run_cli.console = saved
    return buf.getvalue()


def _results(sections: dict, **market: object) -> object:
    from market_sim.simulation.metrics import MarketResult, RunResults

    m = MarketResult(**{"scenario": "x", "seed": 3, "duration_ns": 120 * 10**9, "agents": 1, **market})
    return RunResults(m, events=26, wall_seconds=0.5, events_per_second=52.0, sections=sections)


def _labels(text: str) -> list[str]:
    return [line.split("│")[1].strip() for line in text.splitlines() if "│" in line]


def test_amm_lvr_summary_leads_with_the_ratio_and_has_no_order_book_rows() -> None:
    from market_sim.defi.results import DefiAgentResult, DefiSectionResult, LvrSectionResult
    from market_sim.simulation.metrics import SymbolStats

    lvr = LvrSectionResult(ratio=0.9768, ratio_stderr=0.3447, measured=2.79, theory=2.86, steps=10)
    defi = DefiSectionResult(arbitrage_pnl=0.8691, arbitrageurs=1, swaps=10,
                             agents={"arb-1": DefiAgentResult(0.8691, 10, 0.01, 0)})
    text = _summary(_results({"defi": defi, "lvr": lvr}, pnl_by_group={"arb": -0.0001},
                             symbols={"ETH/USD": SymbolStats(0, 0, 0.0, 0.0, 0.0, 0.0)}))
    lines = [line for line in text.splitlines() if "│" in line]
    labels = _labels(text)
    assert labels[:4] == ["scenario", "seed", "simulated", "LVR / theory (σ²/8)"]
    assert "0.9768" in lines[3]
    assert labels[7:10] == ["arbitrage PnL (quote)", "arbitrageurs", "swaps"]  # then the [defi] headline
    assert "orders" not in labels and "trades" not in labels and "volume (lots)" not in labels
    assert "instruments" not in text  # no per-symbol table without trades
    assert "-0.00" not in text and "0.00" in text
    assert labels.count("LVR / theory (σ²/8)") == 1  # a headline figure is not repeated with the others
    assert "LVR steps" in labels and "agent arb-1 PnL (quote)" in labels
    assert "bridge transfers" not in labels  # a single chain: no bridge figures at all


def test_settlement_summary_leads_with_settled_trades_batches_and_reconciliation() -> None:
    from market_sim.settlement.results import SettlementSectionResult

    settlement = SettlementSectionResult(trades_settled=300, settlement_batches=4, reconciled=True,
                                         trades_rejected_by_validators=2, gas_per_settled_trade=31_000,
                                         validators=4, byzantine=1, behaviour="equivocate", quorum=3)
    text = _summary(_results({"settlement": settlement}, orders=900, trades=300, volume=4_000))
    labels = _labels(text)
    assert labels[3:6] == ["settled trades", "settled batches", "reconciliation ok"]
    assert labels.index("orders") > labels.index("gas per settled trade")  # order-book figures after the headline
    assert "{" not in text and "'" not in text and "True" not in text


def test_nested_headline_figures_lead_and_only_sections_in_the_run_show() -> None:
    from market_sim.defi.results import BridgeResult, ChainResult, DefiSectionResult, PriceGap

    defi = DefiSectionResult(arbitrage_pnl=1.5, arbitrageurs=2, swaps=7,
                             bridge=BridgeResult(transfers=3, supply_ok=True, flows={"A->B.base": 1.25}),
                             price_gap_bps=PriceGap(final=4.5, mean=3.0, max=9.0),
                             chains={"A": ChainResult(5, 7, 900, 0.0)})
    rows = run_cli.headline_rows(_results({"defi": defi}))
    assert [(path, label) for path, label, _ in rows] == [
        ("defi.arbitrage_pnl", "arbitrage PnL (quote)"), ("defi.arbitrageurs", "arbitrageurs"),
        ("defi.swaps", "swaps"), ("defi.bridge.transfers", "bridge transfers"),
        ("defi.bridge.supply_ok", "bridge supply ok"), ("defi.price_gap_bps.final", "price gap (bps) at end")]
    labels = _labels(_summary(_results({"defi": defi})))
    assert "chain A blocks" in labels and "bridge flows" in labels and "trades finalized" not in labels


def test_a_run_stored_before_typed_results_still_shows() -> None:
    legacy = {"scenario": "x", "seed": 3, "duration_ns": 120 * 10**9, "agents": 1, "orders": 5, "trades": 2,
              "volume": 9, "events": 26, "wall_seconds": 0.5, "events_per_second": 52.0,
              "symbols": {"A": {"trades": 2, "volume": 9, "first_price": 1.0, "min_price": 1.0, "max_price": 1.5,
                                "last_price": 1.5}},
              "pnl_by_group": {"noise": 0.0}, "trade_log_verified": "yes", "defi.arb-1.pnl": 0.5}
    text = _summary(legacy)
    labels = _labels(text)
    assert labels[:3] == ["scenario", "seed", "simulated"] and "trades" in labels
    assert "more metrics" in text and "trade_log_verified" in labels and "defi.arb-1.pnl" in labels


def test_figures_render_without_reprs_or_negative_zero() -> None:
    assert run_cli._fmt(-0.0) == "0" and run_cli._fmt(-0.00001) == "0" and run_cli._fmt(-1.5) == "-1.5"
    assert run_cli._money(-0.004) == "0.00" and run_cli._money(-1234.5) == "-1,234.50"
    assert run_cli._fmt({"v1": "equivocate", "v4": 2}) == "v1 equivocate, v4 2"
    assert run_cli._fmt(["a", 1_000]) == "a, 1,000" and run_cli._fmt(True) == "yes"


def test_consensus_validators_figures_are_typed_and_print_as_text() -> None:
    from market_sim.consensus.results import ConsensusSectionResult

    c = ConsensusSectionResult(trades_finalized=3, batches_finalized=1, trades_rejected_by_validators=0,
                               finality_latency_ms_p50=1.5, trade_log_verified=False, protocol="bft", validators=7,
                               quorum=5, byzantine={"v1": "equivocate", "v4": "equivocate"})
    text = _summary(_results({"consensus": c}))
    lines = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in text.splitlines() if "│" in line}
    assert lines["trade log verified"] == "NO" and lines["validators"] == "7" and lines["quorum"] == "5"
    assert lines["Byzantine validators"] == "v1 equivocate, v4 equivocate"
    assert "{" not in text and "'" not in text


# ---- agents ------------------------------------------------------------------------------------------------------
def test_agents_lists_every_registry_with_parameters_defaults_and_help() -> None:
    result = runner.invoke(app, ["agents"])
    assert result.exit_code == 0, result.output
    out = result.output
    for heading in ("agent types", "venue kinds", "price processes", "scenario sections"):
        assert heading in out
    from market_sim.simulation.agents.base import AGENT_TYPES
    from market_sim.simulation.processes import PROCESS_TYPES
    from market_sim.simulation.venues import venue_types

    for kind in (*AGENT_TYPES.all(), *PROCESS_TYPES.all(), *venue_types()):
        assert f"\n{kind}" in out
    for section in ("[scenario]", "[consensus]", "[settlement]", "[defi]", "[[defi.chains]]", "[lvr]", "[output]"):
        assert section in out
    flat = " ".join(out.split())
    assert "amm_lp (market_sim.defi.agents)" in flat  # plug-in kinds appear, with their module
    assert "pool string required AMM venue to provide liquidity to" in flat
    assert "interval duration 1s mean time between orders (exponential); >= 1" in flat  # noise


def test_list_agents_is_the_same_catalog() -> None:
    assert runner.invoke(app, ["list", "--agents"]).output == runner.invoke(app, ["agents"]).output


def test_a_plugins_agent_type_appears_with_its_parameters() -> None:
    import dataclasses

    from market_sim.simulation.agents.base import AGENT_TYPES, Agent, register_agent_type
    from market_sim.simulation.params import param

    @dataclasses.dataclass(frozen=True, slots=True)
    class TwapParams:
        slices: int = param(12, min=1, help="child orders per parent")

    class Twap(Agent):
        """Slices a parent order evenly over time."""

        kind = "test_twap"
        Params = TwapParams

    register_agent_type(Twap)
    try:
        flat = " ".join(runner.invoke(app, ["agents", "--only", "agents"]).output.split())
    finally:
        AGENT_TYPES.pop("test_twap")
    assert "test_twap" in flat and "Slices a parent order evenly over time." in flat
    assert "slices integer 12 child orders per parent; >= 1" in flat
    assert "venue kinds" not in flat


def test_unknown_agent_type_names_the_plugin_that_provides_it(tmp_path: Path) -> None:
    scenario = tmp_path / "lp.toml"
    scenario.write_text('[scenario]\nname = "lp"\n[[instruments]]\nsymbol = "ETH/USD"\ninitial_price = 3000\n'
                        '[[agents]]\ntype = "amm_lp"\npool = "amm"\n')
    result = _cli("run", str(scenario), "--no-plots", "-q", "--out", str(tmp_path / "runs"))
    err = " ".join(result.stderr.split())
    assert result.returncode == 1 and "Traceback" not in err
    assert ('agents[0].type: is provided by plug-in market_sim.defi.sim, which this scenario does not load: add '
            'plugins = ["market_sim.defi.sim"] to [scenario]') in err


def test_unknown_type_that_no_plugin_provides_lists_the_choices() -> None:
    from market_sim.core.errors import ConfigError
    from market_sim.simulation.scenario import parse_scenario

    raw = {"instruments": [{"symbol": "X", "initial_price": 1}], "agents": [{"type": "no_such_kind"}]}
    with pytest.raises(ConfigError, match=r"unknown agent type; choose one of .*noise"):
        parse_scenario(raw)


# ---- bench -------------------------------------------------------------------------------------------------------
def test_bench_stdout_carries_only_the_result_even_from_child_processes() -> None:
    code = ("import json, subprocess, sys\n"
            "from market_sim.cli.bench import stdout_to_stderr\n"
            "with stdout_to_stderr():\n"
            "    print('progress from python')\n"
            "    subprocess.run(['echo', 'progress from a child process'], check=True)\n"
            "print(json.dumps({'ok': 1}))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), cwd=ROOT,
                            timeout=120)
    assert json.loads(result.stdout) == {"ok": 1}
    assert "progress from python" in result.stderr and "progress from a child process" in result.stderr


def test_bench_help_says_progress_goes_to_stderr() -> None:
    assert "progress goes to stderr" in " ".join(runner.invoke(app, ["bench", "--help"]).output.split())


# ---- packaging ---------------------------------------------------------------------------------------------------
def test_pyproject_uses_an_spdx_license_and_pins_pytest_cov() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"  # the table form is deprecated by setuptools >= 77
    assert "setuptools>=77" in project["build-system"]["requires"]
    assert any(dep.startswith("pytest-cov==") for dep in project["project"]["optional-dependencies"]["dev"])


def test_the_summary_shows_fees_by_group_and_venue_only_when_charged() -> None:
    text = _summary(_results({}, trades=4, pnl_by_group={"mm": 1.5, "noise": -2.0},
                             fees_by_group={"mm": -0.25, "noise": 0.75}, fees_by_venue={"exchange": 0.5}), width=100)
    rows = {cells[0]: cells[1:] for line in text.splitlines() if "│" in line
            for cells in [[c.strip() for c in line.split("│")[1:-1]]]}
    assert rows["mm"] == ["1.50", "-0.25"] and rows["noise"] == ["-2.00", "0.75"]
    assert rows["exchange"] == ["0.50"] and "fee revenue by venue" in text
    plain = _summary(_results({}, trades=4, pnl_by_group={"mm": 1.5}), width=100)
    assert "fee" not in plain
