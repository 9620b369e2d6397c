"""random-market's order-book mids follow their fundamentals and move to a jump in one.

A shortened random-market (4 simulated minutes, fixed seed) with the ETH/USDC fundamental replaced by a step:
3,000 for two minutes, then 3,030 (+100 bps, 300 ticks). AAPL (GBM) and MSFT (Ornstein–Uhlenbeck) keep their
processes. Deterministic: the figures below are this seed's exact results with some room.
"""

from __future__ import annotations

import pandas as pd
import pytest

from market_sim.simulation.agents.base import mid_ticks
from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import load_scenario

S = 10**9
JUMP_AT = 120 * S
MAD_BOUND_BPS = 5.0       # mean |mid / fundamental - 1| over the run, per instrument (seed 1: 1.4, 1.5, 3.1 bps)
REACTION_S = 20           # from REACTION_S after the jump to the end, the mid stays within REACTION_BPS of the new
REACTION_BPS = 5.0        # value (seed 1: within 10 bps after 13 s, at most 1.5 bps from 20 s on)


@pytest.fixture(scope="module")
def snaps(tmp_path_factory) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("fundamental") / "eth.csv"
    path.write_text(f"time,price\n0,3000\n{JUMP_AT},3030\n")
    sc = load_scenario(resolve_scenario("random-market"), [
        "scenario.duration=4min", "output.format=csv", "output.plots=false",
        f'processes.ETH/USDC={{kind = "csv", path = "{path}"}}'], seed=1)
    outcome = Simulation(sc).build().run()
    frame = pd.DataFrame(outcome.tables["book_snapshots"])
    frame = frame.dropna(subset=["mid_value", "fundamental"])
    frame["dev_bps"] = (frame["mid_value"] / frame["fundamental"] - 1) * 1e4
    return frame


@pytest.mark.parametrize("symbol", ["AAPL", "MSFT", "ETH/USDC"])
def test_mid_tracks_the_fundamental(snaps: pd.DataFrame, symbol: str) -> None:
    s = snaps[snaps["symbol"] == symbol]
    assert len(s) > 200
    mad = s["dev_bps"].abs().mean()
    assert mad < MAD_BOUND_BPS, f"{symbol}: mean absolute deviation {mad:.1f} bps"
    settled = s[(s["ts"] < JUMP_AT) | (s["ts"] >= JUMP_AT + REACTION_S * S)]
    assert abs(settled["dev_bps"].mean()) < MAD_BOUND_BPS / 2  # no one-sided drift (was tens of bps below)


def test_mid_reacts_to_a_jump_in_the_fundamental(snaps: pd.DataFrame) -> None:
    eth = snaps[snaps["symbol"] == "ETH/USDC"]
    before = eth[eth["ts"] < JUMP_AT]
    assert (before["fundamental"] == 3000).all() and before["dev_bps"].abs().max() < REACTION_BPS
    after = eth[eth["ts"] >= JUMP_AT + REACTION_S * S]
    assert (after["fundamental"] == 3030).all()
    assert after["dev_bps"].abs().max() < REACTION_BPS
    # ... and the move was the market's doing: the mid was still at the old value right after the jump.
    assert eth[eth["ts"] == JUMP_AT]["dev_bps"].iloc[0] < -90


@pytest.mark.parametrize(("bid", "ask", "mid"), [(100, 102, 101), (100, 101, 100), (101, 102, 102), (7, 7, 7),
                                                 (1, 4, 2), (2, 5, 4)])
def test_mid_ticks_rounds_half_a_tick_to_even(bid: int, ask: int, mid: int) -> None:
    # (bid + ask) // 2 always rounds down, and agents re-quoting around it drifted the market down.
    assert mid_ticks(bid, ask) == mid
