"""CSV replay: outputs, malformed rows with line numbers, strict mode, instruments files."""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market_sim.cli.main import main
from market_sim.core.errors import ConfigError, ValidationError
from market_sim.core.instruments import Instrument
from market_sim.core.orders import OrderType, STPMode, TimeInForce
from market_sim.market.engine import MatchingEngine
from market_sim.market.replay import COLUMNS, ReplayError, load_instruments, replay

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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orders.csv"]   # no output folder, no partial files


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
    captured = capsys.readouterr()
    assert code == 0 and (tmp_path / "o" / "trades.csv").exists()
    assert "line 13: AAPL price 190.001 is not a multiple of 0.01" in captured.err and "line 13" not in captured.out
    code = main(["replay", str(EXAMPLES / "orders.csv"), "--out", str(tmp_path / "s"), "--strict",
                 "--instruments", str(EXAMPLES / "instruments.json")])
    assert code == 1 and "line 13" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ malformed rows, exactly

FULL_HEADER = ",".join(COLUMNS) + "\n"


def _full(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "orders.csv"
    path.write_text(FULL_HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def _row(**cells: str) -> str:
    return ",".join(cells.get(c, "") for c in COLUMNS)


GOOD = dict(action="new", ts="5", order_id="1", trader="a", symbol="X", side="buy", price="1.00", quantity="5")
MALFORMED = [   # (cells changed from a good row, the exact message)
    (dict(action="fly"), "action must be one of new | cancel | modify | end_session | expire, got 'fly'"),
    (dict(ts="5.5"), "ts must be an integer, got '5.5'"),
    (dict(order_id=""), "order_id is required for action 'new'"),
    (dict(order_id="x1"), "order_id must be an integer, got 'x1'"),
    (dict(trader=" "), "trader is required for action 'new'"),
    (dict(symbol=""), "symbol is required for action 'new'"),
    (dict(side="up"), "side must be buy | sell, got 'up'"),
    (dict(type="iceberg"), "type must be one of limit | market | stop | stop_limit, got 'iceberg'"),
    (dict(quantity=""), "quantity is required for action 'new'"),
    (dict(quantity="0"), "quantity must be positive, got '0'"),
    (dict(quantity="-5"), "quantity must be positive, got '-5'"),
    (dict(quantity="2.5"), "X quantity 2.5 is not a multiple of 1"),
    (dict(quantity="lots"), "X quantity is not a number: 'lots'"),
    (dict(quantity="inf"), "X quantity must be finite, got 'inf'"),
    (dict(quantity="1e30"), "X quantity 1e30 is too large: more than 28 digits of lots of 1"),
    (dict(quantity="1" * 29), f"X quantity {'1' * 29} is too large: more than 28 digits of lots of 1"),
    (dict(price="1e27"), "X price 1e27 is too large: more than 28 digits of ticks of 0.01"),
    (dict(price="nan"), "X price must be finite, got 'nan'"),
    (dict(price="1.001"), "X price 1.001 is not a multiple of 0.01"),
    (dict(price="0.00"), "price must be positive, got '0.00'"),
    (dict(stop_price="-1"), "stop_price must be positive, got '-1'"),
    (dict(display_quantity="0.5"), "X quantity 0.5 is not a multiple of 1"),
    (dict(hidden="maybe"), "hidden must be true | false, got 'maybe'"),
    (dict(tif="forever"), "tif must be one of gtc | day | gtd | ioc | fok | opg | cls, got 'forever'"),
    (dict(expire_at="soon"), "expire_at must be an integer, got 'soon'"),
    (dict(post_only="always"), "post_only must be one of reject | reprice, got 'always'"),
    (dict(stp="never"), "stp must be one of none | cancel_newest | cancel_oldest | cancel_both | "
                        "decrement_and_cancel, got 'never'"),
    (dict(action="modify", price="", quantity=""), "modify needs a new quantity or price"),
    (dict(action="modify", quantity="1e40"), "X quantity 1e40 is too large: more than 28 digits of lots of 1"),
    (dict(action="cancel", trader=""), "trader is required for action 'cancel'"),
    (dict(ts="4"), "ts 4 goes back in time (previous row: 5)"),
]


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "precise"])
def test_every_malformed_row_has_its_exact_message_and_line(tmp_path, monkeypatch, fast):
    import market_sim.market.replay as module

    monkeypatch.setattr(module, "_FAST", fast)
    rows = [_row(**{**GOOD, "order_id": "100"})]
    rows += [_row(**{**GOOD, **change}) for change, _ in MALFORMED]
    rows += ["new,5,7", _row(**{**GOOD, "order_id": "2", "side": "sell"})]
    summary = replay(_full(tmp_path, *rows), tmp_path / "out")
    expected = [(i + 3, message) for i, (_, message) in enumerate(MALFORMED)]
    expected.append((len(MALFORMED) + 3, "expected 16 cells, got 3"))
    assert summary.malformed == expected
    assert summary.rows == len(rows) and summary.commands == 2 and summary.trades == 1


