"""Lock-and-mint bridge between chains: relay digests, validator attestations and a relayer driven by the Kernel."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from eth_utils import to_checksum_address
from web3.contract import Contract
from web3.types import TxReceipt

from market_sim.blockchain import Chain
from market_sim.consensus.signing import SigningDomain, ValidatorKey, keccak, sign, typed_digest
from market_sim.core.errors import ConfigError, ValidationError
from market_sim.simulation.kernel import Kernel

__all__ = [
    "KIND_MINT", "KIND_RELEASE", "BRIDGE_DOMAIN_NAME", "Relay", "BridgeEndpoint", "BridgeTransfer", "BridgeRelayer",
    "SupplyCheck", "relay_digest", "attest",
]

KIND_MINT = 0
KIND_RELEASE = 1
BRIDGE_DOMAIN_NAME = "MarketSimBridge"
RELAY_TYPEHASH = keccak(
    b"Relay(uint8 kind,uint256 sourceChainId,address sourceBridge,uint64 nonce,address token,address recipient,"
    b"uint256 amount)"
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
    nonce: int
    token: str  # the original token on the chain that holds it
    recipient: str
    amount: int

    def struct_hash(self) -> bytes:
        """EIP-712 struct hash; also the relay id the destination contract records."""
        return keccak(RELAY_TYPEHASH + _word(self.kind) + _word(self.source_chain_id) + _addr(self.source_bridge)
                      + _word(self.nonce) + _addr(self.token) + _addr(self.recipient) + _word(self.amount))


def relay_digest(relay: Relay, dest_chain_id: int, dest_bridge: str) -> bytes:
    """The digest validators sign: EIP-712 in the destination bridge's domain ("MarketSimBridge", "1")."""
    domain = SigningDomain(name=BRIDGE_DOMAIN_NAME, version="1", chain_id=dest_chain_id, verifying_contract=dest_bridge)
    return typed_digest(domain, relay.struct_hash())


def attest(relay: Relay, dest_chain_id: int, dest_bridge: str, keys: Sequence[ValidatorKey]) -> list[bytes]:
    """Signatures of `keys` over the relay, ordered by ascending signer address (as the contract requires)."""
    digest = relay_digest(relay, dest_chain_id, dest_bridge)
    return [sign(k, digest) for k in sorted(keys, key=lambda k: int(k.address, 16))]


@dataclass(frozen=True, slots=True)
class BridgeEndpoint:
    """The Bridge contract on one chain."""

    chain: Chain
    contract: Contract

    @property
    def chain_id(self) -> int:
        return self.chain.chain_id

    @property
    def address(self) -> str:
        return self.contract.address


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
    """Wrapped supply on the destination against the amount locked on the source, for one token."""

    source_chain_id: int
    token: str
    dest_chain_id: int
    wrapped: str
    wrapped_supply: int
    locked: int

    @property
    def ok(self) -> bool:
        return self.wrapped_supply <= self.locked


