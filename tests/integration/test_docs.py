"""The documentation site builds with `mkdocs build --strict` (every warning an error: broken links, missing pages,
docstrings mkdocstrings cannot render), and its generated reference pages hold what the registries hold."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mkdocs  # noqa: F401 (the [dev] extra pins mkdocs and its plug-ins: a missing one fails here, not skips)
import mkdocstrings  # noqa: F401
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_site_builds_strictly_with_the_generated_references(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               NO_MKDOCS_2_WARNING="1")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    site = tmp_path / "site"
    for page in ("getting-started", "concepts", "architecture", "tutorials", "benchmarks", "howto/agent",
                 "howto/mechanism", "howto/section", "howto/anvil", "howto/sweep", "reference/cli",
                 "reference/scenarios", "reference/registry", "api/market", "api/learn"):
        assert (site / page / "index.html").is_file(), page
    cli = (site / "reference" / "cli" / "index.html").read_text()
    assert "market-sim learn" in cli and "market-sim consensus" in cli
    scenarios = (site / "reference" / "scenarios" / "index.html").read_text()
    assert "flash-crash" in scenarios and "amm-lvr" in scenarios
    registry = (site / "reference" / "registry" / "index.html").read_text()
    assert "amm_arbitrageur" in registry and "max_delay" in registry  # a plug-in's agent, a section's key
    api = (site / "api" / "market" / "index.html").read_text()
    assert "MatchingEngine" in api


def test_the_generated_pages_come_from_the_registries():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import docs_hooks
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    from market_sim.learn import TUTORIALS
    from market_sim.simulation.catalog import scenarios

    page = docs_hooks.scenario_reference()
    assert all(f"| `{name}` |" in page for name in scenarios())
    page = docs_hooks.tutorials_page()
    assert all(f"`tutorials/{t.filename}`" in page for t in TUTORIALS)
    page = docs_hooks.registry_reference()
    assert "### `noise`" in page and "### `[settlement]` (`market_sim.settlement.scenario`)" in page
    assert "| `max_quantity` | integer | `5` |" in page
