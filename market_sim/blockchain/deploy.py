"""Deploy the project's contract stack (a list of steps) and keep deployments/<network>.json records."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hexbytes import HexBytes
from web3.contract import Contract

from market_sim.blockchain.artifacts import ArtifactSet, atomic_write_text
from market_sim.blockchain.chain import LOCAL_CHAIN_ID, Chain
from market_sim.blockchain.compiler import current_artifact_set, project_root
from market_sim.core.errors import ConfigError, ContractRevertError, DeploymentError, MarketSimError

__all__ = [
    "Ref",
    "AccountRef",
    "ChainId",
    "Call",
    "DeployStep",
    "STACK",
    "register_step",
    "DeployedContract",
    "Deployment",
    "deploy_stack",
    "deployments_dir",
    "read_record",
    "NETWORKS",
    "DEFAULT_KEY_ENV",
    "open_chain",
]

RECORD_VERSION = 1
DEFAULT_KEY_ENV = "MARKET_SIM_PRIVATE_KEY"
# Named networks: None = the in-process chain; a URL = a JSON-RPC node at that address.
NETWORKS: dict[str, str | None] = {"local": None, "anvil": "http://127.0.0.1:8545"}


@dataclass(frozen=True, slots=True)
class Ref:
    """Placeholder for the address of a contract deployed by an earlier step."""

    step: str


@dataclass(frozen=True, slots=True)
class AccountRef:
    """Placeholder for the address of a named chain account (e.g. the deployer)."""

    name: str = "deployer"


@dataclass(frozen=True, slots=True)
class ChainId:
    """Placeholder for the chain id."""


@dataclass(frozen=True, slots=True)
class Call:
    """A setup transaction sent to the freshly deployed contract: function name and (placeholder) args."""

    function: str
    args: tuple[Any, ...] = ()


Args = tuple[Any, ...] | Callable[[Chain, dict[str, Contract]], tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class DeployStep:
    """One contract of the stack: record name, artifact name, constructor args, setup calls after deployment.

    args may hold Ref/AccountRef/ChainId placeholders, or be a callable (chain, deployed handles) -> args.
    """

    name: str
    contract: str
    args: Args = ()
    then: tuple[Call, ...] = ()


# The project's stack, deployed in this order. Later packages append their contracts with register_step
# (or by adding entries here), e.g. DeployStep("Settlement", "Settlement", (Ref("BaseToken"), ...)).
STACK: list[DeployStep] = [
    DeployStep("BaseToken", "TestToken", ("Test Wrapped Ether", "tWETH", 18)),
    DeployStep("QuoteToken", "TestToken", ("Test USD", "tUSD", 6)),
]


def register_step(step: DeployStep, *, stack: list[DeployStep] | None = None) -> None:
    """Add (or replace, keeping its position) a step of the stack."""
    stack = STACK if stack is None else stack
    for i, existing in enumerate(stack):
        if existing.name == step.name:
            stack[i] = step
            return
    stack.append(step)


@dataclass(frozen=True, slots=True)
class DeployedContract:
    """The record of one deployed contract."""

    name: str
    contract: str
    address: str
    tx_hash: str
    block: int
    gas_used: int
    artifact_hash: str
    code_hash: str
    setup: list[Any] = field(default_factory=list, compare=False)  # constructor args + setup calls, JSON form

    def to_json(self) -> dict[str, Any]:
        """Record form (deployments/<network>.json)."""
        return {
            "contract": self.contract,
            "address": self.address,
            "txHash": self.tx_hash,
            "block": self.block,
            "gasUsed": self.gas_used,
            "artifactHash": self.artifact_hash,
            "codeHash": self.code_hash,
            "setup": self.setup,
        }

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> DeployedContract:
        """Inverse of to_json."""
        return cls(name, data["contract"], data["address"], data["txHash"], int(data["block"]), int(data["gasUsed"]),
                   data["artifactHash"], data.get("codeHash", ""), data.get("setup", []))


@dataclass(frozen=True, slots=True)
class Deployment:
    """Outcome of deploy_stack: the contracts, handles on them, and whether it deployed or reused a record."""

    network: str
    chain_id: int
    deployer: str
    contracts: dict[str, DeployedContract]
    handles: dict[str, Contract] = field(repr=False)
    skipped: bool
    reason: str
    record_path: Path | None

    @property
    def total_gas(self) -> int:
        """Gas used by all deployments (not setup calls)."""
        return sum(c.gas_used for c in self.contracts.values())

    def address(self, name: str) -> str:
        """Address of a deployed step by name."""
        return self.contracts[name].address


def deployments_dir(root: Path | None = None) -> Path:
    """Where deployment records live: <project root>/deployments (MARKET_SIM_DEPLOYMENTS_DIR overrides)."""
    env = os.environ.get("MARKET_SIM_DEPLOYMENTS_DIR")
    return Path(env) if env else (root or project_root()) / "deployments"


def read_record(path: Path) -> dict[str, Any] | None:
    """A deployment record, or None if there is none (a malformed one is an error, never silently replaced)."""
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        if not isinstance(record.get("contracts"), dict):
            raise ValueError("no contracts table")
    except ValueError as exc:
        raise DeploymentError(f"deployment record {path} is malformed ({exc}); fix or delete it") from None
    return record


def _resolve(value: Any, chain: Chain, handles: dict[str, Contract]) -> Any:
    if isinstance(value, Ref):
        if value.step not in handles:
            raise ConfigError(f"refers to step {value.step!r}, which is not deployed before it", key="deploy step")
        return handles[value.step].address
    if isinstance(value, AccountRef):
        return chain.account(value.name)
    if isinstance(value, ChainId):
        return chain.chain_id
    if isinstance(value, (list, tuple)):
        return type(value)(_resolve(v, chain, handles) for v in value)
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _resolved_setup(step: DeployStep, chain: Chain, handles: dict[str, Contract]) -> tuple[tuple, list[tuple]]:
    """Constructor args and setup calls of a step with every placeholder replaced by its value."""
    args = step.args(chain, dict(handles)) if callable(step.args) else _resolve(step.args, chain, handles)
    calls = [(c.function, _resolve(c.args, chain, handles)) for c in step.then]
    return tuple(args), calls


def _check_stack(steps: Sequence[DeployStep], artifacts: dict[str, Any]) -> None:
    names = [s.name for s in steps]
    if len(set(names)) != len(names):
        raise ConfigError("deploy steps must have unique names", key="stack", value=names)
    for step in steps:
        if step.contract not in artifacts:
            raise ConfigError(f"no compiled contract {step.contract!r}; known: {', '.join(sorted(artifacts))}",
                              key=f"deploy step {step.name}")


def _reusable(chain: Chain, record: dict[str, Any] | None, steps: Sequence[DeployStep],
              artifacts: dict[str, Any]) -> str | None:
    """None if the record matches the chain and every step's code is on chain unchanged, else why not."""
    if record is None:
        return "no deployment record"
    if int(record.get("chainId", -1)) != chain.chain_id:
        return f"record is for chain id {record.get('chainId')}, the node is chain id {chain.chain_id}"
    recorded = record["contracts"]
    handles: dict[str, Contract] = {}
    for step in steps:
        entry = recorded.get(step.name)
        artifact = artifacts[step.contract]
        if entry is None:
            return f"record has no {step.name}"
        if entry.get("artifactHash") != artifact.artifact_hash:
            return f"{step.name} ({step.contract}) changed since it was deployed"
        if _jsonable(_resolved_setup(step, chain, handles)) != entry.get("setup"):
            return f"constructor arguments or setup calls of {step.name} changed since it was deployed"
        handles[step.name] = chain.contract(artifact, entry["address"])
        code = chain.code(entry["address"])
        if not code:
            return f"no code at the recorded address of {step.name} ({entry['address']})"
        if artifact.code_hash(code) != artifact.runtime_code_hash:
            return f"code at {entry['address']} is not {step.contract} as compiled now"
    return None


