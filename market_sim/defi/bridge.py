"""Lock-and-mint bridge between chains: relay digests, validator attestations and a relayer driven by the Kernel.

Honest bridge validators (`BridgeValidator`) sign a relay only after finding the lock (or burn) it claims on the
source chain: the source bridge's Locked/Burned event with the same nonce, token, recipient, amount and destination
chain, with enough confirmations. A Byzantine validator signs anything; with at most f of them below the threshold
no forged relay reaches a quorum. Every relay names its destination chain in the signed struct and the destination
bridge refuses any other, so one lock mints on exactly one chain; `BridgeRelayer.supply_checks` sums each original
token's wrapped supply over every destination against what its source bridge locks.

With a bus (`BridgeRelayer.bus`), the relayer publishes BridgeLocked, BridgeRelayed and BridgeMinted
(market_sim.defi.events) on ("bridge", name); each chain it sends to may have a `BridgeChain` (a ChainRuntime): its
clock is synchronised before every transaction (an explicit call, not a subscriber) and it is told every receipt.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from market_sim.blockchain import Chain
from market_sim.blockchain.abi import to_checksum_address
from market_sim.blockchain.clients import (
    ERC20, MAX_UINT256, BridgeContract, Burned, LogEntry, Locked, Minted, Receipt, Released, WrappedToken,
)
from market_sim.blockchain.deploy import deploy_stack
from market_sim.consensus.signing import SigningDomain, ValidatorKey, keccak, sign, typed_digest
from market_sim.core.bus import Bus
from market_sim.core.errors import ConfigError, ValidationError
from market_sim.defi.events import BridgeLocked, BridgeMinted, BridgeRelayed, bridge_topic
from market_sim.defi.stack import bridge_step
from market_sim.simulation.kernel import Kernel

__all__ = [
    "KIND_MINT", "KIND_RELEASE", "BRIDGE_DOMAIN_NAME", "Relay", "BridgeEndpoint", "BridgeTransfer", "BridgeRelayer",
    "BridgeValidator", "BridgeChain", "RelayRefused", "SupplyCheck", "relay_digest", "sign_relay", "attest",
]

KIND_MINT = 0
KIND_RELEASE = 1
BRIDGE_DOMAIN_NAME = "MarketSimBridge"
RELAY_TYPEHASH = keccak(
    b"Relay(uint8 kind,uint256 sourceChainId,address sourceBridge,uint256 destChainId,uint64 nonce,address token,"
    b"address recipient,uint256 amount)"
)
GAS_RELAY = 400_000
GAS_TRANSFER = 200_000


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _addr(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(to_checksum_address(address)[2:])


@dataclass(frozen=True, slots=True)
class Relay:
    """One cross-chain message: a lock to mint (KIND_MINT) or a burn to release (KIND_RELEASE)."""

    kind: int
    source_chain_id: int
    source_bridge: str
    dest_chain_id: int  # the one chain whose bridge may execute it (named by the Locked / Burned event)
    nonce: int
    token: str  # the original token on the chain that holds it
    recipient: str
    amount: int
    source_block: int | None = None  # block of the lock/burn on the source chain: where validators look first

    def struct_hash(self) -> bytes:
        """EIP-712 struct hash; also the relay id the destination contract records."""
        return keccak(RELAY_TYPEHASH + _word(self.kind) + _word(self.source_chain_id) + _addr(self.source_bridge)
                      + _word(self.dest_chain_id) + _word(self.nonce) + _addr(self.token) + _addr(self.recipient)
                      + _word(self.amount))

    def call_args(self) -> tuple:
        """Arguments of Bridge.mint / Bridge.release before the signatures."""
        return (self.source_chain_id, self.dest_chain_id, self.nonce, self.token, self.recipient, self.amount)


def relay_digest(relay: Relay, dest_bridge: str) -> bytes:
    """The digest validators sign: EIP-712 in the destination bridge's domain ("MarketSimBridge", "1", the relay's
    destination chain id, `dest_bridge`)."""
    domain = SigningDomain(name=BRIDGE_DOMAIN_NAME, version="1", chain_id=relay.dest_chain_id,
                           verifying_contract=dest_bridge)
    return typed_digest(domain, relay.struct_hash())


def _by_address(keys: Sequence[ValidatorKey]) -> list[ValidatorKey]:
    return sorted(keys, key=lambda k: int(k.address, 16))


def sign_relay(relay: Relay, dest_bridge: str, keys: Sequence[ValidatorKey]) -> list[bytes]:
    """Signatures of `keys` over the relay with no check at all (what Byzantine validators give), ordered by
    ascending signer address (as the contract requires)."""
    digest = relay_digest(relay, dest_bridge)
    return [sign(k, digest) for k in _by_address(keys)]


class RelayRefused(ValidationError):
    """Fewer validators than the threshold attested a relay; `reasons` maps validator address -> why it refused."""

    def __init__(self, relay: Relay, signatures: int, threshold: int, reasons: Mapping[str, str]) -> None:
        shown = "; ".join(f"{a[:10]}: {r}" for a, r in sorted(reasons.items()))
        super().__init__(f"relay nonce {relay.nonce} from chain {relay.source_chain_id} to chain "
                         f"{relay.dest_chain_id} not attested: {signatures} signatures, threshold {threshold} ({shown})")
        self.relay = relay
        self.signatures = signatures
        self.threshold = threshold
        self.reasons = dict(reasons)


class BridgeChain(Protocol):
    """A chain's simulation side as the relayer needs it (ChainRuntime): set its clock before a transaction is sent,
    be told the receipt after (kind "bridge_lock" | "bridge_burn" | "bridge_mint" | "bridge_release")."""

    def sync_clock(self) -> None: ...

    def receipt(self, kind: str, sender: str, receipt: Receipt) -> None: ...


@dataclass(frozen=True, slots=True)
class BridgeEndpoint:
    """The Bridge contract on one chain."""

    chain: Chain
    contract: BridgeContract

    @property
    def chain_id(self) -> int:
        return self.chain.chain_id

    @property
    def address(self) -> str:
        return self.contract.address


class BridgeValidator:
    """One bridge validator: its key, the bridges it watches and how many confirmations it waits for.

    An honest validator signs a relay only if the source bridge emitted the matching Locked (mint) or Burned
    (release) event: same nonce, token, recipient, amount and destination chain, in a block with at least
    `confirmations` blocks on top (counting its own). A Byzantine one (`byzantine=True`) signs whatever it is asked.
    """

    __slots__ = ("key", "endpoints", "confirmations", "byzantine")

    def __init__(self, key: ValidatorKey, endpoints: Mapping[int, BridgeEndpoint], *, confirmations: int = 1,
                 byzantine: bool = False) -> None:
        if confirmations < 1:
            raise ConfigError("must be >= 1", key="bridge.confirmations", value=confirmations)
        self.key = key
        self.endpoints = endpoints
        self.confirmations = confirmations
        self.byzantine = byzantine

    def __repr__(self) -> str:
        return f"BridgeValidator({self.address[:10]}, {'byzantine' if self.byzantine else 'honest'})"

    @property
    def address(self) -> str:
        return self.key.address

    def check(self, relay: Relay, dest_bridge: str) -> str | None:
        """None if the relay matches a confirmed transfer on its source chain, else why it is refused."""
        src = self.endpoints.get(relay.source_chain_id)
        if src is None:
            return f"unknown source chain {relay.source_chain_id}"
        if not _same(relay.source_bridge, src.address):
            return f"source bridge {relay.source_bridge} is not the bridge on chain {relay.source_chain_id}"
        dst = self.endpoints.get(relay.dest_chain_id)
        if dst is None or not _same(dest_bridge, dst.address):
            return f"{dest_bridge} is not the bridge on destination chain {relay.dest_chain_id}"
        if relay.kind not in (KIND_MINT, KIND_RELEASE):
            return f"unknown relay kind {relay.kind}"
        name = "Locked" if relay.kind == KIND_MINT else "Burned"
        entry = self._find(src, relay)
        if entry is None:
            return f"no {name} event with nonce {relay.nonce} on chain {relay.source_chain_id}"
        event = entry.event
        token = event.token if isinstance(event, Locked) else event.source_token
        for field_name, claimed, actual in (("token", relay.token, token), ("recipient", relay.recipient,
                                                                             event.recipient)):
            if not _same(claimed, actual):
                return f"{field_name} {claimed} differs from the {name} event's {actual}"
        if relay.amount != event.amount:
            return f"amount {relay.amount} differs from the {name} event's {event.amount}"
        if relay.dest_chain_id != event.dest_chain_id:
            return f"destination chain {relay.dest_chain_id} differs from the {name} event's {event.dest_chain_id}"
        depth = src.chain.block_number - entry.block_number + 1
        if depth < self.confirmations:
            return f"{name} event has {depth} confirmations, needs {self.confirmations}"
        return None

    @staticmethod
    def _find(src: BridgeEndpoint, relay: Relay) -> LogEntry[Locked] | LogEntry[Burned] | None:
        """The source bridge's Locked (mint) / Burned (release) event with the relay's nonce (in the hinted block
        first, then anywhere)."""
        ranges = [(relay.source_block, relay.source_block)] if relay.source_block is not None else []
        logs = src.contract.locks if relay.kind == KIND_MINT else src.contract.burns
        for lo, hi in [*ranges, (0, "latest")]:
            for entry in logs(from_block=lo, to_block=hi):
                if entry.event.nonce == relay.nonce:
                    return entry
        return None

    def attest(self, relay: Relay, dest_bridge: str) -> bytes | None:
        """This validator's signature over the relay, or None if it refuses (honest and the check fails)."""
        if not self.byzantine and self.check(relay, dest_bridge) is not None:
            return None
        return sign(self.key, relay_digest(relay, dest_bridge))


