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
    "data": {"core"},
    "analysis": {"core"},
    "derivatives": {"core"},
    "backtest": {"core", "market", "simulation", "data", "analysis", "risk"},
    "strategies": {"core", "simulation", "analysis", "data", "defi"},  # defi: only strategies/defi (a plug-in)
    "mechanisms": {"core", "market", "simulation"},
    "risk": {"core", "simulation"},
    "options": {"core", "simulation", "derivatives"},
    "sweep": {"core", "simulation"},
}
TOP = {"cli", "benchmarks", "api"}  # entry points: they may import anything (api: `market-sim serve`)


def test_every_package_has_a_place_in_the_layers():
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert packages - set(ALLOWED) - TOP == set(), "add new packages to ALLOWED (what they may import)"


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


def test_backtest_uses_only_the_simulations_agent_facing_modules():
    """The backtest runs the simulator's agents (their base class, Quote, parameter tables, latency models) and
    stores runs like it (results); it does not drive the simulation runner or its scenarios."""
    allowed = {"agents", "latency", "results", "venues", "params"}
    problems = []
    for path in (PACKAGE / "backtest").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith(
                    "market_sim.simulation."):
                module = node.module.split(".")[2]
                if module not in allowed:
                    problems.append(f"{path.name} imports market_sim.simulation.{module}")
    assert problems == []


# ---- the chain boundary -------------------------------------------------------------------------------------------
# Only market_sim.blockchain talks web3: it alone imports the Ethereum client stack and builds contract calls from ABI
# names. Everyone else uses its typed clients (market_sim.blockchain.clients) and helpers (market_sim.blockchain.abi).
# Exception: market_sim.consensus signs with eth_account/eth_utils -- ECDSA signing and EIP-712 digests of validator
# votes are consensus's own job (it sits below blockchain in the import order and must not depend on it).
WEB3_STACK = {"web3", "eth_abi", "eth_account", "eth_utils", "eth_typing", "eth_tester", "hexbytes", "eth_keys"}
SIGNING_LIBRARIES = {"eth_account", "eth_utils"}


def top_level_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_only_blockchain_imports_the_web3_stack():
    problems = []
    for path in PACKAGE.rglob("*.py"):
        package = path.relative_to(PACKAGE).parts[0]
        if package == "blockchain":
            continue
        allowed = SIGNING_LIBRARIES if package == "consensus" else set()
        bad = (top_level_imports(path) & WEB3_STACK) - allowed
        if bad:
            problems.append(f"{path.relative_to(PACKAGE)} imports {sorted(bad)}")
    assert problems == []


def raw_abi_calls(path: Path) -> list[str]:
    """Contract calls built from ABI names: `.functions.X`, `.events.X` / `.events[...]`, `encode_abi`, and
    Chain.transact / call / send / events / event_logs / deploy with a contract handle or an artifact name string."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr in ("functions", "encode_abi", "encodeABI", "caller"):
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Attribute) and node.attr == "events" and isinstance(node.ctx, ast.Load) \
                and isinstance(getattr(node, "value", None), ast.Attribute) and node.value.attr in ("contract",
                                                                                                     "handle"):
            found.append(f"line {node.lineno}: .events")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name, args = node.func.attr, node.args
            if name in ("transact", "call", "send", "events", "event_logs", "deploy", "deploy_with_receipt",
                        "contract") and isinstance(node.func.value, (ast.Name, ast.Attribute)):
                receiver = node.func.value.attr if isinstance(node.func.value, ast.Attribute) else node.func.value.id
                string_arg = any(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args)
                if receiver in ("chain", "home", "dest", "src_chain") or receiver.endswith("chain"):
                    if name in ("transact", "call", "send") or string_arg or name in ("events", "event_logs"):
                        found.append(f"line {node.lineno}: chain.{name}(...)")
    return found


def test_no_raw_abi_calls_outside_blockchain():
    problems = []
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] == "blockchain":
            continue
        problems += [f"{path.relative_to(PACKAGE)} {hit}" for hit in raw_abi_calls(path)]
    assert problems == []


def test_the_raw_abi_check_catches_each_form(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "chain.transact(token.functions.mint(a, 1))\n"
        "x = client.chain.call(c)\n"
        "chain.deploy('TestToken', 'A', 'A', 18)\n"
        "self.chain.events(receipt, pair, 'Swap')\n"
        "e = w3.eth.contract(abi=abi).encode_abi('f', [])\n"
        "token.mint(a, 1)\n"
    )
    hits = raw_abi_calls(sample)
    assert [h.split(":")[0] for h in hits].count("line 1") == 2  # .functions and chain.transact
    assert {h.split(":")[0] for h in hits} == {"line 1", "line 2", "line 3", "line 4", "line 5"}
