"""Deploy contract stacks from a declarative step graph and keep deployments/<network>.json records.

A DeployStep names one contract to deploy (or, with contract=None, only setup calls to send), its constructor
arguments and its setup calls. Steps say what they need with `requires=` (and every Ref in their arguments is a
requirement too); resolve_steps orders them topologically (independent steps keep their registration order) and
reports a missing requirement or a cycle as a ConfigError naming the steps. The application registers its steps in
DEPLOY_STEPS (a market_sim.core.registry.Registry): market_sim.settlement.stack (test tokens, Settlement) and
market_sim.defi.stack (AMM, Bridge); `market-sim deploy` deploys them all, and the simulation's settlement and DeFi
sections deploy subsets of the same graph (with their own parameters) through the same deploy_stack.
"""

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
from market_sim.core.registry import Registry

__all__ = [
    "DEPLOY_STEPS",
    "Param",
    "resolve_steps",
    "Ref",
    "AccountRef",
    "ChainId",
    "Call",
    "DeployStep",
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


_NO_DEFAULT = object()


@dataclass(frozen=True, slots=True)
class Param:
    """Placeholder for a deployment parameter (deploy_stack(params={key: value})), with an optional default."""

    key: str
    default: Any = _NO_DEFAULT


@dataclass(frozen=True, slots=True)
class Call:
    """A setup transaction: function name and (placeholder) args, sent to the step's own contract or, with `target`,
    to the contract of that (required) step."""

    function: str
    args: tuple[Any, ...] = ()
    target: str | None = None


Args = tuple[Any, ...] | Callable[[Chain, dict[str, Contract]], tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class DeployStep:
    """One node of the deploy graph: record name, artifact name (None: setup calls only), constructor args, setup
    calls after deployment, and the steps it requires.

    args may hold Ref/AccountRef/ChainId/Param placeholders, or be a callable (chain, deployed handles) -> args.
    """

    name: str
    contract: str | None
    args: Args = ()
    then: tuple[Call, ...] = ()
    requires: tuple[str, ...] = ()
    help: str = ""

    def dependencies(self) -> tuple[str, ...]:
        """Explicit requirements, every Ref in args and calls, and every call target (in that order, no repeats)."""
        found: dict[str, None] = dict.fromkeys(self.requires)
        for value in (() if callable(self.args) else self.args, *(c.args for c in self.then)):
            _refs(value, found)
        for call in self.then:
            if call.target is not None:
                found[call.target] = None
        found.pop(self.name, None)
        return tuple(found)


def _refs(value: Any, found: dict[str, None]) -> None:
    if isinstance(value, Ref):
        found[value.step] = None
    elif isinstance(value, (list, tuple)):
        for v in value:
            _refs(v, found)


# Every registered deploy step (the application's stack); `market-sim deploy` deploys all of them.
DEPLOY_STEPS: Registry[DeployStep] = Registry("deploy step", name_attr="name")


def register_step(step: DeployStep, *, stack: list[DeployStep] | None = None) -> DeployStep:
    """Register a step (replacing one of the same name); with `stack`, add it to / replace it in that list instead."""
    if stack is None:
        return DEPLOY_STEPS.register(step, help=step.help or None)
    for i, existing in enumerate(stack):
        if existing.name == step.name:
            stack[i] = step
            return step
    stack.append(step)
    return step


def resolve_steps(steps: Sequence[DeployStep] | None = None, *, only: Sequence[str] | None = None) -> list[DeployStep]:
    """The steps (default: every registered one) in dependency order; with `only`, just those and what they require.

    Independent steps keep their given order. A requirement that is not among the steps, or a cycle, is a
    ConfigError naming the steps involved.
    """
    steps = list(DEPLOY_STEPS.all().values() if steps is None else steps)
    by_name: dict[str, DeployStep] = {}
    for step in steps:
        if step.name in by_name:
            raise ConfigError("deploy steps must have unique names", key="stack", value=[s.name for s in steps])
        by_name[step.name] = step
    for step in steps:
        missing = [d for d in step.dependencies() if d not in by_name]
        if missing:
            raise ConfigError(f"requires {', '.join(repr(m) for m in missing)}, which is not a deploy step; known: "
                              f"{', '.join(by_name)}", key=f"deploy step {step.name}", value=step.requires)
    if only is not None:
        wanted: dict[str, None] = {}
        todo = list(only)
        while todo:
            name = todo.pop()
            if name in wanted:
                continue
            if name not in by_name:
                raise ConfigError(f"unknown deploy step; known: {', '.join(by_name)}", key="deploy step", value=name)
            wanted[name] = None
            todo.extend(by_name[name].dependencies())
        steps = [s for s in steps if s.name in wanted]
    ordered: list[DeployStep] = []
    done: set[str] = set()
    pending = list(steps)
    while pending:
        ready = next((s for s in pending if all(d in done for d in s.dependencies())), None)
        if ready is None:
            raise ConfigError(f"deploy steps form a cycle: {_cycle(pending)}", key="stack",
                              value=[s.name for s in pending])
        pending.remove(ready)
        ordered.append(ready)
        done.add(ready.name)
    return ordered


def _cycle(pending: list[DeployStep]) -> str:
    by_name = {s.name: s for s in pending}
    path: list[str] = []
    name = pending[0].name
    while name not in path:
        path.append(name)
        name = next(d for d in by_name[name].dependencies() if d in by_name)
    return " -> ".join(path[path.index(name):] + [name])


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


def _resolve(value: Any, chain: Chain, handles: dict[str, Contract], params: dict[str, Any]) -> Any:
    if isinstance(value, Param):
        if value.key in params:
            return params[value.key]
        if value.default is _NO_DEFAULT:
            raise ConfigError("deploy parameter not given", key="deploy parameter", value=value.key)
        return value.default
    if isinstance(value, Ref):
        if value.step not in handles:
            raise ConfigError(f"refers to step {value.step!r}, which is not deployed before it", key="deploy step")
        return handles[value.step].address
    if isinstance(value, AccountRef):
        return chain.account(value.name)
    if isinstance(value, ChainId):
        return chain.chain_id
    if isinstance(value, (list, tuple)):
        return type(value)(_resolve(v, chain, handles, params) for v in value)
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _resolved_args(step: DeployStep, chain: Chain, handles: dict[str, Contract], params: dict[str, Any]) -> tuple:
    """Constructor args of a step with every placeholder replaced by its value."""
    return tuple(step.args(chain, dict(handles)) if callable(step.args)
                 else _resolve(step.args, chain, handles, params))


def _resolved_calls(step: DeployStep, chain: Chain, handles: dict[str, Contract],
                    params: dict[str, Any]) -> list[tuple]:
    """Setup calls of a step (after it is deployed: `handles` includes its own) with every placeholder replaced;
    calls to another step's contract name it: (function, args, target)."""
    return [(c.function, _resolve(c.args, chain, handles, params)) + ((c.target,) if c.target else ())
            for c in step.then]


def _params(value: Any, found: list[Param]) -> None:
    if isinstance(value, Param):
        found.append(value)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _params(v, found)


def _check_params(steps: Sequence[DeployStep], params: dict[str, Any]) -> None:
    """Every Param without a default must be given, before anything is deployed."""
    found: list[Param] = []
    for step in steps:
        _params(() if callable(step.args) else step.args, found)
        _params(tuple(c.args for c in step.then), found)
    missing = sorted({p.key for p in found if p.default is _NO_DEFAULT and p.key not in params})
    if missing:
        raise ConfigError("deploy parameter not given", key="deploy parameter", value=", ".join(missing))


def _check_stack(steps: Sequence[DeployStep], artifacts: dict[str, Any]) -> None:
    names = [s.name for s in steps]
    if len(set(names)) != len(names):
        raise ConfigError("deploy steps must have unique names", key="stack", value=names)
    for step in steps:
        if step.contract is not None and step.contract not in artifacts:
            raise ConfigError(f"no compiled contract {step.contract!r}; known: {', '.join(sorted(artifacts))}",
                              key=f"deploy step {step.name}")


def _reusable(chain: Chain, record: dict[str, Any] | None, steps: Sequence[DeployStep],
              artifacts: dict[str, Any], params: dict[str, Any]) -> str | None:
    """None if the record matches the chain and every step's code is on chain unchanged, else why not."""
    if record is None:
        return "no deployment record"
    if int(record.get("chainId", -1)) != chain.chain_id:
        return f"record is for chain id {record.get('chainId')}, the node is chain id {chain.chain_id}"
    recorded = record["contracts"]
    handles: dict[str, Contract] = {}
    for step in steps:
        if step.contract is None:
            setup = (_resolved_args(step, chain, handles, params), _resolved_calls(step, chain, handles, params))
            if _jsonable(setup) != record.get("calls", {}).get(step.name):
                return f"setup calls of {step.name} changed since they were sent"
            continue
        entry = recorded.get(step.name)
        artifact = artifacts[step.contract]
        if entry is None:
            return f"record has no {step.name}"
        if entry.get("artifactHash") != artifact.artifact_hash:
            return f"{step.name} ({step.contract}) changed since it was deployed"
        args = _resolved_args(step, chain, handles, params)
        handles[step.name] = chain.contract(artifact, entry["address"])
        if _jsonable((args, _resolved_calls(step, chain, handles, params))) != entry.get("setup"):
            return f"constructor arguments or setup calls of {step.name} changed since it was deployed"
        code = chain.code(entry["address"])
        if not code:
            return f"no code at the recorded address of {step.name} ({entry['address']})"
        if artifact.code_hash(code) != artifact.runtime_code_hash:
            return f"code at {entry['address']} is not {step.contract} as compiled now"
    return None


def deploy_stack(chain: Chain, *, steps: Sequence[DeployStep] | None = None, only: Sequence[str] | None = None,
                 params: dict[str, Any] | None = None, force: bool = False, write: bool | None = None,
                 directory: Path | None = None, sender: str = "deployer",
                 artifacts: ArtifactSet | None = None) -> Deployment:
    """Deploy the step graph (default: every registered step; `only`: those steps and what they require) in
    dependency order, or reuse a matching live record unless force, and write deployments/<network>.json.

    `params` gives the values of Param placeholders. write defaults to True for live networks and False for the
    in-process chain; an in-process chain never overwrites a live network's record. artifacts defaults to the
    project's current artifact set.
    """
    steps = resolve_steps(steps, only=only)
    params = dict(params or {})
    _check_params(steps, params)
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
        reason = _reusable(chain, record, steps, artifacts, params)
    if reason is None:
        contracts = {s.name: DeployedContract.from_json(s.name, record["contracts"][s.name])
                     for s in steps if s.contract is not None}
        handles = {name: chain.contract(c.contract, c.address) for name, c in contracts.items()}
        return Deployment(chain.network, chain.chain_id, record.get("deployer", deployer), contracts, handles,
                          True, "recorded deployment matches the code on chain", path)

    contracts: dict[str, DeployedContract] = {}
    handles: dict[str, Contract] = {}
    call_records: dict[str, Any] = {}
    for step in steps:
        artifact = artifacts[step.contract] if step.contract is not None else None
        args = _resolved_args(step, chain, handles, params)
        calls: list[tuple] = []
        try:
            handle = receipt = None
            if artifact is not None:
                handle, receipt = chain.deploy_with_receipt(artifact, *args, sender=sender)
            calls = _resolved_calls(step, chain, {**handles, step.name: handle} if handle else handles, params)
            for function, call_args, *target in calls:
                contract = handles[target[0]] if target else handle
                chain.transact(getattr(contract.functions, function)(*call_args), sender=sender)
        except MarketSimError as exc:
            done = f" ({', '.join(contracts)} were deployed but are not recorded)" if contracts else ""
            kind = "reverted" if isinstance(exc, ContractRevertError) else "failed"
            what = f"deploying {step.name} ({step.contract or 'setup calls'}) on {chain.network}"
            raise DeploymentError(f"{what} {kind}: {exc}{done}") from None
        if handle is None:
            call_records[step.name] = _jsonable((args, calls))
            continue
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
        if call_records:
            payload["calls"] = call_records
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