def _same(a: str, b: str) -> bool:
    return int(a, 16) == int(b, 16)


def attest(relay: Relay, dest_bridge: str, validators: Sequence[BridgeValidator]) -> list[bytes]:
    """Signatures of the validators that accept the relay, ordered by ascending signer address (as the contract
    requires)."""
    sigs = [(v.address, v.attest(relay, dest_bridge)) for v in validators]
    return [sig for _, sig in sorted(((a, s) for a, s in sigs if s is not None), key=lambda x: int(x[0], 16))]


@dataclass(slots=True)
class BridgeTransfer:
    """A transfer in flight or done: what moved, which way, when it was sent and when it arrived (kernel ns)."""

    relay: Relay
    dest_chain_id: int
    sent_at: int
    sender: str
    sender_gas: int = 0  # gas the sender paid for the lock/burn transaction
    arrived_at: int | None = None
    received: int = 0  # amount paid to the recipient on arrival (after the bridge fee)
    fee: int = 0
    on_arrival: Callable[[BridgeTransfer], None] | None = field(default=None, repr=False)
    timer: list | None = field(default=None, repr=False)  # the Kernel entry that delivers it

    @property
    def pending(self) -> bool:
        return self.arrived_at is None


@dataclass(frozen=True, slots=True)
class SupplyCheck:
    """For one original token: its wrapped supply summed over every destination against the amount its source
    bridge locks (a lock minted on two chains would pass every per-chain comparison, not this one)."""

    source_chain_id: int
    token: str
    locked: int
    destinations: tuple[tuple[int, str, int], ...]  # (dest chain id, wrapped token, its total supply)

    @property
    def wrapped_supply(self) -> int:
        """Wrapped supply over all destinations."""
        return sum(supply for _, _, supply in self.destinations)

    @property
    def ok(self) -> bool:
        return self.wrapped_supply <= self.locked


