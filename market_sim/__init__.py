"""market_sim: simulate markets with a matching engine, trading agents, validator consensus and on-chain settlement."""

from market_sim import _native

_native.install()  # before any compiled-capable module is imported: a stale build must never shadow a .py

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
