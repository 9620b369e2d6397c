"""The learning environment: the tutorial catalog matches the notebooks, the notebooks match their sources, answer
checks, and `market-sim learn`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from market_sim.cli import learn as learn_cli
from market_sim.cli.main import main
from market_sim.core.errors import ConfigError
from market_sim.learn import TUTORIALS, WrongAnswer, check_answer, tutorial, tutorial_path, tutorials_dir

ROOT = Path(__file__).resolve().parents[3]


def test_the_catalog_and_the_notebooks_match():
    assert tutorials_dir() == ROOT / "tutorials"
    assert [t.number for t in TUTORIALS] == list(range(1, len(TUTORIALS) + 1))
    notebooks = sorted(p.stem for p in (ROOT / "tutorials").glob("*.ipynb"))
    sources = sorted(p.stem for p in (ROOT / "tutorials" / "src").glob("[0-9][0-9]_*.py"))
    assert notebooks == sources == [t.slug for t in TUTORIALS]
    for t in TUTORIALS:
        nb = json.loads(tutorial_path(t.number).read_text())
        first = "".join(nb["cells"][0]["source"])
        assert first.splitlines()[0] == f"# {t.number}. {t.title}", (t.slug, first[:80])
        assert "**Goal:**" in first
        sources = ["".join(c["source"]) for c in nb["cells"]]
        assert any("### Exercise" in s for s in sources) and any("check_answer(" in s for s in sources)
        assert any("plt.show()" in s for s in sources)  # every tutorial draws what it explains
        assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")  # shipped without outputs


def test_the_notebooks_are_built_from_their_sources():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_tutorials.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_check_answer_accepts_right_answers_and_names_the_expected_one(capsys):
    assert check_answer("lots", 15, 15) == 15
    check_answer("vwap", 10_003.0000000001, 10_003.0)
    check_answer("levels", [(9_999, 10)], [(9_999, 10)])
    assert capsys.readouterr().out.splitlines() == ["check lots: ok (15)", "check vwap: ok (10003.0000000001)",
                                                    "check levels: ok ([(9999, 10)])"]
    with pytest.raises(WrongAnswer, match=r"^lots: got 14, expected 15 \(hint: count again\)$"):
        check_answer("lots", 14, 15, hint="count again")
    with pytest.raises(WrongAnswer, match="no answer yet"):
        check_answer("lots", ..., 15)
    with pytest.raises(WrongAnswer):
        check_answer("impact", 3.1, 3.0)
    with pytest.raises(WrongAnswer):  # integers are compared exactly, a bool is not a number
        check_answer("flag", 1, True)
    check_answer("impact", 3.1, 3.0, abs_=0.2)


def test_check_answer_prints_numpy_scalars_as_numbers(capsys):
    np = pytest.importorskip("numpy")
    check_answer("low", np.float64(46.86), 46.86)
    assert capsys.readouterr().out == "check low: ok (46.86)\n"


def test_unknown_tutorial_names_the_choices():
    with pytest.raises(ConfigError, match="no tutorial 99: choose one of 1, 2"):
        tutorial(99)


def test_missing_notebooks_say_where_they_were_looked_for(tmp_path, monkeypatch):
    monkeypatch.setenv("MARKET_SIM_ROOT", str(tmp_path))
    monkeypatch.setattr("market_sim.learn.CHECKOUT", tmp_path / "site-packages")
    with pytest.raises(ConfigError, match="tutorial notebooks were not found .*clone it"):
        tutorials_dir()


def test_learn_lists_the_tutorials(capsys):
    assert main(["learn"]) == 0
    out = capsys.readouterr().out
    for t in TUTORIALS:
        assert t.title.split(":")[0].split()[0] in out
    assert "Tutorials" in out


def test_learn_n_without_jupyter_prints_how(capsys, monkeypatch):
    monkeypatch.setattr(learn_cli, "jupyter_command", lambda: None)
    assert main(["learn", "3"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert str(ROOT / "tutorials" / "03_consensus.ipynb") in out
    assert "pip install -e '.[learn]'" in out and "jupyter lab" in out


def test_learn_n_opens_jupyter_in_the_tutorials_folder(capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(learn_cli, "jupyter_command", lambda: ["/venv/bin/jupyter", "lab"])
    monkeypatch.setattr(learn_cli.subprocess, "run", lambda cmd, cwd, check: calls.append((cmd, cwd)))
    assert main(["learn", "1"]) == 0
    path = ROOT / "tutorials" / "01_order_book.ipynb"
    assert calls == [(["/venv/bin/jupyter", "lab", str(path)], path.parent)]


def test_learn_path_and_usage_errors(capsys):
    assert main(["learn", "2", "--path"]) == 0
    assert capsys.readouterr().out.strip() == str(ROOT / "tutorials" / "02_price_formation.ipynb")
    assert main(["learn", "42"]) == 2
    err = capsys.readouterr().err
    assert "no tutorial 42" in err and "Traceback" not in err
    assert main(["learn", "two"]) == 2
