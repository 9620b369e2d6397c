"""Risk: VaR/ES closed forms and properties, seeded Monte Carlo, stress replays on ORCL, exposure and limits."""

import math
from decimal import Decimal
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, strategies as st

from market_sim.analysis.errors import SeriesError
from market_sim.analysis.risk import (
    Breach, Holding, RiskLimits, aggregate_returns, apply_trade, check_limits, concentration, cornish_fisher_z,
    exposure_by_asset_class, exposure_by_instrument, historical_stress, historical_var, monte_carlo_var,
    parametric_shock, parametric_var, var_from_moments, var_table)
from market_sim.core.errors import MarketSimError
from market_sim.core.instruments import AssetClass, Instrument

ORCL = Path(__file__).resolve().parents[3] / "examples" / "data" / "orcl-1995-2014.txt"
ORCL_I = Instrument("ORCL", tick_size=Decimal("0.000001"))
BTC = Instrument("BTC/USDT", asset_class=AssetClass.CRYPTO)
AAPL = Instrument("AAPL")

returns_lists = st.lists(st.floats(-0.5, 0.5, allow_subnormal=False), min_size=5, max_size=80)


# ---- closed forms ----------------------------------------------------------------------------------------------

def test_historical_var_and_es_on_a_ladder():
    r = -np.arange(1, 101) / 1000          # losses 0.001 .. 0.100
    est = historical_var(r, 0.95)
    assert est.var == pytest.approx(0.09505, rel=1e-12)   # numpy linear interpolation between 0.095 and 0.096
    assert est.es == pytest.approx(0.098, rel=1e-12)      # mean of 0.096 .. 0.100
    four = historical_var(r, 0.95, horizon=4)
    assert (four.var, four.es, four.horizon_rule) == (pytest.approx(2 * 0.09505), pytest.approx(2 * 0.098), "sqrt")


def test_normal_var_closed_form():
    var, es = var_from_moments(0.0, 0.01, 0.99)
    z = NormalDist().inv_cdf(0.01)
    assert var == pytest.approx(-z * 0.01, rel=1e-15) == pytest.approx(0.023263478740408, rel=1e-12)
    assert es == pytest.approx(0.01 * NormalDist().pdf(z) / 0.01, rel=1e-15)
    var10, _ = var_from_moments(0.001, 0.01, 0.99, horizon=10)
    assert var10 == pytest.approx(-(0.01 + z * 0.01 * math.sqrt(10)), rel=1e-12)


@given(st.floats(-0.01, 0.01), st.floats(0, 0.1), st.floats(0.5, 0.9999), st.integers(1, 250))
def test_cornish_fisher_equals_normal_without_skew_and_excess_kurtosis(mean, std, confidence, horizon):
    assert var_from_moments(mean, std, confidence, horizon, method="cornish-fisher") == \
        var_from_moments(mean, std, confidence, horizon, method="normal")


def test_cornish_fisher_quantile_and_its_tail_mean():
    z = NormalDist().inv_cdf(0.01)
    s, k = -0.5, 3.0
    assert cornish_fisher_z(z, s, k) == pytest.approx(
        z + (z * z - 1) * s / 6 + (z ** 3 - 3 * z) * k / 24 - (2 * z ** 3 - 5 * z) * s * s / 36)
    var, es = var_from_moments(0.0, 1.0, 0.99, skew=s, excess_kurtosis=k, method="cornish-fisher")
    assert var == pytest.approx(-cornish_fisher_z(z, s, k))
    # ES is the mean of the Cornish-Fisher quantile over the 1 % tail: check against a fine midpoint rule
    p = (np.arange(200_000) + 0.5) / 200_000 * 0.01
    zs = np.array([NormalDist().inv_cdf(x) for x in p[::100]])
    numeric = -np.mean([cornish_fisher_z(x, s, k) for x in zs])
    assert es == pytest.approx(numeric, rel=2e-3)


def test_horizon_aggregation_compounds_overlapping_windows():
    assert aggregate_returns([0.01] * 5, 2).tolist() == pytest.approx([0.0201] * 4, rel=1e-12)
    est = historical_var([-0.1, 0.0, 0.1, 0.0, -0.1], 0.99, 2, "aggregate")
    assert est.observations == 4
    with pytest.raises(SeriesError, match="has 3 returns; at least 4 are needed for 3-bar aggregation"):
        aggregate_returns([0.01] * 3, 3)


