"""A property-based fuzz of the order schema: whatever JSON a client sends to POST /orders, the answer is a created
order or a JSON error (422 naming a body field, 404 for an unknown symbol or venue), never a 500 or a traceback."""

from __future__ import annotations

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from .conftest import TRADER, auth

FIELDS = ["account", "symbol", "venue", "side", "quantity", "order_type", "price", "stop_price", "tif", "expire_at",
          "display_quantity", "hidden", "post_only", "colour"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
                    st.sampled_from(["AAPL", "ETH/USDC", "buy", "sell", "limit", "market", "stop", "stop_limit",
                                     "gtc", "ioc", "fok", "gtd", "day", "reject", "reprice", "ext-1", "exchange"]))
big = st.integers(min_value=1, max_value=2**63 - 1)
small = st.integers(min_value=1, max_value=40_000)


@st.composite
def orders(draw) -> dict:
    """Well-formed orders (random sizes and prices, near and far from the book): these reach the venue."""
    kind = draw(st.sampled_from(["limit", "market", "stop", "stop_limit"]))
    body = {"symbol": draw(st.sampled_from(["AAPL", "MSFT", "ETH/USDC"])), "side": draw(st.sampled_from(["buy", "sell"])),
            "quantity": draw(small | big), "order_type": kind,
            "tif": draw(st.sampled_from(["gtc", "ioc", "fok", "day"]))}
    if kind in ("limit", "stop_limit"):
        body["price"] = draw(small | big)
    if kind in ("stop", "stop_limit"):
        body["stop_price"] = draw(small | big)
    if draw(st.booleans()):
        body["post_only"] = draw(st.sampled_from(["reject", "reprice"]))
    if draw(st.booleans()):
        body["display_quantity"] = draw(small)
    return body


bodies = orders() | st.one_of(st.dictionaries(st.sampled_from(FIELDS), scalars | st.lists(scalars, max_size=2), max_size=8),
                   st.lists(scalars, max_size=3), scalars)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_any_order_body_gets_an_answer_not_a_crash(client, sim, body):
    r = client.post(f"/v1/sims/{sim}/orders", json=body, headers=auth(TRADER))
    event(f"HTTP {r.status_code}")
    assert "Traceback" not in r.text
    if r.status_code == 201:
        order = r.json()
        assert order["account"] == "ext-1" and order["status"] in ("open", "filled", "cancelled", "rejected")
        assert order["open"] + order["filled"] <= order["quantity"] or order["status"] == "rejected"
        return
    assert r.status_code in (403, 404, 422), r.text
    error = r.json()["error"]
    if r.status_code == 422:
        assert error["fields"] and all(f["field"].startswith("body") for f in error["fields"])
        assert error["message"].startswith(error["fields"][0]["field"])
