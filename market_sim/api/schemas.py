"""Request and response models of the REST API (pydantic; they make the OpenAPI schema and its examples).

Prices are integer ticks and quantities integer lots, as on the venues; times are simulated nanoseconds.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["ErrorBody", "ErrorResponse", "ScenarioSummary", "ScenarioDetail", "RunSummary", "RunDetail",
           "TablePage", "StartSim", "SimInfo", "StepRequest", "OrderRequest", "ModifyRequest", "OrderView",
           "FillView", "AccountView", "PositionView", "BookLevel", "BookL1", "BookL2", "BookL3", "L3Order",
           "TradeView", "SettlementSummary", "Health", "BookStats", "ConsensusInfo", "ValidatorView", "RoundView",
           "VoteView", "CertificateView", "LogEntry", "TradeLogView", "LogProof", "ChainBlock", "TxSummary",
           "TxReceiptView", "DecodedEvent", "ContractView", "ContractDeployment", "AmmPool", "BridgeTransferView", "AgentPnl"]

MAX_INT = 2**63 - 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldError(BaseModel):
    field: str = Field(description="where the bad value is, e.g. body.quantity")
    message: str


class ErrorBody(BaseModel):
    code: str = Field(description="not_found, conflict, bad_request, unauthorized, forbidden, rate_limited, "
                                  "validation, internal")
    message: str
    fields: list[FieldError] = []


class ErrorResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"error": {"code": "validation", "message": "body.quantity: Input should be greater than 0",
                   "fields": [{"field": "body.quantity", "message": "Input should be greater than 0"}]}}]})
    error: ErrorBody


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


class ScenarioSummary(BaseModel):
    name: str
    package: str
    description: str


class ScenarioDetail(ScenarioSummary):
    scenario: dict[str, Any] = Field(description="the scenario file as a table")


class RunSummary(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"run_id": "20261202T010000Z-random-market-s1", "scenario": "random-market", "seed": 1,
         "started_at": "2026-12-02T01:00:00+00:00", "finished_at": "2026-12-02T01:00:09+00:00",
         "status": "complete", "error": None, "trades": 5012, "events_per_second": 410000,
         "overrides": ["agents.noise.count=10"]}]})
    run_id: str
    scenario: str
    seed: int
    started_at: str
    finished_at: str
    status: str
    error: str | None = None
    trades: int | None = None
    events_per_second: float | None = None
    overrides: list[str] = []


class HeadlineFigure(BaseModel):
    path: str
    label: str
    value: Any


class RunDetail(RunSummary):
    tables: list[str]
    plots: list[str]
    reports: list[str]
    headline: list[HeadlineFigure]
    metrics: dict[str, Any]


class TablePage(BaseModel):
    table: str
    columns: list[str]
    rows: list[list[Any]]
    total: int
    offset: int


class StartSim(_Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"scenario": "random-market", "seed": 7, "overrides": ["duration=10m"], "realtime": 10.0,
         "paused": False}]})
    scenario: str = Field(description="a named scenario (GET /v1/scenarios)", min_length=1, max_length=200)
    seed: int | None = Field(None, ge=0, le=MAX_INT)
    overrides: list[str] = Field([], max_length=100, description="dotted-key overrides, as `market-sim run --set`")
    realtime: float | None = Field(None, gt=0, le=1e6, description="pace at this many simulated seconds per wall "
                                                                   "second; null: as fast as possible")
    paused: bool = Field(False, description="create it paused (advance it with /step or /resume)")
    save: bool = Field(False, description="when it ends (or is stopped), store it as a run (GET /v1/runs)")


class StepRequest(_Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"until_ns": 5_000_000_000}]})
    until_ns: int | None = Field(None, ge=0, le=MAX_INT, description="advance to this simulated time")
    by_ns: int | None = Field(None, gt=0, le=MAX_INT, description="... or by this much")

    @model_validator(mode="after")
    def _one(self) -> "StepRequest":
        if (self.until_ns is None) == (self.by_ns is None):
            raise ValueError("give exactly one of until_ns and by_ns")
        return self


class SimInfo(BaseModel):
    id: str
    scenario: str
    seed: int
    state: Literal["paused", "running", "finished", "stopped", "failed"]
    now_ns: int
    duration_ns: int
    realtime: float | None
    events: int
    error: str | None
    created_at: str
    overrides: list[str]
    venues: dict[str, list[str]]
    instruments: dict[str, dict[str, str]]
    settlement: bool
    run_id: str | None = Field(None, description="the stored run it becomes (save: true)")
    components: dict[str, Any] = Field({}, description="what the component routes can show: `consensus` (the "
                                       "committee's protocol, or null), `chains` (names for `chain=`), `amm` and "
                                       "`bridge` (DeFi)")


class OrderRequest(_Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"symbol": "AAPL", "side": "buy", "quantity": 5, "order_type": "limit", "price": 19000, "tif": "gtc"},
        {"account": "ext-1", "symbol": "ETH/USDC", "side": "sell", "quantity": 1, "order_type": "market",
         "tif": "ioc"}]})
    account: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
                                description="the trading account; a trader token's own account by default")
    symbol: str = Field(min_length=1, max_length=64)
    venue: str | None = Field(None, min_length=1, max_length=64, description="default: the venue listing symbol")
    side: Literal["buy", "sell"]
    quantity: int = Field(gt=0, le=MAX_INT, description="lots")
    order_type: Literal["limit", "market", "stop", "stop_limit"] = "limit"
    price: int | None = Field(None, gt=0, le=MAX_INT, description="limit price in ticks")
    stop_price: int | None = Field(None, gt=0, le=MAX_INT, description="trigger price in ticks")
    tif: Literal["gtc", "day", "gtd", "ioc", "fok", "opg", "cls"] = "gtc"
    expire_at: int | None = Field(None, ge=0, le=MAX_INT, description="ns, for gtd")
    display_quantity: int | None = Field(None, gt=0, le=MAX_INT, description="iceberg: the visible lots")
    hidden: bool = False
    post_only: Literal["reject", "reprice"] | None = None

    @model_validator(mode="after")
    def _prices(self) -> "OrderRequest":
        if self.order_type in ("limit", "stop_limit") and self.price is None:
            raise ValueError(f"a {self.order_type} order needs a price")
        if self.order_type in ("market", "stop") and self.price is not None:
            raise ValueError(f"a {self.order_type} order takes no price")
        if self.order_type in ("stop", "stop_limit") and self.stop_price is None:
            raise ValueError(f"a {self.order_type} order needs a stop_price")
        if (self.tif == "gtd") != (self.expire_at is not None):
            raise ValueError("expire_at goes with tif gtd, and only with it")
        return self


class ModifyRequest(_Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"quantity": 3}, {"price": 18990}]})
    quantity: int | None = Field(None, gt=0, le=MAX_INT, description="new total open lots")
    price: int | None = Field(None, gt=0, le=MAX_INT, description="new limit price in ticks")

    @model_validator(mode="after")
    def _some(self) -> "ModifyRequest":
        if self.quantity is None and self.price is None:
            raise ValueError("give quantity, price or both")
        return self


class OrderView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"order_id": 10231, "account": "ext-1", "venue": "exchange", "symbol": "AAPL", "side": "buy",
         "order_type": "limit", "tif": "gtc", "price": 19000, "quantity": 5, "ts": 5_000_000_000, "open": 2,
         "filled": 3, "status": "open", "reason": ""}]})
    order_id: int
    account: str
    venue: str
    symbol: str
    side: str
    order_type: str
    tif: str
    price: int | None
    quantity: int
    ts: int
    open: int
    filled: int
    status: Literal["pending", "open", "filled", "cancelled", "rejected"]
    reason: str


class FillView(BaseModel):
    ts: int
    account: str
    venue: str
    symbol: str
    side: str
    order_id: int
    trade_id: int
    price: int
    quantity: int
    base_asset: str
    base_amount: int
    quote_asset: str
    quote_amount: int
    fee_asset: str
    fee: int
    liquidity: str


class PositionView(BaseModel):
    symbol: str
    base_asset: str
    quote_asset: str
    quantity: int
    cost: int
    realized: int
    fees: int
    volume: int
    fills: int


class AccountView(BaseModel):
    account: str
    balances: dict[str, int]
    positions: list[PositionView]
    fees_paid: dict[str, int]


class BookLevel(BaseModel):
    price: int
    quantity: int


class BookL1(BaseModel):
    venue: str
    symbol: str
    ts: int
    bid: int | None
    bid_quantity: int
    ask: int | None
    ask_quantity: int
    last: int | None


class BookL2(BaseModel):
    venue: str
    symbol: str
    ts: int
    seq: int = Field(description="the last book delta this snapshot includes (the stream's sequence)")
    bids: list[BookLevel]
    asks: list[BookLevel]


class L3Order(BaseModel):
    order_id: int
    trader: str
    side: str
    price: int | None
    quantity: int = Field(description="displayed lots (an iceberg's hidden reserve is not shown)")


class BookL3(BaseModel):
    venue: str
    symbol: str
    ts: int
    bids: list[L3Order]
    asks: list[L3Order]


class BookStats(BaseModel):
    venue: str
    symbol: str
    ts: int
    last_price: int | None
    volume: int = Field(description="lots traded so far")
    notional: int = Field(description="sum of price x quantity over the trades, in tick-lots")
    trade_count: int
    vwap: float | None = Field(description="volume-weighted average price in ticks (display only)")


class TradeView(BaseModel):
    ts: int
    venue: str
    symbol: str
    trade_id: int
    price: int
    quantity: int
    buyer: str
    seller: str
    buy_order_id: int
    sell_order_id: int
    aggressor: str


class SettlementSummary(BaseModel):
    venue: str
    stage_events: int
    outcomes: dict[str, int]
    stage_latency: dict[str, dict[str, Any]]
    blocks: int | None = Field(description="blocks mined on the simulation clock (null: no block producer)")


# ---- consensus ----------------------------------------------------------------------------------------------------
_ADDR = "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"
_HASH = "0x" + "ab" * 32


class ValidatorView(BaseModel):
    index: int
    name: str = Field(description="v0, v1, ...")
    address: str
    behaviour: str = Field(description="honest, crashed, reject, approve-all, equivocate, delayed, "
                                       "malicious-leader")
    honest: bool
    log_height: int = Field(description="certified blocks in this validator's own log")


class ConsensusInfo(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"section": "consensus", "protocol": "streamlet", "quorum": 5, "height": 12, "round": 40, "head_hash": _HASH,
         "now_ns": 30_000_000_000,
         "validators": [{"index": 0, "name": "v0", "address": _ADDR, "behaviour": "equivocate", "honest": False,
                         "log_height": 12}],
         "counts": {"batches": 12, "trades_logged": 230, "pretrade_votes": 241, "pretrade_rejected": 3,
                    "equivocations": 241, "votes_recorded": 1880, "messages": 9120, "submitted": 238,
                    "certified": 230, "rejected": 3, "pending": 8}}]})
    section: Literal["consensus", "settlement"] = Field(description="the scenario section the committee belongs to")
    protocol: str = Field(description="streamlet, bft, majority, raft, or committee (settlement's synchronous "
                                      "committee)")
    quorum: int
    height: int = Field(description="height of the reference log (the longest honest one; settlement: the "
                                    "certifier's)")
    round: int | None = Field(description="rounds (epochs, views, terms) the protocol started; null: synchronous")
    head_hash: str
    now_ns: int
    validators: list[ValidatorView]
    counts: dict[str, int | None]


class VoteView(BaseModel):
    voter: str
    address: str
    kind: str = Field(description="prevote, precommit, sign (bft); vote, certify (streamlet); reply (majority); "
                                  "election (raft); certificate (synchronous committee)")
    digest: str | None = Field(description="what it voted for (0x hex)")
    approve: bool
    reason: str | None = None
    ts: int | None = Field(None, description="simulated ns it was sent")
    to: list[str] | None = Field(None, description="the peers it went to (null: everyone); an equivocating "
                                                   "validator sends conflicting votes to different peers")


class RoundView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"height": 3, "round": 7, "votes": [
            {"voter": "v1", "address": _ADDR, "kind": "vote", "digest": _HASH, "approve": True, "reason": None,
             "ts": 1_250_000_000, "to": None}]}]})
    height: int | None
    round: int | None
    votes: list[VoteView]


class CertificateView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"height": 3, "hash": _HASH, "parent_hash": _HASH, "merkle_root": _HASH, "trades": 17, "digest": _HASH,
         "signers": [_ADDR], "signatures": 5, "quorum": 5, "state_block": 0, "expires_at": 0,
         "certified_at_ns": 1_300_000_000}]})
    height: int
    hash: str = Field(description="the block's EIP-712 struct hash (the next block's parent_hash)")
    parent_hash: str
    merkle_root: str
    trades: int
    digest: str | None = Field(description="the domain-bound digest the validators signed")
    signers: list[str]
    signatures: int
    quorum: int
    state_block: int
    expires_at: int
    certified_at_ns: int | None = Field(description="when the first honest validator held it (networked only)")


class LogEntry(BaseModel):
    seq: int = Field(description="position of the trade in the whole log, from 1")
    height: int
    index: int = Field(description="position in its block")
    trade_id: int
    ts: int
    symbol: str
    price: int
    quantity: int
    buyer: str
    seller: str
    aggressor: str
    block_hash: str
    parent_hash: str
    merkle_root: str


class TradeLogView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"height": 12, "entries_total": 230, "head_hash": _HASH, "verified": True, "problem": None,
         "entries": [{"seq": 230, "height": 12, "index": 4, "trade_id": 981, "ts": 29_800_000_000,
                      "symbol": "AAPL", "price": 19001, "quantity": 3, "buyer": "noise-2", "seller": "mm-1",
                      "aggressor": "buy", "block_hash": _HASH, "parent_hash": _HASH, "merkle_root": _HASH}]}]})
    height: int
    entries_total: int
    head_hash: str
    verified: bool = Field(description="the whole log re-checked from genesis: heights, parent hashes, roots, "
                                       "certificates")
    problem: str | None
    entries: list[LogEntry]


class LogProof(LogEntry):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"seq": 5, "height": 1, "index": 4, "trade_id": 17, "ts": 210_000_000, "symbol": "AAPL", "price": 19000,
         "quantity": 1, "buyer": "noise-1", "seller": "mm-1", "aggressor": "sell", "block_hash": _HASH,
         "parent_hash": "0x" + "00" * 32, "merkle_root": _HASH, "leaf": _HASH, "proof": [_HASH, _HASH],
         "root": _HASH, "verified": True, "signers": [_ADDR], "expired": False}]})
    leaf: str = Field(description="keccak256(keccak256(abi.encode(trade))), the OpenZeppelin leaf")
    proof: list[str] = Field(description="sibling hashes, leaf to root (MerkleProof.verify)")
    root: str
    verified: bool
    signers: list[str]
    expired: bool = Field(description="its block's certificate expired unsettled (skipped on chain)")


# ---- chain ----------------------------------------------------------------------------------------------------------
class ChainBlock(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"chain": "settlement", "number": 42, "hash": _HASH, "parent_hash": _HASH, "timestamp": 1_767_225_612,
         "gas_used": 312_000, "gas_limit": 30_000_000, "base_fee": 875_000_000, "miner": _ADDR,
         "transactions": [_HASH], "producer": {"number": 42, "sim_time": 12_000_000_000}}]})
    chain: str
    number: int
    hash: str
    parent_hash: str
    timestamp: int
    gas_used: int
    gas_limit: int
    base_fee: int | None
    miner: str
    transactions: list[str]
    producer: dict[str, Any] | None = Field(None, description="the block producer's record (simulated time, "
                                                              "modelled base fee), when it mined it")


class TxSummary(BaseModel):
    model_config = ConfigDict(populate_by_name=True, json_schema_extra={"examples": [
        {"hash": _HASH, "block": 42, "index": 0, "from": _ADDR, "to": _ADDR, "contract": "Settlement",
         "created": None, "status": 1, "gas_used": 281_000, "effective_gas_price": 1_875_000_000,
         "label": "settle batch 3"}]})
    hash: str
    block: int
    index: int
    from_: str = Field(alias="from", serialization_alias="from")
    to: str | None
    contract: str | None = Field(description="the artifact name of the contract called (or created)")
    created: str | None = Field(description="the address of the contract it created")
    status: int = Field(description="1 success, 0 reverted")
    gas_used: int
    effective_gas_price: int | None
    label: str | None = Field(description="what the simulation sent it for, when it knows")


class DecodedEvent(BaseModel):
    address: str
    log_index: int
    contract: str | None
    event: str | None = Field(description="the event's name from the emitter's ABI (null: not decoded)")
    args: dict[str, Any] | None
    topics: list[str] | None = Field(None, description="raw topics (undecoded logs only)")
    data: str | None = Field(None, description="raw data (undecoded logs only)")


class TxReceiptView(TxSummary):
    model_config = ConfigDict(populate_by_name=True, json_schema_extra={"examples": [
        {"hash": _HASH, "block": 42, "index": 0, "from": _ADDR, "to": _ADDR, "contract": "Settlement",
         "created": None, "status": 1, "gas_used": 281_000, "effective_gas_price": 1_875_000_000,
         "label": "settle batch 3", "nonce": 17, "value": 0, "input": "0x1a2b3c4d", "gas": 400_000,
         "cumulative_gas_used": 281_000, "events": [
             {"address": _ADDR, "log_index": 0, "contract": "Settlement", "event": "BatchSettled",
              "args": {"sequence": 3, "merkleRoot": _HASH}}]}]})
    nonce: int
    value: int
    input: str = Field(description="the 4-byte selector")
    gas: int
    cumulative_gas_used: int
    events: list[DecodedEvent]


class ContractDeployment(BaseModel):
    tx_hash: str
    block: int
    deployer: str
    gas_used: int


class ContractView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"chain": "settlement", "name": "Settlement", "address": _ADDR,
         "deployment": {"tx_hash": _HASH, "block": 1, "deployer": _ADDR, "gas_used": 2_900_000}}]})
    chain: str
    name: str = Field(description="artifact (contract) name")
    address: str
    deployment: ContractDeployment | None = Field(description="null: not created on this chain by a "
                                                              "transaction it can see")


# ---- DeFi -----------------------------------------------------------------------------------------------------------
class AmmPool(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"venue": "amm-l1", "chain": "l1", "symbol": "ETH/USDC", "address": _ADDR, "token0": _ADDR,
         "token1": _ADDR, "base_asset": "ETH", "quote_asset": "USDC", "reserve_base": 1000 * 10**18,
         "reserve_quote": 2_000_000 * 10**6, "fee_bps": 30, "price": 2000.0,
         "price_exact": "2000000000000/1000000000000000000000"}]})
    venue: str
    chain: str
    symbol: str
    address: str
    token0: str
    token1: str
    base_asset: str
    quote_asset: str
    reserve_base: int = Field(description="base units of the base token")
    reserve_quote: int
    fee_bps: int
    price: float = Field(description="quote per base in whole tokens (display)")
    price_exact: str | None = Field(description="quote base units per base base unit, as a fraction")


class BridgeTransferView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"nonce": 1, "kind": 0, "source_chain_id": 1, "dest_chain_id": 10, "token": _ADDR, "recipient": _ADDR,
         "amount": 5 * 10**18, "sender": "arb-1", "sent_at": 12_000_000_000, "arrived_at": 72_000_000_000,
         "received": 4_995_000_000_000_000_000, "fee": 5_000_000_000_000_000, "pending": False,
         "source_block": 3}]})
    nonce: int
    kind: int = Field(description="0: lock on the home chain -> mint; 1: burn -> release")
    source_chain_id: int
    dest_chain_id: int
    token: str
    recipient: str
    amount: int
    sender: str
    sent_at: int
    arrived_at: int | None
    received: int
    fee: int
    pending: bool
    source_block: int | None


class AgentPnl(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"agent": "market_maker-1", "group": "market_maker", "kind": "market_maker", "currency": "USD",
         "pnl": 1_523_400, "pnl_value": 15234.0, "fills": 812, "fees": 0}]})
    agent: str
    group: str = Field(description="the [[agents]] entry it comes from")
    kind: str
    currency: str = Field(description="the quote asset")
    pnl: int = Field(description="realized + open positions marked at the last price, in integer quote units")
    pnl_value: float = Field(description="the same in currency units (display)")
    fills: int
    fees: int
