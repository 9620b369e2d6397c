"""Shared pytest fixtures: `anvil`, a real anvil node on 127.0.0.1 (free port) for integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from market_sim.blockchain.anvil import anvil_binary, running_anvil


@pytest.fixture(scope="session")
def anvil() -> Iterator[str]:
    """URL of a fresh anvil node, chain id 31337 (session-wide; isolate state with chain.snapshot()/revert())."""
    if not anvil_binary().exists():
        pytest.skip(f"anvil binary missing at {anvil_binary()}: run `npm ci` (CI installs it)")
    with running_anvil() as url:
        yield url
