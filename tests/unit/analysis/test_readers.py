"""Data readers: schema validation naming file, line and column; exact ticks; CSV = Parquet; the shipped data."""

import csv
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from market_sim.core.errors import ValidationError
from market_sim.core.instruments import AssetClass, Instrument
from market_sim.data.readers import (
    DataFormatError, read_bars, read_binance_jsonl, read_depth, read_quotes, read_trades)

DATA = Path(__file__).resolve().parents[3] / "examples" / "data"
ORCL_FILE = DATA / "orcl-1995-2014.txt"
BTC_FILE = DATA / "btcusdt_20240808.binance-spot.jsonl.gz"
ORCL = Instrument("ORCL", tick_size=Decimal("0.000001"))
BTC = Instrument("BTC/USDT", tick_size=Decimal("0.01"), lot_size=Decimal("0.000001"), asset_class=AssetClass.CRYPTO,
                 base_decimals=8, quote_decimals=8)

HEADER = "Date,Open,High,Low,Close,Volume\n"


def _write(tmp_path, text, name="bars.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


# ---- the shipped ORCL bars -------------------------------------------------------------------------------------

def test_orcl_bars_as_floats_and_exact_ticks():
    bars = read_bars(ORCL_FILE)
    assert len(bars) == 5036 and bars.index.name == "time"
    assert (bars.index[0], bars.index[-1]) == (pd.Timestamp("1995-01-03"), pd.Timestamp("2014-12-31"))
    ref = pd.read_csv(ORCL_FILE, index_col="Date", parse_dates=True)
    assert np.array_equal(bars["adj_close"].to_numpy(), ref["Adj Close"].to_numpy())
    ticks = read_bars(ORCL_FILE, ORCL)
    assert ticks["open"].dtype == np.int64
    with ORCL_FILE.open(newline="") as fh:
        rows = {r["Date"]: r for r in csv.DictReader(fh)}
    for day in ("1995-01-03", "2008-09-29", "2014-12-31"):
        row = ticks.loc[day]
        assert [int(row[c]) for c in ("open", "high", "low", "close", "adj_close", "volume")] == [
            ORCL.price_to_ticks(rows[day][c]) for c in ("Open", "High", "Low", "Close", "Adj Close")] + [
            int(rows[day]["Volume"])]


def test_parquet_reads_the_same_as_csv(tmp_path):
    csv_bars = read_bars(ORCL_FILE)
    src = pd.read_csv(ORCL_FILE)
    src.to_parquet(tmp_path / "orcl.parquet")
    pq = read_bars(tmp_path / "orcl.parquet")
    pd.testing.assert_frame_equal(pq, csv_bars)
    pd.testing.assert_frame_equal(read_bars(tmp_path / "orcl.parquet", ORCL), read_bars(ORCL_FILE, ORCL))


# ---- schema errors name file, line and column -------------------------------------------------------------------

@pytest.mark.parametrize("body, where, message", [
    ("2020-01-02,1,2,0.5,1.5,100\n2020-01-03,1,2,0.5,abc,100\n", "line 3, column 'close'",
     "not a finite number: 'abc'"),
    ("2020-01-02,1,2,0.5,1.5,100\n2020-01-03,1,2,,1.5,100\n", "line 3, column 'low'", "missing value: ''"),
    ("2020-01-02,1,2,0.5,1.5,100\n2020-01-03,1,0.9,0.5,1.5,100\n", "line 3, column 'high'",
     "high is below open, low or close: '0.9'"),
    ("2020-01-02,1,2,1.2,1.5,100\n", "line 2, column 'low'", "low is above open or close: '1.2'"),
    ("2020-01-02,1,2,0.5,1.5,-1\n", "line 2, column 'volume'", "quantity must be >= 0: '-1'"),
    ("2020-01-02,0,2,0.5,1.5,1\n", "line 2, column 'open'", "price must be positive: '0'"),
    ("2020-01-03,1,2,0.5,1.5,1\n2020-01-02,1,2,0.5,1.5,1\n", "line 3, column 'time'",
     "earlier than the row before it: '2020-01-02'"),
    ("2020-13-02,1,2,0.5,1.5,1\n", "line 2, column 'time'", "not an ISO 8601 date/time: '2020-13-02'"),
    ("2020-01-02,1,2,0.5,1.5\n", "line 2", "5 fields, the header has 6"),
    ("2020-01-02,1,2,0.5,1.5,1\n\n", "line 3", "empty line"),
])
def test_bad_bar_rows(tmp_path, body, where, message):
    p = _write(tmp_path, HEADER + body)
    with pytest.raises(DataFormatError) as err:
        read_bars(p)
    assert str(err.value) == f"{p}, {where}: {message}"
    assert err.value.file == str(p) and isinstance(err.value, ValidationError)


def test_off_grid_price_for_an_instrument(tmp_path):
    p = _write(tmp_path, HEADER + "2020-01-02,1.5,2,0.5,1.505,100\n")
    assert read_bars(p)["close"].iloc[0] == 1.505
    with pytest.raises(DataFormatError) as err:
        read_bars(p, Instrument("X", tick_size=Decimal("0.01")))
    assert str(err.value) == f"{p}, line 2, column 'close': 1.505 is not a multiple of 0.01"
    assert (err.value.line, err.value.column) == (2, "close")


def test_missing_column_and_file(tmp_path):
    p = _write(tmp_path, "Date,Open,High,Low,Volume\n2020-01-02,1,2,0.5,1\n")
    with pytest.raises(DataFormatError) as err:
        read_bars(p)
    assert str(err.value) == f"{p}: missing required bars column(s) close; found Date, Open, High, Low, Volume"
    with pytest.raises(DataFormatError, match="no such file"):
        read_bars(tmp_path / "nope.csv")


def test_parquet_errors_name_the_row(tmp_path):
    df = pd.DataFrame({"time": pd.to_datetime(["2020-01-02", "2020-01-03"]), "price": [10.0, -1.0],
                       "quantity": [1.0, 2.0]})
    df.to_parquet(tmp_path / "t.parquet")
    with pytest.raises(DataFormatError) as err:
        read_trades(tmp_path / "t.parquet")
    assert str(err.value) == f"{tmp_path / 't.parquet'}, row 2, column 'price': price must be positive: -1.0"


def test_date_and_time_columns_are_joined(tmp_path):
    p = _write(tmp_path, "Date,Time,Open,High,Low,Close,Volume,OpenInterest\n"
                         "2006-01-02,09:05:00,3578.73,3587.88,3578.73,3582.99,0,0\n"
                         "2006-01-02,09:10:00,3583.01,3588.40,3583.01,3588.03,0,0\n")
    bars = read_bars(p)
    assert bars.index.tolist() == [pd.Timestamp("2006-01-02 09:05"), pd.Timestamp("2006-01-02 09:10")]
    assert bars.columns.tolist() == ["open", "high", "low", "close", "volume", "open_interest"]


# ---- trades, quotes, depth -------------------------------------------------------------------------------------

def test_trades_quotes_and_depth_from_csv(tmp_path):
    t = read_trades(_write(tmp_path, "time,price,qty,side\n2024-08-08T23:54:14.1,61837.63,0.02,SELL\n", "t.csv"),
                    BTC)
    assert (int(t["price"].iloc[0]), int(t["quantity"].iloc[0]), t["side"].iloc[0]) == (6183763, 20000, "sell")
    p = _write(tmp_path, "time,price,quantity,side\n2024-08-08T23:54:14,1,0,buy\n", "t0.csv")
    with pytest.raises(DataFormatError, match=r"line 2, column 'quantity': quantity must be positive: '0'"):
        read_trades(p)
    p = _write(tmp_path, "time,price,quantity,side\n2024-08-08T23:54:14,1,1,long\n", "t1.csv")
    with pytest.raises(DataFormatError, match=r"line 2, column 'side': must be one of buy, sell: 'long'"):
        read_trades(p)
    q = _write(tmp_path, "time,bid,bid_size,ask,ask_size\n1,100.0,1,100.5,2\n2,101.0,1,100.5,2\n", "q.csv")
    with pytest.raises(DataFormatError, match=r"line 3, column 'bid_price': crossed quote, bid above ask: '101.0'"):
        read_quotes(q, time_unit="s")
    d = read_depth(_write(tmp_path, "time,side,price,quantity\n1000,bid,100.00,0\n1000,ask,100.01,3\n", "d.csv"),
                   Instrument("X"), time_unit="ms")
    assert d["price"].tolist() == [10000, 10001] and d["quantity"].tolist() == [0, 3]
    assert d.index[0] == pd.Timestamp("1970-01-01 00:00:01")


# ---- the shipped Binance capture -------------------------------------------------------------------------------

def test_binance_capture():
    cap = read_binance_jsonl(BTC_FILE, BTC)
    assert (len(cap.depth), len(cap.trades), len(cap.quotes), len(cap.snapshot)) == (124_090, 9_757, 28_040, 2_000)
    first = cap.trades.iloc[0]     # {"p":"61837.63000000","q":"0.02000000","m":true}: the buyer made, a sell hit
    assert (int(first["price"]), int(first["quantity"]), first["side"]) == (6_183_763, 20_000, "sell")
    assert cap.trades.index[0] == pd.Timestamp(1723161254087896568)
    q = cap.quotes.iloc[0]
    assert [int(q[c]) for c in ("bid_price", "bid_qty", "ask_price", "ask_qty", "update_id")] == [
        6_183_763, 3_788_260, 6_183_764, 1_546_980, 50_093_239_212]
    assert set(cap.depth["side"]) == {"bid", "ask"} and (cap.depth["quantity"] == 0).any()
    with pytest.raises(DataFormatError) as err:
        read_binance_jsonl(BTC_FILE, Instrument("BTC/USDT", tick_size=Decimal("0.01"), lot_size=Decimal("0.00001"),
                                                base_decimals=8, quote_decimals=8))
    assert str(err.value) == f"{BTC_FILE}, line 1886, column 'quantity': 25.42618900 is not a multiple of 0.00001"


def test_binance_bad_line(tmp_path):
    p = _write(tmp_path, '1 {"stream":"btcusdt@trade","data":{"p":"1","q":"1","T":1,"m":true,"t":1}}\n'
                         'garbage\n', "b.jsonl")
    with pytest.raises(DataFormatError) as err:
        read_binance_jsonl(p)
    assert str(err.value) == f"{p}, line 2: expected '<receive time ns> {{\"stream\": ..., \"data\": ...}}'"


# ---- property: decimal text -> exact ticks, CSV and Parquet alike ----------------------------------------------

@settings(max_examples=25)
@given(st.lists(st.tuples(st.integers(1, 10**9), st.integers(0, 10**6), st.integers(0, 10**6),
                          st.integers(0, 10**6), st.integers(0, 10**12)), min_size=1, max_size=20))
def test_ticks_round_trip_exactly(tmp_path_factory, rows):
    d = tmp_path_factory.mktemp("rt")
    inst = Instrument("X", tick_size=Decimal("0.01"))
    expected = []
    lines = [HEADER]
    for i, (low, a, b, c, vol) in enumerate(rows):
        o, cl, hi = low + a, low + b, low + max(a, b) + c
        expected.append((o, hi, low, cl, vol))
        lines.append(f"2020-01-01T00:00:{i:02d},{inst.ticks_to_price(o)},{inst.ticks_to_price(hi)},"
                     f"{inst.ticks_to_price(low)},{inst.ticks_to_price(cl)},{vol}\n")
    p = d / "b.csv"
    p.write_text("".join(lines))
    bars = read_bars(p, inst)
    assert list(bars[["open", "high", "low", "close", "volume"]].itertuples(index=False, name=None)) == expected
    read_bars(p).to_parquet(d / "b.parquet")
    assert read_bars(d / "b.parquet", inst).equals(bars)


def test_a_byte_order_mark_before_the_header_is_ignored(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes(b"\xef\xbb\xbf" + (HEADER + "2020-01-02,1,2,0.5,1.5,100\n").encode())
    assert read_bars(p).index.tolist() == [pd.Timestamp("2020-01-02")]
