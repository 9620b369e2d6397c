"""The settlement-latency study: protocols, block times and Byzantine behaviours on the same market and seed.

    python -m market_sim.settlement.study [--out DIR] [--duration 5m] [--seed 7] [--variants a,b,...] [--json]

Each variant is the `settlement-latency` scenario with a few [settlement] settings changed (VARIANTS). The market
(agents, orders, trades) does not depend on how trades settle, so every variant settles the same trades; what
differs is how long each stage takes in simulated time: executed -> certified (batching wait + the protocol's
quorum certificate), certified -> included (block time, mempool), included -> final (confirmations). The study
writes one table (study.csv, study.md) and one plot (settlement_latency_study.png: the p50 of each stage stacked
per variant, the p99 end to end marked) to --out, and prints the table.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from market_sim.core.errors import ConfigError
from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import apply_overrides, parse_override, parse_scenario, read_scenario_file

__all__ = ["VARIANTS", "run_variant", "run_study", "study_png"]

SCENARIO = "settlement-latency"

# name -> [settlement] settings over the scenario's (bft, 12 s blocks, one equivocating validator of 4)
VARIANTS: dict[str, dict[str, Any]] = {
    "bft 12s honest": {"byzantine": 0},
    "bft 12s equivocate": {},
    "bft 12s malicious-leader": {"byzantine": 0, "behaviours": {"0": "malicious-leader"}},
    "bft 2s honest": {"byzantine": 0, "block_time": "2s"},
    "streamlet 12s honest": {"byzantine": 0, "certification": "streamlet"},
    "majority 12s honest": {"byzantine": 0, "certification": "majority"},
    "raft 12s (crash faults only)": {"byzantine": 0, "certification": "raft"},
    "committee, settled at once": {"byzantine": 0, "certification": "committee", "block_time": "0s"},
}

STAGES = ("executed_to_certified", "certified_to_included", "included_to_final")
COLUMNS = ("variant", "certification", "block_time_ms", "byzantine", "trades", "trades_final",
           *(f"{s}_p50_ms" for s in (*STAGES, "executed_to_final")), "executed_to_final_p99_ms",
           "batch_certification_p50_ms", "batch_certification_p99_ms", "max_pending_exposure", "gas_per_trade", "batches", "reorgs",
           "reconciled")


def run_variant(name: str, settings: Mapping[str, Any], *, seed: int = 7, duration: str = "5m",
                scenario: str = SCENARIO) -> dict[str, Any]:
    """Run one variant; its row of the study table."""
    raw = read_scenario_file(resolve_scenario(scenario))
    raw = apply_overrides(raw, [parse_override(f"scenario.duration={duration}"), parse_override("output.plots=false")])
    raw["settlement"].update(settings)
    raw["scenario"]["seed"] = seed
    out = Simulation(parse_scenario(raw)).run()
    r = out.metrics["settlement"]
    lat = r.stage_latency
    row: dict[str, Any] = {"variant": name, "certification": r.certification, "block_time_ms": r.block_time_ms,
                           "byzantine": _byzantine(raw["settlement"]), "trades": out.metrics["trades"],
                           "trades_final": r.trades_final}
    for stage in (*STAGES, "executed_to_final"):
        row[f"{stage}_p50_ms"] = lat[stage].p50_ms if stage in lat else None
    row.update(executed_to_final_p99_ms=lat["executed_to_final"].p99_ms,
               batch_certification_p50_ms=r.batch_certification_ms_p50,
               batch_certification_p99_ms=r.batch_certification_ms_p99, max_pending_exposure=r.max_pending_exposure,
               gas_per_trade=r.gas_per_settled_trade, batches=r.settlement_batches, reorgs=r.reorgs,
               reconciled=r.reconciled)
    return row


def _byzantine(settings: Mapping[str, Any]) -> str:
    behaviours = settings.get("behaviours") or {}
    if behaviours:
        return ", ".join(f"v{k} {v}" for k, v in behaviours.items())
    n = settings.get("byzantine", 0)
    return f"{n} {settings.get('behaviour', 'equivocate')}" if n else "none"


def run_study(variants: Sequence[str] | None = None, *, seed: int = 7, duration: str = "5m",
              progress: Any = None) -> list[dict[str, Any]]:
    names = list(variants) if variants else list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ConfigError(f"unknown variant; known: {', '.join(VARIANTS)}", key="variants", value=unknown[0])
    rows = []
    for name in names:
        if progress is not None:
            progress(name)
        rows.append(run_variant(name, VARIANTS[name], seed=seed, duration=duration))
    return rows


def study_png(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """Left: the p50 of each stage stacked per variant (simulated seconds), the end-to-end p99 marked. Right: the
    protocol's own part, batch certification from the cut to the quorum certificate (p50 and p99, ms)."""
    from market_sim.simulation.plots import png_bytes, subplots

    fig, (ax, cert) = subplots(1, 2, figsize=(14, 0.55 * len(rows) + 2.5), sharey=True,
                               gridspec_kw={"width_ratios": [2.2, 1]})
    labels = [r["variant"] for r in rows]
    left = [0.0] * len(rows)
    colours = ("#4C72B0", "#DD8452", "#55A868")
    titles = ("executed → certified (batch wait + QC)", "certified → included", "included → final")
    for stage, colour, title in zip(STAGES, colours, titles):
        widths = [(r[f"{stage}_p50_ms"] or 0) / 1000 for r in rows]
        ax.barh(labels, widths, left=left, color=colour, label=f"{title}, p50")
        left = [a + b for a, b in zip(left, widths)]
    p99 = [(r["executed_to_final_p99_ms"] or 0) / 1000 for r in rows]
    ax.scatter(p99, labels, marker="|", s=300, color="black", zorder=3, label="executed → final, p99")
    ax.invert_yaxis()
    ax.set_xlabel("settlement latency per stage, simulated seconds")
    ax.set_title("Time for a trade to become final (same market and seed)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    p50 = [r["batch_certification_p50_ms"] or 0 for r in rows]
    p99c = [r["batch_certification_p99_ms"] or 0 for r in rows]
    cert.barh(labels, p50, color="#4C72B0", alpha=0.8, label="p50")
    cert.scatter(p99c, labels, marker="|", s=300, color="black", zorder=3, label="p99")
    cert.set_xlabel("cut → quorum certificate, simulated ms")
    cert.set_title("The protocol's part (0: signed at once)")
    cert.legend(loc="lower right", fontsize=8)
    cert.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return png_bytes(fig)


def _markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    cols = ("variant", "trades_final", "batch_certification_p50_ms", "batch_certification_p99_ms",
            "executed_to_certified_p50_ms", "certified_to_included_p50_ms", "included_to_final_p50_ms",
            "executed_to_final_p50_ms", "executed_to_final_p99_ms", "max_pending_exposure", "gas_per_trade",
            "reconciled")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r[c]) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.1f}"
    return str(v)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m market_sim.settlement.study", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("settlement-latency-study"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--duration", default="5m")
    ap.add_argument("--variants", default="", help="comma-separated names (default: all)")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = ap.parse_args(argv)
    try:
        names = [v.strip() for v in args.variants.split(",") if v.strip()] or None
        rows = run_study(names, seed=args.seed, duration=args.duration,
                         progress=lambda n: print(f"running {n} ...", file=sys.stderr))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "study.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    (args.out / "study.md").write_text(_markdown(rows))
    (args.out / "settlement_latency_study.png").write_bytes(study_png(rows))
    print(json.dumps(rows, indent=1) if args.json else _markdown(rows))
    print(f"wrote {args.out}/study.csv, study.md, settlement_latency_study.png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
