"""Borrow fees of short positions in bar backtests (the risk package's accrual rule): exact charges per bar, the
carried fraction, calendar time, the equity curve, the summary and the CLI."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from market_sim.backtest import BacktestResult, BarBacktest, BarSeries, BorrowFees
from market_sim.core.errors import ConfigError
from market_sim.core.instruments import Instrument
from market_sim.core.orders import OrderType, Side
from market_sim.risk.borrow import accrue_borrow_fee
from market_sim.simulation.agents.base import Agent

DAY = 86_400 * 10**9
INS = Instrument("XYZ", tick_size="0.01", lot_size="1", base_decimals=0, quote_decimals=2)


def bars(closes, days=None):
    """Flat bars (open = high = low = close) at the given closes in ticks, one a day unless `days` (day numbers)."""
    c = np.array(closes, dtype=np.int64)
    ts = (np.arange(len(c)) if days is None else np.array(days)).astype(np.int64) * DAY
    return BarSeries(INS, ts, c, c, c, c, np.full(len(c), 10_000, np.int64))


class ShortThenCover(Agent):
    """Sells `qty` at market at bar 0's close (filled at bar 1's open); buys it back at bar `cover`'s close."""

    kind = "short-then-cover-test"

    def __init__(self, qty, cover=None):
        super().__init__("s")
        self.qty, self.cover = qty, cover

    def on_start(self):
        self.wake_up_in(0)

    def on_wakeup(self):
        i = self._sim.bar_index
        if i == 0:
            self.submit("XYZ", Side.SELL, self.qty, order_type=OrderType.MARKET)
        elif i == self.cover:
            self.submit("XYZ", Side.BUY, self.qty, order_type=OrderType.MARKET)
        self.wake_up_in(1)


def run(closes, agent, borrow, days=None):
    raw = BarBacktest(bars(closes, days), agent, cash={"USD": 10_000_000}, borrow=borrow).run()
    return raw, BacktestResult(raw)


@pytest.mark.parametrize("n", [1, 5, 10])
def test_a_short_held_n_days_pays_exactly_its_borrow_fee(n):
    # 100 shares short at $50.00 = $5,000 market value; 3650 bps a year = 0.1 % a day = $5.00 = 500 cents a day.
    # Short from bar 1's open; bars 2 .. n+1 each accrue one day: n days.
    raw, res = run([5000] * (n + 2), ShortThenCover(100), BorrowFees(3650))
    assert [r[0] for r in raw.borrow_fees] == list(range(2, n + 2))
    assert [r[5] for r in raw.borrow_fees] == [500] * n
    assert raw.accounts["s"].balance("USD") == 10_000_000 + 100 * 5000 - 500 * n
    assert res.borrow_fees["value"].tolist() == [5.0] * n
    res.check_accounts()   # the equity curve carries the charges too
    assert float(res.cash().iloc[-1]) == (10_000_000 + 100 * 5000 - 500 * n) / 100


