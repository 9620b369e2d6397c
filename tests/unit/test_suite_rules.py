"""The test suite keeps the developers' guide rules: specific exceptions only, no wall-clock deadlines."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
BROAD = {"Exception", "BaseException"}


def _calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            yield name, node


def _names(node: ast.expr) -> set[str]:
    if isinstance(node, ast.Tuple):
        return set().union(*(_names(e) for e in node.elts))
    return {node.id} if isinstance(node, ast.Name) else {node.attr} if isinstance(node, ast.Attribute) else set()


def test_no_test_expects_a_bare_exception():
    """`raises` with a bare `Exception` passes on any crash: name the MarketSimError subclass (and match its message)."""
    problems = [f"{path.relative_to(TESTS)}:{call.lineno}"
                for path in TESTS.rglob("*.py")
                for name, call in _calls(path)
                if name == "raises" and call.args and _names(call.args[0]) & BROAD]
    assert problems == []


def test_no_hypothesis_deadline():
    """A per-example deadline fails under load: speed targets belong in benchmarks (tests/conftest.py sets None)."""
    problems = [f"{path.relative_to(TESTS)}:{call.lineno}"
                for path in TESTS.rglob("*.py")
                for name, call in _calls(path)
                if name in ("settings", "register_profile")
                for kw in call.keywords
                if kw.arg == "deadline" and not (isinstance(kw.value, ast.Constant) and kw.value.value is None)]
    assert problems == []


def test_the_rules_catch_what_they_forbid(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("with pytest.raises((ValueError, Exception)):\n    pass\n@settings(deadline=200)\ndef f(): pass\n")
    calls = list(_calls(sample))
    assert [c.lineno for n, c in calls if n == "raises" and _names(c.args[0]) & BROAD] == [1]
    assert [kw.value.value for n, c in calls if n == "settings" for kw in c.keywords] == [200]
