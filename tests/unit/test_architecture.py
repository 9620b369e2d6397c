"""Imports between packages point one way (docs/architecture.md): a lower package never imports a higher one."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "market_sim"

ALLOWED = {
    "core": set(),
    "market": {"core"},
    "simulation": {"core", "market"},
    "consensus": {"core", "simulation"},
    "blockchain": {"core"},
    "settlement": {"core", "consensus", "blockchain", "simulation"},
    "defi": {"core", "consensus", "blockchain", "simulation", "settlement"},
}


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
        for name in names:
            parts = name.split(".")
            if parts[0] == "market_sim" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_packages_import_only_lower_packages():
    problems = []
    for package, allowed in ALLOWED.items():
        for path in (PACKAGE / package).rglob("*.py"):
            bad = imported_packages(path) - allowed - {package}
            if bad:
                problems.append(f"{path.relative_to(PACKAGE)} imports {sorted(bad)}")
    assert problems == []


def test_simulation_reaches_the_exchange_only_through_its_venue_adapter():
    users = {p.name for p in (PACKAGE / "simulation").rglob("*.py") if "market" in imported_packages(p)}
    assert users <= {"venues.py", "runner.py"}
