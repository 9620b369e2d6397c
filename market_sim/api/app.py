"""The FastAPI application: REST routes over scenarios, stored runs and live simulations, and the WebSocket stream.

Every route but /v1/health and the OpenAPI pages needs a bearer token (market_sim.api.auth); every error is a JSON
body `{"error": {"code", "message", "fields"}}` with no traceback. CORS is off unless origins are given.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time, and they name
# dependencies defined inside create_app.

import asyncio
import io
import math
import json
import time
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request, WebSocket, WebSocketDisconnect
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from market_sim import __version__
from market_sim.api.auth import Principal, RateLimiter, Role, TokenStore
from market_sim.api.fastpath import BookFastPath, l1_body, l2_body
from market_sim.api.live import (Conflict, LiveSim, NotFound, SimManager, block_json, dumps_bytes, fill_json,
                                 trade_json)
from market_sim.api.schemas import (AccountView, BookL1, BookStats, BookL2, BookL3, ErrorResponse, FillView, Health,
                                    ModifyRequest, OrderRequest, OrderView, RunDetail, RunSummary, ScenarioDetail,
                                    ScenarioSummary, SettlementSummary, SimInfo, StartSim, StepRequest, TablePage,
                                    TradeView, ConsensusInfo, RoundView, CertificateView, TradeLogView, LogProof,
                                    ChainBlock, TxSummary, TxReceiptView, ContractView, AmmPool, BridgeTransferView,
                                    AgentPnl)
from market_sim.api.stream import CLOSE_TOO_SLOW, DEFAULT_QUEUE, StreamClient
from market_sim.core.errors import MarketSimError
from market_sim.core.orders import OrderType, PostOnlyMode, Side, TimeInForce

__all__ = ["create_app", "ApiError"]

CLOSE_UNAUTHORIZED = 4001
CLOSE_FORBIDDEN = 4003
MAX_TABLE_ROWS = 10_000


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
                 fields: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers, self.fields = status, code, message, headers, fields


def _error(status: int, code: str, message: str, fields: list[dict[str, str]] | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "fields": fields or []}}, status_code=status,
                        headers=headers)


_ERRORS = {400: {"model": ErrorResponse, "description": "bad request"},
           401: {"model": ErrorResponse, "description": "no or unknown token"},
           403: {"model": ErrorResponse, "description": "the token's role does not allow this"},
           404: {"model": ErrorResponse, "description": "not found"},
           422: {"model": ErrorResponse, "description": "invalid request (the fields named)"},
           429: {"model": ErrorResponse, "description": "rate limited (Retry-After says when to retry)"}}
_LIVE_ERRORS = {**_ERRORS, 409: {"model": ErrorResponse, "description": "the simulation's state does not allow it"}}


def _field(loc: Iterable[Any]) -> str:
    return ".".join(str(x) for x in loc)


def create_app(tokens: TokenStore, *, runs_dir: str | Path | None = None, manager: SimManager | None = None,
               rate: float = 50.0, burst: int = 100, cors_origins: Iterable[str] = (),
               stream_queue: int = DEFAULT_QUEUE, stream_max_delay: float | None = 0.05,
               clock: Callable[[], float] = time.monotonic) -> FastAPI:
    """The API application. `tokens`: who may call it; `runs_dir`: the stored runs (default $MARKET_SIM_RUNS or
    ./runs); `rate`/`burst`: each token's request budget (per second, and burst); `cors_origins`: browser origins
    allowed cross-origin (none by default); `stream_queue`: each WebSocket client's queue bound; `stream_max_delay`:
    seconds a book's deltas may wait in a client's queue before a snapshot replaces them (None: only the bound)."""
    from market_sim.simulation.results import default_runs_dir

    root = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    sims = manager if manager is not None else SimManager(runs_dir=root)
    limiter = RateLimiter(rate, burst, clock)
    app = FastAPI(title="market_sim API", version=__version__,
                  description="Scenarios, stored runs and live simulations of market_sim: start and steer "
                              "simulations, trade into them as an external account, read books, trades, "
                              "settlement and chain blocks; stream them over WebSocket at /v1/sims/{id}/stream. "
                              "Prices are integer ticks, quantities integer lots, times simulated ns.",
                  openapi_tags=[{"name": "meta"}, {"name": "scenarios"}, {"name": "runs", "description":
                                "stored runs (the run index)"},
                                {"name": "simulations", "description": "live simulations: start, pause, resume, "
                                 "step, stop"},
                                {"name": "trading", "description": "orders, fills and accounts of external "
                                 "accounts"},
                                {"name": "market data"}, {"name": "settlement", "description": "settlement "
                                 "batches, trade lifecycle and chain blocks"},
                                {"name": "consensus", "description": "the validator committee: validators, votes, "
                                 "certificates, the hash-chained trade log and its Merkle proofs"},
                                {"name": "chain", "description": "a small block explorer: blocks, transactions, "
                                 "receipts with decoded events, contracts"},
                                {"name": "defi", "description": "AMM pools and bridge transfers"}])
    app.state.sims = sims
    app.state.tokens = tokens
    # GET book/l1 and book/l2 of a running simulation's cached books skip FastAPI's machinery (see fastpath.py)
    app.add_middleware(BookFastPath, sims=sims, tokens=tokens, limiter=limiter)
    cors = list(cors_origins)
    if cors:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=cors, allow_methods=["*"],
                           allow_headers=["Authorization", "Content-Type"])

    # ---- errors: always JSON, never a traceback ----------------------------------------------------------------
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, exc.fields, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [{"field": _field(e.get("loc", ())), "message": str(e.get("msg", "invalid"))}
                  for e in exc.errors()]
        first = fields[0] if fields else {"field": "", "message": "invalid request"}
        return _error(422, "validation", f"{first['field']}: {first['message']}", fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        return _error(404, "not_found", str(exc))

    @app.exception_handler(Conflict)
    async def _conflict(request: Request, exc: Conflict) -> JSONResponse:
        return _error(409, "conflict", str(exc))

    @app.exception_handler(MarketSimError)
    async def _domain(request: Request, exc: MarketSimError) -> JSONResponse:
        from market_sim.simulation.results import IncompleteRunError

        if isinstance(exc, IncompleteRunError):
            return _error(409, "conflict", str(exc))
        return _error(400, "bad_request", " ".join(str(exc).split()))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        return _error(500, "internal", f"internal error ({type(exc).__name__})")

    # ---- auth ---------------------------------------------------------------------------------------------------
    bearer = HTTPBearer(auto_error=False, description="a token from the server's token file")

    # The dependencies are coroutines: FastAPI would run plain functions in its thread pool, a thread hop per
    # request for a dictionary look-up.
    async def authenticated(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
        principal = tokens.lookup(creds.credentials if creds is not None else None)
        if principal is None:
            raise ApiError(401, "unauthorized", "a valid bearer token is needed (Authorization: Bearer TOKEN)",
                           {"WWW-Authenticate": "Bearer"})
        wait = limiter.take(principal.key)
        if wait > 0:
            raise ApiError(429, "rate_limited", f"too many requests for this token; retry in {wait:.2f} s",
                           {"Retry-After": str(max(1, math.ceil(wait)))})
        return principal

    async def admin(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        if principal.role is not Role.ADMIN:
            raise ApiError(403, "forbidden", "this needs an admin token")
        return principal

    async def trading(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        if principal.role is Role.READ:
            raise ApiError(403, "forbidden", "a read-only token cannot trade or see accounts")
        return principal

    Reader = Annotated[Principal, Depends(authenticated)]
    Admin = Annotated[Principal, Depends(admin)]
    Trader = Annotated[Principal, Depends(trading)]

    def account_for(principal: Principal, account: str | None) -> str:
        """The account a request acts on: a trader's own (another one is refused), or the one an admin names."""
        if account is None:
            if principal.account is None:
                raise ApiError(422, "validation", "account: an admin token names the account",
                               fields=[{"field": "account", "message": "an admin token names the account"}])
            return principal.account
        if not principal.may_trade(account):
            raise ApiError(403, "forbidden", f"this token trades only for account {principal.account}")
        return account

    def live(sim_id: str) -> LiveSim:
        return sims.get(sim_id)

    # ---- meta ---------------------------------------------------------------------------------------------------
    @app.get("/v1/health", response_model=Health, tags=["meta"], summary="Liveness (no token needed)")
    def health() -> Health:
        return Health(version=__version__)

    @app.get("/v1/me", tags=["meta"], responses=_ERRORS, summary="The token's role and account (the dashboard asks)")
    def me(principal: Reader) -> dict[str, Any]:
        return {"role": str(principal.role), "account": principal.account}

    # ---- scenarios ----------------------------------------------------------------------------------------------
    @app.get("/v1/scenarios", response_model=list[ScenarioSummary], tags=["scenarios"], responses=_ERRORS,
             summary="The named scenarios")
    def list_scenarios(_: Reader) -> list[ScenarioSummary]:
        from market_sim.simulation.catalog import scenarios

        return [ScenarioSummary(name=e.name, package=e.package, description=e.description)
                for e in scenarios().values()]

    @app.get("/v1/scenarios/{name}", response_model=ScenarioDetail, tags=["scenarios"], responses=_ERRORS,
             summary="One scenario with its file as a table")
    def show_scenario(name: str, _: Reader) -> ScenarioDetail:
        from market_sim.simulation.catalog import scenarios

        entry = scenarios().get(name)
        if entry is None:
            raise NotFound(f"no scenario {name!r}")
        return ScenarioDetail(name=entry.name, package=entry.package, description=entry.description,
                              scenario=json.loads(json.dumps(tomllib.loads(entry.path.read_text()), default=str)))

    # ---- stored runs --------------------------------------------------------------------------------------------
    def _summary(info: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
        market = metrics.get("market", metrics) if isinstance(metrics.get("market"), dict) else metrics
        return {"run_id": info["run_id"], "scenario": info.get("scenario", ""), "seed": info.get("seed", 0),
                "started_at": info.get("started_at", ""), "finished_at": info.get("finished_at", ""),
                "status": info.get("status", "complete"), "error": info.get("error"),
                "trades": metrics.get("trades", market.get("trades")),
                "events_per_second": metrics.get("events_per_second"),
                "overrides": list(info.get("overrides") or info.get("params", {}).get("overrides", []))}

    def _folder(run_id: str) -> tuple[Path, dict[str, Any]]:
        from market_sim.simulation.results import resolve_run_path

        if "/" in run_id or "\\" in run_id or run_id.startswith("."):
            raise NotFound(f"no run {run_id!r}")
        try:
            folder = resolve_run_path(run_id, root)
        except MarketSimError as exc:
            if type(exc).__name__ == "IncompleteRunError":
                raise
            raise NotFound(" ".join(str(exc).split())) from None
        return folder, json.loads((folder / "run.json").read_text())

    @app.get("/v1/runs", response_model=list[RunSummary], tags=["runs"], responses=_ERRORS,
             summary="Past runs from the run index, newest first")
    def list_runs(_: Reader, limit: Annotated[int, Query(ge=1, le=1000)] = 30) -> list[dict[str, Any]]:
        from market_sim.simulation.results import INDEX_NAME, RunIndex

        index = root / INDEX_NAME
        records = RunIndex(index).list(limit) if index.is_file() else []
        return [_summary({"run_id": r.run_id, "scenario": r.scenario, "seed": r.seed, "started_at": r.started_at,
                          "finished_at": r.finished_at, "status": r.status, "error": r.error,
                          "params": r.params}, r.metrics) for r in records]

    @app.get("/v1/runs/{run_id}", response_model=RunDetail, tags=["runs"], responses=_ERRORS,
             summary="A stored run: status, headline figures, metrics, its tables, plots and reports",
             description="`run_id` is a run id or a unique prefix of one.")
    def show_run(run_id: str, _: Reader) -> dict[str, Any]:
        from market_sim.cli.run import _load_plugins, headline_rows

        folder, info = _folder(run_id)
        metrics = json.loads((folder / "metrics.json").read_text())
        _load_plugins(folder)
        try:
            headline = [{"path": p, "label": label, "value": json.loads(json.dumps(v, default=str))}
                        for p, label, v in headline_rows(metrics)]
        except Exception:  # noqa: BLE001  (a run of an older layout: its metrics are still there)
            headline = []
        files = sorted(p.name for p in folder.iterdir() if p.is_file())
        return {**_summary(info, metrics), "tables": sorted(info.get("tables", {})), "headline": headline,
                "plots": [f for f in files if f.endswith(".png")],
                "reports": [f for f in files if f.endswith((".html", ".md"))],
                "metrics": json.loads(json.dumps(metrics, default=str))}

    @app.get("/v1/runs/{run_id}/tables/{table}", tags=["runs"], responses={
        **_ERRORS, 200: {"description": "JSON (a TablePage), CSV or Parquet",
                         "content": {"application/json": {"schema": TablePage.model_json_schema()},
                                     "text/csv": {}, "application/vnd.apache.parquet": {}}}},
             summary="One table of a stored run as JSON (paged), CSV or Parquet")
    def run_table(run_id: str, table: str, _: Reader,
                  format: Annotated[Literal["json", "csv", "parquet"], Query()] = "json",
                  offset: Annotated[int, Query(ge=0)] = 0,
                  limit: Annotated[int, Query(ge=1, le=MAX_TABLE_ROWS)] = 1000) -> Response:
        import pandas as pd

        folder, info = _folder(run_id)
        fname = info.get("tables", {}).get(table)
        if fname is None:
            raise NotFound(f"run {info['run_id']} has no table {table!r}; tables: "
                           f"{', '.join(sorted(info.get('tables', {})))}")
        path = folder / fname
        stored = "parquet" if path.suffix == ".parquet" else "csv"
        if format == stored:
            media = "text/csv" if stored == "csv" else "application/vnd.apache.parquet"
            return FileResponse(path, media_type=media, filename=f"{info['run_id']}-{table}.{stored}")
        frame = pd.read_parquet(path) if stored == "parquet" else pd.read_csv(path)
        if format == "csv":
            return Response(frame.to_csv(index=False), media_type="text/csv")
        if format == "parquet":
            buf = io.BytesIO()
            frame.to_parquet(buf, index=False)
            return Response(buf.getvalue(), media_type="application/vnd.apache.parquet")
        page = frame.iloc[offset:offset + limit]
        split = json.loads(page.to_json(orient="split", index=False))
        return JSONResponse(TablePage(table=table, columns=[str(c) for c in frame.columns], rows=split["data"],
                                      total=len(frame), offset=offset).model_dump())

    @app.get("/v1/runs/{run_id}/files/{name}", tags=["runs"], responses={
        **_ERRORS, 200: {"content": {"image/png": {}, "text/html": {}, "text/markdown": {}}}},
             summary="A plot (PNG) or report (HTML, Markdown) of a stored run")
    def run_file(run_id: str, name: str, _: Reader) -> FileResponse:
        folder, info = _folder(run_id)
        allowed = {p.name: p for p in folder.iterdir() if p.is_file() and p.suffix in (".png", ".html", ".md")}
        if name not in allowed:
            raise NotFound(f"run {info['run_id']} has no plot or report {name!r}")
        media = {".png": "image/png", ".html": "text/html", ".md": "text/markdown"}[allowed[name].suffix]
        return FileResponse(allowed[name], media_type=media)

    # ---- live simulations ---------------------------------------------------------------------------------------
    @app.post("/v1/sims", response_model=SimInfo, status_code=201, tags=["simulations"], responses=_LIVE_ERRORS,
              summary="Start a simulation in the background (admin)",
              description="Builds the scenario and runs it on a background thread, as fast as possible or paced at "
                          "`realtime` simulated seconds per wall second; `paused` creates it paused.")
    def start_sim(body: StartSim, _: Admin) -> dict[str, Any]:
        s = sims.start(body.scenario, seed=body.seed, overrides=tuple(body.overrides), realtime=body.realtime,
                       paused=body.paused, save=body.save)
        with s.lock:
            return s.info()

    @app.get("/v1/sims", response_model=list[SimInfo], tags=["simulations"], responses=_ERRORS,
             summary="Live and ended simulations")
    def list_sims(_: Reader) -> list[dict[str, Any]]:
        out = []
        for s in list(sims.sims.values()):
            with s.lock:
                out.append(s.info())
        return out

    @app.get("/v1/sims/{sim_id}", response_model=SimInfo, tags=["simulations"], responses=_ERRORS,
             summary="One simulation")
    def show_sim(sim_id: str, _: Reader) -> dict[str, Any]:
        s = live(sim_id)
        with s.lock:
            return s.info()

    def _control(name: str, summary: str) -> None:
        @app.post(f"/v1/sims/{{sim_id}}/{name}", response_model=SimInfo, tags=["simulations"],
                  responses=_LIVE_ERRORS, summary=summary, name=f"{name}_sim")
        def control(sim_id: str, _: Admin) -> dict[str, Any]:
            s = live(sim_id)
            getattr(s, name)()
            with s.lock:
                return s.info()

    _control("pause", "Pause a running simulation (admin)")
    _control("resume", "Resume a paused simulation (admin)")
    _control("stop", "Stop a simulation: its sections finish and its streams close (admin)")

    @app.post("/v1/sims/{sim_id}/step", response_model=SimInfo, tags=["simulations"], responses=_LIVE_ERRORS,
              summary="Advance a paused simulation to a simulated time (admin)")
    def step_sim(sim_id: str, body: StepRequest, _: Admin) -> dict[str, Any]:
        s = live(sim_id)
        with s.lock:
            until = body.until_ns if body.until_ns is not None else s.sim.now + body.by_ns
            s.step(until)
            return s.info()

    # ---- trading ------------------------------------------------------------------------------------------------
    @app.post("/v1/sims/{sim_id}/orders", response_model=OrderView, status_code=201, tags=["trading"],
              responses=_LIVE_ERRORS, summary="Submit an order as an external account",
              description="The order reaches the venue at the simulation's current time, between steps. The "
                          "answer shows its state right after: `rejected` with the reason, `filled`, or `open`.")
    def submit(sim_id: str, body: OrderRequest, principal: Trader) -> dict[str, Any]:
        s = live(sim_id)
        account = account_for(principal, body.account)
        rec = s.submit(account, body.venue, body.symbol, Side.BUY if body.side == "buy" else Side.SELL,
                       body.quantity, order_type=OrderType(body.order_type), price=body.price,
                       stop_price=body.stop_price, tif=TimeInForce(body.tif), expire_at=body.expire_at,
                       display_quantity=body.display_quantity, hidden=body.hidden,
                       post_only=None if body.post_only is None else PostOnlyMode(body.post_only))
        with s.lock:
            return rec.view()

    def _own(s: LiveSim, principal: Principal, order_id: int) -> None:
        rec = s.order(order_id)
        if not principal.may_trade(rec.account):
            raise NotFound(f"no external order {order_id} of account {principal.account}")

    @app.get("/v1/sims/{sim_id}/orders", response_model=list[OrderView], tags=["trading"], responses=_ERRORS,
             summary="An account's orders (a trader's own; an admin names any, or sees all)")
    def list_orders(sim_id: str, principal: Trader, account: str | None = None,
                    status: Literal["pending", "open", "filled", "cancelled", "rejected"] | None = None
                    ) -> list[dict[str, Any]]:
        s = live(sim_id)
        if account is not None or principal.role is not Role.ADMIN:
            account = account_for(principal, account)
        with s.lock:
            return [r.view() for r in s.orders.values() if (account is None or r.account == account)
                    and (status is None or r.status == status)]

    @app.get("/v1/sims/{sim_id}/orders/{order_id}", response_model=OrderView, tags=["trading"],
             responses=_ERRORS, summary="One of the account's orders")
    def show_order(sim_id: str, order_id: int, principal: Trader) -> dict[str, Any]:
        s = live(sim_id)
        with s.lock:
            _own(s, principal, order_id)
            return s.order(order_id).view()

    @app.delete("/v1/sims/{sim_id}/orders/{order_id}", response_model=OrderView, tags=["trading"],
                responses=_LIVE_ERRORS, summary="Cancel an order")
    def cancel(sim_id: str, order_id: int, principal: Trader) -> dict[str, Any]:
        s = live(sim_id)
        with s.lock:
            _own(s, principal, order_id)
            return s.cancel(order_id).view()

    @app.patch("/v1/sims/{sim_id}/orders/{order_id}", response_model=OrderView, tags=["trading"],
               responses=_LIVE_ERRORS, summary="Modify an order's quantity and/or price")
    def modify(sim_id: str, order_id: int, body: ModifyRequest, principal: Trader) -> dict[str, Any]:
        s = live(sim_id)
        with s.lock:
            _own(s, principal, order_id)
            return s.modify(order_id, body.quantity, body.price).view()

    @app.get("/v1/sims/{sim_id}/fills", response_model=list[FillView], tags=["trading"], responses=_ERRORS,
             summary="An account's fills, oldest first (the last 10,000)")
    def fills(sim_id: str, principal: Trader, account: str | None = None) -> list[dict[str, Any]]:
        s = live(sim_id)
        account = account_for(principal, account)
        with s.lock:
            return [fill_json(f) for f in s.fills.get(account, ())]

    @app.get("/v1/sims/{sim_id}/accounts/{account}", response_model=AccountView, tags=["trading"],
             responses=_ERRORS, summary="An account's balances and positions (integer base units)")
    def account_view(sim_id: str, account: str, principal: Trader) -> dict[str, Any]:
        s = live(sim_id)
        account = account_for(principal, account)
        with s.lock:
            acct = s.sim.accounts.get(account)
            if acct is None:
                return {"account": account, "balances": {}, "positions": [], "fees_paid": {}}
            return {"account": account, "balances": dict(acct.balances), "fees_paid": dict(acct.fees_paid),
                    "positions": [{"symbol": p.symbol, "base_asset": p.base_asset, "quote_asset": p.quote_asset,
                                   "quantity": p.quantity, "cost": p.cost, "realized": p.realized, "fees": p.fees,
                                   "volume": p.volume, "fills": p.fills} for p in acct.positions.values()]}

    # ---- market data --------------------------------------------------------------------------------------------
    Symbol = Annotated[str, Query(min_length=1, max_length=64, description="e.g. AAPL or ETH/USDC")]
    Venue = Annotated[str | None, Query(min_length=1, max_length=64, description="default: the venue listing it")]

    @app.get("/v1/sims/{sim_id}/book/l1", response_model=BookL1, tags=["market data"], responses=_ERRORS,
             summary="Top of book")
    async def book_l1(sim_id: str, symbol: Symbol, _: Reader, venue: Venue = None) -> Response:
        s = live(sim_id)
        v, snap, q = s.cached_book(symbol, venue) or await run_in_threadpool(s.book_view, symbol, venue)
        return _json_response(l1_body(v, symbol, snap, q))

    @app.get("/v1/sims/{sim_id}/book/l2", response_model=BookL2, tags=["market data"], responses=_ERRORS,
             summary="Aggregated depth, best first, with the stream's sequence number")
    async def book_l2(sim_id: str, symbol: Symbol, _: Reader, venue: Venue = None,
                      depth: Annotated[int, Query(ge=1, le=10_000)] = 20) -> Response:
        # The book as of the last completed step, cached by the simulation after each step for the books REST asks
        # for (no thread hop, no wait for the step in progress); the first query of a book reads it under the lock.
        s = live(sim_id)
        v, snap, _q = s.cached_book(symbol, venue) or await run_in_threadpool(s.book_view, symbol, venue)
        return _json_response(l2_body(v, symbol, snap, depth))

    @app.get("/v1/sims/{sim_id}/book/l3", response_model=BookL3, tags=["market data"], responses=_ERRORS,
             summary="Every displayed resting order in priority order (order books only)")
    def book_l3(sim_id: str, symbol: Symbol, _: Reader, venue: Venue = None,
                depth: Annotated[int, Query(ge=1, le=10_000)] = 100) -> dict[str, Any]:
        s = live(sim_id)
        with s.lock:
            v = s.venue_of(symbol, venue)
            engine = getattr(s.sim.venues[v], "engine", None)
            if engine is None:
                raise ApiError(400, "bad_request", f"venue {v} has no order book")
            bids, asks = engine.book(symbol).l3()

            def rows(orders: list[Any]) -> list[dict[str, Any]]:
                return [{"order_id": o.order_id, "trader": o.trader, "side": str(o.side), "price": o.price,
                         "quantity": o.displayed} for o in orders[:depth]]

            return {"venue": v, "symbol": symbol, "ts": s.sim.now, "bids": rows(bids), "asks": rows(asks)}

    @app.get("/v1/sims/{sim_id}/book/stats", response_model=BookStats, tags=["market data"], responses=_ERRORS,
             summary="Trading so far: last price, volume, notional, trade count, VWAP (order books only)")
    def book_stats(sim_id: str, symbol: Symbol, _: Reader, venue: Venue = None) -> dict[str, Any]:
        s = live(sim_id)
        with s.lock:
            v = s.venue_of(symbol, venue)
            engine = getattr(s.sim.venues[v], "engine", None)
            if engine is None:
                raise ApiError(400, "bad_request", f"venue {v} has no order book")
            st = engine.book(symbol).stats()
            return {"venue": v, "symbol": symbol, "ts": s.sim.now, "last_price": st.last_price, "volume": st.volume,
                    "notional": st.notional, "trade_count": st.trade_count, "vwap": st.vwap}

    @app.get("/v1/sims/{sim_id}/trades", response_model=list[TradeView], tags=["market data"], responses=_ERRORS,
             summary="Recent trades, oldest first (the last 1,000 of the simulation)")
    def trades(sim_id: str, _: Reader, symbol: Annotated[str | None, Query(max_length=64)] = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
        s = live(sim_id)
        with s.lock:
            rows = [trade_json(t, v) for v, t in s.trades if symbol is None or t.symbol == symbol]
        for r in rows:
            r.pop("type")
        return rows[-limit:]

    # ---- settlement and chain -----------------------------------------------------------------------------------
    def _settlement(s: LiveSim) -> Any:
        run = s.sim.state("settlement")
        if run is None or getattr(run, "tracker", None) is None:
            raise NotFound(f"simulation {s.id} has no settlement section")
        return run

    @app.get("/v1/sims/{sim_id}/settlement", response_model=SettlementSummary, tags=["settlement"],
             responses=_ERRORS, summary="Trades per settlement outcome and latency per stage")
    def settlement(sim_id: str, _: Reader) -> dict[str, Any]:
        s = live(sim_id)
        with s.lock:
            run = _settlement(s)
            t = run.tracker
            producer = getattr(run, "producer", None)
            return {"venue": t.venue, "stage_events": t.stage_events, "outcomes": t.counts(),
                    "stage_latency": {k: {f: getattr(v, f) for f in v.__slots__}
                                      for k, v in t.stage_latency().items()},
                    "blocks": None if producer is None else len(producer.blocks)}

    @app.get("/v1/sims/{sim_id}/settlement/batches", tags=["settlement"], responses=_ERRORS,
             response_model=list[dict[str, Any]], summary="Settlement batches and their stage times")
    def batches(sim_id: str, _: Reader, limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> Any:
        s = live(sim_id)
        with s.lock:
            return json.loads(json.dumps(_settlement(s).tracker.batch_rows()[-limit:], default=str))

    @app.get("/v1/sims/{sim_id}/settlement/trades", tags=["settlement"], responses=_ERRORS,
             response_model=list[dict[str, Any]], summary="Each trade's lifecycle (executed ... final)")
    def lifecycle(sim_id: str, _: Reader, limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> Any:
        s = live(sim_id)
        with s.lock:
            return json.loads(json.dumps(_settlement(s).tracker.lifecycle_rows()[-limit:], default=str))

    # ---- agents -------------------------------------------------------------------------------------------------
    from market_sim.api import components as comp

    @app.get("/v1/sims/{sim_id}/pnl", response_model=list[AgentPnl], tags=["market data"], responses=_ERRORS,
             summary="Each agent's PnL now (marked at the last price), per quote currency")
    def pnl(sim_id: str, _: Reader) -> list[dict[str, Any]]:
        s = live(sim_id)
        with s.lock:
            return comp.agent_pnl(s)

    # ---- consensus ----------------------------------------------------------------------------------------------

    Limit = Annotated[int, Query(ge=1, le=10_000, description="most items, the newest")]

    @app.get("/v1/sims/{sim_id}/consensus", response_model=ConsensusInfo, tags=["consensus"], responses=_ERRORS,
             summary="The committee: protocol, validators and their behaviour, height, round, counts")
    def consensus(sim_id: str, _: Reader) -> dict[str, Any]:
        s = live(sim_id)
        with s.lock:
            return comp.consensus_info(s, comp.consensus_source(s))

    @app.get("/v1/sims/{sim_id}/consensus/rounds", response_model=list[RoundView], tags=["consensus"],
             responses=_ERRORS, summary="Who voted what, per (height, round), oldest first",
             description="A networked protocol's votes as the validators sent them (the last 10,000 votes); the "
                         "synchronous committee's from each certificate (signed or not).")
    def consensus_rounds(sim_id: str, _: Reader, limit: Limit = 50) -> list[dict[str, Any]]:
        s = live(sim_id)
        with s.lock:
            return comp.consensus_rounds(s, comp.consensus_source(s), limit)

    @app.get("/v1/sims/{sim_id}/consensus/certificates", response_model=list[CertificateView], tags=["consensus"],
             responses=_ERRORS, summary="Quorum certificates of the log's blocks, oldest first")
    def consensus_certificates(sim_id: str, _: Reader, limit: Limit = 50) -> list[dict[str, Any]]:
        s = live(sim_id)
        with s.lock:
            return comp.certificates(comp.consensus_source(s), limit)

    @app.get("/v1/sims/{sim_id}/consensus/log", response_model=TradeLogView, tags=["consensus"],
             responses=_ERRORS, summary="The hash-chained trade log: its last entries (trades, with their block)")
    def consensus_log(sim_id: str, _: Reader, limit: Limit = 100) -> dict[str, Any]:
        s = live(sim_id)
        with s.lock:
            return comp.log_entries(comp.consensus_source(s), limit)

    @app.get("/v1/sims/{sim_id}/consensus/log/{seq}/proof", response_model=LogProof, tags=["consensus"],
             responses=_ERRORS, summary="The Merkle inclusion proof of log entry `seq`")
    def consensus_proof(sim_id: str, seq: Annotated[int, PathParam(ge=1, le=2**63 - 1)], _: Reader) -> dict[str, Any]:
        s = live(sim_id)
        with s.lock:
            return comp.log_proof(comp.consensus_source(s), seq)

    # ---- chain explorer -----------------------------------------------------------------------------------------
    ChainName = Annotated[str | None, Query(min_length=1, max_length=64,
                                            description="settlement, or a defi chain's name (default: the first)")]

    def _chain_call(fn: Callable[[], Any]) -> Any:
        from market_sim.blockchain.explorer import BlockMissing, TxNotFound

        try:
            return fn()
        except (BlockMissing, TxNotFound) as exc:
            raise NotFound(str(exc)) from None

    @app.get("/v1/sims/{sim_id}/chain/blocks", tags=["settlement"], responses=_ERRORS,
             response_model=list[dict[str, Any]], summary="Blocks, newest last",
             description="The settlement chain: the block producer's records of the blocks it mined on the "
                         "simulation clock (block_time > 0). Any other chain (`chain=`, or a settlement chain "
                         "without a producer): its last blocks as /chain/blocks/{number} gives them (at most "
                         "1,000).")
    def blocks(sim_id: str, _: Reader, limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
               chain: ChainName = None) -> Any:
        s = live(sim_id)
        with s.lock:
            producer = getattr(s.sim.state("settlement"), "producer", None)
            if producer is not None and chain in (None, "settlement"):
                return [block_json(b) for b in producer.blocks[-limit:]]
            if s.sim.state("settlement") is None and s.sim.state("defi") is None:
                raise NotFound(f"simulation {s.id} has no settlement section and no defi chains")
            ex = comp.explorer(s, chain)
            head = ex.head
            return [{"chain": ex.name, **ex.block(n)} for n in range(max(0, head - min(limit, 1000) + 1), head + 1)]

    @app.get("/v1/sims/{sim_id}/chain/blocks/{number}", response_model=ChainBlock, tags=["chain"],
             responses=_ERRORS, summary="One block of a chain")
    def chain_block(sim_id: str, number: Annotated[int, PathParam(ge=0, le=2**63 - 1)], _: Reader,
                    chain: ChainName = None) -> dict[str, Any]:
        s = live(sim_id)
        with s.lock:
            ex = comp.explorer(s, chain)
            block = _chain_call(lambda: ex.block(number))
            return {"chain": ex.name, **block, "producer": comp.producer_block(s, ex.name, number)}

    @app.get("/v1/sims/{sim_id}/chain/transactions", response_model=list[TxSummary], tags=["chain"],
             responses=_ERRORS, summary="The chain's last transactions, newest last")
    def chain_transactions(sim_id: str, _: Reader, chain: ChainName = None,
                           limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[dict[str, Any]]:
        s = live(sim_id)
        with s.lock:
            return comp.explorer(s, chain).transactions(limit)

    @app.get("/v1/sims/{sim_id}/chain/transactions/{tx_hash}", response_model=TxReceiptView, tags=["chain"],
             responses=_ERRORS, summary="A transaction's receipt, its events decoded with the contract's ABI")
    def chain_transaction(sim_id: str, tx_hash: Annotated[str, PathParam(pattern=r"^0x[0-9a-fA-F]{64}$")], _: Reader,
                          chain: ChainName = None) -> dict[str, Any]:
        s = live(sim_id)
        with s.lock:
            ex = comp.explorer(s, chain)
            return _chain_call(lambda: ex.receipt(tx_hash))

    @app.get("/v1/sims/{sim_id}/chain/contracts", response_model=list[ContractView], tags=["chain"],
             responses=_ERRORS, summary="The contracts on the simulation's chains: names, addresses, deployments")
    def chain_contracts(sim_id: str, _: Reader, chain: ChainName = None) -> list[dict[str, Any]]:
        s = live(sim_id)
        with s.lock:
            names = [chain] if chain is not None else comp.chain_names(s)
            if not names:
                comp.explorer(s, None)  # NotFound: no chain
            return [{"chain": n, **c} for n in names for c in comp.explorer(s, n).contracts()]

    # ---- DeFi ---------------------------------------------------------------------------------------------------
    @app.get("/v1/sims/{sim_id}/amm/pools", response_model=list[AmmPool], tags=["defi"], responses=_ERRORS,
             summary="The AMM pools: reserves, price, fee")
    def amm_pools(sim_id: str, _: Reader) -> list[dict[str, Any]]:
        s = live(sim_id)
        with s.lock:
            return comp.amm_pools(s)

    @app.get("/v1/sims/{sim_id}/bridge/transfers", response_model=list[BridgeTransferView], tags=["defi"],
             responses=_ERRORS, summary="Bridge transfers, oldest first")
    def bridge_transfers(sim_id: str, _: Reader, limit: Limit = 100) -> list[dict[str, Any]]:
        s = live(sim_id)
        with s.lock:
            return comp.bridge_transfers(s, limit)

    # ---- the WebSocket stream -----------------------------------------------------------------------------------
    @app.websocket("/v1/sims/{sim_id}/stream")
    async def stream(ws: WebSocket, sim_id: str) -> None:
        await ws.accept()
        header = ws.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        if token is None:  # browsers cannot set headers on a WebSocket: the first message may carry the token
            try:
                first = await asyncio.wait_for(ws.receive_json(), timeout=10)
                token = first.get("token") if isinstance(first, dict) and first.get("op") == "auth" else None
            except (asyncio.TimeoutError, ValueError, WebSocketDisconnect, KeyError, TypeError):
                token = None
        principal = tokens.lookup(token)
        if principal is None:
            await _refuse(ws, CLOSE_UNAUTHORIZED, "unauthorized", "a valid token is needed")
            return
        if limiter.take(principal.key) > 0:
            await _refuse(ws, CLOSE_FORBIDDEN, "rate_limited", "too many requests for this token")
            return
        s = sims.sims.get(sim_id)
        if s is None:
            await _refuse(ws, CLOSE_FORBIDDEN, "not_found", f"no simulation {sim_id!r}")
            return
        client = StreamClient(asyncio.get_running_loop(), stream_queue, principal, stream_max_delay)
        batch = ws.query_params.get("batch") in ("1", "true")  # every frame a JSON array of the queued messages
        client.push(json.dumps({"type": "hello", "sim": sim_id, "role": str(principal.role),
                                "account": principal.account, "queue": stream_queue}))
        sender = asyncio.create_task(_send_loop(ws, s, client, batch))
        try:
            while True:
                try:
                    msg = await ws.receive_json()
                except ValueError:
                    client.push(json.dumps({"type": "error", "code": "bad_request", "message": "not JSON"}))
                    continue
                if limiter.take(principal.key) > 0:
                    client.push(json.dumps({"type": "error", "code": "rate_limited",
                                            "message": "too many requests for this token"}))
                    continue
                reply = await run_in_threadpool(_handle_op, s, client, principal, msg)
                if reply is not None:
                    client.push(json.dumps(reply))
        except WebSocketDisconnect:
            pass
        except RuntimeError:  # the sender closed the socket (too slow, or the simulation ended)
            pass
        finally:
            sender.cancel()
            await run_in_threadpool(s.unsubscribe, client)

    from market_sim.api.dashboard import mount_dashboard

    mount_dashboard(app)
    return app


def _json_response(body: dict[str, Any]) -> Response:
    """A JSON response serialised directly (the route's response_model documents it; these hot routes build it
    exactly, so FastAPI's validation pass is skipped)."""
    return Response(dumps_bytes(body), media_type="application/json")


async def _refuse(ws: WebSocket, code: int, kind: str, message: str) -> None:
    await ws.send_json({"type": "error", "code": kind, "message": message})
    await ws.close(code=code, reason=message[:120])


async def _send_loop(ws: WebSocket, s: LiveSim, client: StreamClient, batch: bool = False) -> None:
    try:
        while True:
            await client.wait()
            items, resync, closed = client.take()
            for book in resync:
                items.append(await run_in_threadpool(s.resync, client, book))
            if batch:
                if items:
                    await ws.send_text("[" + ",".join(items) + "]")
            else:
                for text in items:
                    await ws.send_text(text)
            if closed is not None:
                await ws.close(code=CLOSE_TOO_SLOW if client.too_slow else 1000, reason=closed[:120])
                return
    except (WebSocketDisconnect, RuntimeError):
        return


def _handle_op(s: LiveSim, client: StreamClient, principal: Principal, msg: Any) -> dict[str, Any] | None:
    """One client message: subscribe / unsubscribe / resync / ping. Returns the reply (None: nothing to say)."""
    if not isinstance(msg, dict) or not isinstance(msg.get("op"), str):
        return {"type": "error", "code": "bad_request", "message": "a message is {\"op\": ..., ...}"}
    op = msg["op"]
    if op == "ping":
        return {"type": "pong", "now_ns": s.sim.now}
    if op not in ("subscribe", "unsubscribe", "resync"):
        return {"type": "error", "code": "bad_request", "message": f"unknown op {op!r}; ops: subscribe, "
                "unsubscribe, resync, ping"}
    channel = msg.get("channel", "book" if op == "resync" else None)
    try:
        return _apply_op(s, client, principal, op, channel, msg)
    except NotFound as exc:
        return {"type": "error", "code": "not_found", "message": " ".join(str(exc).split())}
    except MarketSimError as exc:
        return {"type": "error", "code": "bad_request", "message": " ".join(str(exc).split())}
    except PermissionError as exc:
        return {"type": "error", "code": "forbidden", "message": str(exc)}


def _apply_op(s: LiveSim, client: StreamClient, principal: Principal, op: str, channel: Any,
              msg: dict[str, Any]) -> dict[str, Any] | None:
    key = _key(s, principal, channel, msg)
    if op == "subscribe":
        s.subscribe(client, key)
        return {"type": "subscribed", "channel": channel, "key": list(key[1:])}
    if op == "unsubscribe":
        s.unsubscribe(client, key)
        return {"type": "unsubscribed", "channel": channel, "key": list(key[1:])}
    if key[0] != "book":
        return {"type": "error", "code": "bad_request", "message": "resync applies to the book channel"}
    if key not in client.subscriptions:
        return {"type": "error", "code": "bad_request", "message": "subscribe to this book first"}
    client.push(s.resync(client, (key[1], key[2])))
    return None


def _key(s: LiveSim, principal: Principal, channel: Any, msg: dict[str, Any]) -> tuple:
    symbol, venue = msg.get("symbol"), msg.get("venue")
    if symbol is not None and not isinstance(symbol, str) or venue is not None and not isinstance(venue, str):
        raise MarketSimError("symbol and venue are strings")
    if channel == "book":
        if symbol is None:
            raise MarketSimError("the book channel needs a symbol")
        with s.lock:
            return ("book", s.venue_of(symbol, venue), symbol)
    if channel == "trades":
        return ("trades", symbol or "*")
    if channel == "orders":
        account = msg.get("account", principal.account)
        if not isinstance(account, str) or not principal.may_trade(account):
            raise PermissionError("this token cannot follow that account's orders" if account
                                  else "the orders channel needs an account")
        return ("orders", account)
    if channel in ("settlement", "blocks", "consensus"):
        return (channel,)
    raise MarketSimError(f"unknown channel {channel!r}; channels: book, trades, orders, settlement, blocks, "
                         "consensus")
