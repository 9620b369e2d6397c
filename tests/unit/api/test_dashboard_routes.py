"""The dashboard's routes without a browser: the pages and the chart bundle, /v1/me, and /v1/sims/{id}/pnl booked
exactly for an external account (tests/integration/test_dashboard_browser.py drives the pages in Chromium)."""

from __future__ import annotations

from fractions import Fraction

import market_sim.api.dashboard as dashboard

from .conftest import ADMIN, READ, TRADER, auth


def test_the_dashboard_pages_need_no_token_and_hold_no_secret(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp and "cdn" not in r.text.lower()
    assert '<script src="/ui/vendor/lightweight-charts.js">' in r.text and '<script src="/ui/app.js">' in r.text
    for name, media in (("app.js", "text/javascript"), ("style.css", "text/css"), ("favicon.svg", "image/svg+xml")):
        got = client.get(f"/ui/{name}")
        assert got.status_code == 200 and got.headers["content-type"].startswith(media), name
    assert "sessionStorage" in client.get("/ui/app.js").text
    assert client.get("/ui", follow_redirects=False).headers["location"] == "/"
    assert "/" not in client.get("/openapi.json").json()["paths"]  # the pages are not part of the API schema


def test_an_unknown_dashboard_file_is_a_json_404(client):
    for name in ("nothing.js", "..%2Fapp.py", "dashboard.py"):
        r = client.get(f"/ui/{name}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_the_chart_bundle_comes_from_node_modules_or_a_clear_503(client, monkeypatch):
    path = dashboard.charts_script()
    assert path is not None and path.name == "lightweight-charts.standalone.production.js"
    r = client.get("/ui/vendor/lightweight-charts.js")
    assert r.status_code == 200 and r.content == path.read_bytes()
    monkeypatch.setattr(dashboard, "charts_script", lambda: None)  # a checkout where `npm ci` has not run
    r = client.get("/ui/vendor/lightweight-charts.js")
    assert r.status_code == 503 and "npm ci" in r.json()["error"]["message"]


def test_me_names_the_role_and_account(client):
    assert client.get("/v1/me", headers=auth(TRADER)).json() == {"role": "trader", "account": "ext-1"}
    assert client.get("/v1/me", headers=auth(READ)).json() == {"role": "read", "account": None}
    assert client.get("/v1/me", headers=auth(ADMIN)).json() == {"role": "admin", "account": None}
    assert client.get("/v1/me").status_code == 401


def test_pnl_books_a_round_trip_of_an_external_account_exactly(client, app, sim):
    live = app.state.sims.get(sim)
    inst = live.sim.instruments["AAPL"]
    l1 = client.get(f"/v1/sims/{sim}/book/l1", params={"symbol": "AAPL"}, headers=auth(READ)).json()
    order = {"symbol": "AAPL", "quantity": 3, "tif": "ioc"}
    buy = client.post(f"/v1/sims/{sim}/orders", json={**order, "side": "buy", "price": l1["ask"]},
                      headers=auth(TRADER)).json()
    assert buy["filled"] == 3
    rows = {r["account"]: r for r in client.get(f"/v1/sims/{sim}/pnl", headers=auth(READ)).json()}
    mine = rows["ext-1"]
    n_fills = len(client.get(f"/v1/sims/{sim}/fills", headers=auth(TRADER)).json())
    assert (mine["group"], mine["currency"], mine["positions"], mine["fills"], mine["volume"]) == \
        ("external", "USD", {"AAPL": 3}, n_fills, 3)
    with live.lock:  # marked as the recorder marks: the mid, exactly, truncated to a quote unit
        mark = live.sim.recorder.mark("exchange", "AAPL")
    cost = 3 * l1["ask"] * inst.quote_units_per_lot_tick
    assert mine["realized"] == 0 and mine["unrealized"] == int(3 * inst.base_units_per_lot * mark) - cost
    assert mine["pnl"] == mine["unrealized"] - mine["fees"]
    assert mine["pnl_value"] == mine["pnl"] / 10 ** inst.quote_decimals

    l1 = client.get(f"/v1/sims/{sim}/book/l1", params={"symbol": "AAPL"}, headers=auth(READ)).json()
    sell = client.post(f"/v1/sims/{sim}/orders", json={**order, "side": "sell", "price": l1["bid"]},
                       headers=auth(TRADER)).json()
    assert sell["filled"] == 3
    mine = {r["account"]: r for r in client.get(f"/v1/sims/{sim}/pnl", headers=auth(READ)).json()}["ext-1"]
    fills = client.get(f"/v1/sims/{sim}/fills", headers=auth(TRADER)).json()
    cash = sum(f["quote_amount"] * (1 if f["side"] == "sell" else -1) for f in fills)
    assert mine["positions"] == {"AAPL": 0} and mine["unrealized"] == 0 and mine["volume"] == 6
    assert mine["fills"] == len(fills)
    assert mine["realized"] == cash == 3 * (l1["bid"] - buy["price"]) * inst.quote_units_per_lot_tick
    assert mine["pnl"] == cash - sum(f["fee"] for f in fills)
    assert Fraction(mine["realized_value"]).limit_denominator(10 ** 6) == Fraction(cash, 10 ** inst.quote_decimals)


def test_pnl_rows_cover_the_agents_sorted_by_pnl(client, sim):
    rows = client.get(f"/v1/sims/{sim}/pnl", headers=auth(READ)).json()
    assert rows and all(r["group"] in {"market_maker", "noise", "fundamental", "momentum"} for r in rows)
    assert [r["pnl"] for r in rows] == sorted((r["pnl"] for r in rows), reverse=True)
    assert client.get("/v1/sims/sim-999/pnl", headers=auth(READ)).status_code == 404
