"""A sweep's summary: per grid point, each figure's mean over the seeds with its 95 % confidence interval (Student
t), and one plot per figure and parameter (the other parameters as separate lines)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["numeric_figures", "summarise", "write_plots", "ci95"]

_BOOKKEEPING = {"replicate", "seed", "status", "error", "run_id", "run_dir", "task_seconds"}


def numeric_figures(frame: pd.DataFrame, params: Sequence[str], wanted: Sequence[str] = ()) -> list[str]:
    """The figure columns to summarise: `wanted` (those present) if given, else every numeric, non-boolean figure."""
    figures = [c for c in frame.columns if c not in params and c not in _BOOKKEEPING]
    if wanted:
        return [c for c in wanted if c in figures]
    return [c for c in figures if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]


def ci95(values: Sequence[float]) -> tuple[float, float, float, int]:
    """(mean, low, high, n) of the finite values: a Student-t 95 % interval (low = high = mean for one value;
    NaN for none)."""
    from scipy import stats

    xs = [float(v) for v in values if v is not None and isinstance(v, (int, float)) and math.isfinite(float(v))]
    n = len(xs)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = sum(xs) / n
    if n == 1:
        return mean, mean, mean, 1
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return mean, mean - half, mean + half, n


def summarise(frame: pd.DataFrame, params: Sequence[str], grid: dict[str, list[Any]],
              figures: Sequence[str]) -> pd.DataFrame:
    """One row per grid point (in grid order): runs, failed, and per figure its mean, ci95_low and ci95_high."""
    import itertools

    out = []
    for combo in itertools.product(*(grid[p] for p in params)):
        mask = pd.Series(True, index=frame.index)
        for p, v in zip(params, combo):
            mask &= frame[p].map(lambda x, v=v: _same(x, v))
        sub = frame[mask]
        ok = sub[sub["status"] == "complete"] if "status" in sub else sub
        row: dict[str, Any] = dict(zip(params, combo))
        row.update(runs=len(ok), failed=int((sub["status"] == "failed").sum()) if "status" in sub else 0)
        for f in figures:
            mean, lo, hi, _ = ci95(list(ok[f])) if f in ok else (math.nan,) * 3 + (0,)
            row.update({f"{f} mean": mean, f"{f} ci95_low": lo, f"{f} ci95_high": hi})
        out.append(row)
    return pd.DataFrame(out)


def _same(x: Any, v: Any) -> bool:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and isinstance(x, (int, float)):
        return float(x) == float(v)
    return x == v or str(x) == str(v)


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def write_plots(summary: pd.DataFrame, params: Sequence[str], grid: dict[str, list[Any]], figures: Sequence[str],
                labels: dict[str, str], folder: Path, *, scenario: str, seeds: int) -> list[Path]:
    """plots/<figure>__vs__<parameter>.png: the figure's mean over the seeds against the parameter's values, with
    95 % confidence intervals as error bars; one line per combination of the other parameters."""
    from market_sim.simulation.plots import png_bytes, subplots

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for f in figures:
        ylabel = labels.get(f, f)
        for p in params:
            others = [q for q in params if q != p]
            xs_values = grid[p]
            numeric = _numeric(xs_values)
            positions = [float(v) for v in xs_values] if numeric else list(range(len(xs_values)))
            fig, ax = subplots(figsize=(7, 4.5))
            groups = summary.groupby(others, sort=False) if others else [((), summary)]
            n_lines = 0
            for key, sub in groups:
                key = key if isinstance(key, tuple) else (key,)
                ys, lo, hi = [], [], []
                for v in xs_values:
                    match = sub[sub[p].map(lambda x, v=v: _same(x, v))]
                    if match.empty:
                        ys.append(math.nan), lo.append(math.nan), hi.append(math.nan)
                        continue
                    r = match.iloc[0]
                    ys.append(r[f"{f} mean"]), lo.append(r[f"{f} ci95_low"]), hi.append(r[f"{f} ci95_high"])
                yerr = [[y - a if y == y else 0 for y, a in zip(ys, lo)], [b - y if y == y else 0 for y, b in zip(ys, hi)]]
                label = ", ".join(f"{labels.get(q, q)} = {v}" for q, v in zip(others, key)) or None
                ax.errorbar(positions, ys, yerr=yerr, marker="o", capsize=4, label=label)
                n_lines += 1
            ax.set_xticks(positions)  # ticks at the grid's values
            ax.set_xticklabels([f"{v:g}" if numeric else str(v) for v in xs_values])
            ax.set_xlabel(labels.get(p, p))
            ax.set_ylabel(ylabel)
            ax.set_title(f"{ylabel} vs {labels.get(p, p)}\n{scenario}: mean and 95 % CI over {seeds} seed"
                         f"{'s' if seeds != 1 else ''}", fontsize=10)
            ax.grid(True, alpha=0.3)
            if n_lines > 1 or (others and n_lines == 1):
                ax.legend(fontsize=8)
            path = folder / f"{_slug(f)}__vs__{_slug(p)}.png"
            path.write_bytes(png_bytes(fig))
            written.append(path)
    return written