def test_bad_arguments_are_rejected():
    with pytest.raises(MarketSimError, match=r"confidence must be in \(0, 1\), e.g. 0.99, got 99"):
        historical_var([0.01, 0.02], 99)
    with pytest.raises(MarketSimError, match="horizon must be a whole number of bars >= 1, got 0"):
        historical_var([0.01, 0.02], 0.99, 0)
    with pytest.raises(MarketSimError, match="horizon_rule must be one of sqrt, aggregate, got 'linear'"):
        historical_var([0.01, 0.02], 0.99, 2, "linear")
    with pytest.raises(MarketSimError, match="parametric method must be 'normal' or 'cornish-fisher'"):
        parametric_var([0.01, 0.02, 0.0], method="t")


# ---- Monte Carlo -----------------------------------------------------------------------------------------------

def test_monte_carlo_is_seeded_and_close_to_the_normal_figure():
    rng = np.random.default_rng(1)
    r = rng.normal(0.0005, 0.01, 2000)
    a = monte_carlo_var(r, 0.99, seed=42, paths=200_000)
    assert a == monte_carlo_var(r, 0.99, seed=42, paths=200_000)
    assert a.var != monte_carlo_var(r, 0.99, seed=43, paths=200_000).var
    normal = parametric_var(r, 0.99)
    assert a.var == pytest.approx(normal.var, rel=0.03) and a.es == pytest.approx(normal.es, rel=0.03)
    boot = monte_carlo_var(r, 0.99, 10, seed=1, paths=20_000, model="bootstrap")
    assert boot.horizon_rule == "simulated" and boot.es >= boot.var > 0
    with pytest.raises(MarketSimError, match="seed must be an integer, got None"):
        monte_carlo_var(r, seed=None)


# ---- properties ------------------------------------------------------------------------------------------------

@given(returns_lists, st.floats(0.5, 0.999), st.floats(0.5, 0.999))
def test_var_is_monotonic_in_confidence(rets, c1, c2):
    lo, hi = sorted((c1, c2))
    assert historical_var(rets, lo).var <= historical_var(rets, hi).var
    assert parametric_var(rets, lo).var <= parametric_var(rets, hi).var + 1e-15


@given(returns_lists, st.floats(0.5, 0.999), st.integers(1, 3))
def test_expected_shortfall_is_at_least_var(rets, c, h):
    for est in (historical_var(rets, c, h), parametric_var(rets, c, h),
                monte_carlo_var(rets, c, h, seed=0, paths=500)):
        assert est.es >= est.var - 1e-15


def test_var_table_covers_every_method():
    rng = np.random.default_rng(3)
    t = var_table(rng.normal(0, 0.01, 300), (0.95, 0.99), (1, 10), paths=1000)
    assert len(t) == 16 and set(t["method"]) == {"historical", "normal", "cornish-fisher", "monte-carlo-normal"}


# ---- ORCL: VaR and stress windows against pandas ---------------------------------------------------------------

@pytest.fixture(scope="module")
def orcl():
    return pd.read_csv(ORCL, index_col="Date", parse_dates=True)["Adj Close"]


def test_orcl_historical_var_matches_pandas_quantile(orcl):
    r = orcl.pct_change().dropna()
    est = historical_var(r, 0.99)
    assert est.var == pytest.approx(-r.quantile(0.01), rel=1e-12)
    assert est.es == pytest.approx(-r[r <= r.quantile(0.01)].mean(), rel=1e-12)
    assert parametric_var(r, 0.99).var == pytest.approx(-(r.mean() + NormalDist().inv_cdf(0.01) * r.std()),
                                                        rel=1e-12)


