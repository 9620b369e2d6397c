"""`market-sim desktop`: the web dashboard (GET / of the API application) in a native window.

The API server runs in-process on 127.0.0.1 on a free port (uvicorn on a thread) with a fresh admin token that is
never printed: the window adds it as the Authorization header of every request to that server (a Qt request
interceptor) and offers it to the page's scripts as `window.MARKET_SIM_TOKEN`. The window is PySide6's Qt WebEngine
(the `desktop` extra). `--screenshot PATH` saves the window once the page has loaded and painted;
`--exit-after-load` closes it then (for tests and CI, e.g. under Xvfb). A page that sets `window.marketSimReady =
false` is waited for until it sets it to true (the placeholder page does, after an authenticated request).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import typer

from market_sim.core.errors import ConfigError

__all__ = ["register", "LocalServer", "PLACEHOLDER"]

PLACEHOLDER = """<!doctype html><html><head><meta charset="utf-8"><title>market_sim</title><style>
body{font-family:system-ui,sans-serif;background:#0f1724;color:#e6edf3;margin:0;display:flex;align-items:center;
justify-content:center;height:100vh}main{max-width:36em;padding:2em;border:1px solid #30425a;border-radius:8px;
background:#16233a}h1{margin-top:0;color:#7cc4ff}a{color:#7cc4ff}code{background:#0b1220;padding:.1em .3em}
</style></head><body><main><h1>market_sim</h1><p>The API is running; the dashboard is not part of this build
yet.</p><p>OpenAPI: <a href="/docs">/docs</a> · <a href="/redoc">/redoc</a></p><p id="health">checking the
server…</p></main><script>window.marketSimReady=false;
fetch('/v1/sims').then(r=>r.ok?r.json():Promise.reject(r.status)).then(s=>{const t='server ok, '+s.length+
' simulations';document.getElementById('health').textContent=t;document.title='market_sim · '+t})
.catch(e=>{document.getElementById('health').textContent='server refused: '+e;document.title='market_sim · '+
'refused '+e}).finally(()=>{window.marketSimReady=true})</script></body></html>"""


class LocalServer:
    """The API application under uvicorn on a thread, on a free loopback port."""

    def __init__(self, application: Any) -> None:
        import uvicorn

        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(application, log_level="warning", access_log=False,
                                                    timeout_graceful_shutdown=2))
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  (not the main thread)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._sock]}, daemon=True,
                                        name="market-sim-desktop-server")

    def start(self, timeout: float = 30.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"the in-process API server did not start on {self.url}")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


def _has_display() -> bool:
    if sys.platform != "linux" or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _qt_environment() -> None:
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")  # Chromium's sandbox refuses to run as root
    flags = os.environ.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
    if "--log-level" not in flags:
        os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = (flags + " --log-level=3").strip()


def _window(url: str, token: str, *, width: int, height: int, screenshot: Path | None, exit_after_load: bool,
            timeout: float) -> tuple[int, str]:
    """Open the window; returns (exit code, message). Runs the Qt event loop on this (the main) thread."""
    from PySide6.QtCore import QTimer, QUrl
    from PySide6.QtWebEngineCore import (QWebEnginePage, QWebEngineProfile, QWebEngineScript,
                                         QWebEngineUrlRequestInterceptor)
    from PySide6.QtWebEngineWidgets import QWebEngineView
    from PySide6.QtWidgets import QApplication

    origin = QUrl(url)

    class Auth(QWebEngineUrlRequestInterceptor):
        def interceptRequest(self, info: Any) -> None:  # noqa: N802 (Qt's name)
            u = info.requestUrl()
            if u.host() == origin.host() and u.port() == origin.port():
                info.setHttpHeader(b"Authorization", f"Bearer {token}".encode())

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("market-sim")
    profile = QWebEngineProfile()  # off the record: no cookies or cache on disk
    interceptor = Auth()
    profile.setUrlRequestInterceptor(interceptor)
    script = QWebEngineScript()
    script.setName("market-sim-token")
    script.setInjectionPoint(QWebEngineScript.InjectionPoint.DocumentCreation)
    script.setWorldId(QWebEngineScript.ScriptWorldId.MainWorld)
    script.setSourceCode(f"window.MARKET_SIM_TOKEN = {token!r};")
    profile.scripts().insert(script)
    page = QWebEnginePage(profile)
    view = QWebEngineView()
    view.setPage(page)
    view.setWindowTitle("market_sim")
    view.resize(width, height)
    outcome: dict[str, Any] = {"code": 0, "message": ""}
    deadline = time.monotonic() + timeout
    interrupted = {"flag": False}

    def finish(code: int, message: str) -> None:
        outcome["code"], outcome["message"] = code, message
        if exit_after_load or code != 0:
            app.quit()

    # Ready: the page is loaded, its own `marketSimReady` flag (if it sets one) is true, and two animation frames
    # have run since then; then the window is grabbed until two grabs 100 ms apart agree (what Chromium painted
    # has reached the widget) and are not blank.
    ready_js = ("(() => { if (window.marketSimReady === false) return false;"
                " if (window.__marketSimFrames === undefined) { window.__marketSimFrames = 0;"
                " requestAnimationFrame(() => requestAnimationFrame(() => { window.__marketSimFrames = 2; }));"
                " return false; } return window.__marketSimFrames === 2; })()")
    grabs: list[Any] = []

    def poll() -> None:
        page.runJavaScript(ready_js, 0, on_ready)

    def on_ready(value: Any) -> None:
        if value is not True and time.monotonic() < deadline:
            QTimer.singleShot(50, poll)
            return
        grab_until_stable()

    def grab_until_stable() -> None:
        image = view.grab().toImage()
        grabs.append(image)
        stable = len(grabs) >= 2 and grabs[-1] == grabs[-2] and not _uniform(image)
        if not stable and time.monotonic() < deadline:
            QTimer.singleShot(100, grab_until_stable)
            return
        loaded = f"loaded {view.url().toString()} ({page.title()})"
        if screenshot is not None:
            if not image.save(str(screenshot)):
                finish(1, f"cannot write the screenshot {screenshot}")
                return
            loaded += f"; screenshot {screenshot} ({image.width()}x{image.height()})"
        finish(0, loaded)

    def on_load(ok: bool) -> None:
        if not ok:
            finish(1, f"the dashboard did not load from {url}")
            return
        if screenshot is not None or exit_after_load:
            poll()
        else:
            outcome["message"] = f"loaded {view.url().toString()} ({page.title()})"

    def on_timeout() -> None:
        if outcome["message"] == "" and (screenshot is not None or exit_after_load):
            finish(1, f"the dashboard did not load from {url} within {timeout:g} s")

    def on_sigint(*_: Any) -> None:
        interrupted["flag"] = True
        app.quit()

    page.loadFinished.connect(on_load)
    QTimer.singleShot(int(timeout * 1000) + 500, on_timeout)
    previous = signal.signal(signal.SIGINT, on_sigint)
    keepalive = QTimer()  # lets Python run its signal handlers while Qt's loop waits
    keepalive.timeout.connect(lambda: None)
    keepalive.start(200)
    view.load(QUrl(url + "/"))
    view.show()
    try:
        app.exec()
    finally:
        import shiboken6

        signal.signal(signal.SIGINT, previous)
        keepalive.stop()
        view.close()
        for obj in (view, page, profile):  # the page before its profile
            shiboken6.delete(obj)
    if interrupted["flag"]:
        raise KeyboardInterrupt
    return outcome["code"], outcome["message"]


def _uniform(image: Any) -> bool:
    """Every sampled pixel the same colour (nothing painted yet)."""
    w, h = image.width(), image.height()
    first = image.pixel(0, 0)
    step_x, step_y = max(1, w // 16), max(1, h // 16)
    return all(image.pixel(x, y) == first for x in range(0, w, step_x) for y in range(0, h, step_y))


def register(app: typer.Typer) -> None:
    @app.command("desktop")
    def desktop(
        out: Path = typer.Option(None, "--out", help="Runs folder (default $MARKET_SIM_RUNS or ./runs)."),
        width: int = typer.Option(1280, "--width", min=200, max=10_000, help="Window width (pixels)."),
        height: int = typer.Option(800, "--height", min=200, max=10_000, help="Window height (pixels)."),
        screenshot: Path = typer.Option(None, "--screenshot", help="Save the window as PNG once the dashboard "
                                                                   "has loaded and painted."),
        exit_after_load: bool = typer.Option(False, "--exit-after-load",
                                             help="Close once the dashboard has loaded (after --screenshot)."),
        timeout: float = typer.Option(60.0, "--timeout", min=1.0, help="Seconds to wait for the page to load."),
    ) -> None:
        """Open the dashboard in a native window, with the API server in-process on 127.0.0.1 (a free port)."""
        from market_sim.cli.main import check_output_file

        if screenshot is not None:
            check_output_file(screenshot)
        try:
            import uvicorn  # noqa: F401

            from market_sim.api.app import create_app
        except ImportError as exc:
            raise ConfigError(f"the desktop app needs the api extra (pip install 'market-sim[api]'): {exc}") from None
        try:
            import PySide6.QtWebEngineWidgets  # noqa: F401
        except ImportError as exc:
            raise ConfigError(f"the desktop app needs the desktop extra (pip install 'market-sim[desktop]'): "
                              f"{exc}") from None
        if not _has_display():
            raise ConfigError("no display: set DISPLAY (or WAYLAND_DISPLAY), or run under xvfb-run")
        from market_sim.api.auth import TokenStore, new_token

        token = new_token()
        application = create_app(TokenStore([(token, "admin", None)]), runs_dir=out)
        if not any(getattr(r, "path", None) == "/" for r in application.routes):
            from fastapi.responses import HTMLResponse

            application.add_api_route("/", lambda: HTMLResponse(PLACEHOLDER), include_in_schema=False)
        _qt_environment()
        server = LocalServer(application)
        server.start()
        try:
            code, message = _window(server.url, token, width=width, height=height, screenshot=screenshot,
                                    exit_after_load=exit_after_load, timeout=timeout)
        finally:
            application.state.sims.shutdown()
            server.stop()
        if code != 0:
            raise ConfigError(message)
        if message:
            typer.echo(message)
