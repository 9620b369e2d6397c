"""Parameter grids and walk-forward splits for bar backtests, on one machine.

`param_grid({"fast": [10, 20], "slow": [50, 100]})` is every combination; `run_grid` backtests each one on the
same bars (the bars' arrays are shared, not copied) and returns one row of headline metrics per combination.
`walk_forward(n, train=..., test=...)` cuts n bars into consecutive (train, test) windows, rolling or anchored;
`BarSeries.window` (via `slice_bars`) gives the bars of one window. Distributed sweeps are issue 20's engine.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from market_sim.backtest.bars import BarSeries
from market_sim.core.errors import ConfigError

__all__ = ["param_grid", "Split", "walk_forward", "slice_bars", "run_grid", "walk_forward_optimise"]


def param_grid(spec: Mapping[str, Iterable[Any]]) -> list[dict[str, Any]]:
    """Every combination of the listed values, in the order of the keys and values given."""
    keys = list(spec)
    values = []
    for k in keys:
        v = list(spec[k]) if not isinstance(spec[k], (str, bytes)) else [spec[k]]
        if not v:
            raise ConfigError("a grid axis needs at least one value", key=f"grid.{k}", value=v)
        values.append(v)
    return [dict(zip(keys, combo)) for combo in itertools.product(*values)]


@dataclass(frozen=True, slots=True)
class Split:
    """One walk-forward fold: bar index ranges [train_start, train_end) and [test_start, test_end)."""

    fold: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int

    @property
    def train(self) -> slice:
        return slice(self.train_start, self.train_end)

    @property
    def test(self) -> slice:
        return slice(self.test_start, self.test_end)


def walk_forward(n: int, *, train: int, test: int, step: int | None = None, anchored: bool = False) -> list[Split]:
    """Folds over n bars: train on `train` bars (anchored: from bar 0), test on the next `test`, move by `step`
    (default `test`, so test windows tile without overlap). The last fold's test window ends at or before n."""
    for k, v in (("n", n), ("train", train), ("test", test)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError("must be a positive integer", key=f"walk_forward.{k}", value=v)
    step = test if step is None else step
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise ConfigError("must be a positive integer", key="walk_forward.step", value=step)
    if train + test > n:
        raise ConfigError(f"train + test ({train + test}) exceed the {n} bars", key="walk_forward", value=n)
    out, start = [], 0
    while start + train + test <= n:
        out.append(Split(len(out), 0 if anchored else start, start + train, start + train, start + train + test))
        start += step
    return out


def slice_bars(series: BarSeries, window: slice) -> BarSeries:
    """The bars in `window` (index range), as a BarSeries sharing the arrays (numpy views)."""
    s = window
    return replace(series, ts=series.ts[s], open=series.open[s], high=series.high[s], low=series.low[s],
                   close=series.close[s], volume=series.volume[s])


def run_grid(agent_class: type, series: BarSeries | Sequence[BarSeries], grid: Sequence[Mapping[str, Any]], *,
             base: Mapping[str, Any] | None = None, metrics: Sequence[str] = ("total_return", "cagr", "sharpe",
                                                                              "max_drawdown", "trades"),
             progress: Callable[[int, int], None] | None = None, **backtest: Any) -> pd.DataFrame:
    """Backtest `agent_class` with each parameter set of `grid` (over `base`) and tabulate `metrics`."""
    from market_sim.backtest.engine import BarBacktest
    from market_sim.backtest.result import BacktestResult
    from market_sim.simulation.params import build_params

    rows = []
    for k, point in enumerate(grid):
        params = build_params(agent_class.Params, {**(base or {}), **point}, agent_class.kind)
        raw = BarBacktest(series, agent_class(agent_class.kind, params), **backtest).run()
        res = BacktestResult(raw)
        rep = res.report(benchmark=None).as_dict()
        row = dict(point)
        for m in metrics:
            v = rep.get(m)
            row[m] = v if v is None or not isinstance(v, float) or math.isfinite(v) else None
        row["final_equity"] = float(res.equity().iloc[-1])
        rows.append(row)
        if progress is not None:
            progress(k + 1, len(grid))
    return pd.DataFrame(rows)


def walk_forward_optimise(agent_class: type, series: BarSeries, grid: Sequence[Mapping[str, Any]],
                          splits: Sequence[Split], *, metric: str = "sharpe", base: Mapping[str, Any] | None = None,
                          **backtest: Any) -> pd.DataFrame:
    """For each fold: run the grid on the train window, pick the point with the best `metric` (higher is better;
    a point whose metric is undefined never wins), and run that point alone on the test window (out of sample).
    One row per fold: the chosen parameters, the in-sample and the out-of-sample metric and return."""
    rows = []
    for split in splits:
        train = run_grid(agent_class, slice_bars(series, split.train), grid, base=base, metrics=(metric, "total_return"),
                         **backtest)
        ranked = train.dropna(subset=[metric])
        if ranked.empty:
            raise ConfigError(f"fold {split.fold}: no grid point has a defined {metric} in sample", key="metric",
                              value=metric)
        best = ranked.sort_values(metric, ascending=False, kind="stable").iloc[0]
        point = {k: best[k] for k in grid[0]}
        point = {k: (int(v) if isinstance(v, float) and float(v).is_integer() and isinstance(grid[0][k], int) else v)
                 for k, v in point.items()}
        test = run_grid(agent_class, slice_bars(series, split.test), [point], base=base,
                        metrics=(metric, "total_return"), **backtest).iloc[0]
        rows.append({"fold": split.fold, **point, f"in_sample_{metric}": best[metric],
                     "in_sample_return": best["total_return"], f"out_of_sample_{metric}": test[metric],
                     "out_of_sample_return": test["total_return"],
                     "test_start": pd.Timestamp(int(series.ts[split.test_start])),
                     "test_end": pd.Timestamp(int(series.ts[split.test_end - 1]))})
    return pd.DataFrame(rows)
