"""The DeFi deploy steps: AMM (Factory, a BaseToken/QuoteToken pool, WETH9, Router) and the Bridge.

`market-sim deploy` deploys the registered steps; the simulation's DeFi world deploys the same steps per chain
(AMM_CORE for the AMM contracts, bridge_step with its own validator set) through the same deploy_stack.
"""

from __future__ import annotations

from collections.abc import Sequence

import market_sim.settlement.stack  # noqa: F401  (registers BaseToken / QuoteToken, which the pool step requires)
from market_sim.blockchain.chain import Chain
from market_sim.blockchain.deploy import AccountRef, Call, DeployStep, Ref, register_step
from market_sim.consensus.signing import validator_keys
from market_sim.core.defaults import DEFAULT_BRIDGE_FEE_BPS, DEFAULT_THRESHOLD, DEFAULT_VALIDATORS

__all__ = ["AMM_STEPS", "AMM_CORE", "BRIDGE_STEP", "bridge_step", "amm_steps"]


def amm_steps(*, fee_to_setter: str = "deployer") -> tuple[DeployStep, ...]:
    """Factory (fee_to_setter sets the protocol fee receiver), WETH9 and the Router of both."""
    return (
        DeployStep("Factory", "Factory", (AccountRef(fee_to_setter),), help="AMM pair factory"),
        DeployStep("WETH9", "WETH9", help="wrapped ether"),
        DeployStep("Router", "Router", (Ref("Factory"), Ref("WETH9")), help="AMM router (Uniswap V2 ABI)"),
    )


def bridge_step(*, validators: Sequence[str] | None = None, threshold: int | None = None,
                fee_bps: int | None = None, fee_recipient: str = "deployer", owner: str = "deployer") -> DeployStep:
    """A Bridge owned by `owner` (its governance: validator set and threshold) with this validator set (default: the
    DEFAULT_VALIDATORS simulation keys), threshold and fee."""
    def args(chain: Chain, deployed: dict) -> tuple:
        if validators is None:
            keys = sorted(k.address for k in validator_keys(DEFAULT_VALIDATORS))
        else:
            keys = [chain.address(v) for v in validators]
        return (chain.address(owner), keys, DEFAULT_THRESHOLD if threshold is None else threshold,
                DEFAULT_BRIDGE_FEE_BPS if fee_bps is None else fee_bps, chain.address(fee_recipient))

    return DeployStep("Bridge", "Bridge", args, help="lock-and-mint bridge")


AMM_CORE = amm_steps()
POOL_STEP = DeployStep("BaseQuotePool", None,
                       then=(Call("createPair", (Ref("BaseToken"), Ref("QuoteToken")), target="Factory"),),
                       help="the BaseToken/QuoteToken pool")
AMM_STEPS = (AMM_CORE[0], POOL_STEP, *AMM_CORE[1:])
BRIDGE_STEP = bridge_step()

for _step in (*AMM_STEPS, BRIDGE_STEP):
    register_step(_step)
