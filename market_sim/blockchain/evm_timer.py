"""How long py-evm spends executing transactions: the floor a settled run cannot go below on the in-process chain.

`EvmTimer(chain, to=address)` times the VM's `apply_transaction` (EVM execution of the transaction and its state
changes, the work a block producer cannot skip) for every transaction sent to `address` while it is active, whether
eth-tester mines it (Chain.apply_transaction) or the BlockProducer builds the block; calls (`eth_call`, gas
estimation) and block sealing are not counted. It wraps the VM class of the chain's fork, restoring it on exit.
"""

from __future__ import annotations

import time
from typing import Any

from market_sim.core.errors import ChainError

__all__ = ["EvmTimer"]


class EvmTimer:
    """Context manager: `seconds` and `transactions` of py-evm executing the transactions sent to `to`."""

    def __init__(self, chain: Any, *, to: str) -> None:
        tester = getattr(chain, "_tester", None)
        if tester is None:
            raise ChainError("py-evm execution time is only measurable on the in-process chain (Chain.local)")
        self._cls = type(tester.backend.chain.get_vm())
        self._to = bytes.fromhex(to.removeprefix("0x").lower())
        self.seconds = 0.0
        self.transactions = 0
        self._original: Any = None

    def __enter__(self) -> EvmTimer:
        original = self._cls.apply_transaction
        self._original = original
        timer = self

        def apply_transaction(vm_self: Any, header: Any, transaction: Any) -> Any:
            if transaction.to != timer._to:
                return original(vm_self, header, transaction)
            c0 = time.perf_counter()
            try:
                return original(vm_self, header, transaction)
            finally:
                timer.seconds += time.perf_counter() - c0
                timer.transactions += 1

        self._cls.apply_transaction = apply_transaction
        return self

    def __exit__(self, *exc: object) -> None:
        if self._original is not None:
            self._cls.apply_transaction = self._original
            self._original = None