class BridgeRelayer:
    """Deploys and links Bridge contracts on several chains and relays transfers after a delay on the Kernel.

    Validators sign each relay (EIP-712, consensus.signing); `signers` of them (default: the threshold) attest.
    """

    def __init__(self, kernel: Kernel, endpoints: dict[int, BridgeEndpoint], validators: Sequence[ValidatorKey], *,
                 delay_ns: int, signers: int | None = None, relayer: str = "deployer") -> None:
        if delay_ns < 0:
            raise ConfigError("must be >= 0", key="bridge.delay", value=delay_ns)
        self.kernel = kernel
        self.endpoints = endpoints
        self.validators = list(validators)
        self.delay_ns = delay_ns
        threshold = min(e.chain.call(e.contract.functions.threshold()) for e in endpoints.values())
        self.signers = threshold if signers is None else signers
        self.relayer = relayer
        self.transfers: list[BridgeTransfer] = []
        self.wrapped_tokens: list[tuple[int, str, int, str]] = []  # (source chain, token, dest chain, wrapped)
        self.relay_gas = 0  # gas the relayer paid for mint/release transactions
        # Hooks around the transfer transactions: before_send(chain) before a lock/burn/relay is sent (e.g. to set the
        # chain's clock), on_receipt(chain, kind, receipt) after it is mined, kind "bridge_lock" | "bridge_burn" |
        # "bridge_mint" | "bridge_release".
        self.before_send: Callable[[Chain], None] | None = None
        self.on_receipt: Callable[[Chain, str, TxReceipt], None] | None = None

    @classmethod
    def deploy(cls, kernel: Kernel, chains: Sequence[Chain], validators: Sequence[ValidatorKey], *, threshold: int,
               fee_bps: int, delay_ns: int, fee_recipient: str = "deployer", sender: str = "deployer") -> BridgeRelayer:
        """Deploy a Bridge on each chain (same validator set) and register every other chain's bridge as remote."""
        addresses = [v.address for v in validators]
        endpoints = {}
        for chain in chains:
            contract = chain.deploy("Bridge", addresses, threshold, fee_bps, chain.address(fee_recipient),
                                    sender=sender)
            endpoints[chain.chain_id] = BridgeEndpoint(chain, contract)
        for here in endpoints.values():
            for there in endpoints.values():
                if there is not here:
                    here.chain.transact(here.contract.functions.setRemoteBridge(there.chain_id, there.address),
                                        sender=sender)
        return cls(kernel, endpoints, validators, delay_ns=delay_ns, relayer=sender)

    def endpoint(self, chain_id: int) -> BridgeEndpoint:
        """The bridge on a chain."""
        try:
            return self.endpoints[chain_id]
        except KeyError:
            raise ConfigError(f"no bridge on chain; known: {sorted(self.endpoints)}", key="chain_id",
                              value=chain_id) from None

    def create_wrapped(self, source_chain_id: int, token: Contract, dest_chain_id: int, *,
                       sender: str = "deployer") -> Contract:
        """Deploy the wrapped version of `token` (on source_chain_id) on dest_chain_id."""
        src, dst = self.endpoint(source_chain_id), self.endpoint(dest_chain_id)
        name = src.chain.call(token.functions.name())
        symbol = src.chain.call(token.functions.symbol())
        decimals = src.chain.call(token.functions.decimals())
        dst.chain.transact(dst.contract.functions.createWrapped(
            source_chain_id, token.address, f"Bridged {name}", f"b{symbol}", decimals), sender=sender)
        wrapped = self.wrapped(source_chain_id, token.address, dest_chain_id)
        self.wrapped_tokens.append((source_chain_id, token.address, dest_chain_id, wrapped.address))
        return wrapped

    def wrapped(self, source_chain_id: int, token: str, dest_chain_id: int) -> Contract:
        """Handle of the wrapped token on dest_chain_id for `token` on source_chain_id."""
        dst = self.endpoint(dest_chain_id)
        address = dst.chain.call(dst.contract.functions.wrappedOf(source_chain_id, token))
        if int(address, 16) == 0:
            raise ValidationError(f"no wrapped token on chain {dest_chain_id} for {token} of chain {source_chain_id}")
        return dst.chain.contract("WrappedToken", address)

    # ---- sending --------------------------------------------------------------------------------------------------
    def lock(self, source_chain_id: int, token: Contract, amount: int, dest_chain_id: int, *, sender: str,
             recipient: str | None = None,
             on_arrival: Callable[[BridgeTransfer], None] | None = None) -> BridgeTransfer:
        """Lock `amount` of `token` on the source chain now; the wrapped token is minted after the delay."""
        src = self.endpoint(source_chain_id)
        chain = src.chain
        self._before(chain)
        if chain.call(token.functions.allowance(chain.address(sender), src.address)) < amount:
            chain.transact(token.functions.approve(src.address, 2**256 - 1), sender=sender)
        to = chain.address(recipient or sender)
        receipt = chain.transact(src.contract.functions.lock(token.address, amount, to, dest_chain_id),
                                 sender=sender, gas=GAS_TRANSFER)
        self._after(chain, "bridge_lock", receipt)
        (event,) = chain.events(receipt, src.contract, "Locked")
        relay = Relay(KIND_MINT, source_chain_id, src.address, event["nonce"], token.address, to, event["amount"])
        return self._schedule(relay, dest_chain_id, sender, on_arrival, int(receipt["gasUsed"]))

    def burn(self, chain_id: int, wrapped: Contract, amount: int, *, sender: str, recipient: str | None = None,
             on_arrival: Callable[[BridgeTransfer], None] | None = None) -> BridgeTransfer:
        """Burn wrapped tokens on `chain_id` now; the original is released on its chain after the delay."""
        here = self.endpoint(chain_id)
        chain = here.chain
        to = chain.address(recipient or sender)
        self._before(chain)
        receipt = chain.transact(here.contract.functions.burn(wrapped.address, amount, to), sender=sender,
                                 gas=GAS_TRANSFER)
        self._after(chain, "bridge_burn", receipt)
        (event,) = chain.events(receipt, here.contract, "Burned")
        relay = Relay(KIND_RELEASE, chain_id, here.address, event["nonce"], event["sourceToken"], to, amount)
        return self._schedule(relay, event["destChainId"], sender, on_arrival, int(receipt["gasUsed"]))

    def _schedule(self, relay: Relay, dest_chain_id: int, sender: str,
                  on_arrival: Callable[[BridgeTransfer], None] | None, gas_used: int) -> BridgeTransfer:
        transfer = BridgeTransfer(relay, dest_chain_id, self.kernel.now, sender, sender_gas=gas_used,
                                  on_arrival=on_arrival)
        self.transfers.append(transfer)
        transfer.timer = self.kernel.schedule(self.delay_ns, self._deliver, transfer)
        return transfer

    def _before(self, chain: Chain) -> None:
        if self.before_send is not None:
            self.before_send(chain)

    def _after(self, chain: Chain, kind: str, receipt: TxReceipt) -> None:
        if self.on_receipt is not None:
            self.on_receipt(chain, kind, receipt)

    def flush(self) -> None:
        """Deliver every pending transfer now, skipping the delay (set-up before a run, tests)."""
        for transfer in self.pending:
            if transfer.timer is not None:
                Kernel.cancel(transfer.timer)
            self._deliver(transfer)

    def _deliver(self, transfer: BridgeTransfer) -> None:
        relay = transfer.relay
        dst = self.endpoint(transfer.dest_chain_id)
        sigs = attest(relay, dst.chain_id, dst.address, self.validators[: self.signers])
        fn = dst.contract.functions.mint if relay.kind == KIND_MINT else dst.contract.functions.release
        self._before(dst.chain)
        receipt = dst.chain.transact(
            fn(relay.source_chain_id, relay.nonce, relay.token, relay.recipient, relay.amount, sigs),
            sender=self.relayer, gas=GAS_RELAY)
        self._after(dst.chain, "bridge_mint" if relay.kind == KIND_MINT else "bridge_release", receipt)
        self.relay_gas += int(receipt["gasUsed"])
        (event,) = dst.chain.events(receipt, dst.contract, "Minted" if relay.kind == KIND_MINT else "Released")
        transfer.arrived_at = self.kernel.now
        transfer.received = event["amount"]
        transfer.fee = event["fee"]
        if transfer.on_arrival is not None:
            transfer.on_arrival(transfer)

    # ---- accounting -----------------------------------------------------------------------------------------------
    @property
    def pending(self) -> list[BridgeTransfer]:
        """Transfers sent but not yet delivered."""
        return [t for t in self.transfers if t.pending]

    def supply_checks(self) -> list[SupplyCheck]:
        """For every wrapped token made by create_wrapped: its supply on the destination and what the source locks."""
        checks = []
        for src_id, token, dest_id, wrapped in self.wrapped_tokens:
            src, dst = self.endpoint(src_id), self.endpoint(dest_id)
            supply = dst.chain.call(dst.chain.contract("WrappedToken", wrapped).functions.totalSupply())
            locked = src.chain.call(src.contract.functions.locked(token))
            checks.append(SupplyCheck(src_id, token, dest_id, wrapped, supply, locked))
        return checks
