"""Compiled contract artifacts and their on-disk sets (the shipped package copy and the compile cache)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import keccak

__all__ = ["Artifact", "ArtifactSet", "SHIPPED_DIR", "read_artifact_set", "write_artifact_set", "atomic_write_text"]

SHIPPED_DIR = Path(__file__).resolve().parent / "artifacts"
INDEX = "index.json"


@dataclass(frozen=True, slots=True)
class Artifact:
    """One compiled contract: ABI, creation and runtime bytecode (hex, no 0x), and how it was built."""

    name: str
    source: str
    abi: tuple[dict[str, Any], ...]
    bytecode: str
    deployed_bytecode: str
    immutable_ranges: tuple[tuple[int, int], ...]
    compiler: str
    settings: dict[str, Any] = field(compare=False)
    source_hash: str

    @property
    def deployable(self) -> bool:
        """True for contracts with creation code (not interfaces or abstract contracts)."""
        return bool(self.bytecode)

    @property
    def artifact_hash(self) -> str:
        """keccak of the ABI and creation bytecode: identifies exactly what a deployment used."""
        payload = json.dumps([list(self.abi), self.bytecode], sort_keys=True).encode()
        return "0x" + keccak(payload).hex()

    @property
    def runtime_code_hash(self) -> str:
        """keccak of the runtime bytecode with immutable slots zeroed (comparable with code read from a chain)."""
        return self.code_hash(bytes.fromhex(self.deployed_bytecode))

    def code_hash(self, code: bytes) -> str:
        """keccak of runtime `code` with this contract's immutable slots zeroed."""
        masked = bytearray(code)
        for start, length in self.immutable_ranges:
            masked[start : start + length] = bytes(length)
        return "0x" + keccak(bytes(masked)).hex()

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (the artifact file format)."""
        return {
            "contractName": self.name,
            "sourceName": self.source,
            "abi": list(self.abi),
            "bytecode": self.bytecode,
            "deployedBytecode": self.deployed_bytecode,
            "immutableRanges": [list(r) for r in self.immutable_ranges],
            "compiler": self.compiler,
            "settings": self.settings,
            "sourceHash": self.source_hash,
            "artifactHash": self.artifact_hash,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Artifact:
        """Inverse of to_json."""
        return cls(
            name=data["contractName"],
            source=data["sourceName"],
            abi=tuple(data["abi"]),
            bytecode=data["bytecode"],
            deployed_bytecode=data["deployedBytecode"],
            immutable_ranges=tuple((int(s), int(n)) for s, n in data.get("immutableRanges", [])),
            compiler=data["compiler"],
            settings=data["settings"],
            source_hash=data["sourceHash"],
        )


@dataclass(frozen=True, slots=True)
class ArtifactSet:
    """All artifacts compiled from one source tree, plus every error ABI seen in it (libraries included)."""

    source_hash: str
    artifacts: dict[str, Artifact]
    errors: tuple[dict[str, Any], ...] = ()


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file via a temp file in the same directory and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; these files are shared, readable artifacts
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _dumps(data: Any) -> str:
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def read_artifact_set(path: Path) -> ArtifactSet | None:
    """Read a cached set (one JSON file) or the shipped set (a directory with index.json); None if absent."""
    try:
        if path.is_dir():
            index = json.loads((path / INDEX).read_text())
            artifacts = {
                name: Artifact.from_json(json.loads((path / f"{name}.json").read_text())) for name in index["contracts"]
            }
        else:
            index = json.loads(path.with_suffix(".json").read_text())
            artifacts = {a["contractName"]: Artifact.from_json(a) for a in index["artifacts"]}
    except (OSError, ValueError, KeyError):
        return None
    return ArtifactSet(index["sourceHash"], artifacts, tuple(index.get("errors", ())))


def write_artifact_set(path: Path, aset: ArtifactSet) -> None:
    """Write a set: a directory path gets one file per contract + index.json (written last); else one JSON file."""
    index = {"sourceHash": aset.source_hash, "contracts": sorted(aset.artifacts), "errors": list(aset.errors)}
    if path.is_dir():
        for stale in path.glob("*.json"):
            if stale.stem not in aset.artifacts and stale.name != INDEX:
                stale.unlink()
        for name, artifact in aset.artifacts.items():
            atomic_write_text(path / f"{name}.json", _dumps(artifact.to_json()))
        atomic_write_text(path / INDEX, _dumps(index))
    else:
        index["artifacts"] = [aset.artifacts[n].to_json() for n in sorted(aset.artifacts)]
        atomic_write_text(path.with_suffix(".json"), _dumps(index))
