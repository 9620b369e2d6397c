"""Fixtures for blockchain tests: a tiny project tree (Box.sol) compiled once, and fresh in-process chains."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from market_sim.blockchain import Chain
from market_sim.blockchain.compiler import compile_artifact_set, project_root

BOX_SOL = """// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice A stored number with a cap, for compiler and chain tests.
contract Box {
    error TooBig(uint256 value, uint256 max);
    event Stored(address indexed who, uint256 value);

    uint256 public value;
    uint256 public immutable cap;

    constructor(uint256 cap_) {
        require(cap_ > 0, "cap must be positive");
        cap = cap_;
    }

    function store(uint256 v) external {
        if (v > cap) revert TooBig(v, cap);
        value = v;
        emit Stored(msg.sender, v);
    }

    function fail(string calldata why) external pure {
        revert(why);
    }

    function divide(uint256 d) external view returns (uint256) {
        return value / d;
    }

    function now_() external view returns (uint256) {
        return block.timestamp;
    }

    function chainId() external view returns (uint256) {
        return block.chainid;
    }

    /// @dev TSTORE/TLOAD exist from cancun on: proves the pinned evmVersion runs on the chain.
    function transient(uint256 v) external returns (uint256 r) {
        assembly {
            tstore(0, v)
            r := tload(0)
        }
    }
}
"""


def make_project(root: Path, sources: dict[str, str]) -> Path:
    """A minimal project tree at root: contracts/<files>, the real package-lock.json and node_modules (symlink)."""
    for rel, text in sources.items():
        path = root / "contracts" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    real = project_root()
    shutil.copy(real / "package-lock.json", root / "package-lock.json")
    (root / "node_modules").symlink_to(real / "node_modules")
    return root


@pytest.fixture(scope="session")
def box_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project tree holding only Box.sol."""
    return make_project(tmp_path_factory.mktemp("box"), {"Box.sol": BOX_SOL})


@pytest.fixture(scope="session")
def box_set(box_project: Path):
    """The compiled artifact set of the Box project (one solc run per test session)."""
    return compile_artifact_set(box_project)


@pytest.fixture()
def chain() -> Chain:
    """A fresh in-process chain with the default named accounts."""
    return Chain.local()
