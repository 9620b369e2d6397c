"""Bridge and WrappedToken constructors refuse the zero address (slither missing-zero-check, issue 22)."""

from __future__ import annotations

import pytest

from market_sim.blockchain import Chain
from market_sim.consensus.signing import validator_keys
from market_sim.core.errors import ContractRevertError

ZERO = "0x" + "00" * 20


@pytest.fixture(scope="module")
def chain() -> Chain:
    return Chain.local(accounts=2)


def _validators() -> list[str]:
    return [k.address for k in validator_keys(3, seed=3)]


def test_bridge_refuses_zero_fee_recipient(chain: Chain) -> None:
    with pytest.raises(ContractRevertError) as err:
        chain.deploy("Bridge", chain.account("deployer"), _validators(), 2, 10, ZERO)
    assert err.value.error_name == "ZeroAddress"


def test_bridge_refuses_zero_validator(chain: Chain) -> None:
    with pytest.raises(ContractRevertError) as err:
        chain.deploy("Bridge", chain.account("deployer"), [*_validators(), ZERO], 2, 10, chain.account("alice"))
    assert err.value.error_name == "ZeroAddress"


def test_wrapped_token_refuses_zero_source_token(chain: Chain) -> None:
    with pytest.raises(ContractRevertError) as err:
        chain.deploy("WrappedToken", "Wrapped", "W", 18, 1, ZERO)
    assert err.value.error_name == "ZeroSourceToken"


def test_valid_arguments_deploy(chain: Chain) -> None:
    bridge = chain.deploy("Bridge", chain.account("deployer"), _validators(), 2, 10, chain.account("alice"))
    assert chain.call(bridge.functions.validatorCount()) == 3
    token = chain.deploy("WrappedToken", "Wrapped", "W", 18, 1, chain.account("alice"))
    assert chain.call(token.functions.sourceToken()) == chain.account("alice")
