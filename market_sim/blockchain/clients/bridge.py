"""The lock-and-mint Bridge contract and the WrappedToken it mints on destination chains."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from market_sim.blockchain.chain import Chain
from market_sim.blockchain.clients.base import ContractEvent, LogEntry, Receipt, addresses, checksum
from market_sim.blockchain.clients.base import ContractClient
from market_sim.blockchain.clients.erc20 import ERC20
from market_sim.blockchain.reverts import ContractErrors

__all__ = ["BridgeContract", "WrappedToken", "Locked", "Burned", "Minted", "Released", "BridgeErrors",
           "WrappedTokenErrors", "RelayArgs"]

BridgeErrors = ContractErrors("Bridge")
WrappedTokenErrors = ContractErrors("WrappedToken")

# (sourceChainId, destChainId, nonce, token, recipient, amount): the relay fields mint/release/relayDigest take.
RelayArgs = tuple[int, int, int, str, str, int]


@dataclass(frozen=True, slots=True)
class Locked(ContractEvent):
    EVENT: ClassVar[str] = "Locked"
    ABI_FIELDS: ClassVar[tuple[str, ...]] = ("nonce", "token", "sender", "recipient", "amount", "destChainId")
    nonce: int
    token: str
    sender: str
    recipient: str
    amount: int
    dest_chain_id: int


@dataclass(frozen=True, slots=True)
class Burned(ContractEvent):
    EVENT: ClassVar[str] = "Burned"
    ABI_FIELDS: ClassVar[tuple[str, ...]] = ("nonce", "wrapped", "sender", "recipient", "amount", "destChainId",
                                             "sourceToken")
    nonce: int
    wrapped: str
    sender: str
    recipient: str
    amount: int
    dest_chain_id: int
    source_token: str


@dataclass(frozen=True, slots=True)
class Minted(ContractEvent):
    EVENT: ClassVar[str] = "Minted"
    ABI_FIELDS: ClassVar[tuple[str, ...]] = ("relayId", "wrapped", "recipient", "amount", "fee")
    relay_id: bytes
    wrapped: str
    recipient: str
    amount: int
    fee: int


@dataclass(frozen=True, slots=True)
class Released(ContractEvent):
    EVENT: ClassVar[str] = "Released"
    ABI_FIELDS: ClassVar[tuple[str, ...]] = ("relayId", "token", "recipient", "amount", "fee")
    relay_id: bytes
    token: str
    recipient: str
    amount: int
    fee: int


class WrappedToken(ERC20):
    """A bridged copy of a token (only its bridge mints and burns)."""

    ARTIFACT: ClassVar[str] = "WrappedToken"

    def bridge(self) -> str:
        return str(self._call("bridge"))

    def source_chain_id(self) -> int:
        return int(self._call("sourceChainId"))

    def source_token(self) -> str:
        return str(self._call("sourceToken"))

    def mint(self, to: str, amount: int, *, sender: str) -> Receipt:
        """Mint (reverts with OnlyBridge unless `sender` is the bridge)."""
        return self._tx("mint", checksum(to), amount, sender=sender)


class BridgeContract(ContractClient):
    """One chain's Bridge: locks originals, burns wrapped copies, mints / releases on a validator quorum."""

    ARTIFACT: ClassVar[str] = "Bridge"

    @classmethod
    def deploy(cls, chain: Chain, validators: Sequence[str], threshold: int, fee_bps: int, fee_recipient: str, *,
               owner: str | None = None, sender: str = "deployer") -> BridgeContract:
        """Deploy a Bridge governed by `owner` (default: the sender)."""
        return cls._deploy(chain, checksum(owner) if owner else chain.address(sender), addresses(validators),
                           threshold, fee_bps, checksum(fee_recipient), sender=sender)[0]

    def threshold(self) -> int:
        return int(self._call("threshold"))

    def fee_bps(self) -> int:
        return int(self._call("feeBps"))

    def owner(self) -> str:
        """The account that governs the validator set and threshold (OpenZeppelin Ownable2Step)."""
        return str(self._call("owner"))

    def is_validator(self, address: str) -> bool:
        return bool(self._call("isValidator", checksum(address)))

    def set_remote_bridge(self, chain_id: int, bridge: str, *, sender: str = "deployer") -> Receipt:
        return self._tx("setRemoteBridge", chain_id, checksum(bridge), sender=sender)

    def remote_bridge(self, chain_id: int) -> str:
        return str(self._call("remoteBridge", chain_id))

    def create_wrapped(self, source_chain_id: int, source_token: str, name: str, symbol: str, decimals: int, *,
                       sender: str = "deployer") -> Receipt:
        return self._tx("createWrapped", source_chain_id, checksum(source_token), name, symbol, decimals,
                        sender=sender)

    def wrapped_of(self, source_chain_id: int, source_token: str) -> str:
        """Address of the wrapped copy of `source_token` (the zero address if there is none)."""
        return str(self._call("wrappedOf", source_chain_id, checksum(source_token)))

    def locked(self, token: str) -> int:
        return int(self._call("locked", checksum(token)))

    def lock(self, token: str, amount: int, recipient: str, dest_chain_id: int, *, sender: str,
             gas: int | None = None) -> tuple[Locked, Receipt]:
        receipt = self._tx("lock", checksum(token), amount, checksum(recipient), dest_chain_id, sender=sender,
                           gas=gas)
        (event,) = self.events(receipt, Locked)
        return event, receipt

    def burn(self, wrapped: str, amount: int, recipient: str, *, sender: str,
             gas: int | None = None) -> tuple[Burned, Receipt]:
        receipt = self._tx("burn", checksum(wrapped), amount, checksum(recipient), sender=sender, gas=gas)
        (event,) = self.events(receipt, Burned)
        return event, receipt

    def mint(self, relay: RelayArgs, signatures: Sequence[bytes], *, sender: str,
             gas: int | None = None) -> tuple[Minted, Receipt]:
        """Execute a lock relayed from another chain (validators' signatures, signers ascending)."""
        receipt = self._tx("mint", *relay, b"".join(signatures), sender=sender, gas=gas)
        (event,) = self.events(receipt, Minted)
        return event, receipt

    def release(self, relay: RelayArgs, signatures: Sequence[bytes], *, sender: str,
                gas: int | None = None) -> tuple[Released, Receipt]:
        """Execute a burn relayed from another chain."""
        receipt = self._tx("release", *relay, b"".join(signatures), sender=sender, gas=gas)
        (event,) = self.events(receipt, Released)
        return event, receipt

    def relay_digest(self, kind: int, relay: RelayArgs) -> bytes:
        return bytes(self._call("relayDigest", kind, *relay))

    def processed(self, relay_id: bytes) -> bool:
        return bool(self._call("processed", relay_id))

    def locks(self, *, from_block: int = 0, to_block: int | str = "latest") -> list[LogEntry[Locked]]:
        return self.logs(Locked, from_block=from_block, to_block=to_block)

    def burns(self, *, from_block: int = 0, to_block: int | str = "latest") -> list[LogEntry[Burned]]:
        return self.logs(Burned, from_block=from_block, to_block=to_block)
