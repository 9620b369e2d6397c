"""How `market-sim serve` (and `market-sim bench api`) run the application under uvicorn.

- HTTP parsing by httptools and the event loop of uvloop when they are installed (the api extra pins both; h11 and
  asyncio otherwise); WebSocket by the websockets library's sans-I/O implementation.
- No per-message deflate on WebSocket frames: each client's compressor is its own, so compressing costs CPU per
  client per frame, the one cost the stream keeps at one serialisation per message.
- The cyclic garbage collector: what exists when serving starts (modules, the application) is frozen out of
  collection, and young collections run every 20,000 allocations instead of 700. A served simulation allocates
  many short-lived objects (events, messages, requests) that die young; a full collection walked every long-lived
  object of the process several times a second and stalled both the stream and REST. Cycles are still collected.
"""

from __future__ import annotations

import gc
import importlib.util
from typing import Any

__all__ = ["uvicorn_config", "tune_gc", "GC_THRESHOLDS"]

GC_THRESHOLDS = (20_000, 20, 20)  # as a batch run (market_sim.simulation.runner)


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def uvicorn_config(app: Any, host: str, port: int, **options: Any) -> Any:
    """A uvicorn.Config for `app` (see the module docstring); `options` override."""
    import uvicorn

    settings: dict[str, Any] = {
        "host": host, "port": port, "log_level": "warning", "access_log": False,
        "http": "httptools" if _have("httptools") else "h11",
        "loop": "uvloop" if _have("uvloop") else "asyncio",
        "ws": "websockets-sansio" if _have("websockets") else "auto",
        "ws_per_message_deflate": False,
        "backlog": 2048,
    }
    settings.update(options)
    return uvicorn.Config(app, **settings)


def tune_gc() -> tuple[int, int, int]:
    """Freeze what exists now out of the cyclic collector and space young collections out (see the module
    docstring); returns the previous thresholds."""
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    return before
