"""`market-sim desktop` under Xvfb: the window opens, loads the dashboard from the in-process server (the page's
authenticated request succeeds, so the token reached it), and a screenshot of the window is saved."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

WORKTREE = Path(__file__).resolve().parents[3]
MARKET_SIM = shutil.which("market-sim", path=str(Path(sys.executable).parent))
XVFB = shutil.which("Xvfb")


def _webengine() -> str | None:
    try:
        import PySide6.QtWebEngineWidgets  # noqa: F401
    except ImportError as exc:
        return f"PySide6 Qt WebEngine is not installed (the desktop extra): {exc}"
    return None


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(WORKTREE)
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def display():
    """An Xvfb server; its display number comes back on -displayfd once it accepts clients (no sleeping)."""
    if MARKET_SIM is None:
        pytest.skip("the market-sim console script is not installed")
    reason = _webengine()
    if reason:
        pytest.skip(reason)
    if XVFB is None:
        pytest.skip("no Xvfb (apt-get install xvfb): the window needs a display")
    read, write = os.pipe()
    proc = subprocess.Popen([XVFB, "-displayfd", str(write), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.close(write)
    with os.fdopen(read) as f:
        number = f.readline().strip()
    if not number:
        proc.kill()
        pytest.skip(f"Xvfb did not start: {proc.communicate()[1].decode(errors='replace')[-300:]}")
    yield f":{number}"
    proc.terminate()
    proc.wait(timeout=30)


@pytest.mark.slow
def test_the_window_loads_the_dashboard_and_saves_a_screenshot(display, tmp_path):
    from PySide6.QtGui import QImage

    shot = tmp_path / "desktop.png"
    proc = subprocess.run([MARKET_SIM, "desktop", "--screenshot", str(shot), "--exit-after-load", "--width", "1024",
                           "--height", "700", "--out", str(tmp_path / "runs")], capture_output=True, text=True,
                          env=_env(DISPLAY=display), timeout=180, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("loaded http://127.0.0.1:"), proc.stdout
    # the placeholder page's /v1/sims request carried the window's token (the title says what it got)
    assert "(market_sim · server ok, 0 simulations)" in lines[0]
    assert lines[0].endswith(f"; screenshot {shot} (1024x700)")
    image = QImage(str(shot))
    assert (image.width(), image.height()) == (1024, 700)
    colours = {image.pixel(x, y) for x in range(0, 1024, 16) for y in range(0, 700, 16)}
    assert len(colours) > 2  # painted: a page, not a blank window
    assert "Traceback" not in proc.stderr


def test_no_display_is_a_one_line_error(tmp_path):
    if MARKET_SIM is None:
        pytest.skip("the market-sim console script is not installed")
    reason = _webengine()
    if reason:
        pytest.skip(reason)
    env = _env()
    for key in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        env.pop(key, None)
    proc = subprocess.run([MARKET_SIM, "desktop", "--exit-after-load"], capture_output=True, text=True, env=env,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == "error: no display: set DISPLAY (or WAYLAND_DISPLAY), or run under xvfb-run\n"


def test_a_screenshot_path_that_cannot_be_written_is_refused_first(tmp_path):
    if MARKET_SIM is None:
        pytest.skip("the market-sim console script is not installed")
    proc = subprocess.run([MARKET_SIM, "desktop", "--screenshot", str(tmp_path / "no" / "x.png")],
                          capture_output=True, text=True, env=_env(), timeout=120, cwd=tmp_path)
    assert proc.returncode == 1 and "is not a folder" in proc.stderr and proc.stderr.count("\n") == 1
