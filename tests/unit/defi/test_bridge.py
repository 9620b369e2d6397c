"""Bridge.sol + BridgeRelayer: quorum-attested lock/mint and burn/release, replay and forgery rejected, supply bound."""

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
    KIND_MINT, KIND_RELEASE, BridgeRelayer, BridgeValidator, Relay, RelayRefused, attest, relay_digest, sign_relay)
from market_sim.simulation.kernel import Kernel

A, B = 101, 202
DELAY = 5_000_000_000  # 5 s
FEE_BPS = 10


@dataclass
class Bridged:
    kernel: Kernel
    chain_a: Chain
    chain_b: Chain
    relayer: BridgeRelayer
    token: Contract  # on chain A
    wrapped: Contract  # on chain B
    keys: tuple[ValidatorKey, ...]


@pytest.fixture(scope="module")
def bridged() -> Bridged:
    kernel = Kernel()
    chain_a, chain_b = Chain.local(accounts=3, chain_id=A), Chain.local(accounts=3, chain_id=B)
    keys = validator_keys(4, seed=7)
    relayer = BridgeRelayer.deploy(kernel, [chain_a, chain_b], keys, threshold=3, fee_bps=FEE_BPS, delay_ns=DELAY,
                                   fee_recipient="bob")
    token = deploy_token(chain_a, "Token", "TKN")
    token.mint(chain_a.account("alice"), 10**24)
    wrapped = relayer.create_wrapped(A, token, B)
    return Bridged(kernel, chain_a, chain_b, relayer, token, wrapped, keys)


@pytest.fixture(autouse=True)
def _snapshots(bridged: Bridged) -> Iterator[None]:
    snaps = (bridged.chain_a.snapshot(), bridged.chain_b.snapshot())
    transfers = list(bridged.relayer.transfers)
    yield
    bridged.chain_a.revert(snaps[0])
    bridged.chain_b.revert(snaps[1])
    bridged.relayer.transfers[:] = transfers


def _assert_supply_bounded(b: Bridged) -> None:
    for check in b.relayer.supply_checks():
        assert check.ok, check


def test_lock_mints_after_delay_minus_fee(bridged: Bridged) -> None:
    b = bridged
    alice_b = b.chain_b.account("alice")
    arrivals = []
    start = b.kernel.now
    transfer = b.relayer.lock(A, b.token, 10**21, B, sender="alice", on_arrival=arrivals.append)
    assert b.chain_a.call(b.relayer.endpoint(A).contract.handle.functions.locked(b.token.address)) == 10**21
    assert b.chain_b.call(b.wrapped.handle.functions.balanceOf(alice_b)) == 0 and transfer.pending
    _assert_supply_bounded(b)
    b.kernel.run(until=start + DELAY - 1)
    assert transfer.pending
    b.kernel.run()
    fee = 10**21 * FEE_BPS // 10_000
    assert arrivals == [transfer] and transfer.arrived_at == start + DELAY
    assert (transfer.received, transfer.fee) == (10**21 - fee, fee)
    assert b.chain_b.call(b.wrapped.handle.functions.balanceOf(alice_b)) == 10**21 - fee
    assert b.chain_b.call(b.wrapped.handle.functions.balanceOf(b.chain_b.account("bob"))) == fee
    assert b.chain_b.call(b.wrapped.handle.functions.totalSupply()) == 10**21
    _assert_supply_bounded(b)


def test_burn_releases_on_source(bridged: Bridged) -> None:
    b = bridged
    b.relayer.lock(A, b.token, 10**21, B, sender="alice")
    b.kernel.run()
    before = b.chain_a.call(b.token.handle.functions.balanceOf(b.chain_a.account("alice")))
    back = b.relayer.burn(B, b.wrapped, 5 * 10**20, sender="alice")
    assert b.relayer.pending == [back]
    b.kernel.run()
    fee = 5 * 10**20 * FEE_BPS // 10_000
    assert b.chain_a.call(b.token.handle.functions.balanceOf(b.chain_a.account("alice"))) - before == 5 * 10**20 - fee
    assert b.chain_a.call(b.relayer.endpoint(A).contract.handle.functions.locked(b.token.address)) == 5 * 10**20
    assert b.chain_b.call(b.wrapped.handle.functions.totalSupply()) == 5 * 10**20
    _assert_supply_bounded(b)


