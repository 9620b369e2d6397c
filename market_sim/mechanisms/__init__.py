"""Market mechanisms as plug-ins: the matching rule of a venue (docs/mechanisms.md).

Shipped: continuous (the matching engine), call-auction (opening/closing crosses, MOO/LOO/MOC/LOC, LULD bands,
volatility interruptions, halts), batch (frequent batch auctions), pro-rata (CME style, optional top order), and
a speed bump on any of them. Importing market_sim.mechanisms.plugin registers them and the `mechanism` venue kind.
"""

from market_sim.mechanisms.uncross import Cross, allocate_cross, clearing_price

__all__ = ["Cross", "clearing_price", "allocate_cross"]
