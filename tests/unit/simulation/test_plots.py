"""Run plots: panels only where they apply, small multiples per instrument, simulated-time axes, run-wide colours."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from market_sim.simulation.plots import run_colours, series_colour, time_axis, write_plots

S = 10**9


def _snaps(venue: str, symbols: list[str], *, book: bool, n: int = 50) -> pd.DataFrame:
    rows = []
    for i in range(n):
        for k, symbol in enumerate(symbols):
            bid, ask = 1000 + k * 100 + i % 3, 1002 + k * 100 + i % 3
            qty = (5 + i % 4) if book else 0
            rows.append({"ts": i * S, "venue": venue, "symbol": symbol, "bid": bid, "bid_qty": qty, "ask": ask,
                         "ask_qty": qty, "spread": ask - bid, "mid_value": (bid + ask) / 200,
                         "bid_depth": 4 * qty, "ask_depth": 3 * qty, "last": None, "fundamental": (bid + ask) / 200})
    return pd.DataFrame(rows)


def _pnl(groups: list[str], n: int = 5) -> pd.DataFrame:
    return pd.DataFrame([{"ts": i * 10 * S, "agent": f"{g}-1", "group": g, "pnl": i, "pnl_value": float(i)}
                         for i in range(n) for g in groups])


def _height(path) -> int:
    return plt.imread(path).shape[0]


def test_order_book_runs_get_one_spread_and_depth_row_per_instrument(tmp_path) -> None:
    tables = {"book_snapshots": _snaps("exchange", ["AAPL", "ETH/USDC", "MSFT"], book=True),
              "pnl_series": _pnl(["noise", "market_maker"])}
    one = tmp_path / "one"
    one.mkdir()
    three = write_plots(tables, tmp_path)
    assert [p.name for p in three] == ["prices.png", "spread_depth.png", "pnl.png"]
    write_plots({"book_snapshots": _snaps("exchange", ["AAPL"], book=True)}, one)
    # 2.4 in per instrument row (+0.8 in) at 90 dpi
    assert _height(tmp_path / "spread_depth.png") == round((3 * 2.4 + 0.8) * 90)
    assert _height(one / "spread_depth.png") == round((2.4 + 0.8) * 90)


def test_amm_runs_get_no_order_book_panels(tmp_path) -> None:
    # An AMM venue quotes bid and ask but never shows resting quantity: spread and depth do not apply.
    written = write_plots({"book_snapshots": _snaps("amm", ["ETH/USDC"], book=False), "pnl_series": _pnl(["arb"])},
                          tmp_path)
    assert [p.name for p in written] == ["prices.png", "pnl.png"]
    assert not (tmp_path / "spread_depth.png").exists()


@pytest.mark.parametrize(("end", "unit", "label"), [
    (90 * S, S, "simulated time (s)"), (3600 * S, 60 * S, "simulated time (min)"),
    (4 * 3600 * S, 3600 * S, "simulated time (h)")])
def test_time_axis_is_simulated_time_with_its_unit(end: int, unit: int, label: str) -> None:
    assert time_axis(end) == (unit, label)


def test_a_series_has_one_colour_in_every_figure_of_a_run() -> None:
    venues, symbols, groups = ["exchange", "amm-B", "amm-A"], ["ETH/USDC"], ["noise", "arb"]
    full = run_colours(venues, symbols, groups)  # what prices.png / spread_depth.png / pnl.png use
    assert len(set(full.values())) == len(full) == 6  # no two series share a colour
    # the DeFi figures know only the venues and the instrument, in another order: same colours
    defi = run_colours(list(reversed(venues)), symbols)
    for v in venues:
        assert defi[v] == full[v]
        assert series_colour(defi, v, "ETH/USDC", 3) == series_colour(full, v, "ETH/USDC", 3) == full[v]
    # with one venue, a (venue, instrument) series takes the instrument's colour, in every figure
    assert series_colour(run_colours(["amm"], symbols), "amm", "ETH/USDC", 1) == run_colours(["amm"], symbols)[
        "ETH/USDC"]
