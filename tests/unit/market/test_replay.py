"""CSV replay: outputs, malformed rows with line numbers, strict mode, instruments files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from market_sim.cli.main import main
from market_sim.core.errors import ConfigError
from market_sim.market.replay import ReplayError, load_instruments, replay

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
HEADER = "action,ts,order_id,trader,symbol,side,type,price,quantity,stop_price,tif\n"


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + body)
    return path


def test_example_file_replays_to_exact_outputs(tmp_path):
    insts = load_instruments(EXAMPLES / "instruments.json")
    summary = replay(EXAMPLES / "orders.csv", tmp_path, instruments=insts)
    assert (summary.rows, summary.commands, summary.trades) == (16, 15, 5)
    assert summary.malformed == [(13, "AAPL price 190.001 is not a multiple of 0.01")]
    with (tmp_path / "trades.csv").open() as f:
        trades = list(csv.DictReader(f))
    assert [(t["price"], t["quantity"], t["buy_order_id"], t["sell_order_id"]) for t in trades] == [
        ("190.05", "100", "6", "1"), ("190.10", "20", "6", "2"), ("190.10", "30", "5", "2"),
        ("190.10", "30", "5", "2"), ("64000.5", "0.10", "9", "11")]
    book = json.loads((tmp_path / "book.json").read_text())
    assert [(o["order_id"], o["price"], o["quantity"], o["displayed"]) for o in book["AAPL"]["asks"]] == [
        (2, "190.10", "120", "20")]
    assert [(o["order_id"], o["price"]) for o in book["AAPL"]["bids"]] == [(8, "190.09")]
    assert [(s["order_id"], s["order_type"], s["stop_price"], s["price"], s["stop_price_ticks"])
            for s in book["AAPL"]["pending_stops"]] == [(12, "stop_limit", "189.50", "189.00", 18950)]
    with (tmp_path / "events.csv").open() as f:
        events = list(csv.DictReader(f))
    assert len(events) == summary.events == 23
    assert {e["event"] for e in events} >= {"OrderAccepted", "Trade", "OrderTriggered", "OrderRepriced",
                                           "OrderModified", "OrderCancelled"}


def test_malformed_rows_are_skipped_and_counted(tmp_path):
    path = _write(tmp_path, "new,1,1,a,X,buy,limit,1.00,5,,gtc\n"
                            "new,2,2,a,X,buy,limit,nan,5,,gtc\n"
                            "new,3,3,a,X,sideways,limit,1.00,5,,gtc\n"
                            "new,4,4,a,X,sell,limit,-1.00,5,,gtc\n"
                            "bogus,5\n"
                            "fly,5,5,a,X,sell,limit,1.00,5,,gtc\n"
                            "new,6,6,a,X,sell,limit,1.00,2.5,,gtc\n"
                            "new,7,7,a,X,sell,limit,1.00,5,,forever\n"
                            "new,9,9,a,X,sell,limit,1.00,5,,gtc\n"
                            "new,8,10,a,X,sell,limit,1.00,5,,gtc\n")
    summary = replay(path, tmp_path / "out")
    assert [line for line, _ in summary.malformed] == [3, 4, 5, 6, 7, 8, 9, 11]
    messages = dict(summary.malformed)
    assert "must be finite" in messages[3] and "side" in messages[4] and "positive" in messages[5]
    assert "cells" in messages[6] and "action" in messages[7] and "multiple of 1" in messages[8]
    assert "tif" in messages[9] and "ts 8 goes back in time (previous row: 9)" in messages[11]
    assert summary.trades == 1 and summary.commands == 2


def test_strict_stops_at_first_malformed_row(tmp_path):
    path = _write(tmp_path, "new,1,1,a,X,sell,limit,1.00,5,,gtc\nnew,2,2,a,X,buy,limit,1.005,5,,gtc\n"
                            "new,3,3,a,X,buy,limit,1.00,5,,gtc\n")
    with pytest.raises(ReplayError, match="line 3: X price 1.005 is not a multiple of 0.01") as info:
        replay(path, tmp_path / "out", strict=True)
    assert info.value.line == 3
    assert json.loads((tmp_path / "out" / "book.json").read_text())["X"]["asks"][0]["order_id"] == 1


def test_unknown_symbol_with_instruments_file_is_malformed(tmp_path):
    insts = tmp_path / "inst.toml"
    insts.write_text('[[instruments]]\nsymbol = "X"\ntick_size = "0.5"\n')
    path = _write(tmp_path, "new,1,1,a,Y,sell,limit,1.00,5,,gtc\nnew,1,2,a,X,sell,limit,1.50,5,,gtc\n"
                            "modify,2,2,a,,,,2.00,,,\ncancel,3,2,a,,,,,,,\nend_session,4,,,,,,,,,\n")
    summary = replay(path, tmp_path / "out", instruments=load_instruments(insts))
    assert summary.malformed == [(2, "unknown instrument 'Y'")]
    assert summary.commands == 4 and summary.rejects == 0


def test_bad_header_and_bad_instruments_file(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("action,colour\n")
    with pytest.raises(ConfigError, match="colour"):
        replay(path, tmp_path / "out")
    bad = tmp_path / "i.json"
    bad.write_text('{"instruments": [{"symbol": "X", "tick": 1}]}')
    with pytest.raises(ConfigError, match="instrument #1"):
        load_instruments(bad)
    bad.write_text('[{"symbol": "X"}, {"symbol": "Y", "asset_class": "stamps"}]')
    with pytest.raises(ConfigError, match="instrument #2"):
        load_instruments(bad)


def test_cli_replay(tmp_path, capsys):
    code = main(["replay", str(EXAMPLES / "orders.csv"), "--out", str(tmp_path / "o"),
                 "--instruments", str(EXAMPLES / "instruments.json")])
    out = capsys.readouterr().out
    assert code == 0 and "line 13" in out and (tmp_path / "o" / "trades.csv").exists()
    code = main(["replay", str(EXAMPLES / "orders.csv"), "--out", str(tmp_path / "s"), "--strict",
                 "--instruments", str(EXAMPLES / "instruments.json")])
    assert code == 1 and "line 13" in capsys.readouterr().err
