"""`market-sim deploy` / `market-sim compile`: tables on success, one-paragraph errors with exit 1 otherwise."""

from __future__ import annotations

import socket

import pytest

from market_sim.cli.main import main


@pytest.fixture(autouse=True)
def records_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("MARKET_SIM_DEPLOYMENTS_DIR", str(tmp_path))
    monkeypatch.delenv("MARKET_SIM_PRIVATE_KEY", raising=False)
    return tmp_path


def test_deploy_local_prints_table(capsys, records_in_tmp):
    assert main(["deploy", "--network", "local"]) == 0
    out = capsys.readouterr().out
    assert "local (chain id 1337)" in out
    for name in ("BaseToken", "QuoteToken", "TestToken", "0xF2E246BB76DF876Cef8b38ae84130F4F55De395b", "total"):
        assert name in out
    assert "no record written" in out
    assert list(records_in_tmp.iterdir()) == []


def test_deploy_local_write(capsys, records_in_tmp):
    assert main(["deploy", "--network", "local", "--write"]) == 0
    assert (records_in_tmp / "local.json").is_file()


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["deploy", "--network", "nowhere"], "unknown network"),
        (["deploy", "--rpc", "DEAD"], "cannot reach an Ethereum JSON-RPC node at http://127.0.0.1:"),
        (["deploy", "--rpc", "not-a-url"], "is not an http(s) URL"),
        (["deploy", "--rpc", "DEAD", "--key-env", "MS_UNSET_VAR"], "cannot reach"),
    ],
)
def test_deploy_errors_are_one_paragraph(capsys, records_in_tmp, argv, expected):
    argv = [_dead_url() if a == "DEAD" else a for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert expected in " ".join(err.split())
    assert "Traceback" not in err
    assert list(records_in_tmp.iterdir()) == []


def test_compile_check_reports_current_artifacts(capsys):
    assert main(["compile", "--check"]) == 0  # --check never writes the shipped artifacts
    out = capsys.readouterr().out
    assert "TestToken" in out and "contracts/test/TestToken.sol" in out


def test_compile_error_is_one_paragraph(capsys, tmp_path, monkeypatch):
    from .conftest import make_project

    bad = "pragma solidity 0.8.28;\ncontract Bad {\n    function f() external { undefined_thing(); }\n}\n"
    root = make_project(tmp_path / "proj", {"Bad.sol": bad})
    monkeypatch.setenv("MARKET_SIM_ROOT", str(root))
    assert main(["compile", "--check"]) == 1
    err = capsys.readouterr().err
    assert "contracts/Bad.sol:3:" in err and "Undeclared identifier" in err
    assert "Traceback" not in err
