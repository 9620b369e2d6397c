"""A small block explorer over a Chain: blocks, recent transactions, receipts with their events decoded by the
ABI of the contract that emitted them, and the contracts the Chain knows (with the transaction that deployed them).

Everything is plain JSON-ready values (hex strings, ints); the API's chain routes are built on it. It reads the
chain only: the caller holds whatever lock keeps the chain still (the API: the simulation's lock).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hexbytes import HexBytes
from web3.exceptions import BlockNotFound, TransactionNotFound

from market_sim.blockchain.chain import Chain
from market_sim.core.errors import ChainError

__all__ = ["ChainExplorer", "TxNotFound", "BlockMissing"]


class TxNotFound(ChainError):
    """No transaction with that hash on the chain."""


class BlockMissing(ChainError):
    """No block with that number on the chain (yet)."""


def _plain(value: Any) -> Any:
    """Decoded ABI values as JSON carries them: bytes as 0x hex, big ints as ints, tuples as lists."""
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    return str(value)


class ChainExplorer:
    """Read-only views of one chain. `labels(tx_hash) -> str | None` names transactions the caller knows (e.g. a
    block producer's 'settle batch 3')."""

    def __init__(self, chain: Chain, *, name: str = "", labels: Callable[[str], str | None] | None = None) -> None:
        self.chain = chain
        self.name = name or chain.network
        self.labels = labels
        self._deployments: dict[str, dict[str, Any]] = {}  # address -> {tx_hash, block, deployer}
        self._scanned = -1  # highest block searched for contract creations
        self._topics: dict[str, dict[bytes, Any]] = {}     # artifact name -> event topic -> event ABI

    # ---- blocks -------------------------------------------------------------------------------------------------
    @property
    def head(self) -> int:
        return self.chain.block_number

    def block(self, number: int) -> dict[str, Any]:
        """One block: number, hash, parent, timestamp, gas, base fee and its transactions' hashes."""
        head = self.head
        if not 0 <= number <= head:
            raise BlockMissing(f"no block {number} on chain {self.name} (head is {head})")
        try:
            b = self.chain.w3.eth.get_block(number)
        except BlockNotFound:
            raise BlockMissing(f"no block {number} on chain {self.name} (head is {head})") from None
        return {"number": int(b["number"]), "hash": HexBytes(b["hash"]).to_0x_hex(),
                "parent_hash": HexBytes(b["parentHash"]).to_0x_hex(), "timestamp": int(b["timestamp"]),
                "gas_used": int(b["gasUsed"]), "gas_limit": int(b["gasLimit"]),
                "base_fee": int(b["baseFeePerGas"]) if b.get("baseFeePerGas") is not None else None,
                "miner": str(b.get("miner", "")),
                "transactions": [HexBytes(t).to_0x_hex() for t in b["transactions"]]}

    # ---- transactions -------------------------------------------------------------------------------------------
    def transactions(self, limit: int = 50) -> list[dict[str, Any]]:
        """The last `limit` transactions, newest last: hash, block, index, from, to (and its contract), status, gas."""
        hashes: list[tuple[int, int, str]] = []
        number = self.head
        w3 = self.chain.w3
        while number >= 0 and len(hashes) < limit:
            txs = w3.eth.get_block(number)["transactions"]
            for i in range(len(txs) - 1, -1, -1):
                hashes.append((number, i, HexBytes(txs[i]).to_0x_hex()))
                if len(hashes) >= limit:
                    break
            number -= 1
        out = []
        for _, _, h in reversed(hashes):
            r = self._receipt(h)
            out.append(self._summary(r))
        return out

    def _receipt(self, tx_hash: str) -> Any:
        try:
            return self.chain.w3.eth.get_transaction_receipt(tx_hash)
        except (TransactionNotFound, ValueError):
            raise TxNotFound(f"no transaction {tx_hash} on chain {self.name}") from None

    def _summary(self, r: Any) -> dict[str, Any]:
        h = HexBytes(r["transactionHash"]).to_0x_hex()
        to = r.get("to")
        created = r.get("contractAddress")
        target = to or created
        names = self.chain._names
        return {"hash": h, "block": int(r["blockNumber"]), "index": int(r["transactionIndex"]),
                "from": str(r["from"]), "to": str(to) if to else None,
                "contract": names.get(str(target)) if target else None,
                "created": str(created) if created else None, "status": int(r["status"]),
                "gas_used": int(r["gasUsed"]),
                "effective_gas_price": int(r["effectiveGasPrice"]) if r.get("effectiveGasPrice") is not None
                else None, "label": self.labels(h) if self.labels is not None else None}

    def receipt(self, tx_hash: str) -> dict[str, Any]:
        """A transaction's receipt with every log decoded by its emitter's ABI (undecodable logs stay raw)."""
        if not isinstance(tx_hash, str) or len(tx_hash) != 66 or not tx_hash.startswith("0x"):
            raise TxNotFound(f"no transaction {tx_hash!r} on chain {self.name} (a hash is 0x and 64 hex digits)")
        try:
            bytes.fromhex(tx_hash[2:])
        except ValueError:
            raise TxNotFound(f"no transaction {tx_hash!r} on chain {self.name} (not hex)") from None
        r = self._receipt(tx_hash)
        tx = self.chain.w3.eth.get_transaction(tx_hash)
        events = [self._decode(log) for log in r["logs"]]
        return {**self._summary(r), "nonce": int(tx["nonce"]), "value": int(tx.get("value", 0)),
                "input": HexBytes(tx["input"]).to_0x_hex()[:10], "gas": int(tx["gas"]),
                "cumulative_gas_used": int(r["cumulativeGasUsed"]), "events": events}

    def _event_abis(self, artifact_name: str) -> dict[bytes, Any]:
        topics = self._topics.get(artifact_name)
        if topics is None:
            from eth_utils import event_abi_to_log_topic

            artifact = self.chain._artifact(artifact_name)
            topics = {bytes(event_abi_to_log_topic(e)): e for e in artifact.abi if e.get("type") == "event"}
            self._topics[artifact_name] = topics
        return topics

    def _decode(self, log: Any) -> dict[str, Any]:
        from web3._utils.events import get_event_data

        address = str(log["address"])
        raw = {"address": address, "log_index": int(log["logIndex"]),
               "topics": [HexBytes(t).to_0x_hex() for t in log["topics"]], "data": HexBytes(log["data"]).to_0x_hex()}
        name = self.chain._names.get(address)
        if name is None or not log["topics"]:
            return {**raw, "contract": name, "event": None, "args": None}
        abi = self._event_abis(name).get(bytes(log["topics"][0]))
        if abi is None:
            return {**raw, "contract": name, "event": None, "args": None}
        try:
            decoded = get_event_data(self.chain.w3.codec, abi, log)
        except Exception:  # noqa: BLE001 - a log that does not match its ABI stays raw
            return {**raw, "contract": name, "event": abi["name"], "args": None}
        return {"address": address, "log_index": raw["log_index"], "contract": name, "event": abi["name"],
                "args": _plain(dict(decoded["args"]))}

    # ---- contracts ----------------------------------------------------------------------------------------------
    def contracts(self) -> list[dict[str, Any]]:
        """Every contract the Chain has a handle on: artifact name, address, and its deployment (tx, block, who)
        when it was created on this chain."""
        self._scan_deployments()
        out = []
        for address, name in sorted(self.chain._names.items(), key=lambda kv: (kv[1], kv[0])):
            d = self._deployments.get(address)
            out.append({"name": name, "address": address, "deployment": d})
        return out

    def _scan_deployments(self) -> None:
        head = self.head
        w3 = self.chain.w3
        for number in range(self._scanned + 1, head + 1):
            block = w3.eth.get_block(number, full_transactions=True)
            for tx in block["transactions"]:
                if not tx.get("to"):
                    r = self._receipt(HexBytes(tx["hash"]).to_0x_hex())
                    if r.get("contractAddress"):
                        self._deployments[str(r["contractAddress"])] = {
                            "tx_hash": HexBytes(tx["hash"]).to_0x_hex(), "block": number, "deployer": str(tx["from"]),
                            "gas_used": int(r["gasUsed"])}
        self._scanned = max(self._scanned, head)