def _locked_relay(b: Bridged, amount: int = 10**20) -> Relay:
    receipt = b.chain_a.transact(b.token.handle.functions.approve(b.relayer.endpoint(A).address, amount), sender="alice")
    assert receipt["status"] == 1
    src = b.relayer.endpoint(A)
    alice = b.chain_a.account("alice")
    receipt = b.chain_a.transact(src.contract.handle.functions.lock(b.token.address, amount, alice, B), sender="alice")
    (ev,) = b.chain_a.events(receipt, src.contract.handle, "Locked")
    return Relay(KIND_MINT, A, src.address, B, ev["nonce"], b.token.address, alice, amount)


def _mint(b: Bridged, relay: Relay, sigs: list[bytes]) -> None:
    dst = b.relayer.endpoint(B)
    b.chain_b.transact(dst.contract.handle.functions.mint(*relay.call_args(), b"".join(sigs)))


def _revert_name(call) -> tuple[str, tuple]:
    with pytest.raises(ContractRevertError) as err:
        call()
    return err.value.error_name, err.value.args_decoded


def test_contract_digest_equals_python_digest(bridged: Bridged) -> None:
    b = bridged
    relay = _locked_relay(b)
    dst = b.relayer.endpoint(B)
    on_chain = b.chain_b.call(dst.contract.handle.functions.relayDigest(relay.kind, *relay.call_args()))
    assert bytes(on_chain) == relay_digest(relay, dst.address)


def test_replayed_attestation_is_rejected(bridged: Bridged) -> None:
    b = bridged
    relay = _locked_relay(b)
    dst = b.relayer.endpoint(B)
    sigs = attest(relay, dst.address, b.relayer.validators[:3])
    _mint(b, relay, sigs)
    assert _revert_name(lambda: _mint(b, relay, sigs)) == ("AlreadyProcessed", (relay.struct_hash(),))
    # the same attestation submitted to the source chain's bridge is for the wrong domain: signers do not match
    name, args = _revert_name(lambda: b.chain_a.transact(b.relayer.endpoint(A).contract.handle.functions.release(
        B, A, relay.nonce, relay.token, relay.recipient, relay.amount, b"".join(sigs))))
    assert name in ("UnknownSigner", "InsufficientLocked")
    # ... and with its own destination it is refused before any signature is looked at
    assert _revert_name(lambda: b.chain_a.transact(b.relayer.endpoint(A).contract.handle.functions.release(
        *replace(relay, source_chain_id=B).call_args(), b"".join(sigs)))) == ("WrongDestination", (B, A))
    _assert_supply_bounded(b)


def test_forged_and_short_attestations_are_rejected(bridged: Bridged) -> None:
    b = bridged
    relay = _locked_relay(b)
    dst = b.relayer.endpoint(B)
    outsider = ValidatorKey.from_private_key(b"\x42" * 32)
    forged = sign_relay(relay, dst.address, [*b.keys[:2], outsider])
    assert _revert_name(lambda: _mint(b, relay, forged))[0] == "UnknownSigner"
    # inflating the amount changes the digest: the honest signatures now recover to strangers
    honest = attest(relay, dst.address, b.relayer.validators[:3])
    assert _revert_name(lambda: _mint(b, replace(relay, amount=relay.amount * 10), honest))[0] == "UnknownSigner"
    assert _revert_name(lambda: _mint(b, relay, honest[:2])) == ("InsufficientSignatures", (2, 3))
    assert _revert_name(lambda: _mint(b, relay, [honest[0], honest[0], honest[1]]))[0] == "SignersNotAscending"
    assert b.chain_b.call(b.wrapped.handle.functions.totalSupply()) == 0
    _mint(b, relay, honest)
    assert b.chain_b.call(b.wrapped.handle.functions.totalSupply()) == relay.amount
    _assert_supply_bounded(b)


def test_only_bridge_mints_wrapped_and_release_needs_lock(bridged: Bridged) -> None:
    b = bridged
    assert _revert_name(lambda: b.chain_b.transact(b.wrapped.handle.functions.mint(b.chain_b.account("alice"), 1),
                                                   sender="alice"))[0] == "OnlyBridge"
    src = b.relayer.endpoint(A)
    relay = Relay(KIND_RELEASE, B, b.relayer.endpoint(B).address, A, 0, b.token.address, b.chain_a.account("alice"),
                  10**18)
    assert attest(relay, src.address, b.relayer.validators) == []  # no burn happened: honest validators refuse
    sigs = sign_relay(relay, src.address, b.keys[:3])  # a colluding quorum signs it anyway
    release = src.contract.handle.functions.release(*relay.call_args(), b"".join(sigs))
    assert _revert_name(lambda: b.chain_a.transact(release)) == (
        "InsufficientLocked", (b.token.address, 10**18, 0))
