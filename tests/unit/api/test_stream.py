"""The WebSocket stream: book deltas that continue their snapshot exactly, resync after a dropped connection,
trades and order events of an external order in a live simulation, auth, and the slow-client rule."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from market_sim.api.app import create_app
from market_sim.api.stream import CLOSE_TOO_SLOW, StreamClient
from market_sim.core.orders import Side
from market_sim.simulation.venues import BookDelta, BookSnapshot, L2Book

from .conftest import ADMIN, READ, SECONDS, TRADER, auth


def connect(client, sim, token=READ):
    ws = client.websocket_connect(f"/v1/sims/{sim}/stream", headers=auth(token))
    return ws


def follow(ws, book: L2Book | None, until_seq: int) -> L2Book:
    """Apply the book messages received until the copy reaches `until_seq` (a snapshot replaces the copy)."""
    while book is None or book.seq < until_seq:
        m = ws.receive_json()
        if m["type"] == "book_snapshot":
            book = L2Book.from_snapshot(BookSnapshot(m["ts"], m["venue"], m["symbol"], m["seq"],
                                                     tuple(map(tuple, m["bids"])), tuple(map(tuple, m["asks"]))))
        elif m["type"] == "book_delta" and book is not None:
            book.apply(BookDelta(m["ts"], m["symbol"], Side.BUY if m["side"] == "buy" else Side.SELL, m["price"],
                                 m["quantity"], m["venue"], m["seq"]))
    return book


def rest_book(client, sim, symbol="AAPL"):
    r = client.get(f"/v1/sims/{sim}/book/l2", params={"symbol": symbol, "depth": 10_000}, headers=auth(READ))
    body = r.json()
    return body["seq"], [(x["price"], x["quantity"]) for x in body["bids"]], \
        [(x["price"], x["quantity"]) for x in body["asks"]]


def subscribe_book(ws, symbol="AAPL") -> L2Book:
    ws.send_json({"op": "subscribe", "channel": "book", "symbol": symbol})
    book = follow(ws, None, 0)
    assert ws.receive_json() == {"type": "subscribed", "channel": "book", "key": ["exchange", symbol]}
    return book


def step(client, sim, by_s: float) -> None:
    r = client.post(f"/v1/sims/{sim}/step", json={"by_ns": int(by_s * SECONDS)}, headers=auth(ADMIN))
    assert r.status_code == 200, r.text


def test_book_deltas_continue_the_snapshot(client, sim):
    with connect(client, sim) as ws:
        assert ws.receive_json()["type"] == "hello"
        book = subscribe_book(ws)
        seq0, bids0, asks0 = rest_book(client, sim)
        assert book.seq == seq0 and book.depth(10_000) == (bids0, asks0)
        step(client, sim, 2)
        seq, bids, asks = rest_book(client, sim)
        assert seq > seq0
        book = follow(ws, book, seq)
        assert book.seq == seq and book.depth(10_000) == (bids, asks)


def test_resync_after_a_dropped_connection(client, sim):
    with connect(client, sim) as ws:
        ws.receive_json()
        book = subscribe_book(ws)
        step(client, sim, 1)
        book = follow(ws, book, rest_book(client, sim)[0])
    step(client, sim, 1)  # deltas published while no one is connected
    seq, bids, asks = rest_book(client, sim)
    assert seq > book.seq
    with connect(client, sim) as ws:
        ws.receive_json()
        book = subscribe_book(ws)  # a fresh snapshot at the current seq
        assert book.seq == seq and book.depth(10_000) == (bids, asks)
        step(client, sim, 1)
        seq, bids, asks = rest_book(client, sim)
        book = follow(ws, book, seq)
        assert book.depth(10_000) == (bids, asks)
        ws.send_json({"op": "resync", "symbol": "AAPL"})  # an explicit resync: a snapshot of the book now
        m = ws.receive_json()
        assert (m["type"], m["seq"], m["bids"]) == ("book_snapshot", seq, [list(b) for b in bids])


def test_an_external_order_appears_in_the_trade_and_order_streams(client, sim):
    l1 = client.get(f"/v1/sims/{sim}/book/l1", params={"symbol": "AAPL"}, headers=auth(READ)).json()
    with connect(client, sim, TRADER) as ws:
        assert ws.receive_json() == {"type": "hello", "sim": sim, "role": "trader", "account": "ext-1",
                                     "queue": 1000}
        ws.send_json({"op": "subscribe", "channel": "trades", "symbol": "AAPL"})
        assert ws.receive_json()["type"] == "subscribed"
        ws.send_json({"op": "subscribe", "channel": "orders"})
        assert ws.receive_json() == {"type": "subscribed", "channel": "orders", "key": ["ext-1"]}
        r = client.post(f"/v1/sims/{sim}/orders", json={"symbol": "AAPL", "side": "buy", "quantity": 1,
                                                        "price": l1["ask"], "tif": "ioc"}, headers=auth(TRADER))
        order_id = r.json()["order_id"]
        got = []
        while not any(m["type"] == "trade" for m in got) or not any(
                m["type"] == "order" and m["order"]["status"] == "filled" for m in got):
            got.append(ws.receive_json())
        trade = next(m for m in got if m["type"] == "trade")
        assert (trade["buyer"], trade["buy_order_id"], trade["price"], trade["quantity"], trade["aggressor"],
                trade["ts"]) == ("ext-1", order_id, l1["ask"], 1, "buy", 5 * SECONDS)
        fill = next(m for m in got if m["type"] == "order" and m["event"] == "fill")
        assert fill["trade_id"] == trade["trade_id"] and fill["order"]["order_id"] == order_id


def test_stream_auth_and_bad_messages(client, sim):
    with client.websocket_connect(f"/v1/sims/{sim}/stream") as ws:  # no header: the first message authenticates
        ws.send_json({"op": "auth", "token": "wrong-token-xxxxxxxx"})
        assert ws.receive_json()["code"] == "unauthorized"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4001
    with client.websocket_connect(f"/v1/sims/{sim}/stream") as ws:
        ws.send_json({"op": "auth", "token": READ})
        assert ws.receive_json()["role"] == "read"
        for msg, code in (({"op": "subscribe", "channel": "orders", "account": "ext-1"}, "forbidden"),
                          ({"op": "subscribe", "channel": "orders"}, "forbidden"),
                          ({"op": "subscribe", "channel": "gossip"}, "bad_request"),
                          ({"op": "subscribe", "channel": "book"}, "bad_request"),
                          ({"op": "subscribe", "channel": "book", "symbol": "NOPE"}, "not_found"),
                          ({"op": "subscribe", "channel": "settlement"}, "not_found"),
                          ({"op": "resync", "symbol": "AAPL"}, "bad_request"),
                          ({"op": "launch"}, "bad_request"), ([1, 2], "bad_request")):
            ws.send_json(msg)
            assert ws.receive_json()["code"] == code, msg
        ws.send_text("{not json")
        assert ws.receive_json()["code"] == "bad_request"
        ws.send_json({"op": "ping"})
        assert ws.receive_json() == {"type": "pong", "now_ns": 5 * SECONDS}
    with connect(client, sim, TRADER) as ws:
        ws.receive_json()
        ws.send_json({"op": "subscribe", "channel": "orders", "account": "ext-2"})
        assert ws.receive_json()["code"] == "forbidden"
    with connect(client, "sim-404") as ws:
        assert ws.receive_json()["code"] == "not_found"
        with pytest.raises(WebSocketDisconnect):
            ws.receive_json()


def test_streams_close_when_the_simulation_stops(client, sim):
    with connect(client, sim) as ws:
        ws.receive_json()
        ws.send_json({"op": "subscribe", "channel": "trades"})
        assert ws.receive_json()["key"] == ["*"]
        client.post(f"/v1/sims/{sim}/stop", headers=auth(ADMIN))
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                ws.receive_json()
        assert closed.value.code == 1000


def test_a_slow_client_is_conflated_and_still_has_the_exact_book(tokens, stored_run):
    """With a queue of 4 messages, whatever the sender could not keep up with is conflated into snapshots: the
    copy the client keeps still ends exactly at the server's book."""
    app = create_app(tokens, runs_dir=stored_run[0], stream_queue=4, rate=1e6, burst=10**6)
    with TestClient(app) as client:
        sim = client.post("/v1/sims", json={"scenario": "random-market", "paused": True},
                          headers=auth(ADMIN)).json()["id"]
        with connect(client, sim) as ws:
            ws.receive_json()
            book = subscribe_book(ws, "ETH/USDC")
            step(client, sim, 20)
            seq, bids, asks = rest_book(client, sim, "ETH/USDC")
            book = follow(ws, book, seq)
            assert book.depth(10_000) == (bids, asks)
        app.state.sims.shutdown()


