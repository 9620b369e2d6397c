"""The web dashboard in a real browser: headless Chromium (Debian's `chromium` package) driven by playwright through
`executable_path`, against the real server (uvicorn on 127.0.0.1, a random port) with a live random-market.

Loads the dashboard, enters a trader token, sees the live book change, reconnects after the server drops the stream,
checks the ladder equals the simulation's book once paused, places a resting order through the form
and sees it in the book's "mine" column and the open orders, places a marketable order and sees the trade in the
tape and the fills, checks a view with no data for this simulation says so, and opens a stored run's report from
the runs browser. Screenshots go to build/screenshots/ (or $MARKET_SIM_SCREENSHOTS). No sleeps: every wait is a
playwright wait on the page's state.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

CHROMIUM = next((p for p in (os.environ.get("MARKET_SIM_CHROMIUM"), shutil.which("chromium"),
                              shutil.which("chromium-browser"), "/usr/bin/chromium") if p and Path(p).is_file()), None)
try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - the [dev] extra pins it
    sync_playwright = None

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(sync_playwright is None, reason="playwright is not installed (pip install -e '.[dev]')"),
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: apt-get install chromium (Debian's package; .ci/run "
                                                "installs it)"),
]

from market_sim.api.app import create_app  # noqa: E402
from market_sim.api.auth import TokenStore  # noqa: E402
from market_sim.api.dashboard import charts_script  # noqa: E402

ADMIN = "admin-token-browser-0123"
TRADER = "trader-token-browser-0123"  # bound to account ext-1
ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("MARKET_SIM_SCREENSHOTS", ROOT / "build" / "screenshots"))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The API application under uvicorn on a socket bound here (so the browser's first request simply waits in
    the listen backlog until the server accepts), with one stored run and a live random-market at 5x real time."""
    from market_sim.simulation.catalog import resolve_scenario
    from market_sim.simulation.results import RunWriter
    from market_sim.simulation.runner import Simulation
    from market_sim.simulation.scenario import load_scenario

    root = tmp_path_factory.mktemp("runs")
    overrides = ["scenario.duration=20s", "output.format=csv"]
    sc = load_scenario(resolve_scenario("random-market"), overrides, 3)
    record = RunWriter(root, sc, overrides=overrides).write(Simulation(sc, tune_gc=False).run(), plots=True)

    tokens = TokenStore([(ADMIN, "admin", None), (TRADER, "trader", "ext-1")])
    app = create_app(tokens, runs_dir=root, rate=1e6, burst=1_000_000)
    sim = app.state.sims.start("random-market", seed=7, realtime=5.0)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{sock.getsockname()[1]}/", "sim": sim, "run": record}
    finally:
        app.state.sims.shutdown()
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield b
        finally:
            b.close()


def _ladder_text(page) -> str:
    return page.locator("#ladder").inner_text()


