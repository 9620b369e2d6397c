"""Many view calls at once: on the in-process chain straight on py-evm (the call's message executed on one state of
the latest block, skipping the web3 / eth-tester request path and the transaction checks: ~1/3 of the cost of
`Chain.call`); over JSON-RPC one `eth_call` each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi import decode

from market_sim.core.errors import ChainError

__all__ = ["call_many", "estimate_gas"]


def _output_types(abi: dict[str, Any]) -> list[str]:
    def one(out: dict[str, Any]) -> str:
        if out["type"].startswith("tuple"):
            return "(" + ",".join(one(c) for c in out["components"]) + ")" + out["type"][5:]
        return out["type"]
    return [one(o) for o in abi.get("outputs", [])]


def call_many(chain: Any, calls: Sequence[Any]) -> list[Any]:
    """The results of view calls (web3 ContractFunctions) at the latest block, in order, as `Chain.call` returns them
    (one output: the value; several: a tuple; addresses as eth_abi decodes them, lowercase). A call that fails goes through `Chain.call`, which raises its error."""
    tester = getattr(chain, "_tester", None)
    if tester is None or not calls:
        return [chain.call(c) for c in calls]
    from eth.vm.message import Message
    from eth.vm.spoof import SpoofTransaction

    backend = tester.backend
    sender = bytes.fromhex(chain.address("deployer")[2:])
    head = backend.chain.get_canonical_head()
    state = backend.chain.get_vm(at_header=head).state
    gas = head.gas_limit
    context = None
    out = []
    for call in calls:
        try:
            to = bytes.fromhex(call.address[2:])
            data = bytes.fromhex(call._encode_transaction_data()[2:])
            if context is None:  # the transaction context (origin, gas price) of a call from the deployer
                tx = backend._get_normalized_and_unsigned_evm_transaction(
                    {"from": sender, "to": to, "data": data, "value": 0, "gas": gas}, "latest")
                context = state.get_transaction_context(SpoofTransaction(tx, from_=sender))
        except Exception as exc:  # noqa: BLE001 - web3 / eth-tester raise unrelated types
            raise ChainError(f"cannot build the call to {call.address}: {exc}") from None
        # The message alone, as eth_call runs it once the transaction is validated and paid for (a view call needs
        # neither), then undone.
        snapshot = state.snapshot()
        message = Message(gas=gas, to=to, sender=sender, value=0, data=data, code=state.get_code(to))
        computation = state.computation_class.apply_message(state, message, context)
        state.revert(snapshot)
        if computation.is_error:
            out.append(chain.call(call))
            continue
        values = decode(_output_types(call.abi), computation.output)
        out.append(values[0] if len(values) == 1 else values)
    return out


def estimate_gas(chain: Any, tx: dict[str, Any]) -> int | None:
    """The gas a transaction consumes on the in-process chain's latest state, from ONE execution of its message
    (intrinsic gas + execution gas before refunds), or None where that does not apply (not in-process, or the
    message fails: the caller then asks the node, which reports the revert).

    eth-tester's estimate_gas binary-searches the limit (~13 executions of the whole transaction); this is one.
    The result is what the transaction uses, not the smallest limit it succeeds with (a CALL keeps 1/64 of the
    gas back): callers add headroom, as Chain.prepare does.
    """
    tester = getattr(chain, "_tester", None)
    if tester is None or not tx.get("to"):
        return None
    from eth.vm.message import Message
    from eth.vm.spoof import SpoofTransaction

    backend = tester.backend
    head = backend.chain.get_canonical_head()
    state = backend.chain.get_vm(at_header=head).state
    sender = bytes.fromhex(tx["from"][2:])
    to = bytes.fromhex(tx["to"][2:])
    data = bytes.fromhex(str(tx.get("data", "0x"))[2:])
    gas = head.gas_limit
    try:
        evm_tx = backend._get_normalized_and_unsigned_evm_transaction(
            {"from": sender, "to": to, "data": data, "value": int(tx.get("value", 0)), "gas": gas}, "latest")
        intrinsic = evm_tx.intrinsic_gas
        context = state.get_transaction_context(SpoofTransaction(evm_tx, from_=sender))
    except Exception:  # noqa: BLE001 - web3 / eth-tester raise unrelated types: let the node answer
        return None
    snapshot = state.snapshot()
    try:
        state.increment_nonce(sender)  # as the transaction executor does before the message
        message = Message(gas=gas - intrinsic, to=to, sender=sender, value=int(tx.get("value", 0)), data=data,
                          code=state.get_code(to))
        computation = state.computation_class.apply_message(state, message, context)
    finally:
        state.revert(snapshot)
    if computation.is_error:
        return None
    return intrinsic + computation.get_gas_used()
