"""Every tutorial notebook runs from a clean kernel (nbclient) and its check cells pass with the expected answers.

The notebooks run the real engine (matching, simulations, consensus, the in-process chain, backtests); the whole set
takes about half a minute, so these tests are `slow` (`make test-extended`). The per-cell timeout is a hang guard,
not a speed check: the notebooks' own sizes are chosen to run in seconds.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbclient  # the [dev] extra pins nbclient, nbformat and ipykernel: a missing one fails here, not skips
import nbformat
import pytest

from market_sim.learn import TUTORIALS, tutorial_path

ROOT = Path(__file__).resolve().parents[2]
CELL_TIMEOUT = 300  # seconds; a hang guard

# Answers each notebook's check cells must print (`check NAME: ok (VALUE)`): the figures the text explains.
EXPECTED = {
    "01_order_book": {"lots left at 100.01": "15", "first in line at 100.01": "2",
                      "market order VWAP (ticks)": "10003.0", "impact (ticks)": "3.0", "IOC lots traded": "35",
                      "IOC lots cancelled": "65", "bids after cancelling order 7": "[]"},
    "02_price_formation": {"lowest trade price": "46.86", "largest buyer": "'value'", "sum of positions": "0"},
    "03_consensus": {"f for n=7": "2", "quorum for n=7": "5", "first f that stalls (crashed)": "2",
                     "certified only with 3 approve-all": "[6]"},
    "04_settlement": {"included -> final (ms)": "24000", "gas per settled trade": "9273",
                      "forged trade accepted": "False", "ledger = log = chain at every height": "True"},
    "05_amm_lvr": {"USDC out for 10 WETH": "29614741031", "arbitrage input (USDC base units)": "10468250126",
                   "theoretical LVR per year (USDC)": "750000.0",
                   "measured/theory within 2 standard errors of 1": "True"},
    "06_backtesting": {"total return": "2.31447517733", "hit rate": "0.4339622641509434",
                       "costlier strategy": "'5/20'"},
    "07_margin_cascade": {"margin-call price": "44.44444444444444", "below P*: a call": "True",
                          "lots liquidated": "760", "first group liquidated": "'longs-b'",
                          "forced selling deepened the fall": "True", "no liquidations without leverage": "0"},
    "08_latency_arbitrage": {"longest stale window (ms)": "22", "where sniping pays": "['continuous']",
                             "makers earn more under batches": "True"},
    "09_options": {"finer hedging is tighter": "True", "short gamma when vol is higher than sold": "'loss'",
                   "hedged mean near 0 at the sold vol": "True"},
}
CHECK = re.compile(r"^check (.+): ok \((.*)\)$")


def execute(slug: str):
    path = tutorial_path(next(t.number for t in TUTORIALS if t.slug == slug))
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return nb


@pytest.mark.slow
@pytest.mark.parametrize("slug", [t.slug for t in TUTORIALS])
def test_tutorial_runs_and_its_checks_pass(slug, monkeypatch):
    # The kernel is a fresh process: it imports this checkout's market_sim (not whatever the venv points to) and draws
    # with the inline backend.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("MARKET_SIM_ROOT", str(ROOT))
    nb = execute(slug)
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert errors == []
    printed = "".join(o.get("text", "") for c in code for o in c.outputs if o.output_type == "stream")
    checks = dict(m.groups() for line in printed.splitlines() if (m := CHECK.match(line)))
    calls = sum(c.source.count("check_answer(") for c in code)
    assert len(checks) == calls, f"{calls} check_answer calls, {len(checks)} passed: {sorted(checks)}"
    for name, value in EXPECTED[slug].items():
        assert checks.get(name) == value, (name, checks.get(name))
    images = sum(1 for c in code for o in c.outputs if "image/png" in o.get("data", {}))
    assert images >= 2, "every tutorial draws what it explains"
