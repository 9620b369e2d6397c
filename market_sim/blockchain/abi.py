"""ABI encoding and hashing helpers for code outside market_sim.blockchain (which imports no web3 / eth-abi itself)."""

from __future__ import annotations

from eth_abi import encode as _encode
from eth_utils import is_address as _is_address
from eth_utils import keccak as _keccak
from eth_utils import to_checksum_address as _to_checksum_address

__all__ = ["abi_encode", "keccak", "to_checksum_address", "is_address", "ZERO_ADDRESS"]

ZERO_ADDRESS = "0x" + "00" * 20


def abi_encode(types: list[str] | tuple[str, ...], values: list | tuple) -> bytes:
    """Solidity abi.encode(values) for these ABI types."""
    return _encode(list(types), list(values))


def keccak(data: bytes) -> bytes:
    """keccak256 of bytes."""
    return _keccak(data)


def to_checksum_address(address: str | bytes) -> str:
    """The EIP-55 checksum form of a 20-byte address (hex string or bytes)."""
    return _to_checksum_address(address)


def is_address(value: object) -> bool:
    return _is_address(value)