def test_the_summary_lists_borrow_fees_among_the_costs():
    closes = [5000 + (k % 7) * 10 for k in range(40)]
    raw, res = run(closes, ShortThenCover(100), BorrowFees(3650))
    total = sum(r[5] for r in raw.borrow_fees)
    # one accrual a day at the previous close, each exact to the cent (100 shares x price x 0.1 %: no fraction)
    assert [r[5] for r in raw.borrow_fees] == [100 * c * 3650 // (10_000 * 365) for c in closes[1:-1]]
    assert raw.borrow_fees[0][5] == 501   # 100 x $50.10 x 0.1 %
    s = res.summary()
    assert s["borrow_fees"] == total / 100 and s["costs"] == {"fees": 0.0, "borrow_fees": total / 100,
                                                              "total": total / 100}
    assert s["borrow_model"].startswith("shorts pay 3650 bps a year")


def test_fractions_of_a_cent_carry_to_the_next_bar():
    # 25 bps on $5,000: 500000 * 25 / 10000 / 365 = 3.4246... cents a day; ten days pay floor(34.246...) = 34
    raw, _ = run([5000] * 12, ShortThenCover(100), BorrowFees(25))
    daily = Fraction(500_000 * 25, 10_000 * 365)
    assert sum(r[5] for r in raw.borrow_fees) == math.floor(10 * daily) == 34
    assert [r[5] for r in raw.borrow_fees] == [math.floor((k + 1) * daily) - math.floor(k * daily) for k in range(10)]


def test_calendar_time_accrues_over_weekends_at_the_previous_close():
    # bars on days 0, 1, 2, 5 (a weekend between 2 and 5): the accrual at day 5 covers 3 days at day 2's close
    raw, _ = run([5000, 5000, 4000, 4000], ShortThenCover(100), BorrowFees(3650), days=[0, 1, 2, 5])
    assert [(r[0], r[5]) for r in raw.borrow_fees] == [(2, 500), (3, 3 * 400)]


def test_covering_stops_the_fee_and_longs_pay_none():
    raw, res = run([5000] * 8, ShortThenCover(100, cover=3), BorrowFees(3650))
    # short from bar 1, covered at bar 4's open: accruals at bars 2, 3 and 4 (held until bar 4's open)
    assert [(r[0], r[5]) for r in raw.borrow_fees] == [(2, 500), (3, 500), (4, 500)]
    res.check_accounts()

    class Long(ShortThenCover):
        def on_wakeup(self):
            if self._sim.bar_index == 0:
                self.submit("XYZ", Side.BUY, 100, order_type=OrderType.MARKET)
            self.wake_up_in(1)

    assert run([5000] * 8, Long(100), BorrowFees(3650))[0].borrow_fees == []


def test_per_symbol_rates_and_no_borrow_model():
    assert BorrowFees(25, {"XYZ": 3000}).rate("XYZ") == 3000 and BorrowFees(25, {"XYZ": 3000}).rate("ABC") == 25
    raw, res = run([5000] * 5, ShortThenCover(100), None)
    assert raw.borrow_fees == [] and res.borrow_fees.empty
    for bad in (-1, 2.5, True):
        with pytest.raises(ConfigError):
            BorrowFees(bad)
    with pytest.raises(ConfigError):
        BarBacktest(bars([5000] * 3), ShortThenCover(1), borrow=25)


def test_the_risk_engine_and_the_backtest_share_the_accrual_rule():
    # 100 shares at 5000 cents each (the mark is in quote units per base unit)
    assert accrue_borrow_fee(100, Fraction(5000), 3650, DAY) == (500, Fraction(0))
    charge, carry = accrue_borrow_fee(100, Fraction(5000), 25, DAY)
    assert (charge, carry) == (3, Fraction(500_000 * 25, 10_000 * 365) - 3)


def test_cli_borrow_bps(tmp_path, capsys):
    from market_sim.cli.main import main
    from market_sim.simulation.results import RunIndex, load_run

    orcl = Path(__file__).resolve().parents[3] / "examples" / "data" / "orcl-1995-2014.txt"
    runs = tmp_path / "runs"
    base = ["backtest", "sma_crossover", str(orcl), "--set", "allow_short=true", "--out", str(runs), "-q"]
    assert main(base + ["--borrow-bps", "300"]) == 0
    assert "borrow fees" in capsys.readouterr().out
    run = load_run(RunIndex(runs / "index.sqlite").list()[0].run_id, runs)
    m = run.metrics
    assert m["borrow_model"].startswith("shorts pay 300 bps a year") and m["borrow_fees"] > 0
    assert m["costs"] == {"fees": m["fees"], "borrow_fees": m["borrow_fees"], "total": m["fees"] + m["borrow_fees"]}
    assert run.scenario["borrow_bps"] == 300
    # the same run without borrow fees ends richer by exactly the fees charged (nothing else changes)
    assert main(base) == 0
    free = [r for r in RunIndex(runs / "index.sqlite").list() if r.run_id != run.run_id][0]
    assert load_run(free.run_id, runs).metrics["final_equity"] == pytest.approx(m["final_equity"] + m["borrow_fees"])
    assert main(base + ["--borrow-bps", "-5"]) == 1   # a bad rate: one error line, no folder
    assert "borrow.rate_bps" in capsys.readouterr().err
