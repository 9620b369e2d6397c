"""Deploy the stack to a real anvil node over HTTP with scripts/deploy.py; re-run, --force, key from env, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from market_sim.blockchain import Chain
from market_sim.blockchain.compiler import load_artifact
from market_sim.core.errors import ContractRevertError

ROOT = Path(__file__).resolve().parents[2]
# anvil's well-known dev account #1 (funded) and a key nobody funded.
ANVIL_KEY_1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
ANVIL_ADDR_1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
UNFUNDED_KEY = "0x" + "42" * 32

pytestmark = pytest.mark.anvil


def deploy_script(records: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "MARKET_SIM_PRIVATE_KEY"}
    environ.update({"MARKET_SIM_DEPLOYMENTS_DIR": str(records), **(env or {})})
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "deploy.py"), *args],
                          capture_output=True, text=True, env=environ, timeout=120)


def test_deploy_script_over_http(anvil, tmp_path):
    first = deploy_script(tmp_path, "--rpc", anvil, "--network", "anvil-it")
    assert first.returncode == 0, first.stderr
    assert "anvil-it (chain id 31337)" in first.stdout and "BaseToken" in first.stdout
    record = json.loads((tmp_path / "anvil-it.json").read_text())
    assert record["chainId"] == 31337 and record["live"] is True
    assert set(record["contracts"]) == {"BaseToken", "QuoteToken", "Factory", "WETH9", "Router", "Bridge",
                                           "Settlement"}

    chain = Chain.connect(anvil)
    for entry in record["contracts"].values():
        artifact = load_artifact(entry["contract"])
        assert artifact.code_hash(chain.code(entry["address"])) == artifact.runtime_code_hash
        receipt = chain.w3.eth.get_transaction_receipt(entry["txHash"])
        assert (receipt["blockNumber"], receipt["gasUsed"]) == (entry["block"], entry["gasUsed"])
    assert record["deployer"] == chain.account("deployer")

    again = deploy_script(tmp_path, "--rpc", anvil, "--network", "anvil-it")
    assert again.returncode == 0 and "reused recorded deployment" in again.stdout
    assert json.loads((tmp_path / "anvil-it.json").read_text()) == record

    forced = deploy_script(tmp_path, "--rpc", anvil, "--network", "anvil-it", "--force")
    assert forced.returncode == 0, forced.stderr
    new = json.loads((tmp_path / "anvil-it.json").read_text())
    assert new["contracts"]["BaseToken"]["address"] != record["contracts"]["BaseToken"]["address"]


def test_deploy_with_key_from_env(anvil, tmp_path):
    result = deploy_script(tmp_path, "--rpc", anvil, "--key-env", "MS_DEPLOY_KEY", env={"MS_DEPLOY_KEY": ANVIL_KEY_1})
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "chain-31337.json").read_text())
    assert record["deployer"] == ANVIL_ADDR_1
    assert ANVIL_KEY_1[2:] not in result.stdout + result.stderr


def test_unfunded_key_is_a_clear_error(anvil, tmp_path):
    result = deploy_script(tmp_path, "--rpc", anvil, "--key-env", "MS_DEPLOY_KEY", env={"MS_DEPLOY_KEY": UNFUNDED_KEY})
    assert result.returncode == 1
    assert "has no ETH" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_chain_over_rpc_reverts_snapshots_time(anvil):
    chain = Chain.connect(anvil)
    snap = chain.snapshot()
    token = chain.deploy("TestToken", "A", "A", 18)
    with pytest.raises(ContractRevertError) as info:
        chain.transact(token.functions.mint(chain.account("bob"), 1), sender="bob")
    assert (info.value.error_name, info.value.args_decoded) == ("OwnableUnauthorizedAccount", (chain.account("bob"),))
    with pytest.raises(ContractRevertError) as info:
        chain.transact(token.functions.burn(3), sender="alice", gas=100_000)  # mined, then decoded by replay
    assert info.value.args_decoded == (chain.account("alice"), 0, 3)
    target = chain.timestamp + 3_600
    chain.time_travel(target)
    assert chain.timestamp == target
    chain.revert(snap)
    assert chain.code(token.address) == b""


def test_expected_chain_id_is_checked(anvil):
    from market_sim.blockchain.deploy import open_chain
    from market_sim.core.errors import ConfigError

    assert open_chain(rpc=anvil, chain_id=31337).chain_id == 31337
    with pytest.raises(ConfigError, match="is chain id 31337"):
        open_chain(rpc=anvil, chain_id=1)
