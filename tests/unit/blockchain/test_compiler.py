"""Compiler: pinned settings, cache by source hash, shipped artifacts current, errors with file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from market_sim.blockchain import compiler
from market_sim.blockchain.artifacts import SHIPPED_DIR, read_artifact_set
from market_sim.blockchain.compiler import (
    SETTINGS,
    SOLC_VERSION,
    cache_dir,
    compile_artifact_set,
    compile_contracts,
    load_artifacts,
    project_root,
    source_hash,
)
from market_sim.core.errors import CompilationError

from .conftest import BOX_SOL, make_project


@pytest.fixture()
def solc_runs(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Counts real compiler runs (each entry: the project root compiled)."""
    runs: list[Path] = []
    real = compiler._run_solc

    def counting(root, standard_input):
        runs.append(root)
        return real(root, standard_input)

    monkeypatch.setattr(compiler, "_run_solc", counting)
    return runs


def test_settings_are_pinned():
    assert SOLC_VERSION == "0.8.28"
    assert SETTINGS["optimizer"] == {"enabled": True, "runs": 200}
    assert SETTINGS["evmVersion"] == "cancun"


def test_box_artifact_fields(box_set, box_project):
    box = box_set.artifacts["Box"]
    assert box.source == "contracts/Box.sol"
    assert box.compiler.startswith("0.8.28+commit.")
    assert box.settings["evmVersion"] == "cancun"
    assert box.source_hash == source_hash(box_project)
    assert {i["name"] for i in box.abi if i["type"] == "error"} == {"TooBig"}
    assert box.bytecode and box.deployed_bytecode and box.deployable
    assert len(box.immutable_ranges) >= 1  # `cap` is immutable: its slots are masked in code hashes


def test_cache_hit_never_recompiles(tmp_path, solc_runs):
    root = make_project(tmp_path, {"Box.sol": BOX_SOL})
    first = compile_contracts(root)
    assert solc_runs == [root.resolve()]
    assert compile_contracts(root) == first  # in-process memo
    compiler._memo.clear()
    assert compile_contracts(root) == first  # on-disk cache keyed by the source hash
    assert len(solc_runs) == 1
    cached = root / ".cache" / "market_sim" / "artifacts" / f"{source_hash(root)}.json"
    assert cached.is_file()


def test_cache_miss_on_source_change(tmp_path, solc_runs):
    root = make_project(tmp_path, {"Box.sol": BOX_SOL})
    before = compile_artifact_set(root)
    changed = BOX_SOL.replace("uint256 public value;", "uint256 public value;\n    uint256 public extra;")
    (root / "contracts" / "Box.sol").write_text(changed)
    after = compile_artifact_set(root)
    assert after.source_hash != before.source_hash
    assert any(i.get("name") == "extra" for i in after.artifacts["Box"].abi)
    assert len(solc_runs) == 2


def test_source_hash_covers_settings_and_dependencies(tmp_path):
    root = make_project(tmp_path, {"Box.sol": BOX_SOL})
    base = source_hash(root)
    assert source_hash(root, {**SETTINGS, "evmVersion": "shanghai"}) != base
    lock = json.loads((root / "package-lock.json").read_text())
    lock["packages"]["node_modules/@openzeppelin/contracts"]["version"] = "5.0.0"
    (root / "package-lock.json").write_text(json.dumps(lock))
    assert source_hash(root) != base


def test_compile_error_names_file_and_line(tmp_path):
    bad = "// SPDX-License-Identifier: MIT\npragma solidity 0.8.28;\n\ncontract Bad {\n    uint256 x = ;\n}\n"
    root = make_project(tmp_path, {"sub/Bad.sol": bad})
    with pytest.raises(CompilationError) as info:
        compile_contracts(root)
    assert "contracts/sub/Bad.sol:5:" in str(info.value)
    assert "Expected" in str(info.value)  # solc's own message is kept
    assert not (root / ".cache" / "market_sim" / "artifacts").exists()


def test_unresolvable_import_is_reported(tmp_path):
    src = 'pragma solidity 0.8.28;\nimport "./Missing.sol";\ncontract A {}\n'
    root = make_project(tmp_path, {"A.sol": src})
    with pytest.raises(CompilationError, match=r"contracts/A.sol: cannot resolve import './Missing.sol'"):
        compile_contracts(root)


def test_missing_node_modules_says_npm_ci(tmp_path, monkeypatch):
    root = make_project(tmp_path, {"Box.sol": BOX_SOL})
    (root / "node_modules").unlink()
    monkeypatch.setattr("solcx.get_installed_solc_versions", lambda: [])
    with pytest.raises(CompilationError, match="npm ci"):
        compile_contracts(root)


def test_duplicate_contract_names_rejected(tmp_path):
    one = "pragma solidity 0.8.28;\ncontract Same {}\n"
    root = make_project(tmp_path, {"a/One.sol": one, "b/Two.sol": one})
    with pytest.raises(CompilationError, match="'Same' is defined in both"):
        compile_contracts(root)


def test_shipped_artifacts_are_current():
    """Recompile from source (no cache) and compare with the package's copy; on failure run `market-sim compile`."""
    shipped = read_artifact_set(SHIPPED_DIR)
    assert shipped is not None, "no shipped artifacts: run `market-sim compile`"
    root = project_root()
    # An earlier real solc run over this exact tree (the compile cache) is as good as a new one; CI has no cache.
    fresh = read_artifact_set(cache_dir(root) / source_hash(root)) or compile_artifact_set(root, force=True)
    stale = "shipped artifacts are stale: run `market-sim compile` (or python scripts/compile.py)"
    assert shipped.source_hash == fresh.source_hash, stale
    assert sorted(shipped.artifacts) == sorted(fresh.artifacts), stale
    for name, artifact in fresh.artifacts.items():
        assert shipped.artifacts[name].bytecode == artifact.bytecode, f"{name}: {stale}"
        assert shipped.artifacts[name].abi == artifact.abi, f"{name}: {stale}"
    assert "TestToken" in shipped.artifacts


def test_shipped_artifacts_load_without_node(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    artifacts = load_artifacts(tmp_path)  # no contracts/ here: the package's shipped set is used
    assert artifacts["TestToken"].bytecode == read_artifact_set(SHIPPED_DIR).artifacts["TestToken"].bytecode
