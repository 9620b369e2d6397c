"""Option pricing analytics (issue 17): European models and Greeks, American trees and BAW, implied volatility, SVI
volatility surfaces, warrants with dilution. Floats throughout -- this is analytics, not money (see docs/pricing.md)."""

from market_sim.derivatives._common import ArbitrageBoundsError, Greeks, PricingInputError
from market_sim.derivatives.american import (ExerciseBoundary, baw_price, baw_price_array, binomial_price,
                                             binomial_price_array, exercise_boundary)
from market_sim.derivatives.implied import (black76_implied_vol, black76_implied_vol_array, bsm_implied_vol,
                                            bsm_implied_vol_array)
from market_sim.derivatives.pricing import (bachelier_greeks, bachelier_greeks_array, bachelier_price,
                                            bachelier_price_array, black76_greeks, black76_greeks_array,
                                            black76_price, black76_price_array, bsm_greeks, bsm_greeks_array,
                                            bsm_price, bsm_price_array)
from market_sim.derivatives.surface import CalendarViolation, ExpiryQuotes, SviSlice, VolSurface, fit_svi
from market_sim.derivatives.warrants import (diluted_share_value, dilution_factor, warrant_delta_from_share,
                                             warrant_price, warrant_price_array, warrant_price_from_share,
                                             warrant_price_from_share_array)

__all__ = [
    "ArbitrageBoundsError", "PricingInputError", "Greeks",
    "bsm_price", "bsm_price_array", "bsm_greeks", "bsm_greeks_array",
    "black76_price", "black76_price_array", "black76_greeks", "black76_greeks_array",
    "bachelier_price", "bachelier_price_array", "bachelier_greeks", "bachelier_greeks_array",
    "bsm_implied_vol", "bsm_implied_vol_array", "black76_implied_vol", "black76_implied_vol_array",
    "binomial_price", "binomial_price_array", "exercise_boundary", "ExerciseBoundary", "baw_price",
    "baw_price_array",
    "SviSlice", "ExpiryQuotes", "CalendarViolation", "VolSurface", "fit_svi",
    "dilution_factor", "diluted_share_value", "warrant_price", "warrant_price_array", "warrant_price_from_share",
    "warrant_price_from_share_array", "warrant_delta_from_share",
]