def test_orcl_stress_windows(orcl):
    holdings = [Holding(ORCL_I, 1000, 40.0)]
    gfc = historical_stress(holdings, {"ORCL": orcl}, "financial crisis 2008")
    w = orcl["2008-09-12":"2009-03-09"]
    assert (gfc.start, gfc.end) == (pd.Timestamp("2008-09-12"), pd.Timestamp("2009-03-09"))
    assert gfc.pnl == pytest.approx(40_000 * (w.iloc[-1] / w.iloc[0] - 1), rel=1e-12)
    assert gfc.worst_pnl == pytest.approx(40_000 * (w.min() / w.iloc[0] - 1), rel=1e-12)
    assert gfc.worst_date == w.idxmin()
    short = historical_stress([Holding(ORCL_I, -1000, 40.0)], {"ORCL": orcl}, ("2000-03-10", "2002-10-09"))
    w = orcl["2000-03-10":"2002-10-09"]
    assert short.pnl == pytest.approx(-40_000 * (w.iloc[-1] / w.iloc[0] - 1), rel=1e-12) and short.pnl > 0
    with pytest.raises(SeriesError, match=r"series 'ORCL': has 0 bar\(s\) in stress window '1980 .. 1981' "
                                          r"\(1980 .. 1981\); its data runs 1995-01-03 00:00:00 .. 2014-12-31"):
        historical_stress(holdings, {"ORCL": orcl}, ("1980", "1981"), name="1980 .. 1981")
    with pytest.raises(MarketSimError, match="no price series for 'AAPL'"):
        historical_stress([Holding(AAPL, 1, 1.0)], {"ORCL": orcl}, "financial crisis 2008")


def test_parametric_shock_by_symbol_and_asset_class():
    hs = [Holding(AAPL, 100, 200.0), Holding(ORCL_I, -50, 40.0), Holding(BTC, 0.5, 60_000.0)]
    res = parametric_shock(hs, {"equity": -0.2, "BTC/USDT": -0.5})
    assert dict(res.by_instrument) == {"AAPL": -4000.0, "ORCL": 400.0, "BTC/USDT": -15000.0}
    assert res.pnl == -18600.0
    with pytest.raises(MarketSimError, match="shock names neither a held symbol nor an asset class: NVDA"):
        parametric_shock(hs, {"NVDA": -0.1})


# ---- exposure, concentration, limits ---------------------------------------------------------------------------

def test_exposure_and_concentration():
    hs = [Holding(AAPL, 100, 200.0), Holding(ORCL_I, -250, 40.0), Holding(BTC, 0.5, 60_000.0)]
    by = exposure_by_instrument(hs)
    assert by.index.tolist() == ["BTC/USDT", "AAPL", "ORCL"]
    assert by["net"].tolist() == [30_000.0, 20_000.0, -10_000.0]
    assert by["share"].tolist() == [0.5, 1 / 3, 1 / 6]
    cls = exposure_by_asset_class(hs)
    assert cls.loc["equity", "gross"] == 30_000.0 and cls.loc["equity", "net"] == 10_000.0
    c = concentration(hs)
    assert (c.largest, c.largest_share) == ("BTC/USDT", 0.5)
    assert c.hhi == pytest.approx(0.25 + 1 / 9 + 1 / 36)


def test_limits_return_structured_breaches():
    hs = [Holding(AAPL, 100, 200.0), Holding(ORCL_I, -250, 40.0), Holding(BTC, 0.5, 60_000.0)]
    limits = RiskLimits(max_var=0.02, max_position={"*": 200, "AAPL": 50}, max_notional=50_000,
                        max_instrument_notional=25_000, max_concentration=0.4,
                        max_asset_class_share={"crypto": 0.3})
    assert check_limits(limits, hs, 0.03) == (
        Breach("max_var", "portfolio", 0.03, 0.02),
        Breach("max_position", "AAPL", 100, 50),
        Breach("max_position", "ORCL", 250, 200),
        Breach("max_notional", "portfolio", 60_000.0, 50_000),
        Breach("max_instrument_notional", "BTC/USDT", 30_000.0, 25_000),
        Breach("max_concentration", "BTC/USDT", 0.5, 0.4),
        Breach("max_asset_class_share", "crypto", 0.5, 0.3))
    assert check_limits(limits, hs, 0.03)[1].message == "max_position breached for AAPL: 100 > 50"
    assert check_limits(RiskLimits(), hs, 0.5) == ()
    # pre-trade: would buying 150 more ORCL (closing the short, going long 100) breach anything?
    after = apply_trade(hs, ORCL_I, 350, 40.0)
    assert [b.subject for b in check_limits(RiskLimits(max_position={"ORCL": 200}), after)] == []
    with pytest.raises(MarketSimError, match="RiskLimits.max_concentration is a share in 0..1, got 2"):
        RiskLimits(max_concentration=2)
    with pytest.raises(MarketSimError, match="unknown asset class 'bonds'"):
        RiskLimits(max_asset_class_share={"bonds": 0.5})
