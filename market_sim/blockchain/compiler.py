"""Solidity compiler front end: compiles contracts/ with pinned solc settings and caches artifacts by source hash."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from market_sim.blockchain.artifacts import SHIPPED_DIR, Artifact, ArtifactSet, read_artifact_set, write_artifact_set
from market_sim.core.errors import CompilationError

__all__ = [
    "SOLC_VERSION",
    "SETTINGS",
    "project_root",
    "contract_sources",
    "source_hash",
    "compile_artifact_set",
    "compile_contracts",
    "current_artifact_set",
    "load_artifacts",
    "shipped_is_current",
    "load_artifact",
    "refresh_shipped_artifacts",
    "solc_binary",
    "cache_dir",
]

SOLC_VERSION = "0.8.28"
# evmVersion cancun: eth-tester's default VM is Prague (a superset), anvil defaults to a newer fork too.
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "outputSelection": {
        "*": {
            "*": [
                "abi",
                "evm.bytecode.object",
                "evm.bytecode.linkReferences",
                "evm.deployedBytecode.object",
                "evm.deployedBytecode.immutableReferences",
            ]
        }
    },
}
SHIM = Path(__file__).resolve().parent / "solcjs" / "solc"
_IMPORT = re.compile(r"""^\s*import\s+(?:[^;"']*?\s+from\s+)?["']([^"']+)["'][^;]*;""", re.MULTILINE)
_memo: dict[tuple[str, str], ArtifactSet] = {}


def project_root() -> Path:
    """The project checkout (holding contracts/, node_modules/); MARKET_SIM_ROOT overrides it."""
    env = os.environ.get("MARKET_SIM_ROOT")
    return Path(env).resolve() if env else Path(__file__).resolve().parents[2]


def contract_sources(root: Path) -> dict[str, str]:
    """Every .sol file under root/contracts, keyed by its path relative to root (sorted)."""
    files = sorted((root / "contracts").rglob("*.sol"))
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in files}


def _dependency_versions(root: Path) -> dict[str, str]:
    # Imported library code is pinned by package-lock.json; its versions stand in for its sources in the hash.
    lock = root / "package-lock.json"
    if not lock.is_file():
        return {}
    packages = json.loads(lock.read_text()).get("packages", {})
    return {k: v.get("version", "") for k, v in sorted(packages.items()) if k.startswith("node_modules/@openzeppelin/")}


