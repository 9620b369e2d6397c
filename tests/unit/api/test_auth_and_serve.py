"""Token files, roles, the rate limiter, `market-sim serve`'s argument errors, batched frames and the background
runner."""

from __future__ import annotations

import time

import pytest

from market_sim.api.auth import RateLimiter, Role, TokenStore
from market_sim.cli.main import main
from market_sim.core.errors import ConfigError

from .conftest import ADMIN, READ, SECONDS, auth


def test_token_file(tmp_path):
    f = tmp_path / "tokens.txt"
    f.write_text("# comment\n\nreader-token-000000000 read\ntrader-token-00000000 trader alice\n"
                 "admin-token-000000000 admin\n")
    store = TokenStore.from_file(f)
    assert len(store) == 3
    trader = store.lookup("trader-token-00000000")
    assert (trader.role, trader.account) == (Role.TRADER, "alice")
    assert trader.may_trade("alice") and not trader.may_trade("bob")
    assert store.lookup("admin-token-000000000").may_trade("bob")
    assert not store.lookup("reader-token-000000000").may_trade("alice")
    assert store.lookup("unknown-token-0000000") is None and store.lookup(None) is None
    assert "trader-token" not in repr(trader)  # only a digest prefix identifies a principal


@pytest.mark.parametrize("text, says", [
    ("short read\n", "at least 16"),
    ("reader-token-000000000 superuser\n", "unknown token role"),
    ("trader-token-00000000 trader\n", "exactly one account"),
    ("reader-token-000000000 read alice\n", "exactly one account"),
    ("reader-token-000000000\n", "TOKEN ROLE"),
    ("# nothing\n", "holds no token"),
])
def test_bad_token_files(tmp_path, text, says):
    f = tmp_path / "tokens.txt"
    f.write_text(text)
    with pytest.raises(ConfigError, match=says):
        TokenStore.from_file(f)


def test_rate_limiter_refills_at_its_rate():
    now = [10.0]
    limiter = RateLimiter(rate=2.0, burst=3, clock=lambda: now[0])
    assert [limiter.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("k") == pytest.approx(0.5)
    now[0] += 0.5
    assert limiter.take("k") == 0.0 and limiter.take("other") == 0.0
    with pytest.raises(ConfigError):
        RateLimiter(rate=0, burst=1)


def test_serve_refuses_a_bad_token_file(tmp_path, capsys):
    assert main(["serve", "--token-file", str(tmp_path / "missing.txt")]) == 1
    err = capsys.readouterr().err
    assert "cannot read the token file" in err and "Traceback" not in err
    assert main(["serve", "--port", "70000"]) == 2


def test_batched_frames_are_arrays(client, sim):
    with client.websocket_connect(f"/v1/sims/{sim}/stream?batch=1", headers=auth(READ)) as ws:
        assert ws.receive_json()[0]["type"] == "hello"
        ws.send_json({"op": "subscribe", "channel": "book", "symbol": "AAPL"})
        got = []
        while not any(m["type"] == "subscribed" for m in got):
            frame = ws.receive_json()
            assert isinstance(frame, list)
            got += frame
        assert [m["type"] for m in got] == ["book_snapshot", "subscribed"]


def test_a_resumed_simulation_runs_to_its_end_on_its_thread(client):
    r = client.post("/v1/sims", json={"scenario": "random-market", "overrides": ["scenario.duration=3s"]},
                    headers=auth(ADMIN))
    sim = r.json()["id"]
    for _ in range(3000):  # polls until the background thread has run it (not a deadline on its speed)
        info = client.get(f"/v1/sims/{sim}", headers=auth(READ)).json()
        if info["state"] != "running":
            break
        time.sleep(0.01)
    assert (info["state"], info["now_ns"], info["error"]) == ("finished", 3 * SECONDS, None)
    trades = client.get(f"/v1/sims/{sim}/trades", params={"limit": 1000}, headers=auth(READ)).json()
    assert trades and all(t["ts"] <= 3 * SECONDS for t in trades)
