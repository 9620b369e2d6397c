"""Chain.connect error paths against unreachable URLs and a fake JSON-RPC node (no anvil needed)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from market_sim.blockchain import Chain
from market_sim.core.errors import ChainError, ConfigError, RpcConnectionError

FUNDED = "0x00000000000000000000000000000000000000aa"


def serve(answers: dict[str, object] | None) -> tuple[ThreadingHTTPServer, str]:
    """A JSON-RPC server answering methods from `answers` (None: answer every request with an HTML 404)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if answers is None:
                body, status, kind = b"<html>not found</html>", 404, "text/html"
            else:
                method = request["method"]
                if method in answers:
                    reply = {"jsonrpc": "2.0", "id": request["id"], "result": answers[method]}
                else:
                    reply = {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32601, "message": "no"}}
                body, status, kind = json.dumps(reply).encode(), 200, "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture()
def fake_node() -> Iterator:
    servers = []

    def start(answers):
        server, url = serve(answers)
        servers.append(server)
        return url

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_unreachable_url_is_named():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(RpcConnectionError, match=f"cannot reach an Ethereum JSON-RPC node at {url}: .*refused"):
        Chain.connect(url, timeout=2)


@pytest.mark.parametrize("url", ["127.0.0.1:8545", "ftp://host:1", "http://"])
def test_malformed_url(url):
    with pytest.raises(RpcConnectionError, match="is not an http"):
        Chain.connect(url)


def test_not_an_ethereum_node(fake_node):
    url = fake_node(None)
    with pytest.raises(RpcConnectionError, match=f"cannot reach an Ethereum JSON-RPC node at {url}: 404 Client Error"):
        Chain.connect(url)


def test_no_unlocked_accounts(fake_node):
    url = fake_node({"eth_chainId": "0x7a69", "eth_accounts": []})
    with pytest.raises(ChainError, match=r"no unlocked accounts.*--key-env"):
        Chain.connect(url)


def test_unlocked_account_without_eth(fake_node):
    url = fake_node({"eth_chainId": "0x7a69", "eth_accounts": [FUNDED], "eth_getBalance": "0x0"})
    with pytest.raises(ChainError, match=r"has no ETH .*chain id 31337"):
        Chain.connect(url)


def test_unlocked_accounts_are_named(fake_node):
    url = fake_node({"eth_chainId": "0x7a69", "eth_accounts": [FUNDED], "eth_getBalance": "0x1"})
    chain = Chain.connect(url, network="fake")
    assert chain.chain_id == 31337 and chain.network == "fake" and not chain.is_local
    assert chain.accounts == {"deployer": "0x00000000000000000000000000000000000000AA"}


def test_key_env_missing_invalid_and_unfunded(fake_node, monkeypatch):
    url = fake_node({"eth_chainId": "0x1", "eth_getBalance": "0x0"})
    monkeypatch.delenv("MS_TEST_KEY", raising=False)
    with pytest.raises(ConfigError, match="MS_TEST_KEY .* is not set"):
        Chain.connect(url, private_key_env="MS_TEST_KEY")
    monkeypatch.setenv("MS_TEST_KEY", "0xnot-a-key-1234")
    with pytest.raises(ConfigError, match="does not hold a valid private key") as info:
        Chain.connect(url, private_key_env="MS_TEST_KEY")
    assert "not-a-key" not in str(info.value)
    monkeypatch.setenv("MS_TEST_KEY", "0x" + "11" * 32)
    with pytest.raises(ChainError, match="has no ETH"):
        Chain.connect(url, private_key_env="MS_TEST_KEY")
