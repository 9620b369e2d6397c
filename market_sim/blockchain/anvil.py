"""Start and stop a local anvil node (node_modules/.bin/anvil) on a free port, for tests and benchmarks."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from market_sim.blockchain.compiler import project_root
from market_sim.core.errors import ChainError

__all__ = ["anvil_binary", "start_anvil", "stop_anvil", "running_anvil"]


def anvil_binary(root: Path | None = None) -> Path:
    """Path of the anvil binary npm installs (it may not exist)."""
    return (root or project_root()) / "node_modules" / ".bin" / "anvil"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=1) as response:
            return "result" in json.loads(response.read())
    except (OSError, ValueError):
        return False


def start_anvil(chain_id: int = 31337, *, timeout: float = 20.0, port: int | None = None,
                extra_args: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    """Start anvil on 127.0.0.1 on a free port (or `port`) and wait until it answers JSON-RPC; returns (process, url).
    `extra_args` go to anvil as they are (e.g. ("--state", path) to keep its chain across a restart)."""
    binary = anvil_binary()
    if not binary.exists():
        raise ChainError(f"anvil is not installed at {binary}: run `npm ci`")
    port = _free_port() if port is None else port
    proc = subprocess.Popen(
        [str(binary), "--host", "127.0.0.1", "--port", str(port), "--chain-id", str(chain_id), "--quiet",
         *extra_args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while not _answers(url):
        if proc.poll() is not None:
            raise ChainError(f"anvil exited with code {proc.returncode}: {proc.stderr.read().decode()[-500:]}")
        if time.monotonic() > deadline:
            stop_anvil(proc)
            raise ChainError(f"anvil did not answer on {url} within {timeout} s")
        time.sleep(0.05)
    return proc, url


def stop_anvil(proc: subprocess.Popen) -> None:
    """Terminate an anvil started by start_anvil (kill it if it does not exit promptly)."""
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()


@contextmanager
def running_anvil(chain_id: int = 31337) -> Iterator[str]:
    """Context manager yielding the URL of a fresh anvil that is stopped on exit."""
    proc, url = start_anvil(chain_id)
    try:
        yield url
    finally:
        stop_anvil(proc)
