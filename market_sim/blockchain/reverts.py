"""Revert decoding: raw revert data -> ContractRevertError(error_name, args) using every known error ABI."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

from market_sim.core.errors import ContractRevertError

__all__ = ["RevertDecoder", "PANIC_REASONS", "revert_data", "ErrorDef", "ContractErrors", "error_selector",
           "SOLIDITY_ERRORS"]

# Solidity's Panic(uint256) codes (docs: "Panic via assert and Error via require").
PANIC_REASONS = {
    0x00: "generic compiler panic",
    0x01: "assert failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "corrupt storage byte array",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an uninitialised function pointer",
}
_BYTES_REPR = re.compile(r"""(b(['"]).*\2)\s*$""", re.DOTALL)


def _abi_type(param: dict[str, Any]) -> str:
    # Tuples (structs) are spelled out as (t1,t2,...) with their array suffix.
    if param["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param.get("components", []))
        return f"({inner}){param['type'][len('tuple'):]}"
    return param["type"]


ERROR_STRING = {"type": "error", "name": "Error", "inputs": [{"name": "reason", "type": "string"}]}
PANIC = {"type": "error", "name": "Panic", "inputs": [{"name": "code", "type": "uint256"}]}


def error_selector(item: dict[str, Any]) -> bytes:
    """The 4-byte selector of an ABI error entry: keccak256("Name(type1,type2,...)")[:4]."""
    types = ",".join(_abi_type(p) for p in item.get("inputs", []))
    return function_signature_to_4byte_selector(f"{item['name']}({types})")


@dataclass(frozen=True, slots=True)
class ErrorDef:
    """One custom error of a contract ABI: its name, parameter names and types, and its selector."""

    contract: str
    name: str
    params: tuple[tuple[str, str], ...]  # (name, ABI type)
    selector: bytes

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(t for _, t in self.params)})"


class ContractErrors:
    """The custom errors of one contract's ABI as attributes: `SettlementErrors.InsufficientBalance` is an ErrorDef
    whose selector is computed from the ABI; match a revert with `exc.is_(SettlementErrors.InsufficientBalance)`.

    The ABI is read lazily (from the shipped artifact `contract`, or the `abi` given); an unknown name is an
    AttributeError naming the contract's errors.
    """

    def __init__(self, contract: str, abi: Iterable[dict[str, Any]] | None = None) -> None:
        self._contract = contract
        self._abi = list(abi) if abi is not None else None
        self._defs: dict[str, ErrorDef] | None = None

    def _load(self) -> dict[str, ErrorDef]:
        if self._defs is None:
            abi = self._abi
            if abi is None:
                from market_sim.blockchain.compiler import load_artifact

                abi = list(load_artifact(self._contract).abi)
            self._defs = {
                item["name"]: ErrorDef(self._contract, item["name"],
                                       tuple((p.get("name", ""), _abi_type(p)) for p in item.get("inputs", [])),
                                       error_selector(item))
                for item in abi if item.get("type") == "error"
            }
        return self._defs

    def __getattr__(self, name: str) -> ErrorDef:
        if name.startswith("_"):
            raise AttributeError(name)
        defs = self._load()
        try:
            return defs[name]
        except KeyError:
            raise AttributeError(f"{self._contract} has no custom error {name!r}; "
                                 f"its errors: {', '.join(sorted(defs))}") from None

    def __iter__(self) -> Iterator[ErrorDef]:
        return iter(self._load().values())

    def __repr__(self) -> str:
        return f"ContractErrors({self._contract})"


# Solidity's built-in errors: require(..., "reason") and assert / arithmetic panics.
SOLIDITY_ERRORS = ContractErrors("Solidity", [ERROR_STRING, PANIC])


class RevertDecoder:
    """Maps 4-byte error selectors to names and argument types; decodes revert data into ContractRevertError."""

    def __init__(self, error_abis: Iterable[dict[str, Any]] = ()) -> None:
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        self.add(ERROR_STRING)
        self.add(PANIC)
        for item in error_abis:
            self.add(item)

    def add(self, item: dict[str, Any]) -> None:
        """Register one ABI entry (entries that are not errors are ignored)."""
        if item.get("type") != "error":
            return
        types = [_abi_type(p) for p in item.get("inputs", [])]
        names = [p.get("name", "") for p in item.get("inputs", [])]
        self._errors.setdefault(error_selector(item), (item["name"], types, names))

    def add_abi(self, abi: Iterable[dict[str, Any]]) -> None:
        """Register every error of a contract ABI."""
        for item in abi:
            self.add(item)

    def __len__(self) -> int:
        return len(self._errors)

    def decode(self, data: bytes | None, *, contract: str | None = None,
               detail: str | None = None) -> ContractRevertError:
        """The exception for revert `data` (unknown selectors keep their hex; empty data means a bare revert)."""
        where = f"{contract}: " if contract else ""
        if not data:
            text = detail or "reverted without a reason (require without message, out of gas or invalid opcode)"
            return ContractRevertError("", (), contract=contract, raw=b"", message=f"{where}{text}")
        known = self._errors.get(bytes(data[:4]))
        if known is None:
            return ContractRevertError(
                "0x" + data[:4].hex(), (), contract=contract, raw=bytes(data),
                message=f"{where}reverted with unknown error 0x{data.hex()}",
            )
        name, types, names = known
        try:
            args = tuple(_checksummed(t, v) for t, v in zip(types, abi_decode(types, bytes(data[4:]))))
        except (DecodingError, ValueError, OverflowError):
            return ContractRevertError(
                name, (), contract=contract, raw=bytes(data),
                message=f"{where}reverted with malformed {name} data 0x{data.hex()}",
            )
        message = None
        if name == "Panic":
            message = f"{where}panic 0x{args[0]:02x}: {PANIC_REASONS.get(args[0], 'unknown panic code')}"
        elif name == "Error":
            message = f"{where}reverted: {args[0]}"
        return ContractRevertError(name, args, contract=contract, raw=bytes(data), message=message, names=names)


def _checksummed(abi_type: str, value: Any) -> Any:
    # eth-abi decodes addresses lower-case; everything else in market_sim uses checksum addresses.
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type.startswith("address[") and isinstance(value, (list, tuple)):
        return type(value)(_checksummed(abi_type[: abi_type.rindex("[")], v) for v in value)
    return value


def revert_data(exc: BaseException) -> bytes | None:
    """The raw revert data carried by a web3 / eth-tester exception, or None if it carries none."""
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return None
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    from eth_tester.exceptions import TransactionFailed

    if isinstance(exc, TransactionFailed) and exc.args:
        # eth-tester decodes Error(string) itself and renders every other revert payload as a bytes repr.
        msg = exc.args[0]
        if isinstance(msg, (bytes, bytearray)):
            return bytes(msg)
        match = _BYTES_REPR.search(str(msg))
        if match:
            try:
                return ast.literal_eval(match.group(1))
            except (ValueError, SyntaxError):
                return None
        reason = str(msg).removeprefix("execution reverted").removeprefix(":").strip()
        if not reason:
            return b""
        return function_signature_to_4byte_selector("Error(string)") + abi_encode(["string"], [reason])
    return None
