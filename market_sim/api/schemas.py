"""Request and response models of the REST API (pydantic; they make the OpenAPI schema and its examples).

Prices are integer ticks and quantities integer lots, as on the venues; times are simulated nanoseconds.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["ErrorBody", "ErrorResponse", "ScenarioSummary", "ScenarioDetail", "RunSummary", "RunDetail",
           "TablePage", "StartSim", "SimInfo", "StepRequest", "OrderRequest", "ModifyRequest", "OrderView",
           "FillView", "AccountView", "PositionView", "BookLevel", "BookL1", "BookL2", "BookL3", "L3Order",
           "TradeView", "SettlementSummary", "Health", "BookStats"]

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
