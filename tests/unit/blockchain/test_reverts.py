"""RevertDecoder: selector table from ABIs; Error(string), Panic(uint256), custom errors, unknown and empty data."""

from __future__ import annotations

from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as selector

from market_sim.blockchain.reverts import SOLIDITY_ERRORS, ContractErrors, RevertDecoder, revert_data

LIMIT = {
    "type": "error",
    "name": "LimitExceeded",
    "inputs": [
        {"name": "account", "type": "address"},
        {"name": "pair", "type": "tuple", "components": [{"type": "uint64"}, {"type": "bytes32"}]},
        {"name": "others", "type": "address[]"},
    ],
}
ALICE = "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"


def test_custom_error_with_struct_and_checksummed_addresses():
    data = selector("LimitExceeded(address,(uint64,bytes32),address[])") + encode(
        ["address", "(uint64,bytes32)", "address[]"], [ALICE, (7, b"\x01" * 32), [ALICE]]
    )
    err = RevertDecoder([LIMIT]).decode(data, contract="Vault")
    assert err.error_name == "LimitExceeded"
    assert err.args_decoded == (ALICE, (7, b"\x01" * 32), (ALICE,))
    assert err.contract == "Vault" and err.raw == data
    assert dict(err.args) == {"account": ALICE, "pair": (7, b"\x01" * 32), "others": (ALICE,)}
    assert err.selector == selector("LimitExceeded(address,(uint64,bytes32),address[])")
    assert err.is_(ContractErrors("Vault", [LIMIT]).LimitExceeded)
    assert str(err).startswith("Vault: reverted with LimitExceeded(")


def test_error_string_and_panic():
    decoder = RevertDecoder()
    err = decoder.decode(selector("Error(string)") + encode(["string"], ["too late"]))
    assert (err.error_name, err.args_decoded, str(err)) == ("Error", ("too late",), "reverted: too late")
    assert dict(err.args) == {"reason": "too late"} and err.is_(SOLIDITY_ERRORS.Error)
    err = decoder.decode(selector("Panic(uint256)") + encode(["uint256"], [0x11]))
    assert (err.error_name, err.args_decoded) == ("Panic", (0x11,))
    assert dict(err.args) == {"code": 0x11} and err.is_(SOLIDITY_ERRORS.Panic) and not err.is_(SOLIDITY_ERRORS.Error)
    assert str(err) == "panic 0x11: arithmetic overflow or underflow"


def test_unknown_selector_and_empty_and_malformed():
    decoder = RevertDecoder([LIMIT])
    err = decoder.decode(bytes.fromhex("deadbeef") + b"\x00" * 32)
    assert err.error_name == "0xdeadbeef" and err.args_decoded == ()
    assert "unknown error 0xdeadbeef" in str(err)
    err = decoder.decode(b"")
    assert err.error_name == "" and "without a reason" in str(err)
    assert err.selector == b"" and not err.is_(SOLIDITY_ERRORS.Error) and dict(err.args) == {}
    err = decoder.decode(selector("Panic(uint256)") + b"\x01")
    assert err.error_name == "Panic" and "malformed" in str(err)


def test_table_size_counts_distinct_selectors():
    decoder = RevertDecoder([LIMIT, LIMIT, {"type": "function", "name": "f", "inputs": []}])
    assert len(decoder) == 3  # Error, Panic, LimitExceeded


def test_revert_data_from_exceptions():
    from eth_tester.exceptions import TransactionFailed
    from web3.exceptions import ContractCustomError

    assert revert_data(ContractCustomError("x", data="0x12345678")) == bytes.fromhex("12345678")
    assert revert_data(TransactionFailed("execution reverted: b'\\x12\\x34'")) == b"\x12\x34"
    assert revert_data(TransactionFailed("execution reverted: b''")) == b""
    nope = selector("Error(string)") + encode(["string"], ["nope"])
    assert revert_data(TransactionFailed("execution reverted: nope")) == nope
    assert revert_data(ValueError("unrelated")) is None