def test_dashboard_live_book_orders_tape_and_runs(server, browser):
    assert charts_script() is not None, "lightweight-charts is missing from node_modules: run npm ci"
    SHOTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=20_000)  # a loaded CI machine: generous bounds, no fixed waits
    page = browser.new_page(viewport={"width": 1600, "height": 960})
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server["url"])

    # the token is asked once, kept in sessionStorage, never put in the URL
    expect(page.locator("#login")).to_be_visible()
    page.fill("#login-token", TRADER)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login")).to_be_hidden()
    expect(page.locator("#who")).to_have_text("trader · ext-1")
    expect(page).to_have_title("market_sim · server ok, 1 simulations")
    assert TRADER not in page.url
    assert page.evaluate("sessionStorage.getItem('market_sim.token')") == TRADER

    # the live book: rows on both sides, then its content changes as the stream's deltas arrive
    expect(page.locator("#conn")).to_have_text("stream: live")
    expect(page.locator("#ladder .row.bid[data-price]").first).to_be_visible()
    expect(page.locator("#ladder .row.ask[data-price]").first).to_be_visible()
    before = _ladder_text(page)
    page.wait_for_function("prev => document.getElementById('ladder').innerText !== prev", arg=before)
    expect(page.locator("#tape .row").first).to_be_visible()  # the agents trade
    page.screenshot(path=str(SHOTS / "dashboard-market.png"))

    # the server drops the connection: the page reconnects, resubscribes and the book flows again
    sim = server["sim"]
    expect(page.locator("#conn")).to_have_attribute("title", "stream connections: 1")
    with sim.lock:
        for client in set().union(*sim.clients.values()):
            client.close("dropped by the test")
    expect(page.locator("#conn")).to_have_attribute("title", "stream connections: 2")
    expect(page.locator("#conn")).to_have_text("stream: live")
    before = _ladder_text(page)
    page.wait_for_function("prev => document.getElementById('ladder').innerText !== prev", arg=before)

    # pause (admin, through the API's manager) so the resting order stays where it is put; the ladder the
    # deltas built is the simulation's book exactly
    sim.pause()
    expect(page.locator("#sim-state")).to_have_text("paused")
    with sim.lock:
        q = sim.sim.quote("exchange", "AAPL")
        best_bid, best_ask, bid_qty = q.bid, q.ask, q.bid_qty
        bids, asks = sim.sim.venues["exchange"].depth("AAPL", 5)
    assert best_bid is not None and best_ask is not None
    for side, levels in (("bid", bids), ("ask", asks)):
        for price, qty in levels:
            expect(page.locator(f"#ladder .row.{side}[data-price='{price}'] .sz")).to_have_text(str(qty))
    expect(page.locator("#ladder .row.bid[data-price]").first).to_have_attribute("data-price", str(best_bid))
    expect(page.locator("#ladder .row.ask[data-price]").last).to_have_attribute("data-price", str(best_ask))
    take = min(2, bid_qty)  # an IOC sell at the best bid fills this much, all at that price
    rest = best_bid - 1
    tick = 0.01

    # a resting limit buy through the form: it shows in the book's "mine" column and in the open orders
    page.click(".seg-btn.buy")
    page.select_option("#f-type", "limit")
    page.select_option("#f-tif", "gtc")
    page.fill("#f-price", f"{rest * tick:.2f}")
    page.fill("#f-qty", "7")
    page.click("#f-submit")
    expect(page.locator("#f-result")).to_contain_text(": open")
    order_id = int(re.search(r"#(\d+)", page.locator("#f-result").inner_text()).group(1))
    row = page.locator(f"#own-orders tr[data-oid='{order_id}']")
    expect(row).to_contain_text("open")
    expect(row).to_contain_text(f"{rest * tick:.2f}")
    expect(page.locator(f"#ladder .row.bid[data-price='{rest}'] .mine")).to_have_text("7")
    with sim.lock:
        assert sim.orders[order_id].open == 7 and sim.orders[order_id].status == "open"

    # a marketable sell at the best bid: it trades; the tape and the fills show it
    page.click(".seg-btn.sell")
    page.select_option("#f-tif", "ioc")
    page.fill("#f-price", f"{best_bid * tick:.2f}")
    page.fill("#f-qty", str(take))
    page.click("#f-submit")
    expect(page.locator("#f-result")).to_contain_text(f"filled {take}")
    expect(page.locator("#tape .row.mine").first).to_contain_text("ext-1")
    expect(page.locator("#tape .row.mine").first).to_contain_text(f"{best_bid * tick:.2f}")
    page.click(".subtab[data-sub=fills]")
    expect(page.locator("#own-orders tbody tr").first).to_contain_text("sell")
    expect(page.locator("#n-fills")).to_have_text(re.compile(r"[1-9]"))
    with sim.lock:
        fills = list(sim.fills["ext-1"])
    assert sum(f.quantity for f in fills) == take and {f.price for f in fills} == {best_bid}

    # cancel the resting order from the open orders
    page.click(".subtab[data-sub=orders]")
    page.click(f"#own-orders button.cancel[data-oid='{order_id}']")
    expect(page.locator("#f-result")).to_contain_text(f"#{order_id} cancelled")
    # the level's row shows no lots of ours (or is gone, when ours were its only lots: that depends on how far the
    # simulation ran before the pause)
    expect(page.locator(f"#ladder .row.bid[data-price='{rest}'] .mine", has_text=re.compile(r"\d"))).to_have_count(0)
    page.screenshot(path=str(SHOTS / "dashboard-trading.png"))
    sim.resume()

    # a view this simulation has no data for says so (random-market has no settlement section)
    page.click(".tab[data-tab=settlement]")
    expect(page.locator("#set-summary")).to_contain_text("not available for this simulation")
    page.click(".tab[data-tab=chain]")
    expect(page.locator("#chain-blocks")).to_contain_text("not available for this simulation")

    # the runs browser: open the stored run; its headline figures and plots load
    run_id = server["run"].run_id
    page.click(".tab[data-tab=runs]")
    page.click(f"#runs-list tr[data-k='{run_id}']")
    expect(page.locator("#run-title")).to_have_text(run_id)
    expect(page.locator("#run-headline .cell").first).to_be_visible()
    first_plot = page.locator("#run-plots img").first
    expect(first_plot).to_have_attribute("src", re.compile("^blob:"))
    page.wait_for_function("() => [...document.querySelectorAll('#run-plots img')].every(i => i.complete && "
                           "i.naturalWidth > 0)")
    page.click("#run-detail button.tbl[data-t=trades]")
    expect(page.locator("#run-table")).to_contain_text("trades · first")
    page.screenshot(path=str(SHOTS / "dashboard-runs.png"))
    assert errors == []
    page.close()


def test_dashboard_static_routes_and_missing_chart_bundle(server):
    import httpx

    base = server["url"].rstrip("/")
    r = httpx.get(base + "/")
    assert r.status_code == 200 and "market_sim" in r.text and "Content-Security-Policy" in r.headers
    assert httpx.get(base + "/ui/app.js").headers["content-type"].startswith("text/javascript")
    assert httpx.get(base + "/ui/vendor/lightweight-charts.js").status_code == 200
    missing = httpx.get(base + "/ui/nothing.js")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
