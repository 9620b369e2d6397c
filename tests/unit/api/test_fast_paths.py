"""The API's fast paths answer exactly what the slow ones do: the REST book fast path (market_sim.api.fastpath)
against the FastAPI routes, the per-step book cache against a snapshot under the lock, and the stream's one
wake-up per step (StepLock) against the messages queued."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_sim.api.fastpath import BookFastPath
from market_sim.api.live import dumps_bytes
from market_sim.api.stream import StreamClient, wake_all

from .conftest import ADMIN, READ, SECONDS, TRADER, auth


def fast_path(app) -> BookFastPath:
    node = app.middleware_stack
    while not isinstance(node, BookFastPath):
        node = node.app
    return node


def get(client, sim, level="l2", token=READ, **params):
    return client.get(f"/v1/sims/{sim}/book/{level}", params={"symbol": "AAPL", **params}, headers=auth(token))


def locked_l2(app, sim, depth):
    live = app.state.sims.get(sim)
    with live.lock:
        snap = live.sim.book_snapshot("exchange", "AAPL")
    return {"venue": "exchange", "symbol": "AAPL", "ts": snap.ts, "seq": snap.seq,
            "bids": [{"price": p, "quantity": q} for p, q in snap.bids[:depth]],
            "asks": [{"price": p, "quantity": q} for p, q in snap.asks[:depth]]}


@pytest.mark.parametrize("level", ["l1", "l2"])
def test_the_fast_path_answers_the_routes_bytes(app, client, sim, level):
    first = get(client, sim, level, depth=7) if level == "l2" else get(client, sim, level)
    assert first.status_code == 200
    fp = fast_path(app)
    assert fp.answered == 0  # the first query of a book goes to the route, which caches it
    second = get(client, sim, level, depth=7) if level == "l2" else get(client, sim, level)
    assert fp.answered == 1
    assert second.status_code == 200 and second.content == first.content
    assert second.headers["content-type"] == first.headers["content-type"] == "application/json"
    if level == "l2":
        assert first.json() == locked_l2(app, sim, 7)


def test_the_cache_follows_each_step_and_each_order(app, client, sim):
    get(client, sim)
    fp = fast_path(app)
    for n in range(3):
        r = client.post(f"/v1/sims/{sim}/step", json={"by_ns": SECONDS}, headers=auth(ADMIN))
        assert r.status_code == 200
        body = get(client, sim, depth=10_000).json()
        assert body == locked_l2(app, sim, 10_000)
        assert fp.answered == n + 1
    bid = body["bids"][0]["price"]
    r = client.post(f"/v1/sims/{sim}/orders", json={"symbol": "AAPL", "side": "buy", "quantity": 7,
                                                    "order_type": "limit", "price": bid}, headers=auth(TRADER))
    assert r.status_code == 201, r.text
    after = get(client, sim, depth=1).json()
    assert after["bids"][0] == {"price": bid, "quantity": body["bids"][0]["quantity"] + 7}
    assert after == locked_l2(app, sim, 1)


@pytest.mark.parametrize("params, headers, status", [
    ({"depth": "0"}, auth(READ), 422),
    ({"depth": "x"}, auth(READ), 422),
    ({"symbol": ""}, auth(READ), 422),
    ({"symbol": "NOPE"}, auth(READ), 404),
    ({"venue": "nowhere"}, auth(READ), 404),
    ({}, {}, 401),
    ({}, {"Authorization": "Basic abc"}, 401),
    ({}, auth("not-a-token-at-all-0000"), 401),
])
def test_anything_but_the_plain_case_goes_to_the_route(app, client, sim, params, headers, status):
    assert get(client, sim).status_code == 200  # cached
    fp = fast_path(app)
    r = client.get(f"/v1/sims/{sim}/book/l2", params={"symbol": "AAPL", **params}, headers=headers)
    assert r.status_code == status
    assert set(r.json()["error"]) == {"code", "message", "fields"}
    assert fp.answered == 0


def test_a_rate_limited_token_gets_the_routes_429(tokens, stored_run):
    from fastapi.testclient import TestClient

    from market_sim.api.app import create_app

    app = create_app(tokens, runs_dir=stored_run[0], rate=0.001, burst=3)
    with TestClient(app) as client:
        sim = client.post("/v1/sims", json={"scenario": "random-market", "paused": True},
                          headers=auth(ADMIN)).json()["id"]
        assert get(client, sim).status_code == 200   # the route: the book is cached
        assert get(client, sim).status_code == 200   # fast path
        assert get(client, sim).status_code == 200   # fast path: READ's burst of 3 is spent
        r = get(client, sim)
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited" and "Retry-After" in r.headers
        assert fast_path(app).answered == 2
    app.state.sims.shutdown()


def test_a_stream_client_is_woken_once_when_the_step_ends(app, client, sim):
    live = app.state.sims.get(sim)
    c = StreamClient(None)
    live.subscribe(c, ("book", "exchange", "AAPL"))
    items, _, _ = c.take()
    assert json.loads(items[0])["type"] == "book_snapshot"
    c._event.clear()
    seq0 = live.sim.book_snapshot("exchange", "AAPL").seq
    with live.lock:               # an outer hold: the step's release is not the outermost one
        live.step(live.sim.now + 2 * SECONDS)
        assert c.queued() == 0 and not c._event.is_set()
        seq1 = live.sim.book_snapshot("exchange", "AAPL").seq
    assert c._event.is_set()       # queued and woken at the outermost release, once for the step's messages
    items, _, _ = c.take()
    assert [json.loads(t)["seq"] for t in items] == list(range(seq0 + 1, seq1 + 1))  # all of them, in order


def test_wake_all_sets_each_event_and_empties_the_set():
    a, b = StreamClient(None), StreamClient(None)
    pending = {a, b}
    wake_all(pending)
    assert pending == set() and a._event.is_set() and b._event.is_set()


def test_messages_encode_any_integer():
    assert json.loads(dumps_bytes({"wei": 10**30, "n": 1})) == {"wei": 10**30, "n": 1}
    assert dumps_bytes({"a": [1, "x"]}) == b'{"a":[1,"x"]}'

BOOKS = [None, ("exchange", "AAPL"), ("exchange", "MSFT")]


def state(c: StreamClient):
    return list(c._q), sorted(c.resync), c.closed, c.conflations, c.dropped, dict(c._oldest)


@settings(max_examples=200, deadline=None)
@given(batches=st.lists(st.tuples(st.floats(0, 0.2), st.lists(st.sampled_from(BOOKS), max_size=12)), max_size=12),
       maxlen=st.integers(1, 8), max_delay=st.sampled_from([None, 0.05]), takes=st.lists(st.booleans(), max_size=12))
def test_push_many_is_push_in_order(batches, maxlen, max_delay, takes):
    """One push_many of a step's messages leaves a client's queue as pushing them one by one at the same time: the
    slow-client rule (bound, conflation, max delay, disconnect) applies per message either way."""
    now = [0.0]
    one = StreamClient(None, maxlen, max_delay=max_delay, clock=lambda: now[0])
    many = StreamClient(None, maxlen, max_delay=max_delay, clock=lambda: now[0])
    n = 0
    for i, (dt, books) in enumerate(batches):
        now[0] += dt
        items = []
        for book in books:
            n += 1
            items.append((f"m{n}", book))
        for text, book in items:
            one.push(text, book)
        many.push_many(items)
        assert state(one) == state(many)
        if i < len(takes) and takes[i]:
            assert one.take() == many.take()
