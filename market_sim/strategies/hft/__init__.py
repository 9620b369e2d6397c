"""High-frequency strategies (registered agent types) and the latency budget frame.

    avellaneda_stoikov, gueant_mm   market makers with online σ, A, k and inventory limits (market_making.py)
    queue_maker                     queue-position-aware quoting from L2 deltas (queue.py)
    imbalance_taker                 order-book imbalance and trade-flow signals (signals.py)
    latency_arb                     two venues, one instrument (latency_arb.py)
"""

from market_sim.strategies.hft.base import HftAgent, HftParams, latency_report
from market_sim.strategies.hft.latency_arb import LatencyArb
from market_sim.strategies.hft.market_making import AvellanedaStoikov, GueantMM, QuotingAgent
from market_sim.strategies.hft.queue import QueueMaker
from market_sim.strategies.hft.signals import ImbalanceTaker, TradeFlow, imbalance

__all__ = ["HftAgent", "HftParams", "latency_report", "LatencyArb", "AvellanedaStoikov", "GueantMM",
           "QuotingAgent", "QueueMaker", "ImbalanceTaker", "TradeFlow", "imbalance"]
