"""Deployment defaults, in one place: the validator committee every contract stack starts with, the bridge fee, and the
test tokens `market-sim deploy` creates. The settlement and DeFi deploy steps, the [defi.bridge] and consensus
configuration all take their defaults from here."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_VALIDATORS", "DEFAULT_THRESHOLD", "DEFAULT_BRIDGE_FEE_BPS", "TokenSpec", "BASE_TOKEN",
           "QUOTE_TOKEN", "bft_threshold"]


def bft_threshold(validators: int) -> int:
    """Signatures a BFT quorum of n validators needs: ceil((n + f + 1) / 2) with f = floor((n - 1) / 3), i.e. 2f + 1
    for n = 3f + 1 (as ConsensusConfig.quorum for the bft protocol)."""
    f = (validators - 1) // 3
    return (validators + f + 2) // 2


# A 4-validator BFT committee (f = 1, quorum 2f + 1 = 3) with the deterministic simulation keys: a working default for
# local chains and tests; on a live network the owner replaces it (addValidator / removeValidator / setThreshold).
DEFAULT_VALIDATORS = 4
DEFAULT_THRESHOLD = bft_threshold(DEFAULT_VALIDATORS)
DEFAULT_BRIDGE_FEE_BPS = 10


@dataclass(frozen=True, slots=True)
class TokenSpec:
    """An ERC20 test token to deploy: name, symbol, decimals."""

    name: str
    symbol: str
    decimals: int


BASE_TOKEN = TokenSpec("Test Wrapped Ether", "tWETH", 18)
QUOTE_TOKEN = TokenSpec("Test USD", "tUSD", 6)
