"""Tear sheets: the calendar table's compounded returns, the files written, and the conventions in the HTML."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from market_sim.analysis.errors import AnalyticsError
from market_sim.analysis.metrics import Conventions, performance_report
from market_sim.analysis.tearsheet import FIGURES, TearSheet, calendar_table, write_tearsheet


def test_monthly_table_compounds_each_month_and_the_year():
    idx = pd.date_range("2020-01-01", "2020-03-31", freq="D")
    e = pd.Series(100.0, index=idx)
    e[idx >= "2020-01-31"] = 110.0      # January: +10 %
    e[idx >= "2020-02-29"] = 99.0       # February: -10 %
    table, rows, cols = calendar_table(e)
    assert (rows, cols) == ("year", "month")
    assert table.loc[2020, "Jan"] == pytest.approx(0.10)
    assert table.loc[2020, "Feb"] == pytest.approx(-0.10)
    assert table.loc[2020, "Mar"] == pytest.approx(0.0)
    assert np.isnan(table.loc[2020, "Apr"])
    assert table.loc[2020, "Year"] == pytest.approx(-0.01)


def test_short_runs_use_finer_cells():
    idx = pd.Timestamp("2000-01-01") + pd.to_timedelta(np.arange(0, 25 * 60 + 1, 30), unit="s")
    e = pd.Series(1000.0 + np.arange(len(idx)), index=idx)
    table, rows, cols = calendar_table(e)
    assert rows == "10 minutes" and list(table.index) == ["00:00", "00:10", "00:20"]
    assert list(table.columns)[:3] == ["+0min", "+1min", "+2min"]
    # the 00:10 +0min cell: from the last value of 00:09 (index 19, 1019) to the last of 00:10 (index 21, 1021)
    assert table.loc["00:10", "+0min"] == pytest.approx(1021 / 1019 - 1)


def test_write_tearsheet_files_and_conventions(tmp_path):
    idx = pd.bdate_range("2019-01-01", periods=400)
    rng = np.random.default_rng(1)
    e = pd.Series(100 * np.cumprod(1 + rng.normal(0.0005, 0.01, len(idx))), index=idx)
    conv = Conventions(periods_per_year=252, risk_free_rate=0.02)
    sheet = TearSheet("test strategy", e, conv, "USD", performance_report(e, conv),
                      exposure=pd.DataFrame({"gross": 1.0, "net": 1.0}, index=idx))
    paths = write_tearsheet(sheet, tmp_path)
    assert set(paths) == {*FIGURES, "html"} and all(p.stat().st_size > 10_000 for p in paths.values())
    page = paths["html"].read_text()
    assert "risk-free 2.0000% p.a." in page and page.count("data:image/png;base64,") == len(FIGURES)
    with pytest.raises(AnalyticsError, match="at least 3 points"):
        write_tearsheet(TearSheet("x", e.iloc[:2], conv), tmp_path / "x")


def test_stress_windows_cover_only_what_the_curve_spans():
    from market_sim.analysis.tearsheet import stress_windows_table

    idx = pd.bdate_range("1999-01-01", "2004-12-31")
    e = pd.Series(np.linspace(100.0, 200.0, len(idx)), index=idx)
    e[(idx >= "2001-01-01") & (idx <= "2001-06-30")] = 80.0
    t = stress_windows_table(e)
    assert list(t["window"]) == ["dot-com 2000-2002"]
    w = e[(idx >= "2000-03-10") & (idx <= "2002-10-09")]
    assert t.iloc[0]["return"] == pytest.approx(w.iloc[-1] / w.iloc[0] - 1)
    assert t.iloc[0]["max_drawdown"] == pytest.approx(1 - 80.0 / w[w.index < "2001-01-01"].max())