# ---- the slow-client rule, on the queue itself --------------------------------------------------------------------
def test_a_full_queue_drops_book_deltas_and_owes_a_snapshot():
    c = StreamClient(None, maxlen=3)
    book = ("exchange", "AAPL")
    c.push("d1", book)
    c.push("t1")
    c.push("d2", book)
    c.push("d3", book)  # full: d1, d2 and d3 are conflated away
    assert c.queued() == 1 and c.resync == {book} and c.dropped == 3 and c.conflations == 1
    c.push("d4", book)  # dropped until the snapshot is sent
    c.push("t2")
    items, resync, closed = c.take()
    assert items == ["t1", "t2"] and resync == [book] and closed is None and c.dropped == 4
    c.resynced(book)
    c.push("d5", book)
    assert c.take()[0] == ["d5"]


def test_a_queue_full_of_other_messages_disconnects_the_client():
    c = StreamClient(None, maxlen=2)
    c.push("t1")
    c.push("t2")
    c.push("t3")
    items, _, closed = c.take()
    assert items == [] and closed == "too slow: 2 messages queued (the limit is 2)" and c.too_slow
    c.push("t4")  # nothing more is queued for a dropped client
    assert c.queued() == 0
    assert CLOSE_TOO_SLOW == 4008


def test_close_keeps_what_is_queued():
    c = StreamClient(None, maxlen=5)
    c.push("t1")
    c.close("simulation stopped")
    c.push("t2")
    assert c.take() == (["t1"], [], "simulation stopped") and not c.too_slow


def test_book_deltas_that_wait_too_long_are_replaced_by_a_snapshot():
    now = [0.0]
    c = StreamClient(None, maxlen=100, max_delay=0.05, clock=lambda: now[0])
    aapl, msft = ("exchange", "AAPL"), ("exchange", "MSFT")
    c.push("a1", aapl)
    c.push("m1", msft)
    c.push("t1")
    now[0] = 0.04
    c.push("a2", aapl)  # the oldest AAPL delta has waited 40 ms: still queued
    now[0] = 0.06
    c.push("a3", aapl)  # 60 ms: AAPL's deltas are dropped, a snapshot is owed
    c.push("a4", aapl)  # dropped until the snapshot goes out
    assert c.take() == (["m1", "t1"], [aapl], None) and c.dropped == 4 and c.conflations == 1
    c.resynced(aapl)
    now[0] = 1.0
    c.push("a5", aapl)  # the clock of a book starts again with its first queued delta
    now[0] = 1.03
    c.push("a6", aapl)
    assert c.take()[0] == ["a5", "a6"]
