"""EIP-712 signing of batches and votes: the digests the settlement contract and the validators check."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

import coincurve
from eth_account import Account
from eth_utils import is_address, to_checksum_address

from market_sim.core.errors import ConfigError, ConsensusError

__all__ = [
    "SigningDomain", "ValidatorKey", "keccak", "batch_struct_hash", "batch_digest", "typed_digest", "vote_digest",
    "trade_vote_digest", "sign", "recover", "try_recover", "validator_keys", "DeferredSignature", "BATCH_TYPEHASH",
    "GENESIS_HASH", "OPERATIONS",
]

GENESIS_HASH = bytes(32)  # prevHash of the first batch
# secp256k1 work: "sign", "verify" (signature checks the nodes asked for) and "recover" (checks actually computed;
# lower, because every node checks the same vote and the answer is memoised). Benchmarks read it.
OPERATIONS: Counter[str] = Counter()
_SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


try:  # safe-pysha3 (installed with py-evm) is ~3x faster than pycryptodome for short inputs
    from _pysha3 import keccak_256 as _keccak_256

    def keccak(data: bytes) -> bytes:
        """keccak256 of `data`."""
        return _keccak_256(data).digest()
except ImportError:  # pragma: no cover
    from Crypto.Hash import keccak as _keccak_mod

    def keccak(data: bytes) -> bytes:
        """keccak256 of `data`."""
        return _keccak_mod.new(digest_bits=256, data=data).digest()


def _u(value: int) -> bytes:
    return value.to_bytes(32, "big")


BATCH_TYPEHASH = keccak(b"Batch(uint64 sequence,bytes32 prevHash,bytes32 merkleRoot,uint64 stateBlock,uint64 expiresAt)")
_VOTE_TYPEHASH = keccak(b"Vote(bytes32 kind,uint64 round,bytes32 subject)")
_TRADE_VOTE_TYPEHASH = keccak(b"TradeVote(bytes32 tradeLeaf,bool approve)")
_DOMAIN_TYPEHASH = keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")


@dataclass(frozen=True, slots=True)
class SigningDomain:
    """The EIP-712 domain of the settlement contract; signatures are only valid for this chain and contract."""

    name: str = "MarketSimSettlement"
    version: str = "1"
    chain_id: int = 31337
    verifying_contract: str = "0x0000000000000000000000000000000000000000"

    def __post_init__(self) -> None:
        if isinstance(self.chain_id, bool) or not isinstance(self.chain_id, int) or self.chain_id < 0:
            raise ConfigError("must be a non-negative integer", key="chain_id", value=self.chain_id)
        if not is_address(self.verifying_contract):
            raise ConfigError("must be a 20-byte hex address", key="verifying_contract",
                              value=self.verifying_contract)
        object.__setattr__(self, "verifying_contract", to_checksum_address(self.verifying_contract))

    @property
    def separator(self) -> bytes:
        """The EIP-712 domain separator (OpenZeppelin EIP712._domainSeparatorV4)."""
        return _separator(self.name, self.version, self.chain_id, self.verifying_contract)


@lru_cache(maxsize=64)
def _separator(name: str, version: str, chain_id: int, contract: str) -> bytes:
    return keccak(_DOMAIN_TYPEHASH + keccak(name.encode()) + keccak(version.encode()) + _u(chain_id)
                  + bytes(12) + bytes.fromhex(contract[2:]))


def _check32(value: bytes, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray)) or len(value) != 32:
        raise ConsensusError(f"{what} must be 32 bytes, got {value!r}")
    return bytes(value)


def batch_struct_hash(sequence: int, prev_hash: bytes, merkle_root: bytes, state_block: int = 0,
                      expires_at: int = 0) -> bytes:
    """EIP-712 struct hash of Batch(sequence, prevHash, merkleRoot, stateBlock, expiresAt); it is the batch's hash
    in the trade log. stateBlock: the chain block whose balances the validators checked the batch against;
    expiresAt: the last block in which its certificate can settle (Settlement.sol)."""
    for name, value in (("sequence", sequence), ("state_block", state_block), ("expires_at", expires_at)):
        if not 0 <= value < 2**64:
            raise ConsensusError(f"batch {name} must fit uint64, got {value}")
    return keccak(BATCH_TYPEHASH + _u(sequence) + _check32(prev_hash, "prev_hash") + _check32(merkle_root, "merkle_root")
                  + _u(state_block) + _u(expires_at))


def typed_digest(domain: SigningDomain, struct_hash: bytes) -> bytes:
    """keccak256("\\x19\\x01" || domainSeparator || structHash): what an EIP-712 signer signs."""
    return keccak(b"\x19\x01" + domain.separator + struct_hash)


@lru_cache(maxsize=65536)
def batch_digest(domain: SigningDomain, sequence: int, prev_hash: bytes, merkle_root: bytes, state_block: int = 0,
                 expires_at: int = 0) -> bytes:
    """The digest the settlement contract verifies quorum certificates against (memoised)."""
    return typed_digest(domain, batch_struct_hash(sequence, prev_hash, merkle_root, state_block, expires_at))


@lru_cache(maxsize=65536)
def vote_digest(domain: SigningDomain, kind: str, round_: int, subject: bytes) -> bytes:
    """Digest of a protocol vote (e.g. a Streamlet vote for block `subject` in epoch `round_`); never a Batch."""
    return typed_digest(domain, keccak(_VOTE_TYPEHASH + keccak(kind.encode()) + _u(round_) + _check32(subject, "subject")))


@lru_cache(maxsize=65536)
def trade_vote_digest(domain: SigningDomain, trade_leaf: bytes, approve: bool) -> bytes:
    """Digest of a pre-trade vote: approve or refuse the trade whose Merkle leaf is `trade_leaf`."""
    return typed_digest(domain, keccak(_TRADE_VOTE_TYPEHASH + _check32(trade_leaf, "trade_leaf") + _u(int(approve))))


@dataclass(frozen=True, slots=True)
class ValidatorKey:
    """A validator's secp256k1 private key and its Ethereum address."""

    private_key: bytes
    address: str

    @classmethod
    def from_private_key(cls, private_key: bytes) -> ValidatorKey:
        """Wrap a 32-byte private key (address derived with eth-account)."""
        return cls(bytes(private_key), Account.from_key(private_key).address)

    @classmethod
    def generate(cls) -> ValidatorKey:
        """A fresh random key."""
        acct = Account.create()
        return cls(bytes(acct.key), acct.address)

    def sign(self, digest: bytes) -> bytes:
        """65-byte r || s || v signature of `digest`."""
        return sign(self.private_key, digest)


