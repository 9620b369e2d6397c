"""The REST and WebSocket API (`market-sim serve`): scenarios, stored runs and live simulations over HTTP.

create_app(tokens, ...) builds the FastAPI application (market_sim.api.app); live simulations run in
market_sim.api.live, WebSocket client queues in market_sim.api.stream, tokens and rate limits in market_sim.api.auth.
Needs the `api` extra (fastapi, uvicorn); docs/api.md describes the routes, streams and the slow-client rule.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def create_app(*args: Any, **kwargs: Any) -> Any:
    """See market_sim.api.app.create_app."""
    from market_sim.api.app import create_app as _create_app

    return _create_app(*args, **kwargs)
