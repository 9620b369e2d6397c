"""Fixtures: one in-process chain per test module (see settlement_env), reverted to a snapshot after each test."""

from __future__ import annotations

import pytest

from settlement_env import Env, deploy_env


@pytest.fixture(scope="module")
def env_module() -> Env:
    return deploy_env()


@pytest.fixture
def env(env_module: Env) -> Env:
    """The module's chain, returned to its post-setup state after each test."""
    snap = env_module.chain.snapshot()
    yield env_module
    env_module.chain.revert(snap)