@lru_cache(maxsize=256)
def _signer(private_key: bytes) -> tuple[coincurve.PrivateKey, str]:
    key = coincurve.PrivateKey(private_key)
    return key, _address_of(key.public_key.format(compressed=False))


@lru_cache(maxsize=4096)
def _checksum(raw: bytes) -> str:
    """EIP-55 checksummed hex of a 20-byte address (eth_utils.to_checksum_address, memoised: signers repeat)."""
    return to_checksum_address(raw)


def _address_of(uncompressed_pubkey: bytes) -> str:
    return _checksum(keccak(uncompressed_pubkey[1:])[12:])


# (digest, signature) -> signer address, or None for a signature that recovers to nothing. Bounded: cleared when full.
_RECOVERED: dict[tuple[bytes, bytes], str | None] = {}
_RECOVERED_MAX = 1 << 17


def _remember(digest: bytes, sig: bytes, signer: str | None) -> None:
    if len(_RECOVERED) >= _RECOVERED_MAX:
        _RECOVERED.clear()
    _RECOVERED[(digest, sig)] = signer


def sign(key: bytes | ValidatorKey, digest: bytes) -> bytes:
    """Sign a 32-byte digest: 65 bytes r || s || v with low s and v in {27, 28} (what OpenZeppelin ECDSA accepts).

    The signature is remembered as recovering to the key's address: ECDSA public-key recovery of a signature this
    function made returns the signer by construction, so a later check of it is a look-up. A signature from
    anywhere else (another process, a forger, a modified byte) is not remembered and is recovered in full.
    """
    if isinstance(key, ValidatorKey):
        key = key.private_key
    OPERATIONS["sign"] += 1
    signer, address = _signer(bytes(key))
    digest = _check32(digest, "digest")
    sig = signer.sign_recoverable(digest, hasher=None)
    sig = sig[:64] + bytes((sig[64] + 27,))
    _remember(digest, sig, address)
    return sig


