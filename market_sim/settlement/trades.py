"""Trades as the settlement contract sees them: token amounts between addresses, and their Merkle leaves."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from market_sim.blockchain.abi import abi_encode, is_address, to_checksum_address

from market_sim.consensus.merkle import leaf_hash

from market_sim.core.errors import SettlementError
from market_sim.core.events import Trade
from market_sim.core.instruments import Instrument
from market_sim.core.money import format_units
from market_sim.core.orders import Side

__all__ = ["SettledTrade", "TradeEncoder", "SETTLED_TRADE_TYPES", "FEE_BPS_DENOMINATOR"]

# Solidity: struct SettledTrade { uint64 tradeId; address buyer; address seller; address baseToken;
#   address quoteToken; uint256 baseAmount; uint256 quoteAmount; uint256 buyerFee; uint256 sellerFee; }
SETTLED_TRADE_TYPES = ("uint64", "address", "address", "address", "address",
                       "uint256", "uint256", "uint256", "uint256")
FEE_BPS_DENOMINATOR = 10_000
_MEMO_MAX = 1 << 17  # trades a TradeEncoder keeps encoded
_UINT_BITS = (64, 0, 0, 0, 0, 256, 256, 256, 256)  # 0: an address
_ADDRESS_WORDS: dict[str, bytes] = {}  # checksum address -> its 32-byte ABI word (validated once by abi_encode)


def _address_word(address: object) -> bytes | None:
    word = _ADDRESS_WORDS.get(address)  # type: ignore[arg-type]
    if (word is None and isinstance(address, str) and len(address) == 42 and is_address(address)
            and address == to_checksum_address(address)):
        word = _ADDRESS_WORDS[address] = bytes(12) + bytes.fromhex(address[2:])
    return word


def _fast_encode(values: tuple) -> bytes | None:
    """abi.encode of a SettledTrade tuple (static types only: the words concatenated), or None when a value is not
    a plain in-range int / checksum address (abi_encode then encodes it, or raises its error)."""
    words = []
    for value, bits in zip(values, _UINT_BITS):
        if bits:
            if type(value) is not int or not 0 <= value < 1 << bits:
                return None
            words.append(value.to_bytes(32, "big"))
        else:
            word = _address_word(value)
            if word is None:
                return None
            words.append(word)
    return b"".join(words)


@dataclass(frozen=True, slots=True)
class SettledTrade:
    """One trade in token base units: buyer pays quote_amount + buyer_fee, seller gets quote_amount - seller_fee."""

    trade_id: int
    buyer: str
    seller: str
    base_token: str
    quote_token: str
    base_amount: int
    quote_amount: int
    buyer_fee: int = 0
    seller_fee: int = 0

    def as_tuple(self) -> tuple:
        """The value web3 passes for the Solidity struct."""
        return (self.trade_id, self.buyer, self.seller, self.base_token, self.quote_token,
                self.base_amount, self.quote_amount, self.buyer_fee, self.seller_fee)

    def encode(self) -> bytes:
        """abi.encode(trade): the leaf's pre-image."""
        values = self.as_tuple()
        return _fast_encode(values) or abi_encode(SETTLED_TRADE_TYPES, values)

    def leaf(self) -> bytes:
        """OpenZeppelin-style double-hashed leaf keccak256(keccak256(abi.encode(trade)))."""
        return leaf_hash(self.encode())

    def deltas(self, fee_account: str) -> list[tuple[str, str, int]]:
        """(account, token, signed amount) balance changes this trade causes, fees to `fee_account`."""
        out = [
            (self.seller, self.base_token, -self.base_amount),
            (self.buyer, self.base_token, self.base_amount),
            (self.buyer, self.quote_token, -(self.quote_amount + self.buyer_fee)),
            (self.seller, self.quote_token, self.quote_amount - self.seller_fee),
        ]
        if self.buyer_fee + self.seller_fee:
            out.append((fee_account, self.quote_token, self.buyer_fee + self.seller_fee))
        return out


