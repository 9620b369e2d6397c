"""SVI volatility surface: fits, total-variance interpolation, the calendar-arbitrage check."""

from __future__ import annotations

import math

import numpy as np
import pytest

from market_sim.derivatives import (CalendarViolation, ExpiryQuotes, PricingInputError, SviSlice, VolSurface,
                                    black76_price_array, bsm_implied_vol_array, bsm_price_array, fit_svi)

TRUE = [SviSlice(0.25, 100.0, 0.01, 0.10, -0.40, 0.02, 0.15), SviSlice(1.0, 101.0, 0.04, 0.12, -0.30, 0.05, 0.20),
        SviSlice(2.0, 102.0, 0.08, 0.13, -0.25, 0.05, 0.25)]
STRIKES = np.linspace(60.0, 150.0, 15)


def _quotes(slices=TRUE):
    return [ExpiryQuotes(s.t, s.forward, STRIKES, s.implied_vol(np.log(STRIKES / s.forward))) for s in slices]


def test_fit_recovers_svi_parameters_from_exact_smiles():
    surface = VolSurface.fit("XYZ", _quotes())
    for fitted, true in zip(surface.slices, TRUE):
        for name in ("a", "b", "rho", "m", "sigma"):
            assert getattr(fitted, name) == pytest.approx(getattr(true, name), abs=1e-8), name
        assert fitted.rmse < 1e-10 and fitted.min_total_variance > 0
    assert surface.underlying == "XYZ" and surface.calendar_violations() == []


def test_fit_from_market_prices_with_noise():
    """Prices -> implied vols -> SVI: the smile comes back to within the noise."""
    rng = np.random.default_rng(3)
    s = TRUE[1]
    vols = s.implied_vol(np.log(STRIKES / s.forward))
    df = math.exp(-0.03 * s.t)
    spot = s.forward * df  # no dividends: F = S e^{rT}
    prices = bsm_price_array(spot, STRIKES, s.t, 0.03, vols, 0.0, STRIKES > s.forward)
    noisy = prices * (1 + rng.normal(0, 1e-4, prices.size))
    iv = bsm_implied_vol_array(noisy, spot, STRIKES, s.t, 0.03, 0.0, STRIKES > s.forward)
    fitted = fit_svi(s.t, np.log(STRIKES / s.forward), iv, forward=s.forward)
    assert fitted.rmse < 5e-4
    assert np.abs(fitted.implied_vol(np.log(STRIKES / s.forward)) - vols).max() < 2e-3


def test_interpolation_is_linear_in_total_variance():
    surface = VolSurface(underlying="XYZ", slices=TRUE)
    k = np.array([-0.3, 0.0, 0.2])
    w1, w2 = TRUE[0].total_variance(k), TRUE[1].total_variance(k)
    assert np.allclose(surface.total_variance(k, 0.25), w1, rtol=1e-15)
    assert np.allclose(surface.total_variance(k, 0.625), 0.5 * (w1 + w2), rtol=1e-14)
    assert np.allclose(surface.total_variance(k, 0.125), 0.5 * w1, rtol=1e-14)  # w -> 0 as t -> 0
    assert np.allclose(surface.total_variance(k, 3.0), 1.5 * TRUE[2].total_variance(k), rtol=1e-14)  # flat vols
    # by strike: the forward interpolates log-linearly between expiries
    assert surface.forward(0.625) == pytest.approx(math.sqrt(100.0 * 101.0))
    vol = surface.implied_vol(110.0, 1.0)
    assert vol == pytest.approx(TRUE[1].implied_vol(math.log(110.0 / 101.0)), rel=1e-14)
    # monotone slices make a monotone surface: w never falls along t
    ts = np.linspace(0.05, 3.0, 60)
    for kk in k:
        assert np.all(np.diff(surface.total_variance(kk, ts)) >= 0)


def test_calendar_arbitrage_is_reported():
    crossing = SviSlice(0.5, 100.0, 0.001, 0.10, -0.40, 0.02, 0.15)  # less variance than the 3-month smile
    surface = VolSurface("XYZ", [TRUE[0], crossing, TRUE[1]])
    found = surface.calendar_violations(k=[-0.2, 0.0, 0.2])
    assert [(v.t1, v.t2) for v in found] == [(0.25, 0.5)] * 3
    v = found[1]
    assert isinstance(v, CalendarViolation) and v.k == 0.0 and v.w2 < v.w1
    assert v.w1 - v.w2 == pytest.approx(0.009, abs=1e-12)


def test_bad_surface_inputs():
    with pytest.raises(PricingInputError, match="at least 5 points per expiry"):
        fit_svi(1.0, [0.0, 0.1, 0.2, 0.3], [0.2] * 4)
    with pytest.raises(PricingInputError, match="vols must be as many as the log-moneyness points"):
        fit_svi(1.0, [0.0, 0.1, 0.2, 0.3, 0.4], [0.2] * 4)
    with pytest.raises(PricingInputError, match="vols must be a finite number > 0 at index 2"):
        fit_svi(1.0, [0.0, 0.1, 0.2, 0.3, 0.4], [0.2, 0.2, float("nan"), 0.2, 0.2])
    with pytest.raises(PricingInputError, match="one smile per expiry"):
        VolSurface("XYZ", [TRUE[0], TRUE[0]])
    with pytest.raises(PricingInputError, match="at least one expiry"):
        VolSurface("XYZ", [])


def test_butterfly_check_finds_the_vogt_smile():
    # Gatheral & Jacquier (2014), "Arbitrage-free SVI volatility surfaces", Axel Vogt's example: g(k) < 0 near k = 0.9
    vogt = SviSlice(1.0, 1.0, -0.0410, 0.1331, 0.3060, 0.3586, 0.4153)
    k = np.linspace(-1.5, 1.5, 301)
    bad = vogt.butterfly_violations(k)
    assert bad.size > 0 and 0.5 < bad.min() and bad.max() < 1.5
    assert all(s.butterfly_violations(k).size == 0 for s in TRUE)
    # the sign of g is the sign of the density d2C/dK2 (second differences of Black prices off the smile)
    strikes = np.exp(np.array([0.0, 0.9]))
    h = 1e-3
    for strike, sign in zip(strikes, (1, -1)):
        ks = np.array([strike - h, strike, strike + h])
        c = black76_price_array(1.0, ks, 1.0, 0.0, vogt.implied_vol(np.log(ks)))
        assert np.sign(c[0] - 2 * c[1] + c[2]) == sign == np.sign(vogt.density_factor(np.log(strike)))
