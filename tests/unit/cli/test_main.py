"""The `market-sim` entry point: errors are one paragraph, printed literally, with exit code 1."""

from __future__ import annotations

from market_sim.cli.main import main


def test_error_text_with_brackets_is_printed_literally(capsys):
    assert main(["run", "random-market", "--rpc", "http://127.0.0.1:1"]) == 1
    err = capsys.readouterr().err
    assert "--rpc applies to scenarios with on-chain settlement ([settlement])" in err
    assert "Traceback" not in err


def test_unknown_scenario_names_the_choices(capsys):
    assert main(["run", "no-such-scenario"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "no scenario or file by this name" in err and "settlement-demo" in err


def test_help_lists_every_command_group(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("bench", "consensus", "deploy", "compile", "replay", "list", "run", "runs", "show"):
        assert f" {command} " in out
