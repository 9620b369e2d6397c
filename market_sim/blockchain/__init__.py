"""Blockchain access: Solidity compiler + artifacts, the Chain (eth-tester or JSON-RPC), typed contract clients
(market_sim.blockchain.clients), the deploy step graph. The only package that talks web3."""

from market_sim.blockchain.artifacts import Artifact
from market_sim.blockchain.chain import Chain, PreparedTx
from market_sim.blockchain.compiler import compile_contracts, load_artifact, load_artifacts
from market_sim.blockchain.deploy import DEPLOY_STEPS, DeployStep, Deployment, deploy_stack, resolve_steps
from market_sim.blockchain.reverts import RevertDecoder

__all__ = [
    "Artifact",
    "Chain",
    "DEPLOY_STEPS",
    "DeployStep",
    "Deployment",
    "PreparedTx",
    "RevertDecoder",
    "compile_contracts",
    "deploy_stack",
    "load_artifact",
    "load_artifacts",
    "resolve_steps",
]