class BridgeRelayer:
    """Deploys and links Bridge contracts on several chains and relays transfers after a delay on the Kernel.

    Validators sign each relay (EIP-712, consensus.signing) after checking it against the source chain; the
    relayer collects `signers` signatures (default: the threshold) from those that accept it. `byzantine` lists
    indices of validators that sign anything; `confirmations` is how deep honest validators want a lock.
    """

    def __init__(self, kernel: Kernel, endpoints: dict[int, BridgeEndpoint], validators: Sequence[ValidatorKey], *,
                 delay_ns: int, signers: int | None = None, relayer: str = "deployer",
                 byzantine: Collection[int] = (), confirmations: int = 1) -> None:
        if delay_ns < 0:
            raise ConfigError("must be >= 0", key="bridge.delay", value=delay_ns)
        self.kernel = kernel
        self.endpoints = endpoints
        self.validators = [BridgeValidator(k, endpoints, confirmations=confirmations, byzantine=i in byzantine)
                           for i, k in enumerate(validators)]
        self.delay_ns = delay_ns
        self.threshold = min(e.contract.threshold() for e in endpoints.values())
        self.signers = self.threshold if signers is None else signers
        self.relayer = relayer
        self.transfers: list[BridgeTransfer] = []
        self.wrapped_tokens: list[tuple[int, str, int, str]] = []  # (source chain, token, dest chain, wrapped)
        self.relay_gas = 0  # gas the relayer paid for mint/release transactions
        self.name = "bridge"
        self.bus: Bus | None = None  # where BridgeLocked / BridgeRelayed / BridgeMinted go (topic ("bridge", name))
        self.chains: dict[int, BridgeChain] = {}  # chain id -> its simulation side (clock, receipts)

    @classmethod
    def deploy(cls, kernel: Kernel, chains: Sequence[Chain], validators: Sequence[ValidatorKey], *, threshold: int,
               fee_bps: int, delay_ns: int, fee_recipient: str = "deployer", sender: str = "deployer",
               byzantine: Collection[int] = (), confirmations: int = 1) -> BridgeRelayer:
        """Deploy a Bridge on each chain (same validator set) and register every other chain's bridge as remote."""
        step = bridge_step(validators=[v.address for v in validators], threshold=threshold, fee_bps=fee_bps,
                           fee_recipient=fee_recipient, owner=sender)
        endpoints = {}
        for chain in chains:
            deployed = deploy_stack(chain, steps=[step], sender=sender, write=False)
            endpoints[chain.chain_id] = BridgeEndpoint(chain, BridgeContract.at(chain, deployed.address("Bridge")))
        for here in endpoints.values():
            for there in endpoints.values():
                if there is not here:
                    here.contract.set_remote_bridge(there.chain_id, there.address, sender=sender)
        return cls(kernel, endpoints, validators, delay_ns=delay_ns, relayer=sender, byzantine=byzantine,
                   confirmations=confirmations)

    def endpoint(self, chain_id: int) -> BridgeEndpoint:
        """The bridge on a chain."""
        try:
            return self.endpoints[chain_id]
        except KeyError:
            raise ConfigError(f"no bridge on chain; known: {sorted(self.endpoints)}", key="chain_id",
                              value=chain_id) from None

    def create_wrapped(self, source_chain_id: int, token: ERC20, dest_chain_id: int, *,
                       sender: str = "deployer") -> WrappedToken:
        """Deploy the wrapped version of `token` (on source_chain_id) on dest_chain_id."""
        src, dst = self.endpoint(source_chain_id), self.endpoint(dest_chain_id)
        token = ERC20.at(src.chain, token.address)
        name, symbol, decimals = token.name(), token.symbol(), token.decimals()
        dst.contract.create_wrapped(source_chain_id, token.address, f"Bridged {name}", f"b{symbol}", decimals,
                                    sender=sender)
        wrapped = self.wrapped(source_chain_id, token.address, dest_chain_id)
        self.wrapped_tokens.append((source_chain_id, token.address, dest_chain_id, wrapped.address))
        return wrapped

    def wrapped(self, source_chain_id: int, token: str, dest_chain_id: int) -> WrappedToken:
        """Client of the wrapped token on dest_chain_id for `token` on source_chain_id."""
        dst = self.endpoint(dest_chain_id)
        address = dst.contract.wrapped_of(source_chain_id, token)
        if int(address, 16) == 0:
            raise ValidationError(f"no wrapped token on chain {dest_chain_id} for {token} of chain {source_chain_id}")
        return WrappedToken.at(dst.chain, address)

    # ---- sending --------------------------------------------------------------------------------------------------
    def lock(self, source_chain_id: int, token: ERC20, amount: int, dest_chain_id: int, *, sender: str,
             recipient: str | None = None,
             on_arrival: Callable[[BridgeTransfer], None] | None = None) -> BridgeTransfer:
        """Lock `amount` of `token` on the source chain now; the wrapped token is minted after the delay."""
        src = self.endpoint(source_chain_id)
        chain = src.chain
        self._before(chain)
        if token.allowance(chain.address(sender), src.address) < amount:
            token.approve(src.address, MAX_UINT256, sender=sender)
        to = chain.address(recipient or sender)
        event, receipt = src.contract.lock(token.address, amount, to, dest_chain_id, sender=sender, gas=GAS_TRANSFER)
        self._after(chain, "bridge_lock", sender, receipt)
        relay = Relay(KIND_MINT, source_chain_id, src.address, dest_chain_id, event.nonce, token.address, to,
                      event.amount, receipt.block_number)
        self._publish(BridgeLocked(self.kernel.now, self.name, "lock", source_chain_id, dest_chain_id, relay.nonce,
                                   token.address, sender, to, relay.amount))
        return self._schedule(relay, dest_chain_id, sender, on_arrival, receipt.gas_used)

    def burn(self, chain_id: int, wrapped: ERC20, amount: int, *, sender: str, recipient: str | None = None,
             on_arrival: Callable[[BridgeTransfer], None] | None = None) -> BridgeTransfer:
        """Burn wrapped tokens on `chain_id` now; the original is released on its chain after the delay."""
        here = self.endpoint(chain_id)
        chain = here.chain
        to = chain.address(recipient or sender)
        self._before(chain)
        event, receipt = here.contract.burn(wrapped.address, amount, to, sender=sender, gas=GAS_TRANSFER)
        self._after(chain, "bridge_burn", sender, receipt)
        relay = Relay(KIND_RELEASE, chain_id, here.address, event.dest_chain_id, event.nonce, event.source_token, to,
                      amount, receipt.block_number)
        self._publish(BridgeLocked(self.kernel.now, self.name, "burn", chain_id, relay.dest_chain_id, relay.nonce,
                                   wrapped.address, sender, to, amount))
        return self._schedule(relay, relay.dest_chain_id, sender, on_arrival, receipt.gas_used)

    def _schedule(self, relay: Relay, dest_chain_id: int, sender: str,
                  on_arrival: Callable[[BridgeTransfer], None] | None, gas_used: int) -> BridgeTransfer:
        transfer = BridgeTransfer(relay, dest_chain_id, self.kernel.now, sender, sender_gas=gas_used,
                                  on_arrival=on_arrival)
        self.transfers.append(transfer)
        transfer.timer = self.kernel.schedule(self.delay_ns, self._deliver, transfer)
        return transfer

    def _before(self, chain: Chain) -> None:
        side = self.chains.get(chain.chain_id)
        if side is not None:
            side.sync_clock()

    def _after(self, chain: Chain, kind: str, sender: str, receipt: Receipt) -> None:
        side = self.chains.get(chain.chain_id)
        if side is not None:
            side.receipt(kind, sender, receipt)

    def _publish(self, event: BridgeLocked | BridgeRelayed | BridgeMinted) -> None:
        if self.bus is not None:
            self.bus.publish(event, bridge_topic(self.name))

    def flush(self) -> None:
        """Deliver every pending transfer now, skipping the delay (set-up before a run, tests)."""
        for transfer in self.pending:
            if transfer.timer is not None:
                Kernel.cancel(transfer.timer)
            self._deliver(transfer)

    def signatures(self, relay: Relay) -> list[bytes]:
        """Collect attestations for a relay: validators in turn until `signers` accepted it (ascending signer order).

        Raises RelayRefused, naming each refusal, when fewer than the threshold accept it."""
        dst = self.endpoint(relay.dest_chain_id)
        accepted: list[tuple[str, bytes]] = []
        reasons: dict[str, str] = {}
        for v in self.validators:
            if len(accepted) >= self.signers:
                break
            sig = v.attest(relay, dst.address)
            if sig is None:
                reasons[v.address] = v.check(relay, dst.address) or "refused"
            else:
                accepted.append((v.address, sig))
        if len(accepted) < self.threshold:
            raise RelayRefused(relay, len(accepted), self.threshold, reasons)
        return [sig for _, sig in sorted(accepted, key=lambda x: int(x[0], 16))]

    def relay(self, relay: Relay) -> Receipt:
        """Attest and execute one relay on its destination now (RelayRefused if the validators refuse it)."""
        return self._execute(relay)[1]

    def _execute(self, relay: Relay) -> tuple[Minted | Released, Receipt]:
        dst = self.endpoint(relay.dest_chain_id)
        sigs = self.signatures(relay)
        execute = dst.contract.mint if relay.kind == KIND_MINT else dst.contract.release
        self._before(dst.chain)
        event, receipt = execute(relay.call_args(), sigs, sender=self.relayer, gas=GAS_RELAY)
        self._after(dst.chain, "bridge_mint" if relay.kind == KIND_MINT else "bridge_release", self.relayer, receipt)
        self.relay_gas += receipt.gas_used
        self._publish(BridgeRelayed(self.kernel.now, self.name, "mint" if relay.kind == KIND_MINT else "release",
                                    relay.source_chain_id, relay.dest_chain_id, relay.nonce, len(sigs), self.relayer,
                                    receipt.tx_hash, receipt.gas_used))
        return event, receipt

    def _deliver(self, transfer: BridgeTransfer) -> None:
        event, _ = self._execute(transfer.relay)
        transfer.arrived_at = self.kernel.now
        relay = transfer.relay
        transfer.received = event.amount
        transfer.fee = event.fee
        self._publish(BridgeMinted(self.kernel.now, self.name, "mint" if relay.kind == KIND_MINT else "release",
                                   relay.source_chain_id, transfer.dest_chain_id, relay.nonce, relay.token,
                                   transfer.sender, relay.recipient, transfer.received, transfer.fee))
        if transfer.on_arrival is not None:
            transfer.on_arrival(transfer)

    # ---- accounting -----------------------------------------------------------------------------------------------
    @property
    def pending(self) -> list[BridgeTransfer]:
        """Transfers sent but not yet delivered."""
        return [t for t in self.transfers if t.pending]

    def supply_checks(self) -> list[SupplyCheck]:
        """For every original token bridged by create_wrapped: its wrapped supply summed over all destinations
        against what its source bridge locks."""
        by_source: dict[tuple[int, str], list[tuple[int, str, int]]] = {}
        for src_id, token, dest_id, wrapped in self.wrapped_tokens:
            dst = self.endpoint(dest_id)
            supply = WrappedToken.at(dst.chain, wrapped).total_supply()
            by_source.setdefault((src_id, token), []).append((dest_id, wrapped, supply))
        checks = []
        for (src_id, token), destinations in by_source.items():
            src = self.endpoint(src_id)
            locked = src.contract.locked(token)
            checks.append(SupplyCheck(src_id, token, locked, tuple(destinations)))
        return checks