def deploy_stack(chain: Chain, *, steps: Sequence[DeployStep] | None = None, force: bool = False,
                 write: bool | None = None, directory: Path | None = None, sender: str = "deployer",
                 artifacts: ArtifactSet | None = None) -> Deployment:
    """Deploy the stack (or reuse a matching live record unless force) and write deployments/<network>.json.

    write defaults to True for live networks and False for the in-process chain; an in-process chain never
    overwrites a live network's record. artifacts defaults to the project's current artifact set.
    """
    steps = list(STACK if steps is None else steps)
    aset = artifacts or current_artifact_set()
    artifacts = aset.artifacts
    _check_stack(steps, artifacts)
    write = (not chain.is_local) if write is None else write
    path = (directory or deployments_dir()) / f"{chain.network}.json"
    record = read_record(path) if (write or not chain.is_local) else None
    if chain.is_local and record is not None and record.get("live", False):
        raise DeploymentError(
            f"{path} records a live network; the in-process chain must not overwrite it (use another network name)"
        )
    deployer = chain.account(sender)

    if force:
        reason = "forced"
    elif chain.is_local and not write:
        reason = "in-process chain, no record kept"
    else:
        reason = _reusable(chain, record, steps, artifacts)
    if reason is None:
        contracts = {s.name: DeployedContract.from_json(s.name, record["contracts"][s.name]) for s in steps}
        handles = {name: chain.contract(c.contract, c.address) for name, c in contracts.items()}
        return Deployment(chain.network, chain.chain_id, record.get("deployer", deployer), contracts, handles,
                          True, "recorded deployment matches the code on chain", path)

    contracts: dict[str, DeployedContract] = {}
    handles: dict[str, Contract] = {}
    for step in steps:
        artifact = artifacts[step.contract]
        args, calls = _resolved_setup(step, chain, handles)
        try:
            handle, receipt = chain.deploy_with_receipt(artifact, *args, sender=sender)
            for function, call_args in calls:
                chain.transact(getattr(handle.functions, function)(*call_args), sender=sender)
        except MarketSimError as exc:
            done = f" ({', '.join(contracts)} were deployed but are not recorded)" if contracts else ""
            kind = "reverted" if isinstance(exc, ContractRevertError) else "failed"
            what = f"deploying {step.name} ({step.contract}) on {chain.network}"
            raise DeploymentError(f"{what} {kind}: {exc}{done}") from None
        handles[step.name] = handle
        contracts[step.name] = DeployedContract(
            name=step.name,
            contract=step.contract,
            address=handle.address,
            tx_hash=HexBytes(receipt["transactionHash"]).to_0x_hex(),
            block=int(receipt["blockNumber"]),
            gas_used=int(receipt["gasUsed"]),
            artifact_hash=artifact.artifact_hash,
            code_hash=artifact.runtime_code_hash,
            setup=_jsonable((args, calls)),
        )

    written = None
    if write:
        payload = {
            "version": RECORD_VERSION,
            "network": chain.network,
            "chainId": chain.chain_id,
            "live": not chain.is_local,
            "deployer": deployer,
            "sourceHash": aset.source_hash,
            "deployedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "contracts": {name: c.to_json() for name, c in contracts.items()},
        }
        atomic_write_text(path, json.dumps(payload, indent=2) + "\n")
        written = path
    return Deployment(chain.network, chain.chain_id, deployer, contracts, handles, False, reason, written)


def open_chain(network: str | None = None, rpc: str | None = None, *, key_env: str | None = None,
               chain_id: int | None = None) -> Chain:
    """The chain a deploy command means: a named network, or an RPC URL (named `network` if given).

    Without key_env, a key in $MARKET_SIM_PRIVATE_KEY is used if set, else the node's unlocked accounts.
    chain_id sets the in-process chain's id; for a node it is the id the node must report.
    """
    if key_env is None and os.environ.get(DEFAULT_KEY_ENV):
        key_env = DEFAULT_KEY_ENV
    if rpc is None:
        name = network or "local"
        if name not in NETWORKS:
            raise ConfigError(
                f"unknown network; known: {', '.join(NETWORKS)} (or pass --rpc URL for any JSON-RPC node)",
                key="network", value=name,
            )
        if NETWORKS[name] is None:
            return Chain.local(chain_id=LOCAL_CHAIN_ID if chain_id is None else chain_id, network=name)
        rpc, network = NETWORKS[name], name
    chain = Chain.connect(rpc, private_key_env=key_env, network=network)
    if chain_id is not None and chain.chain_id != chain_id:
        raise ConfigError(f"the node at {rpc} is chain id {chain.chain_id}", key="chain id", value=chain_id)
    return chain