def source_hash(root: Path | None = None, settings: dict[str, Any] | None = None) -> str:
    """Hash of all project sources, library versions, compiler version and settings: the cache key."""
    root = root or project_root()
    payload = {
        "solc": SOLC_VERSION,
        "settings": settings or SETTINGS,
        "sources": contract_sources(root),
        "dependencies": _dependency_versions(root),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def solc_binary(root: Path) -> Path:
    """A native solc that py-solc-x has installed for SOLC_VERSION, else the solc-js shim (needs Node + npm ci)."""
    import solcx
    from packaging.version import Version

    try:
        if Version(SOLC_VERSION) in solcx.get_installed_solc_versions():
            return Path(solcx.get_executable(SOLC_VERSION))
    except Exception:  # noqa: BLE001 - a broken solcx install just means "no native solc"
        pass
    if shutil.which("node") is None:
        raise CompilationError(
            f"compiling the contracts needs solc {SOLC_VERSION}: install Node.js >= 20 and run `npm ci` in {root} "
            "(or install a native solc with py-solc-x)"
        )
    if not (root / "node_modules" / "solc" / "package.json").is_file():
        raise CompilationError(
            f"compiling the contracts needs solc-js from node_modules, which is missing: run `npm ci` in {root}"
        )
    if not os.access(SHIM, os.X_OK):
        SHIM.chmod(0o755)
    return SHIM


def _resolve_import(importer: str, target: str) -> str:
    if target.startswith("."):
        return os.path.normpath(os.path.join(os.path.dirname(importer), target)).replace(os.sep, "/")
    return target


def _read_import(root: Path, path: str) -> str | None:
    for candidate in (root / path, root / "node_modules" / path):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    return None


def _standard_input(root: Path, settings: dict[str, Any]) -> dict[str, Any]:
    # Every imported file goes into the input by content, so native solc and solc-js see identical input
    # (identical bytecode and metadata) and no compiler needs file-system access.
    sources = contract_sources(root)
    if not sources:
        raise CompilationError(f"no Solidity sources found under {root / 'contracts'}")
    pending = list(sources)
    while pending:
        importer = pending.pop()
        for target in _IMPORT.findall(sources[importer]):
            path = _resolve_import(importer, target)
            if path in sources:
                continue
            text = _read_import(root, path)
            if text is None:
                hint = " (run `npm ci`)" if not (root / "node_modules").is_dir() else ""
                raise CompilationError(f"{importer}: cannot resolve import {target!r}{hint}")
            sources[path] = text
            pending.append(path)
    return {
        "language": "Solidity",
        "sources": {k: {"content": v} for k, v in sorted(sources.items())},
        "settings": settings,
    }


@functools.lru_cache(maxsize=4)
def _solc_version(binary: Path) -> str:
    # Each `--version` of the solc-js shim loads the compiler (~0.4 s): ask once per process.
    import solcx

    return str(solcx.wrapper.get_solc_version(binary, with_commit_hash=True))


def _run_solc(root: Path, standard_input: dict[str, Any]) -> tuple[dict[str, Any], str]:
    import solcx
    from solcx.exceptions import SolcError

    binary = solc_binary(root)
    try:
        version = _solc_version(binary)
        output = solcx.compile_standard(standard_input, base_path=str(root), solc_binary=binary)
    except SolcError as exc:
        raise CompilationError(f"solc {SOLC_VERSION} failed:\n{exc.message.strip()}") from None
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        raise CompilationError(f"could not run solc ({binary}): {exc}") from None
    if not version.startswith(SOLC_VERSION + "+"):
        raise CompilationError(f"solc {binary} is version {version}, but the project pins {SOLC_VERSION}")
    return output, version


def _artifacts_from_output(
    output: dict[str, Any], project_files: set[str], version: str, settings: dict[str, Any], digest: str
) -> dict[str, Artifact]:
    artifacts: dict[str, Artifact] = {}
    for source, contracts in output.get("contracts", {}).items():
        if source not in project_files:
            continue
        for name, out in contracts.items():
            if name in artifacts:
                raise CompilationError(
                    f"contract name {name!r} is defined in both {artifacts[name].source} and {source}; "
                    "names must be unique"
                )
            evm = out.get("evm", {})
            if evm.get("bytecode", {}).get("linkReferences"):
                raise CompilationError(f"{source}:{name} needs linked libraries, which deploy does not support")
            refs = evm.get("deployedBytecode", {}).get("immutableReferences", {})
            artifacts[name] = Artifact(
                name=name,
                source=source,
                abi=tuple(out.get("abi", [])),
                bytecode=evm.get("bytecode", {}).get("object", ""),
                deployed_bytecode=evm.get("deployedBytecode", {}).get("object", ""),
                immutable_ranges=tuple(sorted((r["start"], r["length"]) for v in refs.values() for r in v)),
                compiler=version,
                settings=settings,
                source_hash=digest,
            )
    return artifacts


def _library_errors(output: dict[str, Any]) -> list[dict[str, Any]]:
    # Errors declared anywhere in the compiled tree (OpenZeppelin included) feed the revert decoder.
    seen: dict[str, dict[str, Any]] = {}
    for contracts in output.get("contracts", {}).values():
        for out in contracts.values():
            for item in out.get("abi", []):
                if item.get("type") == "error":
                    key = item["name"] + json.dumps(item.get("inputs", []), sort_keys=True)
                    seen.setdefault(key, item)
    return [seen[k] for k in sorted(seen)]


def cache_dir(root: Path) -> Path:
    """Where compiled artifact sets are cached, one file per source hash (MARKET_SIM_CACHE_DIR overrides)."""
    env = os.environ.get("MARKET_SIM_CACHE_DIR")
    return Path(env) if env else root / ".cache" / "market_sim" / "artifacts"


def compile_artifact_set(
    root: Path | None = None, *, force: bool = False, settings: dict[str, Any] | None = None
) -> ArtifactSet:
    """The artifact set of root/contracts, compiled only when no cached or shipped set has this source hash."""
    root = (root or project_root()).resolve()
    settings = settings or SETTINGS
    digest = source_hash(root, settings)
    key = (str(root), digest)
    if not force:
        if key in _memo:
            return _memo[key]
        for candidate in (cache_dir(root) / digest, SHIPPED_DIR):
            found = read_artifact_set(candidate)
            if found is not None and found.source_hash == digest:
                _memo[key] = found
                return found
    standard_input = _standard_input(root, settings)
    output, version = _run_solc(root, standard_input)
    project_files = set(contract_sources(root))
    aset = ArtifactSet(
        digest,
        _artifacts_from_output(output, project_files, version, settings, digest),
        tuple(_library_errors(output)),
    )
    write_artifact_set(cache_dir(root) / digest, aset)
    _memo[key] = aset
    return aset


def compile_contracts(
    root: Path | None = None, *, force: bool = False, settings: dict[str, Any] | None = None
) -> dict[str, Artifact]:
    """Artifacts of every contract under root/contracts by name, compiled only on a cache miss."""
    return compile_artifact_set(root, force=force, settings=settings).artifacts


def current_artifact_set(root: Path | None = None) -> ArtifactSet:
    """Current artifacts: compiled (cached) from a source checkout, else the set shipped in the package (no Node)."""
    root = (root or project_root()).resolve()
    if (root / "contracts").is_dir():
        return compile_artifact_set(root)
    found = read_artifact_set(SHIPPED_DIR)
    if found is None:
        raise CompilationError(f"no contract sources under {root} and no artifacts shipped in {SHIPPED_DIR}")
    return found


def load_artifacts(root: Path | None = None) -> dict[str, Artifact]:
    """Current artifacts by name (see current_artifact_set for where they come from)."""
    return current_artifact_set(root).artifacts


def load_artifact(name: str, root: Path | None = None) -> Artifact:
    """One contract's current artifact by name."""
    artifacts = load_artifacts(root)
    if name not in artifacts:
        raise CompilationError(f"no contract named {name!r}; known: {', '.join(sorted(artifacts))}")
    return artifacts[name]


def shipped_is_current(root: Path | None = None) -> bool:
    """True when the artifacts shipped in the package were compiled from the current source tree."""
    shipped = read_artifact_set(SHIPPED_DIR)
    return shipped is not None and shipped.source_hash == source_hash((root or project_root()).resolve())


def refresh_shipped_artifacts(root: Path | None = None, *, force: bool = False) -> tuple[ArtifactSet, bool]:
    """Write the current artifacts into the package (market_sim/blockchain/artifacts); returns (set, changed)."""
    aset = compile_artifact_set(root, force=force)
    shipped = read_artifact_set(SHIPPED_DIR)
    if shipped is not None and shipped.source_hash == aset.source_hash and not force:
        return aset, False
    SHIPPED_DIR.mkdir(parents=True, exist_ok=True)
    write_artifact_set(SHIPPED_DIR, aset)
    return aset, True
