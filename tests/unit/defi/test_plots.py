"""DeFi figures: only the panels that apply."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import pandas as pd

from market_sim.defi.plots import price_gap_png

S = 10**9


def test_price_gap_figure_draws_the_gap_panel_only_with_two_pools() -> None:
    one = pd.DataFrame({"ts": [0, 60 * S], "true_price": [3000.0, 3001.0], "amm": [3000.0, 3002.0],
                        "gap_bps": [None, None]})
    two = one.assign(**{"amm-B": [3001.0, 3003.0], "gap_bps": [3.3, 3.3]})
    h_one = plt.imread(io.BytesIO(price_gap_png(one, "ETH/USDC"))).shape[0]
    h_two = plt.imread(io.BytesIO(price_gap_png(two, "ETH/USDC"))).shape[0]
    assert (h_one, h_two) == (round(3.6 * 110), 6 * 110)
