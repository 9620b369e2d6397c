"""Validator consensus: signed pre-trade votes, BFT quorum certificates, Streamlet ordering, a hash-chained log."""

from market_sim.consensus.cluster import Cluster, ConsensusResult, Submission, run_consensus
from market_sim.consensus.committee import BatchRejected, Committee, PreTradeDecision, build_nodes
from market_sim.consensus.config import BFT_PROTOCOLS, PROTOCOLS, ConsensusConfig
from market_sim.consensus.log import LogBlock, LogVerification, QuorumCertificate, TradeLog, TradeProof
from market_sim.consensus.merkle import MerkleTree, default_leaf_encoder, leaf_hash, verify_proof
from market_sim.consensus.network import Network, Partition
from market_sim.consensus.node import BYZANTINE_BEHAVIOURS, Behaviour, ConsensusNode, parse_behaviour
from market_sim.consensus.protocols import BftQuorum, MajorityConsensus, MajorityVote, Raft, Streamlet
from market_sim.consensus.signing import (
    GENESIS_HASH, SigningDomain, ValidatorKey, batch_digest, batch_struct_hash, recover, sign, validator_keys)
from market_sim.consensus.state import BalanceView, TradeClaim, ValidationState

__all__ = [
    "Cluster", "ConsensusResult", "Submission", "run_consensus", "BatchRejected", "Committee", "PreTradeDecision",
    "build_nodes", "BFT_PROTOCOLS", "PROTOCOLS", "ConsensusConfig", "LogBlock", "LogVerification",
    "QuorumCertificate", "TradeLog", "TradeProof", "MerkleTree", "default_leaf_encoder", "leaf_hash",
    "verify_proof", "Network", "Partition", "BYZANTINE_BEHAVIOURS", "Behaviour", "ConsensusNode",
    "parse_behaviour", "GENESIS_HASH", "SigningDomain", "ValidatorKey", "batch_digest", "batch_struct_hash",
    "recover", "sign", "validator_keys", "BalanceView", "TradeClaim", "ValidationState", "BftQuorum",
    "MajorityConsensus", "MajorityVote", "Raft", "Streamlet",
]
