"""Blockchain access: Solidity compiler + artifacts, the Chain (eth-tester or JSON-RPC), deployments."""

from market_sim.blockchain.artifacts import Artifact
from market_sim.blockchain.chain import Chain
from market_sim.blockchain.compiler import compile_contracts, load_artifact, load_artifacts
from market_sim.blockchain.deploy import DeployStep, Deployment, deploy_stack
from market_sim.blockchain.reverts import RevertDecoder

__all__ = [
    "Artifact",
    "Chain",
    "DeployStep",
    "Deployment",
    "RevertDecoder",
    "compile_contracts",
    "deploy_stack",
    "load_artifact",
    "load_artifacts",
]
