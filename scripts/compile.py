#!/usr/bin/env python3
"""Compile contracts/ and refresh the artifacts shipped in the package: same as `market-sim compile [--force]`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from market_sim.cli.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["compile", *sys.argv[1:]]))
