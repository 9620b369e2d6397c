#!/usr/bin/env python3
"""Run every `market-sim bench` benchmark (in-process, and against a fresh anvil where a benchmark takes --rpc) and
write one JSON file per run into a folder: the figures behind docs/benchmarks.md.

Usage: python scripts/benchmarks.py [--out DIR] [--quick] [NAME ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from market_sim.blockchain.anvil import running_anvil  # noqa: E402
from market_sim.cli.bench import available, run_benchmark  # noqa: E402

# Benchmarks that also measure a JSON-RPC node when given --rpc (deploy starts its own anvil when given none).
WITH_RPC = ("settlement", "amm")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(available())})")
    parser.add_argument("--out", type=Path, default=Path("bench-results"), help="folder for the JSON files")
    parser.add_argument("--quick", action="store_true", help="smaller workloads")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.names or available():
        runs = [(name, None)]
        if name in WITH_RPC:
            runs.append((f"{name}-anvil", "anvil"))
        for label, rpc in runs:
            start = time.perf_counter()
            if rpc:
                with running_anvil() as url:  # a fresh node per benchmark: a long-lived anvil slows down
                    result = run_benchmark(name, quick=args.quick, rpc=url, progress=False)
            else:
                result = run_benchmark(name, quick=args.quick, progress=False)
            (args.out / f"{label}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
            print(f"{label}: {time.perf_counter() - start:.1f} s -> {args.out / (label + '.json')}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