@dataclass(frozen=True, slots=True)
class DeferredSignature:
    """`key`'s signature of `digest`, made when its bytes are first asked for (`bytes(sig)`).

    Signing here is deterministic (RFC 6979), so the bytes are the same whenever they are made. A check against this
    object (`try_recover`) needs no bytes: a signature `key` makes of `digest` recovers to `key.address` over that
    digest by construction, and to no chosen address over another (the same trust as `sign()`'s memo). Pre-trade
    votes use it: every validator votes on every trade, and the bytes are read only if someone exports them.
    """

    key: ValidatorKey = field(repr=False)  # a private key: never in a repr or a log line
    digest: bytes

    def __bytes__(self) -> bytes:
        return sign(self.key, self.digest)

    def signer(self, digest: bytes) -> str | None:
        """The address this signature recovers to over `digest`, None if it is not a signature of `digest`."""
        return self.key.address if digest == self.digest else None


def _recover(digest: bytes, sig: bytes) -> str | None:
    try:
        return _RECOVERED[(digest, sig)]
    except KeyError:
        pass
    signer = _recover_uncached(digest, sig)
    _remember(digest, sig, signer)
    return signer


def _recover_uncached(digest: bytes, sig: bytes) -> str | None:
    if len(sig) != 65 or sig[64] not in (27, 28):
        return None
    s = int.from_bytes(sig[32:64], "big")
    if s == 0 or s > _SECP256K1_HALF_N or int.from_bytes(sig[:32], "big") == 0:
        return None  # malleable or degenerate: OpenZeppelin ECDSA rejects these too
    OPERATIONS["recover"] += 1
    try:
        pub = coincurve.PublicKey.from_signature_and_message(sig[:64] + bytes((sig[64] - 27,)), digest, hasher=None)
    except Exception:  # noqa: BLE001 - coincurve raises plain Exception for unrecoverable signatures
        return None
    return _address_of(pub.format(compressed=False))


def recover(digest: bytes, sig: bytes) -> str:
    """The checksummed address that signed `digest`; raises ConsensusError for a malformed or malleable signature.

    Results are memoised: every simulated node checks the same vote, and the answer cannot differ between them.
    """
    OPERATIONS["verify"] += 1
    addr = _recover(_check32(digest, "digest"), bytes(sig))
    if addr is None:
        raise ConsensusError(f"invalid signature {bytes(sig).hex()[:20]}... over digest {digest.hex()}")
    return addr


def try_recover(digest: bytes, sig: bytes | DeferredSignature) -> str | None:
    """Like recover() but returns None for an invalid signature."""
    OPERATIONS["verify"] += 1
    if isinstance(sig, DeferredSignature):
        return sig.signer(bytes(digest))
    return _recover(bytes(digest), bytes(sig)) if len(digest) == 32 else None


@lru_cache(maxsize=64)
def validator_keys(n: int, seed: int = 0) -> tuple[ValidatorKey, ...]:
    """`n` deterministic validator keys for simulations and tests (never use them for real funds)."""
    if n < 1:
        raise ConfigError("must be at least 1", key="nodes", value=n)
    return tuple(ValidatorKey.from_private_key(keccak(b"market_sim validator" + _u(seed) + _u(i))) for i in range(n))
