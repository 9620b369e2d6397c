"""Pair selection and spread models: Engle–Granger and Johansen cointegration tests (statsmodels), the OU
half-life of a spread, a Kalman-filter hedge ratio, and the z-score entry/exit rule used by the pairs trader.

All functions take plain sequences of (log) prices; nothing here touches the simulation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from market_sim.core.errors import ConfigError

__all__ = ["EngleGranger", "engle_granger", "Johansen", "johansen", "ou_half_life", "KalmanHedge",
           "ZScoreRule", "select_pairs", "backtest_pair", "PairBacktest"]


def _arrays(y: Sequence[float], x: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    ya, xa = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    if ya.shape != xa.shape or ya.ndim != 1:
        raise ConfigError("the two series must be one-dimensional and of the same length",
                          key="series", value=f"{ya.shape} vs {xa.shape}")
    if len(ya) < 20:
        raise ConfigError("need at least 20 observations", key="series", value=len(ya))
    return ya, xa


@dataclass(frozen=True, slots=True)
class EngleGranger:
    beta: float        # y = alpha + beta x + e
    alpha: float
    adf_stat: float    # the ADF statistic of the residuals
    pvalue: float      # MacKinnon p-value (statsmodels.tsa.stattools.coint)
    half_life: float   # of the residual spread, in observations


def engle_granger(y: Sequence[float], x: Sequence[float]) -> EngleGranger:
    """Engle–Granger two-step test: OLS of y on x, ADF on the residuals (statsmodels `coint`)."""
    from statsmodels.tsa.stattools import coint

    ya, xa = _arrays(y, x)
    beta, alpha = np.polyfit(xa, ya, 1)
    stat, pvalue, _ = coint(ya, xa)
    return EngleGranger(float(beta), float(alpha), float(stat), float(pvalue),
                        ou_half_life(ya - (alpha + beta * xa)))


@dataclass(frozen=True, slots=True)
class Johansen:
    trace: tuple[float, ...]        # trace statistics for rank <= 0, 1, ...
    trace_crit_95: tuple[float, ...]
    rank: int                       # cointegration rank at 95 %
    vector: tuple[float, ...]       # first cointegrating vector, normalised to 1 on the first series


def johansen(series: Sequence[Sequence[float]], det_order: int = 0, k_ar_diff: int = 1) -> Johansen:
    """Johansen trace test on the columns `series` (statsmodels `coint_johansen`)."""
    from statsmodels.tsa.vector_ar.vecm import coint_johansen

    data = np.column_stack([np.asarray(s, dtype=float) for s in series])
    if data.shape[1] < 2 or data.shape[0] < 20:
        raise ConfigError("need at least two series of at least 20 observations", key="series", value=data.shape)
    res = coint_johansen(data, det_order, k_ar_diff)
    trace, crit = res.lr1, res.cvt[:, 1]
    rank = 0
    while rank < len(trace) and trace[rank] > crit[rank]:
        rank += 1
    v = res.evec[:, 0]
    return Johansen(tuple(map(float, trace)), tuple(map(float, crit)), rank, tuple(float(c / v[0]) for c in v))


def ou_half_life(spread: Sequence[float]) -> float:
    """Half-life (in observations) of an AR(1)/OU fit Δs_t = a + b·s_{t−1}: ln 2 / −ln(1 + b); inf if b >= 0."""
    s = np.asarray(spread, dtype=float)
    if len(s) < 3:
        return math.inf
    lag, diff = s[:-1], np.diff(s)
    b = np.polyfit(lag, diff, 1)[0]
    if b >= 0 or b <= -1:
        return math.inf if b >= 0 else 0.0
    return float(math.log(2) / -math.log1p(b))


class KalmanHedge:
    """Kalman filter on y_t = alpha_t + beta_t·x_t + e_t with (alpha, beta) a random walk (Chan's pairs filter).

    `delta` sets the state noise (Vw = delta / (1 − delta)·I), `obs_var` the observation noise Ve. `update(x, y)`
    returns (forecast error e, its variance Q); e / sqrt(Q) is the spread's z-score."""

    __slots__ = ("vw", "ve", "state", "P", "n")

    def __init__(self, delta: float = 1e-4, obs_var: float = 1e-3) -> None:
        if not 0 < delta < 1:
            raise ConfigError("delta must be in (0, 1)", key="delta", value=delta)
        self.vw = delta / (1 - delta)
        self.ve = obs_var
        self.state = [0.0, 0.0]          # alpha, beta
        self.P = [[0.0, 0.0], [0.0, 0.0]]
        self.n = 0

    @property
    def alpha(self) -> float:
        return self.state[0]

    @property
    def beta(self) -> float:
        return self.state[1]

    def initialise(self, xs: Sequence[float], ys: Sequence[float]) -> None:
        """Start from the OLS fit of ys on xs, with its covariance ve·(X'X)⁻¹ as the state covariance."""
        X = np.column_stack([np.ones(len(xs)), np.asarray(xs, float)])
        yv = np.asarray(ys, float)
        coef, *_ = np.linalg.lstsq(X, yv, rcond=None)
        cov = self.ve * np.linalg.pinv(X.T @ X)
        self.state = [float(coef[0]), float(coef[1])]
        self.P = [[float(cov[0, 0]), float(cov[0, 1])], [float(cov[1, 0]), float(cov[1, 1])]]

    def update(self, x: float, y: float) -> tuple[float, float]:
        a, b = self.state
        P = self.P
        # predict: R = P + Vw
        r00, r01, r10, r11 = P[0][0] + self.vw, P[0][1], P[1][0], P[1][1] + self.vw
        yhat = a + b * x
        e = y - yhat
        # Q = H R H' + Ve with H = [1, x]
        rh0, rh1 = r00 + r01 * x, r10 + r11 * x
        Q = rh0 + x * rh1 + self.ve
        k0, k1 = rh0 / Q, rh1 / Q
        self.state = [a + k0 * e, b + k1 * e]
        # P = R − K H R
        hr0, hr1 = r00 + x * r10, r01 + x * r11
        self.P = [[r00 - k0 * hr0, r01 - k0 * hr1], [r10 - k1 * hr0, r11 - k1 * hr1]]
        self.n += 1
        return e, Q


@dataclass(frozen=True, slots=True)
class ZScoreRule:
    """Enter short the spread above entry_z, long below −entry_z; exit inside ±exit_z, after max_hold bars, or
    (a stop) when |z| exceeds stop_z."""

    entry_z: float = 2.0
    exit_z: float = 0.5
    max_hold: float = math.inf
    stop_z: float = math.inf

    def next(self, current: int, z: float, held: int) -> int:
        """The new spread position (−1 short, 0, +1 long) from the current one, the z-score and bars held."""
        if current != 0 and (abs(z) < self.exit_z or held >= self.max_hold or abs(z) > self.stop_z):
            return 0
        if current == 0:
            if z > self.entry_z:
                return -1
            if z < -self.entry_z:
                return 1
        return current


def select_pairs(prices: Mapping[str, Sequence[float]], pvalue: float = 0.05) -> list[tuple[str, str, EngleGranger]]:
    """Every pair of series tested by Engle–Granger (log prices, the first named the dependent leg), sorted by
    p-value; those below `pvalue` first. Series are aligned on their common length from the end."""
    names = sorted(prices)
    out = []
    for a, b in combinations(names, 2):
        n = min(len(prices[a]), len(prices[b]))
        ya, xb = np.log(np.asarray(prices[a][-n:], float)), np.log(np.asarray(prices[b][-n:], float))
        out.append((a, b, engle_granger(ya, xb)))
    return sorted(out, key=lambda t: t[2].pvalue)


@dataclass(frozen=True, slots=True)
class PairBacktest:
    trades: int
    pnl: float            # sum of spread-position PnL in log-return units (a unit notional per leg)
    sharpe: float         # annualised over `periods_per_year`
    max_drawdown: float
    final_beta: float
    half_life: float


def backtest_pair(y: Sequence[float], x: Sequence[float], *, warmup: int = 60, delta: float = 1e-10,
                  obs_var: float = 3e-6, rule: ZScoreRule = ZScoreRule(), periods_per_year: int = 252) -> PairBacktest:
    """The pairs trader's rule on two close series (Kalman hedge on log prices started from the OLS fit of the first
    `warmup` bars, z = e / sqrt(Q)), positions taken at a bar's close and earning the next bar's log returns: long
    spread = +1 y, −beta x. No costs."""
    ly, lx = np.log(np.asarray(y, float)), np.log(np.asarray(x, float))
    kf = KalmanHedge(delta, obs_var)
    pos, held, trades = 0, 0, 0
    rets: list[float] = []
    beta_held = 0.0
    kf.initialise(lx[:warmup], ly[:warmup])
    for t in range(warmup, len(ly) - 1):
        e, Q = kf.update(lx[t], ly[t])
        new = rule.next(pos, e / math.sqrt(Q), held)
        if new != pos:
            trades += 1
            held = 0
            beta_held = kf.beta
        pos = new
        held += 1 if pos else 0
        rets.append(pos * ((ly[t + 1] - ly[t]) - beta_held * (lx[t + 1] - lx[t])))
    r = np.asarray(rets)
    curve = np.cumsum(r)
    dd = float(np.max(np.maximum.accumulate(curve) - curve)) if len(curve) else 0.0
    sd = float(r.std(ddof=1)) if len(r) > 1 else 0.0
    sharpe = float(r.mean() / sd * math.sqrt(periods_per_year)) if sd > 0 else 0.0
    return PairBacktest(trades, float(curve[-1]) if len(curve) else 0.0, sharpe, dd, kf.beta,
                        ou_half_life(ly[warmup:] - kf.beta * lx[warmup:]))
