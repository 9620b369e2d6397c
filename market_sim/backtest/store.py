"""A backtest's results folder, written and indexed like a simulation run (so `load_run` and `market-sim runs`
see it): tables `equity`, `fills`, `trades`, `positions`, `bars`; `metrics.json` (the summary, `kind: backtest`);
`scenario.json` (what ran: strategy, parameters, data file, fill rules, fees); `run.json` last.

The folder is written as `<run id>.incomplete` and renamed when whole, as simulation runs are.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from market_sim.backtest.result import BacktestResult
from market_sim.simulation.results import (
    COMPLETE, INCOMPLETE, INDEX_NAME, RunIndex, RunRecord, _claim_run_folder, check_runs_dir, check_seed,
    write_tables,
)

__all__ = ["BacktestWriter", "backtest_tables"]


def backtest_tables(result: BacktestResult, agent: str | None = None) -> dict[str, pd.DataFrame]:
    """The tables of a backtest's folder (one agent: the first unless named)."""
    agent = result._agent(agent)
    e = result.equity(agent)
    expo = result.exposure(agent)
    values = result.position_values(agent)
    peak = e.cummax()
    equity = pd.DataFrame({"time": e.index, "equity": e.to_numpy(), "cash": result.cash(agent).to_numpy(),
                           "position_value": values.sum(axis=1).to_numpy(), "gross_exposure": expo["gross"].to_numpy(),
                           "net_exposure": expo["net"].to_numpy(), "drawdown": (e / peak - 1.0).to_numpy()})
    pos = result.positions(agent)
    positions = pos.reset_index().rename(columns={"index": "time"})
    fills = result.fills[result.fills["agent"] == agent].drop(columns=["ts"]).reset_index(drop=True)
    bars = []
    for s in result.raw.series:
        f = s.frame().reset_index()
        f.insert(1, "symbol", s.symbol)
        bars.append(f)
    return {"equity": equity, "positions": positions, "fills": fills, "trades": result.trades_frame(agent),
            "bars": pd.concat(bars, ignore_index=True)}


def l2_tables(result: Any, agent: str | None = None) -> dict[str, pd.DataFrame]:
    """The tables of an L2 replay's folder: sampled equity, fills, round trips, sampled positions."""
    eq = result.frame(agent)
    return {"equity": eq.drop(columns=["position"]), "positions": eq[["time", "position"]],
            "fills": result.fills_frame(agent), "trades": result.trades_frame(agent)}


class BacktestWriter:
    """Claim a run folder before the backtest runs (checks the folder and the seed), then `write` the result, or
    `discard` it when the backtest failed (nothing is left behind)."""

    def __init__(self, root: str | Path | None, name: str, *, seed: int = 0, config: dict[str, Any],
                 overrides: list[str] | None = None, fmt: str = "parquet") -> None:
        check_seed(seed)
        self.root = check_runs_dir(root, create=True)
        self.name, self.seed, self.config, self.fmt = name, seed, config, fmt
        self.overrides = list(overrides or [])
        self.started = dt.datetime.now(dt.timezone.utc)
        self.index = RunIndex(self.root / INDEX_NAME)
        self.run_id, self.tmp = _claim_run_folder(name, seed, self.started, self.root)
        self.folder = self.root / self.run_id
        self.state = "claimed"

    def discard(self) -> None:
        if self.state in ("claimed", "writing"):
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.state = "discarded"

    def write(self, result: Any, metrics: dict[str, Any], agent: str | None = None) -> RunRecord:
        """`result`: a BacktestResult (bars) or an L2Result (replay)."""
        params = {"overrides": self.overrides, "source": self.config.get("data"), "kind": "backtest"}
        metrics = {"kind": "backtest", **metrics}
        # computed before anything is indexed
        tables = backtest_tables(result, agent) if isinstance(result, BacktestResult) else l2_tables(result, agent)
        self.state = "writing"
        self.index.add(RunRecord(self.run_id, self.name, params, self.seed, self.started.isoformat(),
                                 self.started.isoformat(), str(self.tmp.resolve()), metrics, INCOMPLETE, None))
        files = write_tables(tables, self.tmp, self.fmt)
        (self.tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
        (self.tmp / "scenario.json").write_text(json.dumps(self.config, indent=2, sort_keys=True, default=str) + "\n")
        finished = dt.datetime.now(dt.timezone.utc)
        info = {"run_id": self.run_id, "kind": "backtest", "scenario": self.name, "seed": self.seed,
                "source": self.config.get("data"), "overrides": self.overrides,
                "started_at": self.started.isoformat(), "finished_at": finished.isoformat(), "format": self.fmt,
                "tables": files, "status": COMPLETE}
        (self.tmp / "run.json").write_text(json.dumps(info, indent=2) + "\n")
        os.rename(self.tmp, self.folder)
        self.state = "done"
        rec = RunRecord(self.run_id, self.name, params, self.seed, self.started.isoformat(), finished.isoformat(),
                        str(self.folder.resolve()), metrics, COMPLETE, None)
        self.index.add(rec)
        return rec
