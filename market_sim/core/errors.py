"""The exception hierarchy: every error market_sim raises derives from MarketSimError."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

__all__ = [
    "MarketSimError",
    "ConfigError",
    "ValidationError",
    "UnknownInstrumentError",
    "UnknownTraderError",
    "ChainError",
    "RpcConnectionError",
    "CompilationError",
    "ContractRevertError",
    "DeploymentError",
    "ConsensusError",
    "SettlementError",
    "ApiClientError",
]


class MarketSimError(Exception):
    """Root of every error raised by market_sim; the CLI prints these without a traceback."""


class ConfigError(MarketSimError):
    """A configuration or scenario value is missing, malformed or out of range."""

    def __init__(self, message: str, *, key: str | None = None, value: object = None) -> None:
        super().__init__(message if key is None else f"{key}: {message} (got {value!r})")
        self.key = key
        self.value = value


class ValidationError(MarketSimError):
    """A domain value (price, quantity, order field) is invalid."""


class UnknownInstrumentError(ValidationError):
    """A symbol that no configured instrument has."""

    def __init__(self, symbol: str) -> None:
        super().__init__(f"unknown instrument {symbol!r}")
        self.symbol = symbol


class UnknownTraderError(ValidationError):
    """A trader id that is not registered."""

    def __init__(self, trader: str) -> None:
        super().__init__(f"unknown trader {trader!r}")
        self.trader = trader


class ChainError(MarketSimError):
    """Something went wrong talking to a chain."""


class RpcConnectionError(ChainError):
    """A JSON-RPC endpoint could not be reached or did not answer as an Ethereum node."""


class CompilationError(ChainError):
    """Solidity compilation failed; the message carries solc's errors with file and line."""


class ContractRevertError(ChainError):
    """A transaction or call reverted, with the custom error decoded from the contract ABI.

    Fields: `error_name` (the ABI name, "Error"/"Panic" for Solidity's built-ins, "" for a bare revert, the hex
    selector for an unknown error), `args` (read-only mapping of the ABI's parameter names to the decoded values),
    `args_decoded` (the same values in ABI order), `contract` (artifact name of the reverting contract, if known),
    `selector` (the 4-byte error selector, b"" for a bare revert), `raw` (the revert data), and for a mined
    transaction `tx_hash` and `gas_used`. Match an error by its selector with `is_(SomeErrors.X)`, never by name.
    """

    error_name: str
    args_decoded: tuple[Any, ...]
    contract: str | None
    selector: bytes
    raw: bytes | None
    tx_hash: str | None
    gas_used: int | None

    def __init__(self, error_name: str, args: tuple = (), *, contract: str | None = None,
                 raw: bytes | None = None, message: str | None = None, names: Sequence[str] = (),
                 selector: bytes | None = None) -> None:
        shown = ", ".join(repr(a) for a in args)
        where = f"{contract}: " if contract else ""
        super().__init__(message or f"{where}reverted with {error_name}({shown})")
        self.error_name = error_name
        self.args_decoded = tuple(args)
        keys = [n or f"arg{i}" for i, n in enumerate(names)] + [f"arg{i}" for i in range(len(names), len(args))]
        self._named: Mapping[str, Any] = MappingProxyType(dict(zip(keys, self.args_decoded)))
        self.contract = contract
        self.raw = raw
        self.selector = bytes(selector) if selector is not None else bytes(raw[:4]) if raw else b""
        self.tx_hash = None
        self.gas_used = None

    @property
    def args(self) -> Mapping[str, Any]:  # type: ignore[override]
        """The decoded error arguments by ABI parameter name (unnamed parameters: arg0, arg1, ...)."""
        return self._named

    def is_(self, error: Any) -> bool:
        """Whether this revert is `error` (an ABI error definition with a `selector`, e.g. SettlementErrors.X)."""
        return bool(self.selector) and self.selector == getattr(error, "selector", None)

    def is_any(self, errors: Iterable[Any]) -> bool:
        """Whether this revert is one of `errors`."""
        return any(self.is_(e) for e in errors)


class DeploymentError(ChainError):
    """A deployment could not be completed or a deployment record is inconsistent."""


class ConsensusError(MarketSimError):
    """Consensus configuration or protocol failure (e.g. f >= n/3 for a BFT protocol)."""


class SettlementError(MarketSimError):
    """A settlement batch could not be built, submitted or reconciled."""


class ApiClientError(MarketSimError):
    """A market-sim server could not be reached, or refused a request (`market-sim watch --url`)."""