def test_non_utf8_row_is_malformed_and_the_rest_replays(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(HEADER.encode() + b"new,1,1,caf\xe9,X,sell,limit,1.00,5,,gtc\n"
                                       b"new,2,2,a,X,sell,limit,1.00,5,,gtc\nnew,3,3,b,X,buy,limit,1.00,5,,gtc\n")
    summary = replay(path, tmp_path / "out")
    assert summary.malformed == [(2, "trader is not valid UTF-8 text: b'caf\\xe9'")]
    assert summary.trades == 1
    with pytest.raises(ReplayError, match="line 2: trader is not valid UTF-8 text"):
        replay(path, tmp_path / "strict", strict=True)
    assert not (tmp_path / "strict").exists()


def test_binary_header_and_missing_input_create_nothing(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    with pytest.raises(ConfigError, match="line 1: the header is not UTF-8 text"):
        replay(path, tmp_path / "a" / "b" / "out")
    with pytest.raises(ConfigError, match="cannot read orders file"):
        replay(tmp_path / "nope.csv", tmp_path / "a" / "b" / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orders.csv"]


def test_utf8_bom_and_non_ascii_names_replay(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(b"\xef\xbb\xbf" + HEADER.encode() + "new,1,1,zoë,X,sell,limit,1.00,5,,gtc\n"
                     "new,2,2,\"o,\"\"k\",X,buy,limit,1.00,5,,gtc\n".encode())
    summary = replay(path, tmp_path / "out")
    assert summary.malformed == [] and summary.trades == 1
    with (tmp_path / "out" / "trades.csv").open(encoding="utf-8", newline="") as f:
        trade = list(csv.DictReader(f))[0]
    assert (trade["buyer"], trade["seller"]) == ('o,"k', "zoë")


def test_a_failed_replay_leaves_an_existing_output_folder_as_it_was(tmp_path):
    out = tmp_path / "out"
    replay(_write(tmp_path, "new,1,1,a,X,sell,limit,1.00,5,,gtc\n"), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    path = _write(tmp_path, "new,1,1,a,X,sell,limit,1.00,5,,gtc\nnew,2,2,a,X,sell,limit,1.001,5,,gtc\n")
    with pytest.raises(ReplayError):
        replay(path, out, strict=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orders.csv", "out"]   # no temporary folder left
    summary = replay(path, out)   # a successful replay replaces the files
    assert summary.malformed == [(3, "X price 1.001 is not a multiple of 0.01")]
    assert {p.name for p in out.iterdir()} == {"trades.csv", "events.csv", "book.json"}


def test_output_path_that_is_a_file_is_refused_before_any_work(tmp_path):
    target = tmp_path / "taken"
    target.write_text("x")
    with pytest.raises(ConfigError, match="exists and is not a folder"):
        replay(_write(tmp_path, "new,1,1,a,X,sell,limit,1.00,5,,gtc\n"), target)
    assert target.read_text() == "x"


def test_fok_iceberg_stp_repro_from_the_issue(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("action,ts,order_id,trader,symbol,side,type,price,quantity,tif,display_quantity,stp\n"
                    "new,1,1,b,XYZ,buy,limit,10.00,10,gtc,2,\n"
                    "new,2,2,a,XYZ,buy,limit,10.00,5,gtc,,\n"
                    "new,3,3,a,XYZ,sell,limit,10.00,5,fok,,cancel_newest\n")
    summary = replay(path, tmp_path / "out")
    assert summary.trades == 0 and summary.rejects == 1
    with (tmp_path / "out" / "events.csv").open() as f:
        last = list(csv.DictReader(f))[-1]
    assert (last["event"], last["order_id"], json.loads(last["data"])["reason"]) == (
        "OrderRejected", "3", "fok_not_fillable")


# ------------------------------------------------------------------------------------------ fast path == precise path

CELL = {
    "action": st.sampled_from(["new"] * 6 + ["cancel", "cancel", "modify", "modify", "NEW", "end_session", "expire",
                                             "", " new"]),
    "ts": st.sampled_from(["", "", "7", " 9", "x"]),
    "order_id": st.sampled_from(["1", "2", "3", "4", "", "05", "z"]),
    "trader": st.sampled_from(["a", "b", "a", " a", "", 'q"u,o']),
    "symbol": st.sampled_from(["X", "X", "Y", "", " X", "B/C"]),
    "side": st.sampled_from(["buy", "sell", "buy", "sell", "Buy", "x"]),
    "type": st.sampled_from(["", "limit", "market", "stop", "stop_limit", "LIMIT"]),
    "price": st.sampled_from(["1.00", "1.01", "0.99", "1", "1.", "1.0100", ".99", "1.001", "0", "", "1e0", " 1.00"]),
    "quantity": st.sampled_from(["5", "3", "10", "5.0", "5.5", "0", "", "1_0", "1e30", "0007"]),
    "stop_price": st.sampled_from(["", "", "", "1.02", "0.98", "x"]),
    "tif": st.sampled_from(["", "gtc", "ioc", "fok", "day", "gtd", "GTC", "x"]),
    "expire_at": st.sampled_from(["", "", "", "100", "x"]),
    "display_quantity": st.sampled_from(["", "", "", "2", "0", "2.5"]),
    "hidden": st.sampled_from(["", "", "false", "true", "TRUE", "yes", "x"]),
    "post_only": st.sampled_from(["", "", "", "reject", "reprice", "x"]),
    "stp": st.sampled_from(["", "", "none", "cancel_newest", "cancel_oldest", "cancel_both", "decrement_and_cancel",
                            "x"]),
}
messy_row = st.fixed_dictionaries(CELL).map(lambda cells: ",".join(cells[c] for c in COLUMNS))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(messy_row, min_size=1, max_size=40), st.sampled_from([None, "inst"]))
def test_fast_path_writes_exactly_what_the_precise_path_writes(tmp_path, monkeypatch, rows, instruments):
    import market_sim.market.replay as module

    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    path = folder / "orders.csv"
    path.write_text(FULL_HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    insts = [Instrument("X", tick_size="0.01"), Instrument("B/C", tick_size="0.5", lot_size="0.1")] \
        if instruments else None
    outputs = []
    for fast in (True, False):
        monkeypatch.setattr(module, "_FAST", fast)
        summary = replay(path, folder / f"out-{fast}", instruments=insts)
        files = {name: (folder / f"out-{fast}" / name).read_bytes() for name in ("trades.csv", "events.csv",
                                                                               "book.json")}
        summary.out_dir = ""
        outputs.append((summary, files))
    assert outputs[0] == outputs[1]


def test_generic_rows_match_the_csv_module(tmp_path, monkeypatch):
    """The fast event writers against the reference (_plain + json + csv.writer) on the example file."""
    import market_sim.market.replay as module

    insts = load_instruments(EXAMPLES / "instruments.json")
    replay(EXAMPLES / "orders.csv", tmp_path / "fast", instruments=insts)
    monkeypatch.setattr(module, "_FAST", False)
    replay(EXAMPLES / "orders.csv", tmp_path / "ref", instruments=insts)
    for name in ("trades.csv", "events.csv", "book.json"):
        assert (tmp_path / "fast" / name).read_bytes() == (tmp_path / "ref" / name).read_bytes()


@given(st.text(max_size=12))
def test_csv_and_json_cells_match_the_modules(text):
    from market_sim.market.replay import _CsvText, _JsonText, _Rows

    row = _Rows().row((text, json.dumps({"k": text}, separators=(",", ":"))))
    assert row == f'{_CsvText()[text]},"{{""k"":{_JsonText()[text]}}}"\r\n'


@given(st.text(alphabet="0123456789.", min_size=1, max_size=12), st.sampled_from(["0.01", "1", "0.5", "25", "0.001"]))
def test_grid_conversion_agrees_with_decimal(text, step):
    from decimal import Decimal

    from market_sim.market.replay import _Grid

    got = _Grid(Decimal(step)).units(text)
    try:
        expected = Instrument("X", tick_size=step).price_to_ticks(text)
    except ValidationError:
        expected = None
    if got is not None:
        assert got == expected
    else:
        assert expected is None or expected <= 0 or not text.replace(".", "", 1).isdigit() or text.startswith(".")


def test_builder_makes_ordinary_frozen_instances():
    from dataclasses import FrozenInstanceError

    from market_sim.core.orders import NewOrder, Side
    from market_sim.market.replay import _new_order

    built = _new_order(1, "a", "X", Side.BUY, 5, OrderType.LIMIT, 100, None, TimeInForce.GTC, None, None, False,
                       None, STPMode.NONE)
    assert type(built) is NewOrder and built == NewOrder(1, "a", "X", Side.BUY, 5, price=100)
    assert hash(built) == hash(NewOrder(1, "a", "X", Side.BUY, 5, price=100))
    with pytest.raises(FrozenInstanceError):
        built.quantity = 6


def test_interrupt_or_strict_failure_removes_the_staging_folder_and_new_parents(tmp_path, monkeypatch):
    path = _write(tmp_path, "new,1,1,a,X,sell,limit,1.00,5,,gtc\nnew,2,2,a,X,sell,limit,1.001,5,,gtc\n")
    with pytest.raises(ReplayError):
        replay(path, tmp_path / "a" / "b" / "out", strict=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orders.csv"]

    def interrupted(self, cmd, ts):
        raise KeyboardInterrupt

    monkeypatch.setattr(MatchingEngine, "process", interrupted)
    with pytest.raises(KeyboardInterrupt):
        replay(path, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orders.csv"]


def test_unreadable_csv_row_is_malformed_and_reading_goes_on(tmp_path):
    path = _write(tmp_path, "new,1,1,a,X,sell,limit,1.00,5,,gtc\n"
                            f"new,2,2,a,X,sell,limit,1.00,5,,{'x' * (csv.field_size_limit() + 1)}\n"
                            "new,3,3,b,X,buy,limit,1.00,5,,gtc\n")
    summary = replay(path, tmp_path / "out")
    assert summary.malformed == [(3, f"unreadable CSV row: field larger than field limit ({csv.field_size_limit()})")]
    assert summary.trades == 1 and summary.rows == 3
