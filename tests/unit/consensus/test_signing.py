from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data

from market_sim.core.errors import ConfigError, ConsensusError
from market_sim.consensus.signing import (
    GENESIS_HASH, SigningDomain, ValidatorKey, batch_digest, batch_struct_hash, keccak, recover, sign, try_recover,
    validator_keys, vote_digest)

DOMAIN = SigningDomain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


def _eth_account_digest(domain: SigningDomain, seq: int, prev: bytes, root: bytes, state: int = 0,
                        expires: int = 0) -> bytes:
    msg = encode_typed_data(full_message={
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"},
                             {"name": "verifyingContract", "type": "address"}],
            "Batch": [{"name": "sequence", "type": "uint64"}, {"name": "prevHash", "type": "bytes32"},
                      {"name": "merkleRoot", "type": "bytes32"}, {"name": "stateBlock", "type": "uint64"},
                      {"name": "expiresAt", "type": "uint64"}],
        },
        "primaryType": "Batch",
        "domain": {"name": domain.name, "version": domain.version, "chainId": domain.chain_id,
                   "verifyingContract": domain.verifying_contract},
        "message": {"sequence": seq, "prevHash": prev, "merkleRoot": root, "stateBlock": state,
                    "expiresAt": expires},
    })
    return _hash_eip191_message(msg)


@pytest.mark.parametrize("seq", [0, 1, 7, 2**64 - 1])
def test_batch_digest_equals_eth_account_eip712(seq: int) -> None:
    prev, root = keccak(b"prev"), keccak(b"root")
    assert batch_digest(DOMAIN, seq, prev, root) == _eth_account_digest(DOMAIN, seq, prev, root)
    assert batch_digest(DOMAIN, seq, prev, root, 41, seq) == _eth_account_digest(DOMAIN, seq, prev, root, 41, seq)


def test_digest_binds_chain_contract_and_fields() -> None:
    prev, root = keccak(b"p"), keccak(b"r")
    base = batch_digest(DOMAIN, 1, prev, root)
    others = {
        batch_digest(SigningDomain(chain_id=1, verifying_contract=DOMAIN.verifying_contract), 1, prev, root),
        batch_digest(SigningDomain(verifying_contract="0x" + "11" * 20), 1, prev, root),
        batch_digest(DOMAIN, 2, prev, root), batch_digest(DOMAIN, 1, root, prev),
        batch_digest(DOMAIN, 1, prev, GENESIS_HASH), batch_digest(DOMAIN, 1, prev, root, 1, 0),
        batch_digest(DOMAIN, 1, prev, root, 0, 1)}
    assert base not in others and len(others) == 7
    assert vote_digest(DOMAIN, "vote", 1, base) != base


def test_sign_and_recover_match_eth_account() -> None:
    key = validator_keys(1)[0]
    digest = batch_digest(DOMAIN, 1, GENESIS_HASH, keccak(b"x"))
    sig = sign(key, digest)
    assert len(sig) == 65 and sig[64] in (27, 28)
    assert int.from_bytes(sig[32:64], "big") <= HALF_N  # low-s, as OpenZeppelin ECDSA requires
    assert recover(digest, sig) == key.address
    assert Account._recover_hash(digest, signature=sig) == key.address
    assert Account.from_key(key.private_key).unsafe_sign_hash(digest).signature == sig


def test_recover_rejects_malleable_and_malformed() -> None:
    key = validator_keys(1)[0]
    digest = keccak(b"d")
    sig = sign(key, digest)
    s = int.from_bytes(sig[32:64], "big")
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    flipped = sig[:32] + (n - s).to_bytes(32, "big") + bytes([55 - sig[64]])  # same signer, high s
    with pytest.raises(ConsensusError, match="invalid signature .* over digest "):
        recover(digest, flipped)
    assert try_recover(digest, sig[:64] + b"\x01") is None
    assert try_recover(digest, sig[:40]) is None
    assert recover(keccak(b"other"), sig) != key.address


def test_validator_keys_deterministic_and_distinct() -> None:
    keys = validator_keys(10, seed=3)
    assert keys == validator_keys(10, seed=3)
    assert len({k.address for k in keys}) == 10
    assert keys[0] != validator_keys(10, seed=4)[0]
    k = ValidatorKey.generate()
    assert ValidatorKey.from_private_key(k.private_key) == k


def test_bad_inputs() -> None:
    with pytest.raises(ConfigError, match="verifying_contract"):
        SigningDomain(verifying_contract="0x1234")
    with pytest.raises(ConfigError, match="chain_id"):
        SigningDomain(chain_id=-1)
    with pytest.raises(ConsensusError, match="uint64"):
        batch_struct_hash(2**64, GENESIS_HASH, GENESIS_HASH)
    with pytest.raises(ConsensusError, match="32 bytes"):
        batch_digest(DOMAIN, 1, b"short", GENESIS_HASH)
    with pytest.raises(ConfigError, match=r"nodes: must be at least 1 \(got 0\)"):
        validator_keys(0)


def test_remembered_signer_equals_full_recovery_and_eth_account() -> None:
    """sign() remembers its signature's signer; that answer equals a full recovery and eth-account's, and a
    signature it did not make (one flipped byte, another key's over another digest) is recovered in full."""
    from market_sim.consensus import signing

    for i, key in enumerate(validator_keys(4, seed=3)):
        digest = keccak(b"remembered" + bytes([i]))
        sig = sign(key, digest)
        assert (digest, sig) in signing._RECOVERED
        assert signing._recover_uncached(digest, sig) == key.address == recover(digest, sig)
        assert Account._recover_hash(digest, signature=sig) == key.address
        tampered = sig[:10] + bytes([sig[10] ^ 1]) + sig[11:]
        assert (digest, tampered) not in signing._RECOVERED
        assert try_recover(digest, tampered) == signing._recover_uncached(digest, tampered) != key.address
        other = Account.from_key(bytes(31) + bytes([i + 1]))
        foreign = bytes(other.unsafe_sign_hash(digest).signature)
        assert try_recover(digest, foreign) == other.address
