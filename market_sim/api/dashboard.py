"""The web dashboard: static files served by the API application at `/` (market_sim/api/web/), and the one
JavaScript dependency, TradingView's lightweight-charts, served from the repository's node_modules (installed by
`npm ci` from package-lock.json; no CDN).

The pages hold no secrets and need no token; everything they show comes from the token-protected /v1 routes,
called with the token the user enters (kept in the browser's sessionStorage, sent as a bearer header and as the
WebSocket's first message, never in a URL).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

__all__ = ["mount_dashboard", "WEB_DIR", "charts_script"]

WEB_DIR = Path(__file__).with_name("web")
CHARTS_FILE = "lightweight-charts.standalone.production.js"
_STATIC = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css",
           "favicon.svg": "image/svg+xml"}


def charts_script() -> Path | None:
    """The lightweight-charts bundle: a copy inside the package (web/vendor/, for an installed wheel) or the
    repository's node_modules (a source checkout after `make setup`); None when neither exists."""
    inside = WEB_DIR / "vendor" / CHARTS_FILE
    if inside.is_file():
        return inside
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "node_modules" / "lightweight-charts" / "dist" / CHARTS_FILE
        if candidate.is_file():
            return candidate
        if (parent / "pyproject.toml").is_file():
            break
    return None


def mount_dashboard(app: FastAPI) -> None:
    """Add the dashboard's routes (`/`, `/ui/{file}`, `/ui/vendor/lightweight-charts.js`) to `app`."""
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", media_type="text/html",
                            headers={**headers, "Content-Security-Policy": _CSP, "Referrer-Policy": "no-referrer"})

    @app.get("/ui", include_in_schema=False)
    def ui_root() -> RedirectResponse:
        return RedirectResponse("/")

    @app.get("/ui/vendor/lightweight-charts.js", include_in_schema=False)
    def charts() -> Response:
        path = charts_script()
        if path is None:
            return JSONResponse({"error": {"code": "unavailable", "fields": [], "message":
                                           "lightweight-charts is not installed: run `npm ci` (or `make setup`) "
                                           "in the repository; the dashboard's charts need it"}},
                                status_code=503)
        return FileResponse(path, media_type="text/javascript", headers=headers)

    @app.get("/ui/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        media = _STATIC.get(name)
        if media is None:
            return JSONResponse({"error": {"code": "not_found", "fields": [],
                                           "message": f"no dashboard file {name!r}"}}, status_code=404)
        return FileResponse(WEB_DIR / name, media_type=media, headers=headers)


# Scripts only from this server (styles inline too: a run's HTML report carries its own); images may be blob: URLs
# (plots fetched with the token); frames show a run's HTML report from a blob: URL, sandboxed (no scripts).
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' blob: data:; connect-src 'self' ws: wss:; frame-src blob:; object-src 'none'; "
        "base-uri 'none'; form-action 'none'")
