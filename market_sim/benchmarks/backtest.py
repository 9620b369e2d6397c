"""`market-sim bench backtest`: the event-driven bar backtest of an SMA(20/50) crossover (one instrument).

- `synthetic`: a seeded 10M-bar random walk (1M with --quick); bars/s of `BarBacktest.run` (the agent's SMA
  states precomputed with numpy inside the run, the event loop calling the agent's on_wakeup every bar) and,
  separately, of the vectorised equity curve afterwards. Target >= 500,000 bars/s for the run.
- `orcl`: the whole 20-year ORCL daily file in a fresh interpreter: CPU seconds after start-up (imports) for
  reading the file, the run and the summary (equity, trade list with MAE/MFE, every metric). Target <= 0.5 s.
- `l2`: the L2 replay of the BTCUSDT capture (134k depth-level updates and trades, 6 minutes) into the project's
  order book (`MatchingEngine`) with an unchanged `MarketMaker` quoting one level each side (5 ms entry and
  market-data latency), once per queue model: messages/s of `L2Backtest.run` (reading the file is reported apart;
  `matching_engine` says whether the compiled build of market_sim.market.engine ran). Target >= 300,000 messages/s.
- `grid`: parameter grids of 1, 10 and 100 points (fast x slow) on ORCL via `run_grid`, each point a full
  backtest plus its metrics: CPU seconds per point, and how the total scales with the grid size.

CPU (process) seconds are reported next to wall seconds: the machine may be shared.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

N_FULL, N_QUICK = 10_000_000, 1_000_000
TARGET_BARS_PER_SEC = 500_000
TARGET_ORCL_CPU_S = 0.5
TARGET_L2_MSGS_PER_SEC = 300_000
BTC_FILE = Path(__file__).resolve().parents[2] / "examples" / "data" / "btcusdt_20240808.binance-spot.jsonl.gz"
ORCL_FILE = Path(__file__).resolve().parents[2] / "examples" / "data" / "orcl-1995-2014.txt"

_ORCL_SCRIPT = r"""
import json, sys, time
from market_sim.backtest import BarBacktest, BacktestResult, load_bars, cash_units
from market_sim.core.instruments import Instrument
from market_sim.simulation.agents.sma_crossover import SmaCrossover, SmaCrossoverParams
t0 = time.process_time()
ins = Instrument("ORCL", tick_size="0.000001", lot_size="1", base_decimals=0, quote_decimals=6)
bars = load_bars(sys.argv[1], ins)
t1 = time.process_time()
raw = BarBacktest(bars, SmaCrossover("sma", SmaCrossoverParams(20, 50, fraction=1.0)),
                  cash={"USD": cash_units(100000, 6)}).run()
t2 = time.process_time()
s = BacktestResult(raw).summary()
t3 = time.process_time()
print(json.dumps({"bars": len(bars), "fills": s["fills"], "read_cpu_s": t1 - t0, "run_cpu_s": t2 - t1,
                  "summary_cpu_s": t3 - t2, "total_cpu_s": t3 - t0, "final_equity": s["final_equity"]}))
