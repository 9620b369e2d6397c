"""ERC20 tokens: any ERC20 (read, approve, transfer) and the project's mintable TestToken."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from market_sim.blockchain.chain import Chain, PreparedTx
from market_sim.blockchain.clients.base import MAX_UINT256, ContractClient, ContractEvent, Receipt, checksum
from market_sim.blockchain.reverts import ContractErrors

__all__ = ["ERC20", "TestToken", "Transfer", "Approval", "ERC20Errors"]

ERC20Errors = ContractErrors("TestToken")


@dataclass(frozen=True, slots=True)
class Transfer(ContractEvent):
    EVENT: ClassVar[str] = "Transfer"
    ABI_FIELDS: ClassVar[tuple[str, ...]] = ("from", "to", "value")
    sender: str
    to: str
    value: int


@dataclass(frozen=True, slots=True)
class Approval(ContractEvent):
    EVENT: ClassVar[str] = "Approval"
    ABI_FIELDS: ClassVar[tuple[str, ...]] = ("owner", "spender", "value")
    owner: str
    spender: str
    value: int


class ERC20(ContractClient):
    """Any ERC20 token (read through the TestToken ABI, the standard functions only)."""

    ARTIFACT: ClassVar[str] = "TestToken"

    def name(self) -> str:
        return str(self._call("name"))

    def symbol(self) -> str:
        return str(self._call("symbol"))

    def decimals(self) -> int:
        return int(self._call("decimals"))

    def total_supply(self) -> int:
        return int(self._call("totalSupply"))

    def balance_of(self, account: str) -> int:
        return int(self._call("balanceOf", checksum(account)))

    def allowance(self, owner: str, spender: str) -> int:
        return int(self._call("allowance", checksum(owner), checksum(spender)))

    def approve(self, spender: str, amount: int = MAX_UINT256, *, sender: str) -> Receipt:
        return self._tx("approve", checksum(spender), amount, sender=sender)

    def ensure_allowance(self, spender: str, *, owner: str, minimum: int = MAX_UINT256 // 2) -> Receipt | None:
        """Approve `spender` for unlimited `owner` funds unless its allowance is already at least `minimum`."""
        if self.allowance(self.chain.address(owner), spender) < minimum:
            return self.approve(spender, MAX_UINT256, sender=owner)
        return None

    def transfer(self, to: str, amount: int, *, sender: str, gas: int | None = None) -> Receipt:
        return self._tx("transfer", checksum(to), amount, sender=sender, gas=gas)

    def prepare_transfer(self, to: str, amount: int, *, sender: str, gas: int | None = None) -> PreparedTx:
        """A transfer built now, for a BlockProducer to send later."""
        return self._prepare("transfer", checksum(to), amount, sender=sender, gas=gas)

    def prepare_approve(self, spender: str, amount: int = MAX_UINT256, *, sender: str,
                        gas: int | None = None) -> PreparedTx:
        """An approval built now, for a BlockProducer to send later."""
        return self._prepare("approve", checksum(spender), amount, sender=sender, gas=gas)


class TestToken(ERC20):
    """The project's mintable test token (owner mints)."""

    __test__ = False  # not a pytest test class
    ARTIFACT: ClassVar[str] = "TestToken"

    @classmethod
    def deploy(cls, chain: Chain, name: str, symbol: str, decimals: int = 18, *,
               sender: str = "deployer") -> TestToken:
        """Deploy a TestToken owned by `sender`."""
        return cls._deploy(chain, name, symbol, decimals, sender=sender)[0]

    def owner(self) -> str:
        return str(self._call("owner"))

    def mint(self, to: str, amount: int, *, sender: str = "deployer", gas: int | None = None) -> Receipt:
        return self._tx("mint", checksum(to), amount, sender=sender, gas=gas)

    def prepare_mint(self, to: str, amount: int, *, sender: str = "deployer", gas: int | None = None) -> PreparedTx:
        """A mint built now, for a BlockProducer to send later."""
        return self._prepare("mint", checksum(to), amount, sender=sender, gas=gas)
