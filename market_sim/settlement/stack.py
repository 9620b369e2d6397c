"""The settlement application's deploy steps: test tokens and the Settlement contract (`market-sim deploy`, and the
simulation's settlement section through settlement.setup.deploy_venue).

Step factories build each kind of step once; the registered steps are the `market-sim deploy` stack made from them
with the defaults of market_sim.core.defaults (4 validators with the deterministic simulation keys, threshold 3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from market_sim.blockchain.chain import Chain
from market_sim.blockchain.clients import DEFAULT_MAX_VALIDITY
from market_sim.blockchain.deploy import AccountRef, Call, DeployStep, Param, Ref, register_step
from market_sim.consensus.signing import validator_keys
from market_sim.core.defaults import BASE_TOKEN, DEFAULT_THRESHOLD, DEFAULT_VALIDATORS, QUOTE_TOKEN, TokenSpec

__all__ = ["DEFAULT_VALIDATORS", "DEFAULT_THRESHOLD", "SETTLEMENT_STEP", "TOKEN_STEPS", "token_step",
           "settlement_step", "SETTLEMENT", "MAX_UINT256"]

SETTLEMENT = "Settlement"
MAX_UINT256 = 2**256 - 1


def token_step(name: str, spec: TokenSpec, *, requires: Sequence[str] = (), then: Sequence[Call] = ()) -> DeployStep:
    """A mintable TestToken (owned by the deployer)."""
    return DeployStep(name, "TestToken", (spec.name, spec.symbol, spec.decimals), then=tuple(then),
                      requires=tuple(requires), help=f"test token {spec.symbol} ({spec.decimals} decimals)")


def listed_token_step(name: str, spec: TokenSpec, *, funding: Mapping[str, int] = {},
                      settlement: str = SETTLEMENT) -> DeployStep:
    """A TestToken listed in the Settlement contract and, with `funding` ({account address: amount}), minted to the
    deployer and deposited for each account (one approval, then one depositForMany for all accounts, in the given
    order: the same balances and Deposited events as a depositFor per account, in one transaction)."""
    calls = [Call("listToken", (Ref(name),), target=settlement)]
    total = sum(funding.values())
    if total:
        calls.append(Call("mint", (AccountRef("deployer"), total)))
        calls.append(Call("approve", (Ref(settlement), MAX_UINT256)))
        funded = [(account, amount) for account, amount in funding.items() if amount]
        calls.append(Call("depositForMany", (Ref(name), [a for a, _ in funded], [n for _, n in funded]),
                          target=settlement))
    return token_step(name, spec, requires=(settlement,), then=calls)


def settlement_step(*, validators: Sequence[str] | None = None, threshold: int | None = None,
                    fee_account: str | None = None, owner: str = "deployer",
                    list_tokens: Sequence[str] = (), max_validity: int = DEFAULT_MAX_VALIDITY) -> DeployStep:
    """The Settlement contract: owner, validator set (default: the DEFAULT_VALIDATORS simulation keys), threshold
    (default DEFAULT_THRESHOLD), fee account (default: the owner), the most blocks a certificate stays valid;
    lists the tokens of the named steps."""
    def args(chain: Chain, deployed: dict) -> tuple:
        if validators is None:
            keys = sorted(k.address for k in validator_keys(DEFAULT_VALIDATORS))
        else:
            keys = [chain.address(v) for v in validators]
        owner_address = chain.address(owner)
        return (owner_address, keys, DEFAULT_THRESHOLD if threshold is None else threshold,
                chain.address(fee_account) if fee_account else owner_address, max_validity)

    return DeployStep(SETTLEMENT, "Settlement", args, then=tuple(Call("listToken", (Ref(t),)) for t in list_tokens),
                      help="settlement contract: custody, certified batches, validator governance")


TOKEN_STEPS = (
    DeployStep("BaseToken", "TestToken", (Param("base_token.name", BASE_TOKEN.name),
                                          Param("base_token.symbol", BASE_TOKEN.symbol),
                                          Param("base_token.decimals", BASE_TOKEN.decimals)),
               help="base-asset test token"),
    DeployStep("QuoteToken", "TestToken", (Param("quote_token.name", QUOTE_TOKEN.name),
                                           Param("quote_token.symbol", QUOTE_TOKEN.symbol),
                                           Param("quote_token.decimals", QUOTE_TOKEN.decimals)),
               help="quote-asset test token"),
)
SETTLEMENT_STEP = settlement_step(list_tokens=("BaseToken", "QuoteToken"))

for _step in (*TOKEN_STEPS, SETTLEMENT_STEP):
    register_step(_step)
