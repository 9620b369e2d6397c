"""The REST routes against the application (TestClient over httpx): results, errors and authorisation."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from market_sim.api.app import create_app
from market_sim.simulation.results import load_run
from market_sim.simulation.venues import L2Book

from .conftest import ADMIN, OTHER, READ, SECONDS, TRADER, auth


def error(r) -> dict:
    body = r.json()
    assert set(body) == {"error"} and "Traceback" not in r.text
    return body["error"]


# ---- meta, auth ----------------------------------------------------------------------------------------------------
def test_health_needs_no_token(client):
    assert client.get("/v1/health").json() == {"status": "ok", "version": "0.1.0"}


@pytest.mark.parametrize("headers", [{}, auth("not-a-known-token-at-all"), {"Authorization": "Basic abc"}])
def test_a_missing_or_unknown_token_is_401(client, headers):
    r = client.get("/v1/scenarios", headers=headers)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert error(r)["code"] == "unauthorized"


def test_a_token_in_the_url_is_not_accepted(client):
    assert client.get(f"/v1/scenarios?token={READ}").status_code == 401
    assert client.get(f"/v1/scenarios?access_token={READ}").status_code == 401


def test_rate_limit_per_token(tokens, stored_run):
    now = [0.0]
    app = create_app(tokens, runs_dir=stored_run[0], rate=1.0, burst=2, clock=lambda: now[0])
    with TestClient(app) as c:
        assert [c.get("/v1/scenarios", headers=auth(READ)).status_code for _ in range(2)] == [200, 200]
        r = c.get("/v1/scenarios", headers=auth(READ))
        assert r.status_code == 429 and r.headers["retry-after"] == "1" and error(r)["code"] == "rate_limited"
        assert c.get("/v1/scenarios", headers=auth(ADMIN)).status_code == 200  # another token's own budget
        now[0] = 1.0  # one more request earned
        assert c.get("/v1/scenarios", headers=auth(READ)).status_code == 200
        assert c.get("/v1/scenarios", headers=auth(READ)).status_code == 429


def test_cors_is_off_by_default_and_on_for_named_origins(client, tokens, stored_run):
    pre = {"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"}
    assert "access-control-allow-origin" not in client.options("/v1/scenarios", headers=pre).headers
    assert "access-control-allow-origin" not in client.get("/v1/health", headers={"Origin": "http://x"}).headers
    app = create_app(tokens, runs_dir=stored_run[0], cors_origins=["http://localhost:5173"])
    with TestClient(app) as c:
        r = c.options("/v1/scenarios", headers={"Origin": "http://localhost:5173",
                                                "Access-Control-Request-Method": "GET"})
        assert r.headers["access-control-allow-origin"] == "http://localhost:5173"
        r = c.options("/v1/scenarios", headers=pre)
        assert "access-control-allow-origin" not in r.headers


def test_openapi_schema_documents_routes_and_examples(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for p in ("/v1/scenarios", "/v1/runs/{run_id}/tables/{table}", "/v1/sims", "/v1/sims/{sim_id}/orders",
              "/v1/sims/{sim_id}/orders/{order_id}", "/v1/sims/{sim_id}/book/l2", "/v1/sims/{sim_id}/settlement",
              "/v1/sims/{sim_id}/chain/blocks"):
        assert p in paths
    order = spec["components"]["schemas"]["OrderRequest"]
    assert order["examples"][0]["symbol"] == "AAPL"
    assert paths["/v1/sims/{sim_id}/orders"]["post"]["tags"] == ["trading"]
    assert "422" in paths["/v1/sims/{sim_id}/orders"]["post"]["responses"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_an_unexpected_error_is_a_json_500_without_traceback(client, stored_run, tokens):
    root, record = stored_run
    broken = root / "broken-run"
    broken.mkdir()
    (broken / "run.json").write_text("{ not json")
    with TestClient(create_app(tokens, runs_dir=root), raise_server_exceptions=False) as c:
        r = c.get("/v1/runs/broken-run", headers=auth(READ))
    assert r.status_code == 500
    assert error(r) == {"code": "internal", "message": "internal error (JSONDecodeError)", "fields": []}


def test_unknown_route_is_a_json_404(client):
    r = client.get("/v1/nothing", headers=auth(READ))
    assert r.status_code == 404 and error(r)["code"] == "not_found"


# ---- scenarios ------------------------------------------------------------------------------------------------------
def test_scenarios_list_and_show(client):
    listed = client.get("/v1/scenarios", headers=auth(READ)).json()
    names = [s["name"] for s in listed]
    assert "random-market" in names and names == sorted(names)
    r = client.get("/v1/scenarios/random-market", headers=auth(READ)).json()
    assert r["package"] == "simulation" and r["scenario"]["scenario"]["duration"] == "1h"
    assert [i["symbol"] for i in r["scenario"]["instruments"]] == ["AAPL", "MSFT", "ETH/USDC"]
    r = client.get("/v1/scenarios/nope", headers=auth(READ))
    assert r.status_code == 404 and "nope" in error(r)["message"]


# ---- stored runs ----------------------------------------------------------------------------------------------------
def test_runs_list_and_show(client, stored_run):
    _, record = stored_run
    runs = client.get("/v1/runs", headers=auth(READ)).json()
    assert [r["run_id"] for r in runs] == [record.run_id]
    assert runs[0]["status"] == "complete" and runs[0]["seed"] == 3
    assert runs[0]["trades"] == record.metrics["trades"] > 0
    assert runs[0]["overrides"] == ["scenario.duration=10s", "output.format=csv"]
    shown = client.get(f"/v1/runs/{record.run_id[:12]}", headers=auth(READ)).json()  # a unique prefix
    assert shown["run_id"] == record.run_id
    assert {"trades", "orders", "book_snapshots"} <= set(shown["tables"])
    assert shown["plots"] == [] and shown["metrics"]["trades"] == record.metrics["trades"]
    from market_sim.cli.run import headline_rows

    assert [(h["path"], h["label"]) for h in shown["headline"]] == [(p, label) for p, label, _ in
                                                                   headline_rows(record.metrics)]
    assert client.get("/v1/runs", params={"limit": 0}, headers=auth(READ)).status_code == 422


def test_run_errors(client, stored_run):
    _, record = stored_run
    assert error(client.get("/v1/runs/no-such-run", headers=auth(READ)))["code"] == "not_found"
    r = client.get(f"/v1/runs/{record.run_id}/tables/nope", headers=auth(READ))
    assert r.status_code == 404 and "trades" in error(r)["message"]
    r = client.get(f"/v1/runs/{record.run_id}/files/..%2Frun.json", headers=auth(READ))
    assert r.status_code == 404
    r = client.get(f"/v1/runs/{record.run_id}/files/run.json", headers=auth(READ))  # only plots and reports
    assert r.status_code == 404
    r = client.get(f"/v1/runs/{record.run_id}/tables/trades", params={"format": "xlsx"}, headers=auth(READ))
    assert r.status_code == 422 and error(r)["fields"][0]["field"] == "query.format"


def test_run_table_as_json_csv_and_parquet(client, stored_run):
    root, record = stored_run
    trades = load_run(record.run_id, root)["trades"]
    url = f"/v1/runs/{record.run_id}/tables/trades"
    page = client.get(url, params={"offset": 2, "limit": 3}, headers=auth(READ)).json()
    assert page["total"] == len(trades) and page["offset"] == 2 and page["columns"] == list(trades.columns)
    assert page["rows"] == json.loads(trades.iloc[2:5].to_json(orient="split", index=False))["data"]
    r = client.get(url, params={"format": "csv"}, headers=auth(READ))
    assert r.headers["content-type"].startswith("text/csv")
    assert pd.read_csv(pd.io.common.StringIO(r.text)).equals(trades)
    r = client.get(url, params={"format": "parquet"}, headers=auth(READ))
    assert r.headers["content-type"] == "application/vnd.apache.parquet"
    import io

    assert pd.read_parquet(io.BytesIO(r.content)).equals(trades)


@pytest.mark.slow
def test_run_plots_are_served(tokens, tmp_path):
    from market_sim.simulation.catalog import resolve_scenario
    from market_sim.simulation.results import RunWriter
    from market_sim.simulation.runner import Simulation
    from market_sim.simulation.scenario import load_scenario

    sc = load_scenario(resolve_scenario("random-market"), ["scenario.duration=5s"], 1)
    record = RunWriter(tmp_path, sc).write(Simulation(sc, tune_gc=False).run(), plots=True)
    with TestClient(create_app(tokens, runs_dir=tmp_path)) as c:
        shown = c.get(f"/v1/runs/{record.run_id}", headers=auth(READ)).json()
        assert "prices.png" in shown["plots"]
        r = c.get(f"/v1/runs/{record.run_id}/files/prices.png", headers=auth(READ))
        assert r.headers["content-type"] == "image/png" and r.content[:8] == b"\x89PNG\r\n\x1a\n"


# ---- simulations ----------------------------------------------------------------------------------------------------
def test_start_needs_admin_and_a_named_scenario(client):
    body = {"scenario": "random-market", "paused": True}
    assert error(client.post("/v1/sims", json=body, headers=auth(READ)))["code"] == "forbidden"
    assert client.post("/v1/sims", json=body, headers=auth(TRADER)).status_code == 403
    r = client.post("/v1/sims", json={"scenario": "/etc/passwd"}, headers=auth(ADMIN))
    assert r.status_code == 404 and error(r)["code"] == "not_found"
    r = client.post("/v1/sims", json={**body, "speed": 3}, headers=auth(ADMIN))
    assert r.status_code == 422 and error(r)["fields"][0]["field"] == "body.speed"
    r = client.post("/v1/sims", json={**body, "realtime": -1}, headers=auth(ADMIN))
    assert r.status_code == 422 and error(r)["fields"][0]["field"] == "body.realtime"
    r = client.post("/v1/sims", json={**body, "overrides": ["agents.noise.count=oops"]}, headers=auth(ADMIN))
    assert r.status_code == 400 and error(r)["code"] == "bad_request"


def test_sim_lifecycle(client, sim):
    info = client.get(f"/v1/sims/{sim}", headers=auth(READ)).json()
    assert info["state"] == "paused" and info["now_ns"] == 5 * SECONDS and info["scenario"] == "random-market"
    assert info["venues"] == {"exchange": ["AAPL", "MSFT", "ETH/USDC"]} and info["settlement"] is False
    assert [s["id"] for s in client.get("/v1/sims", headers=auth(READ)).json()] == [sim]
    r = client.post(f"/v1/sims/{sim}/step", json={"by_ns": SECONDS}, headers=auth(ADMIN))
    assert r.json()["now_ns"] == 6 * SECONDS
    r = client.post(f"/v1/sims/{sim}/step", json={"until_ns": SECONDS}, headers=auth(ADMIN))
    assert r.status_code == 409 and error(r)["code"] == "conflict"
    r = client.post(f"/v1/sims/{sim}/step", json={"until_ns": 1, "by_ns": 1}, headers=auth(ADMIN))
    assert r.status_code == 422 and "exactly one" in error(r)["message"]
    assert client.post(f"/v1/sims/{sim}/pause", headers=auth(READ)).status_code == 403
    assert client.post(f"/v1/sims/{sim}/resume", headers=auth(ADMIN)).json()["state"] == "running"
    r = client.post(f"/v1/sims/{sim}/step", json={"by_ns": 1}, headers=auth(ADMIN))
    assert r.status_code == 409 and "pause it" in error(r)["message"]
    assert client.post(f"/v1/sims/{sim}/pause", headers=auth(ADMIN)).json()["state"] == "paused"
    stopped = client.post(f"/v1/sims/{sim}/stop", headers=auth(ADMIN)).json()
    assert stopped["state"] == "stopped"
    r = client.post(f"/v1/sims/{sim}/orders", json={"symbol": "AAPL", "side": "buy", "quantity": 1,
                                                    "price": 19000}, headers=auth(TRADER))
    assert r.status_code == 409 and "stopped" in error(r)["message"]
    assert client.post(f"/v1/sims/{sim}/resume", headers=auth(ADMIN)).status_code == 409
    assert client.get("/v1/sims/sim-99", headers=auth(READ)).status_code == 404


def test_a_simulation_runs_to_its_end(client):
    r = client.post("/v1/sims", json={"scenario": "random-market", "paused": True,
                                      "overrides": ["scenario.duration=2s"]}, headers=auth(ADMIN))
    sim = r.json()["id"]
    info = client.post(f"/v1/sims/{sim}/step", json={"until_ns": 10 * SECONDS}, headers=auth(ADMIN)).json()
    assert info["state"] == "finished" and info["now_ns"] == 2 * SECONDS


# ---- trading --------------------------------------------------------------------------------------------------------
def _order(**kw):
    return {"symbol": "AAPL", "side": "buy", "quantity": 1, **kw}


def test_an_external_order_trades_and_is_booked_exactly(client, app, sim):
    l1 = client.get(f"/v1/sims/{sim}/book/l1", params={"symbol": "AAPL"}, headers=auth(READ)).json()
    ask, ask_qty = l1["ask"], l1["ask_quantity"]
    assert ask_qty > 2  # the market makers quote 10 lots a level: the order takes part of the best ask
    r = client.post(f"/v1/sims/{sim}/orders", json=_order(quantity=2, price=ask, tif="ioc"), headers=auth(TRADER))
    assert r.status_code == 201
    order = r.json()
    assert (order["account"], order["status"], order["filled"], order["open"]) == ("ext-1", "filled", 2, 0)
    inst = app.state.sims.get(sim).sim.instruments["AAPL"]
    fills = client.get(f"/v1/sims/{sim}/fills", headers=auth(TRADER)).json()
    assert sum(f["quantity"] for f in fills) == 2 and {f["order_id"] for f in fills} == {order["order_id"]}
    assert all(f["price"] == ask and f["liquidity"] == "taker" and f["ts"] == 5 * SECONDS for f in fills)
    acct = client.get(f"/v1/sims/{sim}/accounts/ext-1", headers=auth(TRADER)).json()
    assert acct["balances"] == {"AAPL": 2 * inst.base_units_per_lot,
                                "USD": -2 * ask * inst.quote_units_per_lot_tick}
    assert acct["positions"][0]["quantity"] == 2 * inst.base_units_per_lot
    l1_after = client.get(f"/v1/sims/{sim}/book/l1", params={"symbol": "AAPL"}, headers=auth(READ)).json()
    assert (l1_after["ask"], l1_after["ask_quantity"]) == (ask, ask_qty - 2)
    trades = client.get(f"/v1/sims/{sim}/trades", params={"symbol": "AAPL", "limit": 5}, headers=auth(READ)).json()
    mine = [t for t in trades if t["buyer"] == "ext-1"]
    assert sum(t["quantity"] for t in mine) == 2 and all(t["aggressor"] == "buy" for t in mine)


def test_resting_order_modify_cancel_and_the_books(client, sim):
    l1 = client.get(f"/v1/sims/{sim}/book/l1", params={"symbol": "AAPL"}, headers=auth(READ)).json()
    price = l1["bid"] - 50  # well behind the best bid: it rests
    order = client.post(f"/v1/sims/{sim}/orders", json=_order(quantity=4, price=price), headers=auth(TRADER)).json()
    oid = order["order_id"]
    assert (order["status"], order["open"]) == ("open", 4)
    l3 = client.get(f"/v1/sims/{sim}/book/l3", params={"symbol": "AAPL", "depth": 10_000}, headers=auth(READ)).json()
    assert {"order_id": oid, "trader": "ext-1", "side": "buy", "price": price, "quantity": 4} in l3["bids"]
    l2 = client.get(f"/v1/sims/{sim}/book/l2", params={"symbol": "AAPL", "depth": 10_000},
                    headers=auth(READ)).json()
    assert any(lv["price"] == price and lv["quantity"] >= 4 for lv in l2["bids"])
    r = client.patch(f"/v1/sims/{sim}/orders/{oid}", json={"quantity": 2}, headers=auth(TRADER))
    assert (r.json()["open"], r.json()["price"]) == (2, price)
    r = client.patch(f"/v1/sims/{sim}/orders/{oid}", json={}, headers=auth(TRADER))
    assert r.status_code == 422
    assert client.get(f"/v1/sims/{sim}/orders", params={"status": "open"}, headers=auth(TRADER)).json()[0][
        "order_id"] == oid
    # another trader can neither see, modify nor cancel it
    assert client.get(f"/v1/sims/{sim}/orders/{oid}", headers=auth(OTHER)).status_code == 404
    assert client.delete(f"/v1/sims/{sim}/orders/{oid}", headers=auth(OTHER)).status_code == 404
    assert client.patch(f"/v1/sims/{sim}/orders/{oid}", json={"quantity": 1}, headers=auth(OTHER)).status_code == 404
    assert client.get(f"/v1/sims/{sim}/orders", headers=auth(OTHER)).json() == []
    r = client.delete(f"/v1/sims/{sim}/orders/{oid}", headers=auth(TRADER))
    assert (r.json()["status"], r.json()["open"], r.json()["reason"]) == ("cancelled", 0, "user")
    l3 = client.get(f"/v1/sims/{sim}/book/l3", params={"symbol": "AAPL", "depth": 10_000}, headers=auth(READ)).json()
    assert all(o["order_id"] != oid for o in l3["bids"])
    assert client.get(f"/v1/sims/{sim}/orders/12345678", headers=auth(TRADER)).status_code == 404
    # the admin sees every external account's orders
    assert [o["order_id"] for o in client.get(f"/v1/sims/{sim}/orders", headers=auth(ADMIN)).json()] == [oid]


def test_a_venue_rejection_is_reported(client, sim):
    r = client.post(f"/v1/sims/{sim}/orders", json=_order(symbol="NOPE", price=1), headers=auth(TRADER))
    assert r.status_code == 404 and "NOPE" in error(r)["message"]
    l1 = client.get(f"/v1/sims/{sim}/book/l1", params={"symbol": "AAPL"}, headers=auth(READ)).json()
    r = client.post(f"/v1/sims/{sim}/orders", json=_order(price=l1["ask"], post_only="reject"),
                    headers=auth(TRADER))
    assert r.status_code == 201 and r.json()["status"] == "rejected"
    assert r.json()["reason"].startswith("post_only_would_take")


def test_trading_authorisation(client, sim):
    body = _order(price=100)
    r = client.post(f"/v1/sims/{sim}/orders", json=body, headers=auth(READ))
    assert r.status_code == 403 and "read-only" in error(r)["message"]
    r = client.post(f"/v1/sims/{sim}/orders", json={**body, "account": "ext-2"}, headers=auth(TRADER))
    assert r.status_code == 403 and "ext-1" in error(r)["message"]
    assert client.get(f"/v1/sims/{sim}/fills", params={"account": "ext-2"}, headers=auth(TRADER)).status_code == 403
    assert client.get(f"/v1/sims/{sim}/accounts/ext-2", headers=auth(TRADER)).status_code == 403
    assert client.get(f"/v1/sims/{sim}/accounts/ext-1", headers=auth(READ)).status_code == 403
    r = client.post(f"/v1/sims/{sim}/orders", json=body, headers=auth(ADMIN))  # an admin names the account
    assert r.status_code == 422 and error(r)["message"].startswith("account")
    assert error(r)["fields"] == [{"field": "account", "message": "an admin token names the account"}]
    r = client.post(f"/v1/sims/{sim}/orders", json={**body, "account": "ext-9"}, headers=auth(ADMIN))
    assert r.status_code == 201 and r.json()["account"] == "ext-9"
    assert client.get(f"/v1/sims/{sim}/accounts/agent-that-never-traded", headers=auth(ADMIN)).json() == {
        "account": "agent-that-never-traded", "balances": {}, "positions": [], "fees_paid": {}}


@pytest.mark.parametrize("body, field", [
    ({"side": "buy", "quantity": 1, "price": 1}, "body.symbol"),
    (_order(quantity=0, price=1), "body.quantity"),
    (_order(quantity=1.5, price=1), "body.quantity"),
    (_order(side="long", price=1), "body.side"),
    (_order(price=-3), "body.price"),
    (_order(price=1, colour="red"), "body.colour"),
    (_order(tif="forever", price=1), "body.tif"),
    (_order(account="a b", price=1), "body.account"),
])
def test_order_validation_names_the_field(client, sim, body, field):
    r = client.post(f"/v1/sims/{sim}/orders", json=body, headers=auth(TRADER))
    assert r.status_code == 422
    e = error(r)
    assert e["code"] == "validation" and e["fields"][0]["field"] == field and e["message"].startswith(field)


def test_order_type_rules(client, sim):
    for body, says in ((_order(), "needs a price"), (_order(order_type="market", price=5), "takes no price"),
                       (_order(order_type="stop_limit", price=5), "stop_price"),
                       (_order(price=5, tif="gtd"), "expire_at")):
        r = client.post(f"/v1/sims/{sim}/orders", json=body, headers=auth(TRADER))
        assert r.status_code == 422 and says in error(r)["message"]


def test_book_queries(client, sim, app):
    live = app.state.sims.get(sim)
    r = client.get(f"/v1/sims/{sim}/book/l2", params={"symbol": "ETH/USDC", "depth": 10_000},
                   headers=auth(READ)).json()
    snap = live.sim.book_snapshot("exchange", "ETH/USDC")
    assert r["seq"] == snap.seq and [(lv["price"], lv["quantity"]) for lv in r["bids"]] == list(snap.bids)
    assert [(lv["price"], lv["quantity"]) for lv in r["asks"]] == list(snap.asks)
    short = client.get(f"/v1/sims/{sim}/book/l2", params={"symbol": "ETH/USDC", "depth": 1},
                       headers=auth(READ)).json()
    assert len(short["bids"]) == 1 and short["bids"][0] == r["bids"][0]
    l1 = client.get(f"/v1/sims/{sim}/book/l1", params={"symbol": "ETH/USDC"}, headers=auth(READ)).json()
    assert (l1["bid"], l1["ask"]) == (snap.bids[0][0], snap.asks[0][0])
    assert client.get(f"/v1/sims/{sim}/book/l1", params={"symbol": "AAPL", "venue": "nyse"},
                      headers=auth(READ)).status_code == 404
    r = client.get(f"/v1/sims/{sim}/book/l2", headers=auth(READ))
    assert r.status_code == 422 and error(r)["fields"][0]["field"] == "query.symbol"
    assert L2Book.from_snapshot(snap).best_bid() == snap.bids[0]


def test_settlement_routes_without_a_settlement_section(client, sim):
    for path in ("settlement", "settlement/batches", "settlement/trades", "chain/blocks"):
        r = client.get(f"/v1/sims/{sim}/{path}", headers=auth(READ))
        assert r.status_code == 404 and "no settlement section" in error(r)["message"]


@pytest.mark.slow
def test_settlement_batches_lifecycle_and_blocks(client):
    r = client.post("/v1/sims", json={"scenario": "settlement-demo", "paused": True}, headers=auth(ADMIN))
    sim = r.json()["id"]
    assert r.json()["settlement"] is True
    client.post(f"/v1/sims/{sim}/step", json={"until_ns": 120 * SECONDS}, headers=auth(ADMIN))
    summary = client.get(f"/v1/sims/{sim}/settlement", headers=auth(READ)).json()
    assert summary["blocks"] >= 9 and sum(summary["outcomes"].values()) > 0
    batches = client.get(f"/v1/sims/{sim}/settlement/batches", headers=auth(READ)).json()
    assert batches and all(b["cut_ns"] is not None for b in batches)
    trades = client.get(f"/v1/sims/{sim}/settlement/trades", params={"limit": 5}, headers=auth(READ)).json()
    assert len(trades) == 5 and all(t["executed_ns"] <= 120 * SECONDS for t in trades)
    blocks = client.get(f"/v1/sims/{sim}/chain/blocks", headers=auth(READ)).json()
    assert len(blocks) == summary["blocks"] and [b["number"] for b in blocks] == sorted(b["number"] for b in blocks)


def test_book_stats(client, sim, app):
    r = client.get(f"/v1/sims/{sim}/book/stats", params={"symbol": "AAPL"}, headers=auth(READ)).json()
    st = app.state.sims.get(sim).sim.venues["exchange"].engine.book("AAPL").stats()
    assert (r["last_price"], r["volume"], r["notional"], r["trade_count"]) == (st.last_price, st.volume,
                                                                               st.notional, st.trade_count)
    assert r["trade_count"] > 0 and r["vwap"] == st.notional / st.volume


def test_a_saved_simulation_becomes_a_stored_run(tokens, tmp_path):
    app = create_app(tokens, runs_dir=tmp_path)  # its own runs folder: the shared one keeps exactly one run
    with TestClient(app) as client:
        r = client.post("/v1/sims", json={"scenario": "random-market", "paused": True, "save": True,
                                          "overrides": ["scenario.duration=2s"]}, headers=auth(ADMIN))
        sim, run_id = r.json()["id"], r.json()["run_id"]
        assert run_id.endswith("random-market-s1")
        client.post(f"/v1/sims/{sim}/step", json={"until_ns": 1 * SECONDS}, headers=auth(ADMIN))
        info = client.post(f"/v1/sims/{sim}/stop", headers=auth(ADMIN)).json()
        assert (info["state"], info["run_id"]) == ("stopped", run_id)
        shown = client.get(f"/v1/runs/{run_id}", headers=auth(READ)).json()
        assert shown["status"] == "interrupted" and "trades" in shown["tables"]
        assert [x["run_id"] for x in client.get("/v1/runs", headers=auth(READ)).json()] == [run_id]
        app.state.sims.shutdown()
