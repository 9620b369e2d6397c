"""Deploy a settlement venue (one test token per asset, Settlement, funded traders) and the stack around it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from market_sim.blockchain import Chain
from market_sim.blockchain.abi import keccak, to_checksum_address
from market_sim.blockchain.deploy import deploy_stack
from market_sim.consensus.certification import BatchCertifier
from market_sim.consensus.cluster import Reconfiguration
from market_sim.consensus.committee import Committee
from market_sim.consensus.config import ConsensusConfig
from market_sim.consensus.signing import validator_keys
from market_sim.consensus.state import BalanceView
from market_sim.core.defaults import TokenSpec
from market_sim.core.errors import SettlementError
from market_sim.core.instruments import Instrument
from market_sim.settlement.batch import BatchCommitment, SettlementMode
from market_sim.settlement.certifier import CommitteeCertifier, ProtocolCertifier
from market_sim.settlement.client import SettlementClient
from market_sim.settlement.ledger import Ledger
from market_sim.settlement.margin_pipeline import MarginBalanceView, MarginSettings, setup_margin
from market_sim.settlement.pipeline import SettlementPipeline
from market_sim.settlement.stack import SETTLEMENT, listed_token_step, settlement_step
from market_sim.settlement.trades import TradeEncoder
from market_sim.simulation.kernel import Kernel

__all__ = ["SettlementVenue", "SettlementStack", "deploy_venue", "build_stack", "trader_address", "COMMITTEE"]

# certification="committee": the synchronous committee signs each batch when it is cut (zero simulated time);
# any protocol name (bft, streamlet, majority, raft) runs that protocol on the simulation's kernel instead.
COMMITTEE = "committee"


def trader_address(trader: str) -> str:
    """A deterministic on-chain address for a simulated trader id (custody only: nobody holds its key)."""
    return to_checksum_address(keccak(f"market_sim trader {trader}".encode())[12:])


@dataclass
class SettlementVenue:
    """A deployed Settlement contract with its tokens and the trader -> address map."""

    chain: Chain
    client: SettlementClient
    tokens: dict[str, str]     # asset symbol -> token address
    accounts: dict[str, str]   # trader id -> address
    fee_account: str
    deposits: dict[tuple[str, str], int]  # (trader id, asset) -> amount deposited


def deploy_venue(chain: Chain, *, assets: Mapping[str, int], traders: Sequence[str], validators: Sequence[str],
                 threshold: int, deposit: Mapping[str, int], fee_account: str | None = None,
                 overrides: Mapping[str, Mapping[str, int]] | None = None,
                 progress: Callable[[int, int], None] | None = None) -> SettlementVenue:
    """Deploy TestToken per asset (symbol -> decimals) and Settlement; deposit `deposit[asset]` for every trader.

    `overrides` gives some traders other amounts ({trader: {asset: amount}}, 0 = no deposit).
    """
    missing = set(deposit) - set(assets)
    if missing:
        raise SettlementError(f"deposits name unknown assets: {sorted(missing)}")
    fee_account = fee_account or trader_address("__fees__")
    accounts = {t: trader_address(t) for t in traders}
    deposits: dict[tuple[str, str], int] = {}
    steps = [settlement_step(validators=validators, threshold=threshold, fee_account=fee_account)]
    for asset, decimals in assets.items():
        amounts = {t: (overrides or {}).get(t, deposit).get(asset, 0) for t in traders}
        deposits.update({(t, asset): a for t, a in amounts.items() if a})
        steps.append(listed_token_step(_token_step_name(asset), TokenSpec(f"Test {asset}", asset, decimals),
                                       funding={accounts[t]: a for t, a in amounts.items() if a}))
    deployed = deploy_stack(chain, steps=steps, write=False)
    client = SettlementClient.at(chain, deployed.address(SETTLEMENT))
    tokens = {asset: deployed.address(_token_step_name(asset)) for asset in assets}
    if progress is not None:
        progress(len(deposits), len(deposit) * len(traders))
    return SettlementVenue(chain, client, tokens, accounts, fee_account, deposits)


def _token_step_name(asset: str) -> str:
    return f"Token {asset}"


@dataclass
class SettlementStack:
    """A funded venue, the validator committee approving trades (a TradeValidator) and the pipeline settling them.

    `committee` is the synchronous Committee, or (networked certification) the ProtocolCertifier: both approve
    trades (`validate_trade`) and expose the trade `log`, the pre-trade `decisions` and the `quorum`."""

    venue: SettlementVenue
    committee: Committee | ProtocolCertifier
    pipeline: SettlementPipeline


def build_stack(chain: Chain, instruments: Mapping[str, Instrument], traders: Sequence[str],
                deposit: Mapping[str, int], consensus: ConsensusConfig, *, taker_fee_bps: int = 0,
                max_batch: int = 500, max_delay: int = 1_000_000_000, mode: SettlementMode = SettlementMode.NET,
                kernel: Kernel | None = None, validity: int | None = None,
                emit: Callable[[object], None] | None = None,
                overrides: Mapping[str, Mapping[str, int]] | None = None, certification: str = COMMITTEE,
                standby: Sequence[int] = (), reconfigurations: Sequence[Reconfiguration] = (),
                margin: MarginSettings | None = None) -> SettlementStack:
    """Deploy and fund a venue for these instruments, build the committee over it and a pipeline certified by it.

    `deposit` is per trader and asset in token base units. The committee's validator keys are the contract's
    validator set, its quorum the contract's threshold, its leaf encoding and extra leaves the settlement ones.
    With a protocol as `certification` (bft, streamlet, majority, raft) the validators run it on `kernel`;
    `standby` validators follow the log as observers until a `reconfigurations` entry swaps one in (bft only).
    With `margin` every batch is a margin batch (settlement.margin_pipeline): pools funded, maintenance set, the
    validators approve short sales within the pools and sign the margin leaf; the planner is `pipeline.margin`.
    """
    decimals: dict[str, int] = {}
    for inst in instruments.values():
        decimals.setdefault(inst.base_asset, inst.base_decimals)
        decimals.setdefault(inst.quote_asset, inst.quote_decimals)
    networked = certification != COMMITTEE
    if networked and kernel is None:
        raise SettlementError(f"certification by {certification} runs on the simulation's kernel: pass kernel")
    if not networked and (standby or reconfigurations):
        raise SettlementError("standby validators and reconfigurations need a networked certification protocol")
    keys = validator_keys(consensus.nodes, consensus.key_seed)
    members = [k.address for i, k in enumerate(keys) if i not in set(standby)]
    threshold = ConsensusConfig(nodes=len(members), protocol=consensus.protocol, allow_unsafe=True).quorum \
        if standby else consensus.quorum
    venue = deploy_venue(chain, assets=decimals, traders=traders, validators=members, threshold=threshold,
                         deposit=deposit, overrides=overrides)
    encoder = TradeEncoder(instruments, venue.tokens, venue.accounts, taker_fee_bps=taker_fee_bps)
    ledger = Ledger(venue.fee_account)
    for (trader, asset), amount in venue.deposits.items():
        ledger.deposit(venue.accounts[trader], venue.tokens[asset], amount)
    planner = None
    if margin is not None:
        mode = SettlementMode.MARGIN
        planner = setup_margin(venue, encoder, margin, ((venue.accounts[t], venue.tokens[a], amount)
                                                        for (t, a), amount in venue.deposits.items()))
    commitment = BatchCommitment(encoder, venue.fee_account, venue.client.token_index, mode)
    if planner is not None:
        balances: BalanceView = MarginBalanceView(instruments, venue.deposits, taker_fee_bps=taker_fee_bps,
                                                  credit=planner.credit)
    else:
        balances = BalanceView(instruments, venue.deposits, taker_fee_bps=taker_fee_bps)
    hooks = dict(accounts=traders, balances=balances, domain=venue.client.domain,
                 leaf_encoder=commitment.leaf_encoder,
                 extra_leaves=commitment.extra_leaves if planner is None else planner.extra_leaves)
    filters = dict(threshold=lambda: venue.client.threshold, accepts=venue.client.is_validator,
                   governance=venue.client.governance)
    committee: Committee | ProtocolCertifier
    if networked:
        net = BatchCertifier(consensus, kernel=kernel, standby=standby, reconfigurations=reconfigurations, **hooks)
        net.start()
        committee = certifier = ProtocolCertifier(net, **filters)
        voters = net.cluster.committee
    else:
        committee = voters = Committee.create(consensus, **hooks)
        certifier = CommitteeCertifier(committee, **filters)
    pipeline = SettlementPipeline(venue.client, encoder, certifier, ledger=ledger, kernel=kernel,
                                  max_batch=max_batch, max_delay=max_delay, mode=mode, validity=validity,
                                  emit=emit, followers=[committee_follower(voters, venue)])
    if planner is not None:
        pipeline.margin = planner
        pipeline.followers.append(lambda kind, account, token, amount:
                                  planner.withdrawn(account, token, amount) if kind == "withdrawn" else None)
    return SettlementStack(venue, committee, pipeline)


def committee_follower(committee: Committee, venue: SettlementVenue) -> Callable[[str, str, str, int], None]:
    """A pipeline follower telling the validators about withdrawal requests and claims read from the chain (in the
    committee's terms: trader ids and asset symbols)."""
    traders = {address: trader for trader, address in venue.accounts.items()}
    assets = {token: asset for asset, token in venue.tokens.items()}

    def follow(kind: str, account: str, token: str, amount: int) -> None:
        trader, asset = traders.get(account), assets.get(token)
        if trader is None or asset is None:
            return
        if kind == "requested":
            committee.withdrawal_requested(trader, asset, amount)
        else:
            committee.withdrawal_claimed(trader, asset, amount)

    return follow
