"""`market-sim bench NAME --quick --json | jq` works for every benchmark: stdout is exactly one JSON document
(progress, solc, anvil and other child-process output go to stderr). Slow: runs every benchmark through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from market_sim.cli.bench import available

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("name", available())
def test_bench_quick_json_stdout_parses(name: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([str(Path(sys.executable).with_name("market-sim")), "bench", name, "--quick", "--json"],
                            capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    assert isinstance(json.loads(result.stdout), dict)
