#!/usr/bin/env python3
"""Run slither on every contract under contracts/ and compare its findings with security/slither-triage.json.

Run with the security venv (`make security` sets it up): slither-analyzer is not a project dependency.
There is no native solc offline, so slither compiles through crytic-compile's standard-json platform with the
project's solc-js shim, from the project root (which holds node_modules/ for the OpenZeppelin imports).

Exit status: 0 when every High/Medium finding is triaged; 1 when a High or Medium finding is not (Low and
Informational findings not in the triage file are printed but do not fail); 2 when slither itself failed.
`--update` rewrites the triage file with any new finding marked "untriaged" (edit its reason and decision).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIM = ROOT / "market_sim" / "blockchain" / "solcjs" / "solc"
TRIAGE = ROOT / "security" / "slither-triage.json"
FAILING = {"High", "Medium"}
# Same settings as market_sim/blockchain/compiler.py (optimizer 200 runs, cancun).
SETTINGS = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "remappings": ["@openzeppelin/=node_modules/@openzeppelin/"],
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode", "evm.deployedBytecode"], "": ["ast"]}},
}


def standard_json_input() -> dict:
    sources = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "contracts").rglob("*.sol"))
    return {"language": "Solidity", "sources": {s: {"urls": [s]} for s in sources}, "settings": SETTINGS}


def _element_name(element: dict) -> str:
    name = element.get("name", "")
    parent = element.get("type_specific_fields", {}).get("parent", {})
    if element.get("type") == "function" and parent.get("name"):
        return f"{parent['name']}.{name}"
    if element.get("type") in {"node", "variable"} and parent.get("type") == "function":
        grand = parent.get("type_specific_fields", {}).get("parent", {})
        return f"{grand.get('name', '')}.{parent.get('name', '')}"
    return name


def finding_key(detector: dict) -> str:
    """A stable id for a finding: the check plus the contract.function of its first element (no line numbers)."""
    elements = detector.get("elements", [])
    where = _element_name(elements[0]) if elements else ""
    return f"{detector['check']}:{where}"


def run_slither() -> list[dict]:
    # Run from a scratch root holding links to contracts/ and node_modules/: crytic-compile walks up from its
    # working directory looking for a framework, and the project root's foundry.toml would make it pick foundry.
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("contracts", "node_modules"):
            (Path(tmp) / name).symlink_to(ROOT / name)
        config = Path(tmp) / "input.json"
        config.write_text(json.dumps(standard_json_input()))
        out = Path(tmp) / "slither.json"
        slither = Path(sys.executable).with_name("slither")
        cmd = [
            str(slither), str(config), "--compile-force-framework", "solc-json", "--solc", str(SHIM),
            "--filter-paths", "node_modules", "--exclude-dependencies", "--json", str(out),
        ]
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, env={**os.environ})
        if not out.is_file():
            sys.stderr.write(proc.stdout + proc.stderr)
            raise SystemExit(2)
        report = json.loads(out.read_text())
    if not report.get("success", False):
        sys.stderr.write(f"slither failed: {report.get('error')}\n")
        raise SystemExit(2)
    detectors = report.get("results", {}).get("detectors", [])
    # Findings only in library code (node_modules) are filtered by slither; drop any left whose elements all are.
    kept = []
    for d in detectors:
        files = {e.get("source_mapping", {}).get("filename_relative", "") for e in d.get("elements", [])}
        if files and all(f.startswith("node_modules") for f in files):
            continue
        kept.append(d)
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="add new findings to the triage file as untriaged")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    args = parser.parse_args(argv)

    findings = run_slither()
    triage = json.loads(TRIAGE.read_text()) if TRIAGE.is_file() else {"findings": []}
    known = {f["key"]: f for f in triage["findings"]}
    seen: dict[str, dict] = {}
    for d in findings:
        key = finding_key(d)
        seen.setdefault(key, {"key": key, "check": d["check"], "impact": d["impact"],
                              "description": d["description"].strip().splitlines()[0]})
    if args.json:
        print(json.dumps(list(seen.values()), indent=2))

    failures = []
    counts: dict[str, int] = {}
    for key, f in sorted(seen.items()):
        counts[f["impact"]] = counts.get(f["impact"], 0) + 1
        entry = known.get(key)
        decided = entry is not None and entry.get("decision") in {"fixed", "accepted"} and entry.get("reason")
        status = entry["decision"] if decided else "UNTRIAGED"
        print(f"{f['impact']:<13} {status:<10} {key}")
        if not decided and f["impact"] in FAILING:
            failures.append(f)
    stale = sorted(k for k, e in known.items() if k not in seen and e.get("decision") != "fixed")
    for key in stale:
        print(f"(no longer reported: {key} — mark it fixed or drop it from {TRIAGE.name})")
    print("slither findings: " + ", ".join(f"{n} {impact}" for impact, n in sorted(counts.items())))

    if args.update:
        for key, f in seen.items():
            if key not in known:
                triage["findings"].append({**f, "decision": "untriaged", "reason": ""})
        triage["findings"].sort(key=lambda e: e["key"])
        TRIAGE.write_text(json.dumps(triage, indent=2) + "\n")
    if failures:
        print(f"{len(failures)} High/Medium finding(s) not triaged in {TRIAGE.relative_to(ROOT)}:", file=sys.stderr)
        for f in failures:
            print(f"  {f['impact']}: {f['key']}: {f['description']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
