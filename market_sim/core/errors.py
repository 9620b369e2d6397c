"""The exception hierarchy: every error market_sim raises derives from MarketSimError."""

from __future__ import annotations

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
    """A transaction or call reverted; carries the decoded custom error name and arguments."""

    def __init__(self, error_name: str, args: tuple = (), *, contract: str | None = None,
                 raw: bytes | None = None, message: str | None = None) -> None:
        shown = ", ".join(repr(a) for a in args)
        where = f"{contract}: " if contract else ""
        super().__init__(message or f"{where}reverted with {error_name}({shown})")
        self.error_name = error_name
        self.args_decoded = tuple(args)
        self.contract = contract
        self.raw = raw


class DeploymentError(ChainError):
    """A deployment could not be completed or a deployment record is inconsistent."""


class ConsensusError(MarketSimError):
    """Consensus configuration or protocol failure (e.g. f >= n/3 for a BFT protocol)."""


class SettlementError(MarketSimError):
    """A settlement batch could not be built, submitted or reconciled."""
