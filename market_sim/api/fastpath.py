"""The REST fast path for book queries: GET /v1/sims/{id}/book/l1 and /book/l2 answered from the simulation's
per-step book cache (LiveSim.cached_book) by a small ASGI middleware, before FastAPI's routing, dependency and
validation machinery (about 4x the cost of the answer itself).

It answers only the plain case: a GET with a valid bearer token within its rate limit, well-formed query
parameters, a simulation whose book is cached as of its last step. Anything else (no token, a bad
parameter, an unknown simulation, venue or symbol, a book not cached yet, a rate-limited token) passes through to
the FastAPI route, which gives the documented answer or error and fills the cache. The body is built by the same
functions as the routes' (`l1_body`, `l2_body`), so both paths answer the same bytes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from market_sim.api.live import NotFound, dumps_bytes

__all__ = ["BookFastPath", "l1_body", "l2_body", "MAX_DEPTH", "DEFAULT_DEPTH"]

MAX_DEPTH = 10_000
DEFAULT_DEPTH = 20
_MAX_NAME = 64  # the routes' Symbol / Venue length limit


def l1_body(venue: str, symbol: str, snap: Any, q: Any) -> dict[str, Any]:
    return {"venue": venue, "symbol": symbol, "ts": snap.ts, "bid": q.bid, "bid_quantity": q.bid_qty,
            "ask": q.ask, "ask_quantity": q.ask_qty, "last": q.last}


def l2_body(venue: str, symbol: str, snap: Any, depth: int) -> dict[str, Any]:
    return {"venue": venue, "symbol": symbol, "ts": snap.ts, "seq": snap.seq,
            "bids": [{"price": p, "quantity": q} for p, q in snap.bids[:depth]],
            "asks": [{"price": p, "quantity": q} for p, q in snap.asks[:depth]]}


_HEADERS = [(b"content-type", b"application/json")]


class BookFastPath:
    """ASGI middleware over the application (see the module docstring)."""

    def __init__(self, app: Any, *, sims: Any, tokens: Any, limiter: Any) -> None:
        self.app, self.sims, self.tokens, self.limiter = app, sims, tokens, limiter
        self.answered = 0  # requests answered here (the rest went to the routes)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path = scope["path"]
            if path.startswith("/v1/sims/") and (path.endswith("/book/l2") or path.endswith("/book/l1")):
                try:
                    body = self._answer(scope, path)
                except Exception:  # noqa: BLE001  (whatever the fast path cannot answer, the route answers)
                    body = None
                if body is not None:
                    self.answered += 1
                    await send({"type": "http.response.start", "status": 200,
                                "headers": [(b"content-length", str(len(body)).encode()), *_HEADERS]})
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)

    def _answer(self, scope: dict[str, Any], path: str) -> bytes | None:
        parts = path.split("/")  # "", "v1", "sims", id, "book", "l1" | "l2"
        if len(parts) != 6 or not parts[3]:
            return None
        live = self.sims.sims.get(parts[3])
        if live is None:
            return None
        params: dict[str, str] = {}
        for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
            if k in params:
                return None  # a repeated parameter: the route decides
            params[k] = v
        symbol, venue = params.get("symbol"), params.get("venue")
        if symbol is None or not 1 <= len(symbol) <= _MAX_NAME or venue is not None and not 1 <= len(venue) <= _MAX_NAME:
            return None
        depth = DEFAULT_DEPTH
        if "depth" in params:
            d = params["depth"]
            if not (d.isascii() and d.isdigit()) or not 1 <= int(d) <= MAX_DEPTH:
                return None
            depth = int(d)
        principal = self.tokens.lookup(_bearer(scope))
        if principal is None:
            return None
        try:
            cached = live.cached_book(symbol, venue)
        except NotFound:
            return None
        if cached is None or self.limiter.take(principal.key) > 0:  # a refused take spends nothing
            return None
        v, snap, quote = cached
        return dumps_bytes(l2_body(v, symbol, snap, depth) if parts[5] == "l2" else l1_body(v, symbol, snap, quote))


def _bearer(scope: dict[str, Any]) -> str | None:
    """The credentials of `Authorization: Bearer ...`, read as fastapi.security.HTTPBearer reads them."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            credentials = credentials.strip()
            if scheme.lower() != "bearer" or not credentials:
                return None
            return credentials
    return None
