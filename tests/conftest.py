"""Shared pytest setup: a hypothesis profile with no wall-clock checks, and `anvil`, a real anvil node on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from market_sim.blockchain.anvil import anvil_binary, running_anvil

# Nothing in the suite may depend on how fast the machine is: no per-example deadline and no "too slow" health
# check (both fail under load). A test's own @settings(...) still overrides these; keep deadline=None there too.
settings.register_profile("market_sim", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.load_profile("market_sim")


@pytest.fixture(scope="session")
def anvil() -> Iterator[str]:
    """URL of a fresh anvil node, chain id 31337 (session-wide; isolate state with chain.snapshot()/revert())."""
    if not anvil_binary().exists():
        pytest.skip(f"anvil binary missing at {anvil_binary()}: run `npm ci` (CI installs it)")
    with running_anvil() as url:
        yield url
