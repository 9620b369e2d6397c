"""The base of every typed contract client: typed receipts, decoded events, calls and transactions by ABI name.

Only this package builds contract calls from ABI function names; code outside market_sim.blockchain uses the
typed methods of the clients (ERC20, SettlementContract, Factory/Pair/Router/WETH9, BridgeContract/WrappedToken).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Generic, TypeVar

from eth_utils import is_address, to_checksum_address
from hexbytes import HexBytes
from web3.contract import Contract

from market_sim.blockchain.artifacts import Artifact
from market_sim.blockchain.chain import Chain, PreparedTx
from market_sim.core.errors import ConfigError

__all__ = ["Receipt", "ContractEvent", "LogEntry", "ContractClient", "checksum", "is_address_like", "MAX_UINT256"]

MAX_UINT256 = 2**256 - 1
E = TypeVar("E", bound="ContractEvent")
C = TypeVar("C", bound="ContractClient")


def checksum(address: str) -> str:
    """The checksum form of a hex address (ConfigError if it is not one)."""
    if not isinstance(address, str) or not is_address(address):
        raise ConfigError("not an address", key="address", value=address)
    return to_checksum_address(address)


def is_address_like(value: object) -> bool:
    return isinstance(value, str) and is_address(value)


@dataclass(frozen=True, slots=True)
class Receipt:
    """A mined transaction: hash, block, gas used and status (1 = success)."""

    tx_hash: str
    block_number: int
    gas_used: int
    status: int
    raw: Any = field(default=None, repr=False, compare=False)  # the node's receipt, for event decoding here

    @property
    def ok(self) -> bool:
        return self.status == 1

    @classmethod
    def of(cls, raw: Any) -> Receipt:
        """From a web3 receipt."""
        return cls(HexBytes(raw["transactionHash"]).to_0x_hex(), int(raw["blockNumber"]), int(raw["gasUsed"]),
                   int(raw["status"]), raw)


def _plain(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value


@dataclass(frozen=True, slots=True)
class ContractEvent:
    """Base of decoded events: subclasses are frozen dataclasses naming the ABI event (EVENT) and, in field order,
    the ABI parameter names (ABI_FIELDS)."""

    EVENT: ClassVar[str] = ""
    ABI_FIELDS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_args(cls: type[E], args: Any) -> E:
        names = cls.ABI_FIELDS or tuple(f.name for f in fields(cls))
        return cls(*(_plain(args[n]) for n in names))


@dataclass(frozen=True, slots=True)
class LogEntry(Generic[E]):
    """A decoded event with where it was logged."""

    event: E
    block_number: int
    log_index: int
    tx_hash: str


class ContractClient:
    """A typed handle on one deployed contract (ARTIFACT names its compiled artifact)."""

    ARTIFACT: ClassVar[str] = ""

    def __init__(self, chain: Chain, address: str | Contract, *, artifact: str | Artifact | None = None) -> None:
        """`artifact` overrides ARTIFACT for an ABI-compatible contract (e.g. Uniswap's own Pair)."""
        self.chain = chain
        if isinstance(address, str):
            self.handle: Contract = chain.contract(artifact or self.ARTIFACT, checksum(address))
        else:
            self.handle = address
        self.address: str = self.handle.address

    @classmethod
    def at(cls: type[C], chain: Chain, address: str, *, artifact: str | Artifact | None = None) -> C:
        """The client of the contract deployed at `address`."""
        return cls(chain, address, artifact=artifact)

    @classmethod
    def _deploy(cls: type[C], chain: Chain, *args: Any, sender: str = "deployer", gas: int | None = None,
                artifact: str | Artifact | None = None) -> tuple[C, Receipt]:
        handle, raw = chain.deploy_with_receipt(artifact or cls.ARTIFACT, *args, sender=sender, gas=gas)
        return cls(chain, handle), Receipt.of(raw)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.address == self.address and other.chain is self.chain

    def __hash__(self) -> int:
        return hash((type(self), self.address))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.address} on {self.chain.network})"

    # ---- for subclasses -----------------------------------------------------------------------------------------
    def _fn(self, name: str, *args: Any) -> Any:
        return getattr(self.handle.functions, name)(*args)

    def _call(self, name: str, *args: Any, block: int | str = "latest") -> Any:
        return _plain(self.chain.call(self._fn(name, *args), block=block))

    def _tx(self, name: str, *args: Any, sender: str = "deployer", gas: int | None = None,
            value: int = 0) -> Receipt:
        return Receipt.of(self.chain.transact(self._fn(name, *args), sender=sender, gas=gas, value=value))

    def _prepare(self, name: str, *args: Any, sender: str = "deployer", gas: int | None = None,
                 value: int = 0) -> PreparedTx:
        """The call built as a transaction for a BlockProducer to send later (see Chain.prepare)."""
        return self.chain.prepare(self._fn(name, *args), sender=sender, gas=gas, value=value)

    def _send(self, name: str, *args: Any, sender: str = "deployer", gas: int | None = None) -> str:
        tx_hash = self.chain.send(self._fn(name, *args), sender=sender, gas=gas)
        return tx_hash if isinstance(tx_hash, str) else HexBytes(tx_hash).to_0x_hex()

    def wait(self, tx_hash: str) -> Receipt:
        """The receipt of a transaction sent earlier (reverts raise ContractRevertError)."""
        return Receipt.of(self.chain.wait(tx_hash))

    def events(self, receipt: Receipt, event: type[E]) -> list[E]:
        """Every `event` this contract emitted in the transaction, decoded."""
        return [event.from_args(args) for args in self.chain.events(receipt.raw, self.handle, event.EVENT)]

    def logs(self, event: type[E], *, from_block: int = 0, to_block: int | str = "latest") -> list[LogEntry[E]]:
        """Every `event` of this contract in a block range, oldest first."""
        return [LogEntry(event.from_args(log), log["blockNumber"], log["logIndex"], log["transactionHash"])
                for log in self.chain.event_logs(self.handle, event.EVENT, from_block=from_block, to_block=to_block)]


def addresses(values: Sequence[str]) -> list[str]:
    return [checksum(v) for v in values]
