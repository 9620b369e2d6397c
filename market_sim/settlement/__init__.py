"""On-chain settlement: batches of consensus-certified trades settled by the Settlement contract, and reconciliation."""

from market_sim.settlement.batch import BatchHeader, SettlementBatch, SettlementMode, pack_signatures
from market_sim.settlement.client import SettledBatchInfo, SettlementClient
from market_sim.settlement.deltas import NetDeltas, deltas_leaf
from market_sim.settlement.ledger import Ledger
from market_sim.settlement.trades import SettledTrade, TradeEncoder

__all__ = [
    "BatchHeader", "SettlementBatch", "SettlementMode", "pack_signatures", "SettledBatchInfo", "SettlementClient",
    "NetDeltas", "deltas_leaf", "Ledger", "SettledTrade", "TradeEncoder",
]
