"""Typed contract clients: the only way code outside market_sim.blockchain talks to the project's contracts.

Methods take typed arguments (checksum addresses, integer amounts in token base units) and return typed values;
transactions return a Receipt; events are decoded into frozen dataclasses; each contract's custom errors are
`XErrors.Name` definitions whose selectors come from the ABI (match reverts with `exc.is_(XErrors.Name)`).
"""

from market_sim.blockchain.clients.amm import (
    WETH9, Burn, Factory, FactoryErrors, Mint, Pair, PairCreated, PairErrors, Reserves, Router, RouterErrors, Swap,
    Sync,
)
from market_sim.blockchain.clients.base import (
    MAX_UINT256, ContractClient, ContractEvent, LogEntry, Receipt, checksum, is_address_like,
)
from market_sim.blockchain.clients.bridge import (
    BridgeContract, BridgeErrors, Burned, Locked, Minted, RelayArgs, Released, WrappedToken, WrappedTokenErrors,
)
from market_sim.blockchain.clients.erc20 import ERC20, Approval, ERC20Errors, TestToken, Transfer
from market_sim.blockchain.clients.settlement import (
    DEFAULT_MAX_VALIDITY, BatchSettled, BatchSkipped, Deposited, SettlementContract, SettlementErrors, TokenListed,
    WithdrawalRequested, Withdrawn,
)
from market_sim.blockchain.reverts import SOLIDITY_ERRORS, ContractErrors, ErrorDef

__all__ = [
    "MAX_UINT256", "ContractClient", "ContractEvent", "LogEntry", "Receipt", "checksum", "is_address_like",
    "ContractErrors", "ErrorDef", "SOLIDITY_ERRORS",
    "ERC20", "TestToken", "Transfer", "Approval", "ERC20Errors",
    "SettlementContract", "SettlementErrors", "Deposited", "Withdrawn", "BatchSettled", "TokenListed",
    "WithdrawalRequested", "BatchSkipped", "DEFAULT_MAX_VALIDITY",
    "Factory", "Pair", "Router", "WETH9", "Mint", "Burn", "Swap", "Sync", "PairCreated", "Reserves",
    "FactoryErrors", "PairErrors", "RouterErrors",
    "BridgeContract", "WrappedToken", "Locked", "Burned", "Minted", "Released", "RelayArgs", "BridgeErrors",
    "WrappedTokenErrors",
]
