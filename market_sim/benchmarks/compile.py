"""Compile benchmark: cold solc run over contracts/ vs the artifact cache (disk and in-process)."""

from __future__ import annotations

import sys
import os
import statistics
import time
from typing import Any

from market_sim.blockchain import compiler
from market_sim.blockchain.compiler import compile_artifact_set, contract_sources, project_root, solc_binary


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(quick: bool = False, progress: bool = True) -> dict:
    """Seconds for a cold compile (forced solc run), a disk-cache hit and an in-process hit; median of repeats."""
    root = project_root()
    repeats = 1 if quick else 3
    cold, disk, memo = [], [], []
    for i in range(repeats):
        if progress:
            print(f"compile round {i + 1}/{repeats} ...", file=sys.stderr, flush=True)
        cold.append(_timed(lambda: compile_artifact_set(root, force=True)))
        compiler._memo.clear()
        disk.append(_timed(lambda: compile_artifact_set(root)))
        memo.append(_timed(lambda: compile_artifact_set(root)))
    aset = compile_artifact_set(root)
    return {
        "benchmark": "compile",
        "solc": compiler.SOLC_VERSION,
        "compiler_binary": str(solc_binary(root)),
        "optimizer_runs": compiler.SETTINGS["optimizer"]["runs"],
        "evm_version": compiler.SETTINGS["evmVersion"],
        "project_sources": len(contract_sources(root)),
        "contracts": len(aset.artifacts),
        "repeats": repeats,
        "cold_compile_s": round(statistics.median(cold), 3),
        "cached_disk_s": round(statistics.median(disk), 4),
        "cached_memory_s": round(statistics.median(memo), 5),
        "load_avg_1m": round(os.getloadavg()[0], 2),  # other work on the machine skews the cold figure
    }
