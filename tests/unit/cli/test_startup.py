"""The CLI starts light: its command modules import their heavy dependencies only when a command runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("web3", "eth_account", "eth_tester", "pandas", "matplotlib", "pyarrow", "market_sim.simulation",
         "market_sim.consensus", "market_sim.blockchain", "market_sim.settlement", "market_sim.defi")


def _loaded_after(code: str) -> list[str]:
    """The HEAVY modules in sys.modules after running `code` in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_cli_imports_no_heavy_package():
    assert _loaded_after("import market_sim.cli.main") == []


def test_help_and_replay_help_import_no_heavy_package():
    code = ("from market_sim.cli.main import main\n"
            "import contextlib, io\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert main(['--help']) == 0\n"
            "    assert main(['replay', '--help']) == 0\n"
            "    assert main(['deploy', '--help']) == 0\n")
    assert _loaded_after(code) == []


def test_the_deploy_help_names_what_the_blockchain_package_defines():
    from market_sim.blockchain.deploy import DEFAULT_KEY_ENV, NETWORKS
    from market_sim.cli import deploy

    assert deploy.NETWORK_NAMES == tuple(NETWORKS)
    assert deploy.DEFAULT_KEY_ENV == DEFAULT_KEY_ENV
