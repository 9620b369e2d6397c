"""The dashboard's routes without a browser: the pages, the chart bundle (or a clear 503 without it) and /v1/me
(tests/integration/test_dashboard_browser.py drives the pages in Chromium)."""

from __future__ import annotations

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
