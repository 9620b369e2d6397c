"""Bridge validators check the source chain before signing; a lock mints on exactly one of three chains."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
from web3.contract import Contract

from market_sim.blockchain import Chain
from market_sim.consensus.signing import ValidatorKey, validator_keys
from market_sim.core.errors import ContractRevertError
from market_sim.defi.amm import deploy_token
from market_sim.defi.bridge import (
    KIND_MINT, KIND_RELEASE, BridgeRelayer, BridgeValidator, Relay, RelayRefused, attest, sign_relay)
from market_sim.simulation.kernel import Kernel

A, B, C = 101, 202, 303
AMOUNT = 10**20
ZERO = "0x" + "00" * 20


@dataclass
class Three:
    chains: dict[int, Chain]
    relayer: BridgeRelayer
    token: Contract  # on chain A
    wrapped: dict[int, Contract]  # on B and C
    keys: tuple[ValidatorKey, ...]


@pytest.fixture(scope="module")
def three() -> Three:
    chains = {cid: Chain.local(accounts=3, chain_id=cid) for cid in (A, B, C)}
    keys = tuple(validator_keys(4, seed=7))
    # validator 3 is Byzantine: it signs whatever it is asked (f = 1 of n = 4, threshold 3)
    relayer = BridgeRelayer.deploy(Kernel(), list(chains.values()), keys, threshold=3, fee_bps=0, delay_ns=0,
                                   byzantine={3})
    token = deploy_token(chains[A], "Token", "TKN")
    token.mint(chains[A].account("alice"), 10**24)
    wrapped = {cid: relayer.create_wrapped(A, token, cid) for cid in (B, C)}
    return Three(chains, relayer, token, wrapped, keys)


@pytest.fixture(autouse=True)
def _snapshots(three: Three) -> Iterator[None]:
    snaps = {cid: chain.snapshot() for cid, chain in three.chains.items()}
    transfers = list(three.relayer.transfers)
    yield
    for cid, chain in three.chains.items():
        chain.revert(snaps[cid])
    three.relayer.transfers[:] = transfers


def _revert(call) -> tuple[str, tuple]:
    with pytest.raises(ContractRevertError) as err:
        call()
    return err.value.error_name, err.value.args_decoded


def _lock(t: Three, dest: int = B) -> Relay:
    transfer = t.relayer.lock(A, t.token, AMOUNT, dest, sender="alice")
    return transfer.relay


def _supply(t: Three) -> tuple[int, int]:
    (check,) = t.relayer.supply_checks()
    return check.wrapped_supply, check.locked


def test_forged_relay_for_a_lock_that_never_happened_is_refused(three: Three) -> None:
    """Regression: attest() signed any Relay, so a quorum-signed mint of 1e30 for no lock at all succeeded."""
    t = three
    src, dst = t.relayer.endpoint(A), t.relayer.endpoint(B)
    alice = t.chains[B].account("alice")
    forged = Relay(KIND_MINT, A, src.address, B, 7, t.token.address, alice, 10**30)
    honest = [v for v in t.relayer.validators if not v.byzantine]
    assert len(honest) == 3 and all(v.attest(forged, dst.address) is None for v in honest)
    assert honest[0].check(forged, dst.address) == f"no Locked event with nonce 7 on chain {A}"
    with pytest.raises(RelayRefused) as err:
        t.relayer.relay(forged)
    assert (err.value.signatures, err.value.threshold) == (1, 3)  # only the Byzantine validator signed
    assert set(err.value.reasons) == {v.address for v in honest}
    # the f Byzantine signatures alone cannot reach the threshold on chain either
    byz = attest(forged, dst.address, t.relayer.validators)
    assert len(byz) == 1
    assert _revert(lambda: t.chains[B].transact(dst.contract.handle.functions.mint(*forged.call_args(), b"".join(byz)))) == (
        "InsufficientSignatures", (1, 3))
    assert t.chains[B].call(t.wrapped[B].handle.functions.totalSupply()) == 0


def test_honest_validators_check_every_field_of_the_lock(three: Three) -> None:
    t = three
    relay = _lock(t)
    dst = t.relayer.endpoint(B)
    v = t.relayer.validators[0]
    assert v.check(relay, dst.address) is None
    bob = t.chains[B].account("bob")
    other = deploy_token(t.chains[A], "Other", "OTH")
    cases = {
        "amount": (replace(relay, amount=AMOUNT + 1), f"amount {AMOUNT + 1} differs from the Locked event's {AMOUNT}"),
        "recipient": (replace(relay, recipient=bob), "recipient"),
        "nonce": (replace(relay, nonce=relay.nonce + 1), f"no Locked event with nonce {relay.nonce + 1}"),
        "token": (replace(relay, token=other.address), "token"),
        "kind": (replace(relay, kind=KIND_RELEASE), "no Burned event"),
    }
    for name, (bad, reason) in cases.items():
        assert v.check(bad, dst.address).startswith(reason), name
        assert v.attest(bad, dst.address) is None, name
    # a wrong block hint only costs a wider search
    assert v.check(replace(relay, source_block=1), dst.address) is None


def test_validators_wait_for_confirmations(three: Three) -> None:
    t = three
    relay = _lock(t)
    dst = t.relayer.endpoint(B)
    cautious = BridgeValidator(t.keys[0], t.relayer.endpoints, confirmations=3)
    assert cautious.check(relay, dst.address) == "Locked event has 1 confirmations, needs 3"
    t.chains[A].mine(2)
    assert cautious.check(relay, dst.address) is None


def test_lock_mints_on_its_destination_only(three: Three) -> None:
    """With three chains, one lock minted on two destinations passed every per-pair supply check."""
    t = three
    relay = _lock(t, dest=B)
    b_bridge, c_bridge = t.relayer.endpoint(B), t.relayer.endpoint(C)
    # the Locked event names chain B: honest validators refuse to sign the same lock for chain C
    to_c = replace(relay, dest_chain_id=C)
    assert t.relayer.validators[0].check(to_c, c_bridge.address) == (
        f"destination chain {C} differs from the Locked event's {B}")
    with pytest.raises(RelayRefused):
        t.relayer.relay(to_c)
    # a relay for chain B submitted to chain C's bridge is refused there, whoever signed it
    sigs_b = attest(relay, b_bridge.address, t.relayer.validators)
    mint = c_bridge.contract.handle.functions.mint(*relay.call_args(), b"".join(sigs_b))
    assert _revert(lambda: t.chains[C].transact(mint)) == (
        "WrongDestination", (B, C))
    t.relayer.flush()
    assert t.chains[B].call(t.wrapped[B].handle.functions.totalSupply()) == AMOUNT
    assert _supply(t) == (AMOUNT, AMOUNT)


def test_supply_check_sums_every_destination(three: Three) -> None:
    """Even if every validator colluded and minted one lock on B and on C, the summed check catches it."""
    t = three
    relay = _lock(t, dest=B)
    t.relayer.flush()
    c_bridge = t.relayer.endpoint(C)
    to_c = replace(relay, dest_chain_id=C)
    t.chains[C].transact(c_bridge.contract.handle.functions.mint(*to_c.call_args(), b"".join(sign_relay(
        to_c, c_bridge.address, t.keys))))
    (check,) = t.relayer.supply_checks()
    assert [(d, s) for d, _, s in check.destinations] == [(B, AMOUNT), (C, AMOUNT)]
    assert (check.wrapped_supply, check.locked, check.ok) == (2 * AMOUNT, AMOUNT, False)


def test_lock_and_burn_to_the_zero_address_are_refused(three: Three) -> None:
    t = three
    src = t.relayer.endpoint(A)
    chain = t.chains[A]
    chain.transact(t.token.handle.functions.approve(src.address, AMOUNT), sender="alice")
    assert _revert(lambda: chain.transact(src.contract.handle.functions.lock(t.token.address, AMOUNT, ZERO, B),
                                          sender="alice")) == ("InvalidRecipient", (ZERO, B))
    _lock(t)
    t.relayer.flush()
    b_bridge = t.relayer.endpoint(B)
    assert _revert(lambda: t.chains[B].transact(b_bridge.contract.handle.functions.burn(t.wrapped[B].address, 1, ZERO),
                                                sender="alice")) == ("InvalidRecipient", (ZERO, A))


def test_burn_releases_after_validators_find_the_burn(three: Three) -> None:
    t = three
    _lock(t)
    t.relayer.flush()
    back = t.relayer.burn(B, t.wrapped[B], AMOUNT // 2, sender="alice")
    assert back.relay.dest_chain_id == A and back.relay.kind == KIND_RELEASE
    forged = replace(back.relay, amount=AMOUNT)
    with pytest.raises(RelayRefused):
        t.relayer.relay(forged)
    t.relayer.flush()
    assert _supply(t) == (AMOUNT // 2, AMOUNT // 2)