class TradeEncoder:
    """Maps a matching-engine Trade to its SettledTrade: token addresses, token amounts, taker fee, trader addresses."""

    def __init__(self, instruments: Mapping[str, Instrument], tokens: Mapping[str, str],
                 accounts: Mapping[str, str], *, taker_fee_bps: int = 0) -> None:
        if not 0 <= taker_fee_bps < FEE_BPS_DENOMINATOR:
            raise SettlementError(f"taker_fee_bps must be in 0..{FEE_BPS_DENOMINATOR - 1}, got {taker_fee_bps}")
        for inst in instruments.values():
            for asset in (inst.base_asset, inst.quote_asset):
                if asset not in tokens:
                    raise SettlementError(f"instrument {inst.symbol}: no token address for asset {asset!r}")
        self.instruments = dict(instruments)
        self.tokens = {k: to_checksum_address(v) for k, v in tokens.items()}
        self.accounts = {k: to_checksum_address(v) for k, v in accounts.items()}
        self.taker_fee_bps = taker_fee_bps
        # Trade -> (SettledTrade, abi encoding): a trade is encoded once, although the validators, the batch, the
        # Merkle trees and reconciliation all ask for it (bounded: cleared when full, then recomputed on demand).
        self._memo: dict[Trade, tuple[SettledTrade, bytes]] = {}

    def amount_text(self, token: str, units: int) -> str:
        """Base units of a token (by address) as a decimal amount with the asset's name, e.g. '96,240 USD'."""
        address = to_checksum_address(token)
        for inst in self.instruments.values():
            for asset, decimals in ((inst.base_asset, inst.base_decimals), (inst.quote_asset, inst.quote_decimals)):
                if self.tokens.get(asset) == address:
                    return format_units(units, decimals, asset)
        return f"{units} base units of token {token}"

    def decimals(self, asset: str) -> int:
        """Decimals of an asset's token (SettlementError for an asset no instrument trades)."""
        for inst in self.instruments.values():
            for name, decimals in ((inst.base_asset, inst.base_decimals), (inst.quote_asset, inst.quote_decimals)):
                if name == asset:
                    return decimals
        raise SettlementError(f"no instrument trades asset {asset!r}")

    def address_of(self, trader: str) -> str:
        """The on-chain address of a trader id."""
        try:
            return self.accounts[trader]
        except KeyError:
            raise SettlementError(f"trader {trader!r} has no on-chain address") from None

    def settled(self, trade: Trade) -> SettledTrade:
        """The on-chain form of `trade`."""
        return self._encoded(trade)[0]

    def encode(self, trade: Trade) -> bytes:
        """abi.encode of the trade's on-chain form (the pre-image of its Merkle leaf)."""
        return self._encoded(trade)[1]

    def leaf(self, trade: Trade) -> bytes:
        """The trade's on-chain Merkle leaf."""
        return leaf_hash(self._encoded(trade)[1])

    def _encoded(self, trade: Trade) -> tuple[SettledTrade, bytes]:
        memo = self._memo
        try:
            return memo[trade]
        except KeyError:
            pass
        settled = self._settle(trade)
        if len(memo) >= _MEMO_MAX:
            memo.clear()
        out = memo[trade] = (settled, settled.encode())
        return out

    def _settle(self, trade: Trade) -> SettledTrade:
        inst = self.instruments.get(trade.symbol)
        if inst is None:
            raise SettlementError(f"trade {trade.trade_id}: unknown instrument {trade.symbol!r}")
        if trade.quantity <= 0 or trade.price <= 0:
            raise SettlementError(f"trade {trade.trade_id}: quantity and price must be positive "
                                  f"(got {trade.quantity} lots at {trade.price} ticks)")
        quote = trade.quantity * trade.price * inst.quote_units_per_lot_tick
        fee = quote * self.taker_fee_bps // FEE_BPS_DENOMINATOR
        return SettledTrade(
            trade_id=trade.trade_id,
            buyer=self.address_of(trade.buyer),
            seller=self.address_of(trade.seller),
            base_token=self.tokens[inst.base_asset],
            quote_token=self.tokens[inst.quote_asset],
            base_amount=trade.quantity * inst.base_units_per_lot,
            quote_amount=quote,
            buyer_fee=fee if trade.aggressor is Side.BUY else 0,
            seller_fee=fee if trade.aggressor is Side.SELL else 0,
        )
