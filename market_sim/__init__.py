"""market_sim: simulate markets with a matching engine, trading agents, validator consensus and on-chain settlement."""

import os as _os
from importlib.util import find_spec as _find_spec

from market_sim import _native

_native.install()  # before any compiled-capable module is imported: a stale build must never shadow a .py

# eth-hash picks its keccak backend at the first hash; safe-pysha3 is ~3x faster than pycryptodome (its default) on the
# short inputs py-evm hashes (trie nodes, storage keys). The user's own ETH_HASH_BACKEND wins.
if _find_spec("_pysha3") is not None:
    _os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")

from market_sim.core import (  # noqa: E402
    Instrument, MarketSimError, NewOrder, CancelOrder, ModifyOrder, Side, OrderType, TimeInForce, Trade,
)

__version__ = "0.1.0"


def __getattr__(name: str):
    # load_run pulls in pandas; import it only when asked for.
    if name == "load_run":
        from market_sim.simulation.results import load_run

        return load_run
    raise AttributeError(f"module 'market_sim' has no attribute {name!r}")

__all__ = [
    "__version__", "Instrument", "MarketSimError", "NewOrder", "CancelOrder", "ModifyOrder", "Side",
    "OrderType", "TimeInForce", "Trade", "load_run",
]
