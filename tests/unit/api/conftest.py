"""Fixtures for the API tests: tokens of each role, an application over a runs folder with one stored run, and a
paused random-market simulation stepped to 5 s (advanced only by the tests' own /step calls: no timing)."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from market_sim.api.app import create_app  # noqa: E402
from market_sim.api.auth import TokenStore  # noqa: E402

ADMIN = "admin-token-0123456789"
READ = "read-token-0123456789"
TRADER = "trader-token-0123456789"   # bound to account ext-1
OTHER = "other-token-0123456789"     # bound to account ext-2
SECONDS = 1_000_000_000


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def tokens() -> TokenStore:
    return TokenStore([(ADMIN, "admin", None), (READ, "read", None), (TRADER, "trader", "ext-1"),
                       (OTHER, "trader", "ext-2")])


@pytest.fixture(scope="session")
def stored_run(tmp_path_factory):
    """A 10 s random-market run written to its own runs folder (CSV tables, no plots): (runs dir, RunRecord)."""
    from market_sim.simulation.catalog import resolve_scenario
    from market_sim.simulation.results import RunWriter
    from market_sim.simulation.runner import Simulation
    from market_sim.simulation.scenario import load_scenario

    root = tmp_path_factory.mktemp("runs")
    overrides = ["scenario.duration=10s", "output.format=csv"]
    sc = load_scenario(resolve_scenario("random-market"), overrides, 3)
    record = RunWriter(root, sc, overrides=overrides).write(Simulation(sc, tune_gc=False).run(), plots=False)
    return root, record


@pytest.fixture
def app(tokens, stored_run):
    application = create_app(tokens, runs_dir=stored_run[0], rate=1e6, burst=1_000_000)
    yield application
    application.state.sims.shutdown()


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


@pytest.fixture
def sim(client) -> str:
    """A paused random-market simulation at 5 s; returns its id."""
    r = client.post("/v1/sims", json={"scenario": "random-market", "paused": True}, headers=auth(ADMIN))
    assert r.status_code == 201, r.text
    sim_id = r.json()["id"]
    r = client.post(f"/v1/sims/{sim_id}/step", json={"until_ns": 5 * SECONDS}, headers=auth(ADMIN))
    assert r.status_code == 200 and r.json()["now_ns"] == 5 * SECONDS
    return sim_id
