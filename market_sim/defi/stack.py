"""The AMM (Factory + a BaseToken/QuoteToken pool, WETH9, Router) and the Bridge in the stack (`market-sim deploy`)."""

from __future__ import annotations

from market_sim.blockchain.chain import Chain
from market_sim.blockchain.deploy import AccountRef, Call, DeployStep, Ref, register_step
from market_sim.consensus.signing import validator_keys

__all__ = ["AMM_STEPS", "BRIDGE_STEP"]

BRIDGE_VALIDATORS = 4
BRIDGE_THRESHOLD = 3
BRIDGE_FEE_BPS = 10


def _bridge_args(chain: Chain, deployed: dict) -> tuple:
    # Deterministic simulation keys: a local default; a live deployment sets its own attesters.
    validators = sorted(k.address for k in validator_keys(BRIDGE_VALIDATORS))
    deployer = chain.account("deployer")
    return (deployer, validators, BRIDGE_THRESHOLD, BRIDGE_FEE_BPS, deployer)


AMM_STEPS = (
    DeployStep("Factory", "Factory", (AccountRef("deployer"),),
               then=(Call("createPair", (Ref("BaseToken"), Ref("QuoteToken"))),)),
    DeployStep("WETH9", "WETH9"),
    DeployStep("Router", "Router", (Ref("Factory"), Ref("WETH9"))),
)
BRIDGE_STEP = DeployStep("Bridge", "Bridge", _bridge_args)

for _step in (*AMM_STEPS, BRIDGE_STEP):
    register_step(_step)
