#!/usr/bin/env python3
"""Deploy the contract stack: same as `market-sim deploy` (e.g. --network local, --rpc URL [--force] [--key-env VAR])."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from market_sim.cli.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["deploy", *sys.argv[1:]]))
