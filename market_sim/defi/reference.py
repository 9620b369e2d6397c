"""The real Uniswap V2 contracts (npm @uniswap/v2-core 1.0.1), for side-by-side gas and behaviour references only."""

from __future__ import annotations

import json
from pathlib import Path

from market_sim.blockchain import Artifact
from market_sim.blockchain.compiler import project_root
from market_sim.core.errors import ConfigError

__all__ = ["uniswap_v2_artifact", "UNISWAP_V2_VERSION"]

UNISWAP_V2_VERSION = "@uniswap/v2-core 1.0.1"


def uniswap_v2_artifact(name: str, root: Path | None = None) -> Artifact:
    """UniswapV2Factory / UniswapV2Pair / ERC20 as an Artifact from node_modules/@uniswap/v2-core/build."""
    path = (root or project_root()) / "node_modules" / "@uniswap" / "v2-core" / "build" / f"{name}.json"
    if not path.is_file():
        raise ConfigError(f"{UNISWAP_V2_VERSION} is not installed (run `npm ci`)", key="reference", value=str(path))
    data = json.loads(path.read_text())
    return Artifact(
        name=name,
        source=f"{UNISWAP_V2_VERSION}/{name}",
        abi=tuple(data["abi"]),
        bytecode=data["bytecode"].removeprefix("0x"),
        deployed_bytecode=data["evm"]["deployedBytecode"]["object"].removeprefix("0x"),
        immutable_ranges=(),
        compiler="0.5.16 (Uniswap build)",
        settings={},
        source_hash="",
    )
