"""Settlement and Bridge verify quorum certificates through one QuorumVerifier and govern their validator set
through one QuorumGoverned (Ownable2Step): the same bad certificate or governance call fails with the same error
and the same values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from web3.contract import Contract

from market_sim.blockchain import Chain
from market_sim.consensus.signing import ValidatorKey, sign, validator_keys
from market_sim.core.errors import ContractRevertError

THRESHOLD = 3
REMOTE = 99  # the Bridge's registered remote chain: the relay's source
ROOT = b"\x11" * 32


@dataclass
class Quorum:
    chain: Chain
    settlement: Contract
    bridge: Contract
    keys: tuple[ValidatorKey, ...]  # the 4 validators, ascending by address
    outsider: ValidatorKey


@pytest.fixture(scope="module")
def quorum() -> Quorum:
    chain = Chain.local(accounts=3, chain_id=31_337)
    keys = tuple(sorted(validator_keys(4, seed=5), key=lambda k: int(k.address, 16)))
    validators = [k.address for k in keys]
    owner = chain.account("deployer")
    settlement = chain.deploy("Settlement", owner, validators, THRESHOLD, owner, 256)
    bridge = chain.deploy("Bridge", owner, validators, THRESHOLD, 10, owner)
    chain.transact(bridge.functions.setRemoteBridge(REMOTE, chain.account("bob")))
    outsider = validator_keys(1, seed=99)[0]
    return Quorum(chain, settlement, bridge, keys, outsider)


def _revert(call: Callable[[], object]) -> tuple[str, tuple]:
    with pytest.raises(ContractRevertError) as err:
        call()
    return err.value.error_name, tuple(err.value.args_decoded)


def _settle(q: Quorum, signers: list[ValidatorKey], tamper: Callable[[bytes], bytes]) -> tuple[str, tuple]:
    head = q.chain.block_number  # the next batch: sequence, hash chain and window pass, the certificate is checked
    header = (1, b"\x00" * 32, ROOT, head - 1, head + 10)
    digest = bytes(q.chain.call(q.settlement.functions.batchDigest(header)))
    sigs = tamper(b"".join(sign(k, digest) for k in signers))
    return _revert(lambda: q.chain.transact(q.settlement.functions.settle(header, [], 0, b"", [], sigs)))


def _relay(q: Quorum, signers: list[ValidatorKey], tamper: Callable[[bytes], bytes]) -> tuple[str, tuple]:
    args = (REMOTE, q.chain.chain_id, 0, q.chain.account("alice"), q.chain.account("alice"), 10**18)
    digest = bytes(q.chain.call(q.bridge.functions.relayDigest(0, *args)))
    sigs = tamper(b"".join(sign(k, digest) for k in signers))
    return _revert(lambda: q.chain.transact(q.bridge.functions.mint(*args, sigs)))


def _same(x: bytes) -> bytes:
    return x


# (case, signer indices into keys (4 = the outsider), tamper with the packed certificate, expected error)
CASES = [
    ("below threshold", [0, 1], _same, lambda k, o: ("InsufficientSignatures", (2, THRESHOLD))),
    ("empty", [], _same, lambda k, o: ("InsufficientSignatures", (0, THRESHOLD))),
    ("unsorted", [0, 2, 1], _same, lambda k, o: ("SignersNotAscending", (2, k[2].address, k[1].address))),
    ("descending", [3, 2, 1], _same, lambda k, o: ("SignersNotAscending", (1, k[3].address, k[2].address))),
    ("duplicate", [0, 0, 1], _same, lambda k, o: ("SignersNotAscending", (1, k[0].address, k[0].address))),
    ("unknown signer", [0, 1, 4], _same, lambda k, o: ("UnknownSigner", (2, o.address))),
    ("truncated", [0, 1, 2], lambda s: s[:-1], lambda k, o: ("MalformedSignatures", (194,))),
    ("bad v", [0, 1, 2], lambda s: s[:64] + bytes([29]) + s[65:], lambda k, o: ("InvalidSignature", (0,))),
]


@pytest.mark.parametrize(("indices", "tamper", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_both_contracts_reject_a_bad_certificate_with_the_same_error(quorum, indices, tamper, expected) -> None:
    q = quorum
    signers = [(*q.keys, q.outsider)[i] for i in indices]
    want = expected(q.keys, q.outsider)
    assert _settle(q, signers, tamper) == want
    assert _relay(q, signers, tamper) == want


def test_a_good_certificate_passes_both(quorum) -> None:
    q = quorum
    # the quorum check passes: each contract then stops at its own next check
    assert _settle(q, list(q.keys[:3]), _same)[0] == "DeltasNotInBatch"
    assert _relay(q, list(q.keys[1:]), _same) == ("UnknownWrapped", (REMOTE, q.chain.account("alice")))


@pytest.mark.parametrize("name", ["settlement", "bridge"])
def test_same_governance_rules(quorum, name) -> None:
    q = quorum
    c: Contract = getattr(q, name)
    snap = q.chain.snapshot()
    try:
        assert q.chain.call(c.functions.owner()) == q.chain.account("deployer")
        assert q.chain.call(c.functions.minimumThreshold(4)) == 3
        assert _revert(lambda: q.chain.transact(c.functions.setThreshold(2))) == ("ThresholdTooLow", (2, 3))
        assert _revert(lambda: q.chain.transact(c.functions.setThreshold(5))) == ("InvalidThreshold", (5, 4))
        assert _revert(lambda: q.chain.transact(c.functions.setThreshold(3), sender="alice")) == (
            "OwnableUnauthorizedAccount", (q.chain.account("alice"),))
        assert _revert(lambda: q.chain.transact(c.functions.addValidator(q.keys[0].address, 4))) == (
            "ValidatorAlreadyRegistered", (q.keys[0].address,))
        assert _revert(lambda: q.chain.transact(c.functions.removeValidator(q.outsider.address, 3))) == (
            "NotAValidator", (q.outsider.address,))
        q.chain.transact(c.functions.addValidator(q.outsider.address, 4))
        assert (q.chain.call(c.functions.validatorCount()), q.chain.call(c.functions.threshold())) == (5, 4)
        # two-step ownership: the new owner must accept before it governs
        q.chain.transact(c.functions.transferOwnership(q.chain.account("alice")))
        assert q.chain.call(c.functions.owner()) == q.chain.account("deployer")
        q.chain.transact(c.functions.acceptOwnership(), sender="alice")
        q.chain.transact(c.functions.removeValidator(q.outsider.address, 3), sender="alice")
        assert q.chain.call(c.functions.isValidator(q.outsider.address)) is False
    finally:
        q.chain.revert(snap)
