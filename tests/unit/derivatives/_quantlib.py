"""QuantLib (a test-only dependency, pinned in the dev extra) as the oracle: BSM process with flat curves."""

from __future__ import annotations

import QuantLib as ql

TODAY = ql.Date(2, 1, 2025)
DAY_COUNT = ql.Actual365Fixed()


def year_fraction(days: int) -> float:
    return days / 365.0


def process(spot: float, rate: float, div: float, vol: float) -> ql.BlackScholesMertonProcess:
    ql.Settings.instance().evaluationDate = TODAY
    curve = lambda r: ql.YieldTermStructureHandle(ql.FlatForward(TODAY, r, DAY_COUNT))  # noqa: E731
    return ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(spot)), curve(div), curve(rate),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(TODAY, ql.NullCalendar(), vol, DAY_COUNT)))


def option(strike: float, days: int, call: bool, american: bool = False) -> ql.VanillaOption:
    ql.Settings.instance().evaluationDate = TODAY
    payoff = ql.PlainVanillaPayoff(ql.Option.Call if call else ql.Option.Put, strike)
    maturity = TODAY + days
    exercise = ql.AmericanExercise(TODAY, maturity) if american else ql.EuropeanExercise(maturity)
    return ql.VanillaOption(payoff, exercise)


def european(spot: float, strike: float, days: int, rate: float, div: float, vol: float,
             call: bool) -> ql.VanillaOption:
    opt = option(strike, days, call)
    opt.setPricingEngine(ql.AnalyticEuropeanEngine(process(spot, rate, div, vol)))
    return opt


def american(spot: float, strike: float, days: int, rate: float, div: float, vol: float, call: bool,
             engine: str, steps: int = 0) -> float:
    opt = option(strike, days, call, american=True)
    proc = process(spot, rate, div, vol)
    if engine == "baw":
        opt.setPricingEngine(ql.BaroneAdesiWhaleyApproximationEngine(proc))
    else:
        opt.setPricingEngine(ql.BinomialVanillaEngine(proc, engine, steps))
    return opt.NPV()
