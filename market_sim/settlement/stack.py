"""The settlement contract's place in the deployable stack (`market-sim deploy`)."""

from __future__ import annotations

from market_sim.blockchain.chain import Chain
from market_sim.blockchain.deploy import Call, DeployStep, Ref, register_step
from market_sim.consensus.signing import validator_keys

__all__ = ["DEFAULT_VALIDATORS", "DEFAULT_THRESHOLD", "SETTLEMENT_STEP"]

# A 4-validator BFT committee (f = 1, quorum 2f + 1 = 3) with the deterministic simulation keys: a working default for
# local chains and tests; on a live network the owner replaces it with addValidator/removeValidator/setThreshold.
DEFAULT_VALIDATORS = 4
DEFAULT_THRESHOLD = 3


def _settlement_args(chain: Chain, deployed: dict) -> tuple:
    validators = sorted(k.address for k in validator_keys(DEFAULT_VALIDATORS))
    deployer = chain.account("deployer")
    return (deployer, validators, DEFAULT_THRESHOLD, deployer)


SETTLEMENT_STEP = DeployStep(
    "Settlement", "Settlement", _settlement_args,
    then=(Call("listToken", (Ref("BaseToken"),)), Call("listToken", (Ref("QuoteToken"),))),
)
register_step(SETTLEMENT_STEP)

