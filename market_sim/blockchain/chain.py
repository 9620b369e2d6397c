"""Chain: one interface over an in-process eth-tester chain and any JSON-RPC node (deploy, transact, call, events)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from eth_account import Account
from eth_utils import is_address, keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import TransactionIndexingInProgress, TransactionNotFound
from web3.logs import DISCARD
from web3.types import TxReceipt

from market_sim.blockchain.artifacts import Artifact
from market_sim.blockchain.reverts import RevertDecoder, revert_data
from market_sim.core.errors import ChainError, ConfigError, ContractRevertError, RpcConnectionError

__all__ = ["Chain", "DEFAULT_ACCOUNT_NAMES", "LOCAL_CHAIN_ID", "LOCAL_TX_GAS", "PreparedTx"]

DEFAULT_ACCOUNT_NAMES = ("deployer", "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan")
LOCAL_CHAIN_ID = 1337
# In-process transactions without an explicit gas get this limit instead of an estimate (one EVM run, not two);
# below EIP-7825's 2**24 per-transaction cap and the 30M block gas limit, above any deployment in this project.
LOCAL_TX_GAS = 15_000_000
ETHER = 10**18
# Receipt polling over RPC: re-poll after 0.5 ms, doubling the gap up to 50 ms. An auto-mining node (anvil) mines a
# few ms after eth_sendTransaction returns -- longer once it writes old states to disk, i.e. on a reused node -- and
# a fixed 50 ms gap turned each such delay into 50 ms per transaction.
RECEIPT_POLL_FIRST_S = 0.0005
RECEIPT_POLL_MAX_S = 0.05


@dataclass(frozen=True, slots=True)
class PreparedTx:
    """A transaction built now and sent later (by a BlockProducer): who sends it, to what, with which calldata and
    gas limit. Nonce and fees are chosen when it is sent. `contract` names the artifact, for revert decoding."""

    sender: str  # checksum address
    to: str | None  # None: contract creation
    data: str  # 0x-prefixed calldata
    gas: int
    value: int = 0
    contract: str | None = None
    sender_name: str | None = None


def _account_names(accounts: int | Sequence[str]) -> list[str]:
    if isinstance(accounts, int):
        if accounts < 1:
            raise ConfigError("need at least one account", key="accounts", value=accounts)
        return [DEFAULT_ACCOUNT_NAMES[i] if i < len(DEFAULT_ACCOUNT_NAMES) else f"account-{i}" for i in range(accounts)]
    names = list(accounts)
    if not names or len(set(names)) != len(names):
        raise ConfigError("account names must be non-empty and unique", key="accounts", value=accounts)
    return names


class Chain:
    """A chain to deploy to and transact on; build one with Chain.local(...) or Chain.connect(url)."""

    def __init__(self, w3: Web3, *, chain_id: int, accounts: dict[str, str], network: str,
                 keys: dict[str, bytes] | None = None, tester: Any = None, url: str | None = None) -> None:
        self.w3 = w3
        self.chain_id = chain_id
        self.network = network
        self.url = url
        self._accounts = accounts
        # name -> private key; over RPC these accounts are signed for here, in-process eth-tester signs itself.
        self._keys = keys or {}
        self._tester = tester
        self._nonces: dict[str, int] = {}
        self._factories: dict[str, type[Contract]] = {}
        self._names: dict[str, str] = {}  # contract address -> artifact name, for revert messages
        self._decoder: RevertDecoder | None = None
        self._fees: tuple[float, dict[str, int]] | None = None

    # ---- construction -------------------------------------------------------------------------------------------
    @classmethod
    def local(cls, accounts: int | Sequence[str] = 10, *, chain_id: int = LOCAL_CHAIN_ID,
              balance: int = 1_000_000 * ETHER, network: str = "local") -> Chain:
        """An in-process eth-tester chain (py-evm, auto-mining) with named accounts each funded with `balance` wei."""
        from eth_tester import EthereumTester, PyEVMBackend
        from web3.providers.eth_tester import EthereumTesterProvider
        from web3.providers.eth_tester.defaults import API_ENDPOINTS

        names = _account_names(accounts)
        if not isinstance(chain_id, int) or chain_id < 1:
            raise ConfigError("chain id must be a positive integer", key="chain_id", value=chain_id)
        state = PyEVMBackend.generate_genesis_state(overrides={"balance": balance}, num_accounts=len(names))
        backend = PyEVMBackend(genesis_state=state)
        # py-evm takes the chain id (CHAINID opcode, tx signing) from the chain class; give this chain its own.
        chain_cls = type(backend.chain)
        backend.chain.__class__ = type(f"MarketSimChain{chain_id}", (chain_cls,), {"chain_id": chain_id})
        tester = EthereumTester(backend)
        endpoints = {ns: dict(methods) for ns, methods in API_ENDPOINTS.items()}
        endpoints["eth"]["chainId"] = lambda *_args: chain_id  # web3's tester endpoint hard-codes one id
        w3 = _lean(Web3(EthereumTesterProvider(tester, api_endpoints=endpoints)))
        addresses = [to_checksum_address(a) for a in tester.get_accounts()]
        keys = {name: key.to_bytes() for name, key in zip(names, backend.account_keys)}
        accounts_by_name = dict(zip(names, addresses))
        return cls(w3, chain_id=chain_id, accounts=accounts_by_name, network=network, keys=keys, tester=tester)

    @classmethod
    def connect(cls, rpc_url: str, *, private_key_env: str | None = None, network: str | None = None,
                timeout: float = 10.0) -> Chain:
        """A chain behind a JSON-RPC URL, using the node's unlocked accounts or the key in $private_key_env."""
        parsed = urlparse(rpc_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise RpcConnectionError(f"RPC URL {rpc_url!r} is not an http(s) URL like http://127.0.0.1:8545")
        w3 = _lean(Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout})))
        try:
            chain_id = int(w3.eth.chain_id)
        except Exception as exc:  # noqa: BLE001 - any failure here means "not a usable node"
            reason = _short_reason(exc)
            raise RpcConnectionError(f"cannot reach an Ethereum JSON-RPC node at {rpc_url}: {reason}") from None
        name = network or f"chain-{chain_id}"
        keys: dict[str, bytes] = {}
        if private_key_env:
            raw = os.environ.get(private_key_env, "").strip()
            if not raw:
                raise ConfigError(f"environment variable {private_key_env} (the deployer's private key) is not set")
            try:
                account = Account.from_key(raw)
            except Exception:  # noqa: BLE001 - never echo the key itself
                raise ConfigError(f"environment variable {private_key_env} does not hold a valid private key") from None
            accounts = {"deployer": account.address}
            keys["deployer"] = bytes(account.key)
        else:
            try:
                unlocked = list(w3.eth.accounts)
            except Exception:  # noqa: BLE001 - nodes without eth_accounts behave as having none
                unlocked = []
            if not unlocked:
                raise ChainError(
                    f"the node at {rpc_url} (chain id {chain_id}) has no unlocked accounts; put a funded private key "
                    "in an environment variable and pass its name (--key-env VAR / private_key_env=...)"
                )
            accounts = dict(zip(_account_names(len(unlocked)), (to_checksum_address(a) for a in unlocked)))
        chain = cls(w3, chain_id=chain_id, accounts=accounts, network=name, keys=keys, url=rpc_url)
        deployer = chain.account("deployer")
        if w3.eth.get_balance(deployer) == 0:
            raise ChainError(
                f"account {deployer} has no ETH on the node at {rpc_url} (chain id {chain_id}); fund it first"
            )
        return chain

    # ---- accounts -----------------------------------------------------------------------------------------------
    @property
    def is_local(self) -> bool:
        """True for the in-process eth-tester chain."""
        return self._tester is not None

    @property
    def accounts(self) -> dict[str, str]:
        """Account name -> checksum address (insertion order; the first is the deployer)."""
        return dict(self._accounts)

    def account(self, name: str) -> str:
        """Address of a named account."""
        try:
            return self._accounts[name]
        except KeyError:
            known = ", ".join(self._accounts)
            raise ConfigError(f"unknown account; known: {known}", key="account", value=name) from None

    def address(self, who: str) -> str:
        """Checksum address for an account name or an address."""
        if is_address(who):
            return to_checksum_address(who)
        return self.account(who)

    def private_key(self, name: str) -> bytes:
        """Private key of a named account this process can sign for (all local accounts; the RPC key account)."""
        if name not in self._keys:
            raise ConfigError("no private key known for this account", key="account", value=name)
        return self._keys[name]

    def add_account(self, name: str, *, balance: int = 1_000 * ETHER, funder: str = "deployer") -> str:
        """Create a named account (deterministic key from the name + chain id), funded by `funder`."""
        if name in self._accounts:
            raise ConfigError("account already exists", key="account", value=name)
        key = keccak(f"market_sim:{self.chain_id}:{name}".encode())
        address = Account.from_key(key).address
        if self.is_local:
            self._tester.add_account("0x" + key.hex())
        self._keys[name] = key
        self._accounts[name] = address
        if balance:
            self.send_eth(address, balance, sender=funder)
        return address

    def balance(self, who: str) -> int:
        """ETH balance in wei."""
        return int(self.w3.eth.get_balance(self.address(who)))

    # ---- contracts ----------------------------------------------------------------------------------------------
    def _factory(self, artifact: Artifact) -> type[Contract]:
        factory = self._factories.get(artifact.name)
        if factory is None:
            factory = self.w3.eth.contract(abi=list(artifact.abi), bytecode="0x" + artifact.bytecode)
            self._factories[artifact.name] = factory
            self.decoder.add_abi(artifact.abi)
        return factory

    @staticmethod
    def _artifact(name_or_artifact: str | Artifact) -> Artifact:
        if isinstance(name_or_artifact, Artifact):
            return name_or_artifact
        from market_sim.blockchain.compiler import load_artifact

        return load_artifact(name_or_artifact)

    def contract(self, name_or_artifact: str | Artifact, address: str) -> Contract:
        """A handle on an already deployed contract."""
        artifact = self._artifact(name_or_artifact)
        address = to_checksum_address(address)
        self._names[address] = artifact.name
        return self._factory(artifact)(address=address)

    def deploy(self, name_or_artifact: str | Artifact, *args: Any, sender: str = "deployer",
               gas: int | None = None, value: int = 0) -> Contract:
        """Deploy a contract by artifact name (or Artifact) with constructor args; returns its handle."""
        return self.deploy_with_receipt(name_or_artifact, *args, sender=sender, gas=gas, value=value)[0]

    def deploy_with_receipt(self, name_or_artifact: str | Artifact, *args: Any, sender: str = "deployer",
                            gas: int | None = None, value: int = 0) -> tuple[Contract, TxReceipt]:
        """Deploy like deploy() and also return the deployment receipt (gas used, block, tx hash)."""
        artifact = self._artifact(name_or_artifact)
        if not artifact.deployable:
            raise ChainError(f"{artifact.name} has no bytecode (an interface or abstract contract): cannot deploy it")
        try:
            data = self._factory(artifact).constructor(*args).data_in_transaction
        except Exception as exc:  # noqa: BLE001 - web3 raises several types for bad constructor arguments
            raise ChainError(f"bad constructor arguments for {artifact.name}{args!r}: {exc}") from None
        receipt = self._send_and_wait({"data": data, "value": value}, sender, gas, artifact.name)
        contract = self.contract(artifact, receipt["contractAddress"])
        return contract, receipt

    # ---- transactions -------------------------------------------------------------------------------------------
    @property
    def decoder(self) -> RevertDecoder:
        """The revert decoder: every error ABI of the current artifacts (libraries included)."""
        if self._decoder is None:
            self._decoder = RevertDecoder()
            try:
                from market_sim.blockchain.compiler import current_artifact_set

                aset = current_artifact_set()
            except Exception:  # noqa: BLE001 - decoding still works for Error/Panic and registered ABIs
                aset = None
            if aset is not None:
                for item in aset.errors:
                    self._decoder.add(item)
                for artifact in aset.artifacts.values():
                    self._decoder.add_abi(artifact.abi)
        return self._decoder

    def _revert(self, exc: BaseException, to: str | None, contract_name: str | None = None) -> ContractRevertError:
        name = contract_name or (self._names.get(to) if to else None)
        data = revert_data(exc)
        if data is None:
            return ContractRevertError("", (), contract=name, message=f"{name + ': ' if name else ''}{exc}")
        return self.decoder.decode(data, contract=name)

    def transact(self, call: ContractFunction, *, sender: str = "deployer", gas: int | None = None,
                 value: int = 0) -> TxReceipt:
        """Send a contract function call as a transaction and wait for it; reverts raise ContractRevertError."""
        tx = {"to": call.address, "data": call._encode_transaction_data(), "value": value}
        return self._send_and_wait(tx, sender, gas)

    def send(self, call: ContractFunction, *, sender: str = "deployer", gas: int | None = None,
             value: int = 0) -> HexBytes:
        """Send a contract function call as a transaction without waiting; returns the tx hash (see wait())."""
        tx = {"to": call.address, "data": call._encode_transaction_data(), "value": value}
        return self._send(tx, sender, gas)

    def prepare(self, call: ContractFunction, *, sender: str = "deployer", gas: int | None = None,
                value: int = 0) -> PreparedTx:
        """Build a contract call as a transaction to send later (BlockProducer.submit); without `gas` the gas limit is
        estimated now, against the latest state, with headroom (a revert during estimation raises
        ContractRevertError: pass `gas` for a call that only succeeds after transactions still pending)."""
        tx = {"to": call.address, "data": call._encode_transaction_data(), "value": value}
        return self._prepare(tx, sender, gas)

    def prepare_eth(self, to: str, amount: int, *, sender: str = "deployer", gas: int = 21_000) -> PreparedTx:
        """Build a transfer of `amount` wei to send later."""
        return self._prepare({"to": self.address(to), "data": "0x", "value": amount}, sender, gas)

    def _prepare(self, tx: dict[str, Any], sender: str, gas: int | None) -> PreparedTx:
        address = self.address(sender)
        name = sender if sender in self._accounts else self._name_of(address)
        if gas is None:
            gas = self._estimate(dict(tx, **{"from": address}), None)
        elif not isinstance(gas, int) or isinstance(gas, bool) or gas < 21_000:
            raise ConfigError("gas must be an integer of at least 21000", key="gas", value=gas)
        if not isinstance(tx["value"], int) or tx["value"] < 0:
            raise ConfigError("value must be a non-negative integer (wei)", key="value", value=tx["value"])
        to = tx.get("to")
        data = tx["data"] if isinstance(tx["data"], str) else HexBytes(tx["data"]).to_0x_hex()
        return PreparedTx(address, to, data, gas, tx["value"], self._names.get(to) if to else None, name)

    def send_eth(self, to: str, amount: int, *, sender: str = "deployer") -> TxReceipt:
        """Transfer `amount` wei."""
        return self._send_and_wait({"to": self.address(to), "value": amount}, sender, 21_000)

    def call(self, call: ContractFunction, *, sender: str | None = None, block: int | str = "latest") -> Any:
        """Evaluate a contract function without a transaction; reverts raise ContractRevertError."""
        params = {"from": self.address(sender)} if sender else {}
        try:
            return call.call(params, block_identifier=block)
        except Exception as exc:  # noqa: BLE001 - web3/eth-tester raise unrelated types for reverts
            if revert_data(exc) is None and not _looks_like_revert(exc):
                raise ChainError(f"call to {call.address} failed: {exc}") from None
            raise self._revert(exc, call.address) from None

    def wait(self, tx_hash: HexBytes | str, *, timeout: float = 120.0, check: bool = True) -> TxReceipt:
        """Receipt of a sent transaction (waits up to `timeout` s); with check, reverts raise ContractRevertError."""
        if self.is_local:
            receipt = self.w3.eth.get_transaction_receipt(tx_hash)
        else:
            receipt = self._poll_receipt(tx_hash, timeout)
        if check and receipt["status"] != 1:
            raise self._failed(receipt)
        return receipt

    def _poll_receipt(self, tx_hash: HexBytes | str, timeout: float) -> TxReceipt:
        deadline = time.monotonic() + timeout
        delay = RECEIPT_POLL_FIRST_S
        while True:
            try:
                return self.w3.eth.get_transaction_receipt(tx_hash)
            except (TransactionNotFound, TransactionIndexingInProgress):
                pass
            except Exception as exc:  # noqa: BLE001 - connection errors and the like
                raise ChainError(f"fetching the receipt of {HexBytes(tx_hash).to_0x_hex()} failed: {exc}") from None
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChainError(f"no receipt for {HexBytes(tx_hash).to_0x_hex()} within {timeout} s")
            time.sleep(min(delay, left))
            delay = min(2 * delay, RECEIPT_POLL_MAX_S)

    def _failed(self, receipt: TxReceipt, contract_name: str | None = None) -> ContractRevertError:
        # A mined transaction keeps no revert data: replay it as a call on the state it ran against.
        tx = self.w3.eth.get_transaction(receipt["transactionHash"])
        replay = {"from": tx["from"], "value": tx["value"], "data": tx["input"], "gas": tx["gas"]}
        if tx.get("to"):
            replay["to"] = tx["to"]
        # First on the state before its block; if that passes, the revert depended on its own block (e.g. a deadline
        # checked against block.timestamp), so replay on that block, where its timestamp and number apply.
        number = receipt["blockNumber"]
        err = None
        for block in dict.fromkeys((max(number - 1, 0), number)):
            try:
                self.w3.eth.call(replay, block_identifier=block)
            except Exception as exc:  # noqa: BLE001
                err = self._revert(exc, tx.get("to"), contract_name)
                break
        if err is None:
            name = contract_name or self._names.get(tx.get("to") or "")
            detail = f"transaction reverted (gas used {receipt['gasUsed']} of {tx['gas']})"
            err = self.decoder.decode(b"", contract=name, detail=detail)
        err.receipt = receipt
        err.tx_hash = HexBytes(receipt["transactionHash"]).to_0x_hex()
        err.gas_used = int(receipt["gasUsed"])
        return err

    def _send_and_wait(self, tx: dict[str, Any], sender: str, gas: int | None,
                       contract_name: str | None = None) -> TxReceipt:
        tx_hash = self._send(tx, sender, gas, contract_name)
        receipt = self.wait(tx_hash, check=False)
        if receipt["status"] != 1:
            raise self._failed(receipt, contract_name)
        return receipt

    def _name_of(self, address: str) -> str | None:
        return next((n for n, a in self._accounts.items() if a == address), None)

    def _send(self, tx: dict[str, Any], sender: str, gas: int | None, contract_name: str | None = None) -> HexBytes:
        address = self.address(sender)
        name = sender if sender in self._accounts else self._name_of(address)
        tx = dict(tx, **{"from": address})
        if gas is None:
            gas = LOCAL_TX_GAS if self.is_local else self._estimate(tx, contract_name)
        tx["gas"] = gas
        try:
            if self.is_local:
                return self.w3.eth.send_transaction(tx)
            if name in self._keys:
                return self._send_signed(tx, name)
            # Unlocked node account: the node signs and picks the nonce; fees given here save web3 a fee lookup.
            return self.w3.eth.send_transaction({**tx, **self._fee_fields()})
        except ContractRevertError:
            raise
        except Exception as exc:  # noqa: BLE001
            if revert_data(exc) is not None or _looks_like_revert(exc):
                raise self._revert(exc, tx.get("to"), contract_name) from None
            raise ChainError(f"sending a transaction from {tx['from']} failed: {exc}") from None

    def _estimate(self, tx: dict[str, Any], contract_name: str | None) -> int:
        from market_sim.blockchain.local_calls import estimate_gas

        used = estimate_gas(self, tx) if self.is_local else None  # one execution instead of a binary search
        if used is not None:
            return used * 6 // 5 + 10_000
        try:
            estimate = int(self.w3.eth.estimate_gas(tx))
        except Exception as exc:  # noqa: BLE001 - a revert during estimation is the usual cause
            if revert_data(exc) is not None or _looks_like_revert(exc):
                raise self._revert(exc, tx.get("to"), contract_name) from None
            raise ChainError(f"gas estimation failed: {exc}") from None
        return estimate * 6 // 5 + 10_000  # headroom: state may move between estimate and inclusion

    def _send_signed(self, tx: dict[str, Any], name: str) -> HexBytes:
        sender = tx["from"]
        if name not in self._nonces:
            self._nonces[name] = int(self.w3.eth.get_transaction_count(sender, "pending"))
        tx = dict(tx, nonce=self._nonces[name], chainId=self.chain_id, **self._fee_fields())
        signed = Account.sign_transaction(tx, self._keys[name])
        try:
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        except Exception:
            self._nonces.pop(name, None)  # resynchronise from the node next time
            raise
        self._nonces[name] += 1
        return tx_hash

    def _fee_fields(self) -> dict[str, int]:
        # Refreshed at most every 2 s: twice the base fee survives several full blocks of +12.5 % each.
        if self._fees is None or time.monotonic() - self._fees[0] > 2.0:
            base = self.w3.eth.get_block("latest").get("baseFeePerGas")
            if base is None:
                fees = {"gasPrice": int(self.w3.eth.gas_price)}
            else:
                fees = {"maxFeePerGas": 2 * int(base) + 10**9, "maxPriorityFeePerGas": 10**9}
            self._fees = (time.monotonic(), fees)
        return self._fees[1]

    # ---- events -------------------------------------------------------------------------------------------------
    def events(self, receipt: TxReceipt, contract: Contract, name: str) -> list[dict[str, Any]]:
        """Decoded arguments of every `name` event that `contract` emitted in the transaction."""
        logs = self._event(contract, name).process_receipt(receipt, errors=DISCARD)
        return [dict(log["args"]) for log in logs if log["address"] == contract.address]

    def event_logs(self, contract: Contract, name: str, *, from_block: int = 0,
                   to_block: int | str = "latest") -> list[dict[str, Any]]:
        """Every `name` event of `contract` in a block range, oldest first, with blockNumber/logIndex/tx hash."""
        event = self._event(contract, name)
        logs = event.get_logs(from_block=from_block, to_block=to_block)
        return [
            {**dict(log["args"]), "blockNumber": int(log["blockNumber"]), "logIndex": int(log["logIndex"]),
             "transactionHash": HexBytes(log["transactionHash"]).to_0x_hex()}
            for log in logs
        ]

    @staticmethod
    def _event(contract: Contract, name: str) -> Any:
        try:
            return contract.events[name]()
        except Exception:  # noqa: BLE001 - web3 raises its own attribute errors for unknown events
            raise ConfigError(f"contract has no event named {name!r}", key="event", value=name) from None

    # ---- blocks and time ----------------------------------------------------------------------------------------
    @property
    def block_number(self) -> int:
        """Number of the latest mined block."""
        return int(self.w3.eth.block_number)

    @property
    def timestamp(self) -> int:
        """Timestamp of the latest mined block (seconds)."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def _rpc(self, method: str, *params: Any) -> Any:
        response = self.w3.provider.make_request(method, list(params))
        if "error" in response:
            raise ChainError(f"the node at {self.url} does not support {method}: {response['error'].get('message')}")
        return response.get("result")

    def mine(self, blocks: int = 1) -> None:
        """Mine `blocks` empty blocks."""
        if self.is_local:
            self._tester.mine_blocks(blocks)
        else:
            for _ in range(blocks):
                self._rpc("evm_mine")

    def time_travel(self, timestamp: int) -> None:
        """Mine a block with timestamp `timestamp` (later than the latest block's); later blocks follow it."""
        if timestamp <= self.timestamp:
            raise ConfigError("can only travel forward in time", key="timestamp", value=timestamp)
        if self.is_local:
            # eth-tester gives the *pending* block the requested time and mines one at time - 1.
            self._tester.time_travel(timestamp + 1)
        else:
            self._rpc("evm_setNextBlockTimestamp", timestamp)
            self._rpc("evm_mine")

    def advance_time(self, seconds: int) -> None:
        """Mine a block `seconds` after the latest one."""
        self.time_travel(self.timestamp + seconds)

    def snapshot(self) -> Any:
        """Take a state snapshot; pass the id to revert()."""
        if self.is_local:
            return self._tester.take_snapshot()
        return self._rpc("evm_snapshot")

    def revert(self, snapshot_id: Any) -> None:
        """Return the chain to a snapshot (anvil/hardhat forget the snapshot after reverting to it)."""
        if self.is_local:
            from eth_tester.exceptions import SnapshotNotFound

            try:
                self._tester.revert_to_snapshot(snapshot_id)
            except SnapshotNotFound:
                raise ConfigError("no such snapshot", key="snapshot", value=snapshot_id) from None
        elif not self._rpc("evm_revert", snapshot_id):
            raise ConfigError("the node has no such snapshot", key="snapshot", value=snapshot_id)
        self._nonces.clear()

    def code(self, address: str) -> bytes:
        """Runtime code at an address (empty for accounts without code)."""
        return bytes(self.w3.eth.get_code(to_checksum_address(address)))

    def __repr__(self) -> str:
        where = "in-process" if self.is_local else self.url
        return f"Chain({self.network}, chain_id={self.chain_id}, {where}, {len(self._accounts)} accounts)"


def _lean(w3: Web3) -> Web3:
    # Per-request middleware this class never needs: no ENS names, fees and chain ids are filled in here.
    for name in ("ens_name_to_address", "gas_price_strategy", "validation"):
        try:
            w3.middleware_onion.remove(name)
        except (ValueError, KeyError):
            pass
    return w3


def _short_reason(exc: BaseException) -> str:
    # requests/urllib3 nest the useful part ("[Errno 111] Connection refused") deep inside their message.
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if match:
        return match.group(1).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:200]


def _looks_like_revert(exc: BaseException) -> bool:
    from eth_tester.exceptions import TransactionFailed
    from web3.exceptions import ContractLogicError

    return isinstance(exc, (TransactionFailed, ContractLogicError)) or "revert" in str(exc).lower()