"""


def _log(progress: bool, text: str) -> None:
    if progress:
        print(text, file=sys.stderr, flush=True)


def synthetic(n: int, progress: bool) -> dict:
    from market_sim.backtest import BacktestResult, BarBacktest, cash_units, synthetic_bars
    from market_sim.core.instruments import Instrument
    from market_sim.simulation.agents.sma_crossover import SmaCrossover, SmaCrossoverParams

    ins = Instrument("SYN", tick_size="0.01", lot_size="1", base_decimals=0, quote_decimals=2)
    bars = synthetic_bars(n, ins, seed=7, vol=0.002)
    _log(progress, f"synthetic: {n:,} bars generated")
    agent = SmaCrossover("sma", SmaCrossoverParams(20, 50, quantity=10))
    bt = BarBacktest(bars, agent, cash={"USD": cash_units(1_000_000, 2)})
    c0, w0 = time.process_time(), time.perf_counter()
    raw = bt.run()
    c1, w1 = time.process_time(), time.perf_counter()
    eq = BacktestResult(raw).equity()
    c2 = time.process_time()
    return {"bars": n, "fills": len(raw.fills), "run_cpu_s": round(c1 - c0, 3), "run_wall_s": round(w1 - w0, 3),
            "bars_per_second": round(n / (c1 - c0)), "target_bars_per_second": TARGET_BARS_PER_SEC,
            "meets_target": n / (c1 - c0) >= TARGET_BARS_PER_SEC,
            "equity_cpu_s": round(c2 - c1, 3), "final_equity": round(float(eq.iloc[-1]), 2)}


def orcl(progress: bool) -> dict:
    w0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _ORCL_SCRIPT, str(ORCL_FILE)], capture_output=True, text=True,
                         check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r = {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}
    r["target_cpu_s"] = TARGET_ORCL_CPU_S
    r["meets_target"] = r["total_cpu_s"] <= TARGET_ORCL_CPU_S
    r["process_wall_s_with_startup"] = round(time.perf_counter() - w0, 3)
    _log(progress, f"orcl: {r['total_cpu_s']} CPU s after start-up")
    return r


def l2(progress: bool) -> dict:
    from market_sim.backtest.l2 import L2Backtest, PessimisticQueue, ProbabilisticQueue, ProportionalQueue, \
        l2_data_from_capture
    from market_sim.core.instruments import Instrument
    from market_sim.data.readers import read_binance_jsonl
    from market_sim.simulation.agents.market_maker import MarketMaker, MarketMakerParams
    from market_sim.simulation.latency import FixedLatency

    ins = Instrument("BTCUSDT", tick_size="0.01", lot_size="0.000001", asset_class="crypto", base_asset="BTC",
                     quote_asset="USDT", base_decimals=8, quote_decimals=8)
    c0 = time.process_time()
    data = l2_data_from_capture(read_binance_jsonl(BTC_FILE, ins), ins)
    read = time.process_time() - c0
    import market_sim.market.engine as engine_module

    out: dict = {"messages": len(data), "read_cpu_s": round(read, 3), "target_messages_per_second":
                 TARGET_L2_MSGS_PER_SEC, "matching_engine": "compiled" if not engine_module.__file__.endswith(".py")
                 else "python", "queue_models": {}}
    for q in (PessimisticQueue(), ProportionalQueue(), ProbabilisticQueue(2.0)):
        mm = MarketMaker("mm", MarketMakerParams(interval=1_000_000_000, half_spread_ticks=1, quantity=1000, levels=1,
                                                 anchor="mid", max_inventory=20_000, skew_ticks_per_lot=0.0))
        bt = L2Backtest(data, mm, queue=q, entry_latency=FixedLatency(5_000_000), data_latency=FixedLatency(5_000_000))
        c0, w0 = time.process_time(), time.perf_counter()
        res = bt.run()
        c1, w1 = time.process_time(), time.perf_counter()
        out["queue_models"][type(q).__name__] = {
            "cpu_s": round(c1 - c0, 3), "wall_s": round(w1 - w0, 3), "messages_per_second": round(len(data) / (c1 - c0)),
            "fills": len(res.fills), "final_position_lots": mm.position("BTCUSDT"),
            "pnl_usdt": round(res.pnl("mm") / 10**8, 4)}
        _log(progress, f"l2 {type(q).__name__}: {len(data) / (c1 - c0):,.0f} messages/s")
    out["meets_target"] = all(v["messages_per_second"] >= TARGET_L2_MSGS_PER_SEC
                              for v in out["queue_models"].values())
    return out


def grid(progress: bool, sizes: tuple[int, ...]) -> dict:
    from market_sim.backtest import cash_units, load_bars
    from market_sim.backtest.grid import param_grid, run_grid
    from market_sim.core.instruments import Instrument
    from market_sim.simulation.agents.sma_crossover import SmaCrossover

    ins = Instrument("ORCL", tick_size="0.000001", lot_size="1", base_decimals=0, quote_decimals=6)
    bars = load_bars(ORCL_FILE, ins)
    fasts = [5, 8, 10, 12, 15, 20, 25, 30, 35, 40]
    slows = [50, 60, 70, 80, 100, 120, 150, 180, 200, 250]
    full = param_grid({"fast": fasts, "slow": slows})
    rows = []
    for k in sizes:
        points = full[:: len(full) // k][:k]
        c0, w0 = time.process_time(), time.perf_counter()
        table = run_grid(SmaCrossover, bars, points, base={"fraction": 1.0}, cash={"USD": cash_units(100_000, 6)})
        c1, w1 = time.process_time(), time.perf_counter()
        rows.append({"points": k, "cpu_s": round(c1 - c0, 3), "wall_s": round(w1 - w0, 3),
                     "cpu_ms_per_point": round((c1 - c0) * 1000 / k, 2),
                     "best_sharpe": table.sort_values("sharpe", ascending=False).iloc[0][["fast", "slow", "sharpe"]]
                     .to_dict() if k > 1 else None})
        _log(progress, f"grid: {k} points in {c1 - c0:.2f} CPU s")
    base = rows[0]["cpu_ms_per_point"]
    return {"sizes": rows, "scaling": "linear in the number of points (one backtest + metrics each, serial); "
                                      f"per point {base} ms at 1 point vs {rows[-1]['cpu_ms_per_point']} ms at "
                                      f"{rows[-1]['points']}"}


def run(quick: bool = False, progress: bool = True) -> dict:
    n = N_QUICK if quick else N_FULL
    out = {"benchmark": "backtest", "strategy": "sma_crossover(20, 50)", "python": sys.version.split()[0]}
    out["synthetic"] = synthetic(n, progress)
    out["orcl"] = orcl(progress)
    out["l2"] = l2(progress)
    out["grid"] = grid(progress, (1, 10) if quick else (1, 10, 100))
    return out
