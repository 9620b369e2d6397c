"""Readers for historical market data: OHLCV bars, trades, best bid/ask and L2 depth diffs, from CSV or Parquet.

Every reader validates the file against its schema and rejects the first bad row with a DataFormatError naming
the file, the line (CSV: the physical line, header = line 1; Parquet: the row, first data row = 1) and the column.
Headers are matched case-insensitively with common aliases ("Date", "Datetime", "Adj Close", "qty", ...), a
separate Date + Time pair is joined, and `columns` maps any other header to the schema's name.

The result is a DataFrame indexed by `time` (datetime64, non-decreasing). Prices and quantities are float64 — or,
when an `instrument` is given, exact integer ticks and lots (int64) converted from the decimal text, so a price off
the instrument's tick grid is an error naming its line and column.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from market_sim.core.errors import ValidationError
from market_sim.core.instruments import Instrument

__all__ = ["DataFormatError", "Schema", "BARS", "TRADES", "QUOTES", "DEPTH", "read_bars", "read_trades",
           "read_quotes", "read_depth", "read_table", "BinanceCapture", "read_binance_jsonl"]


class DataFormatError(ValidationError):
    """A data file does not match its schema: names the file, line (or Parquet row) and column."""

    def __init__(self, file: str | Path, line: int | None, column: str | None, message: str, *,
                 unit: str = "line") -> None:
        where = str(file) if line is None else f"{file}, {unit} {line}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")
        self.file = str(file)
        self.line = line
        self.column = column


@dataclass(frozen=True, slots=True)
class Schema:
    """A table kind: required and optional columns, which are prices and which quantities."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    prices: tuple[str, ...] = ()
    quantities: tuple[str, ...] = ()
    text: tuple[str, ...] = ()              # kept as strings, checked against `choices`
    choices: tuple[tuple[str, tuple[str, ...]], ...] = ()


BARS = Schema("bars", ("time", "open", "high", "low", "close", "volume"), ("adj_close", "open_interest"),
              prices=("open", "high", "low", "close", "adj_close"), quantities=("volume", "open_interest"))
TRADES = Schema("trades", ("time", "price", "quantity"), ("side", "trade_id"), prices=("price",),
                quantities=("quantity",), text=("side",), choices=(("side", ("buy", "sell")),))
QUOTES = Schema("quotes", ("time", "bid_price", "bid_qty", "ask_price", "ask_qty"), ("update_id",),
                prices=("bid_price", "ask_price"), quantities=("bid_qty", "ask_qty"))
DEPTH = Schema("depth", ("time", "side", "price", "quantity"), ("update_id",), prices=("price",),
               quantities=("quantity",), text=("side",), choices=(("side", ("bid", "ask")),))

_ALIASES = {
    "date": "time", "datetime": "time", "timestamp": "time", "ts": "time",
    "adj close": "adj_close", "adjclose": "adj_close", "adj_close": "adj_close",
    "openinterest": "open_interest", "open interest": "open_interest",
    "qty": "quantity", "size": "quantity", "amount": "quantity", "vol": "volume",
    "bid": "bid_price", "ask": "ask_price", "bid_size": "bid_qty", "ask_size": "ask_qty",
}
_INTEGER = ("update_id", "trade_id")


def _canonical(header: str, columns: Mapping[str, str]) -> str:
    if header in columns:
        return columns[header]
    h = header.strip().lower()
    return _ALIASES.get(h, h.replace(" ", "_"))


def read_bars(path: str | Path, instrument: Instrument | None = None, **kw: Any) -> pd.DataFrame:
    """OHLCV bars of any interval; checks low <= open, close <= high, prices > 0 and volume >= 0."""
    return read_table(path, BARS, instrument, **kw)


def read_trades(path: str | Path, instrument: Instrument | None = None, **kw: Any) -> pd.DataFrame:
    """Trades / ticks: time, price, quantity (> 0), optional side (aggressor: buy | sell) and trade_id."""
    return read_table(path, TRADES, instrument, **kw)


def read_quotes(path: str | Path, instrument: Instrument | None = None, **kw: Any) -> pd.DataFrame:
    """Best bid/ask: time, bid_price, bid_qty, ask_price, ask_qty; a crossed quote (bid > ask) is an error."""
    return read_table(path, QUOTES, instrument, **kw)


def read_depth(path: str | Path, instrument: Instrument | None = None, **kw: Any) -> pd.DataFrame:
    """L2 depth diffs, one level per row: time, side (bid | ask), price, quantity (0 = level removed)."""
    return read_table(path, DEPTH, instrument, **kw)


def read_table(path: str | Path, schema: Schema, instrument: Instrument | None = None, *,
               columns: Mapping[str, str] | None = None, time_unit: str | None = None,
               format: str | None = None) -> pd.DataFrame:
    """Read and validate one file against `schema`. `format`: "csv" or "parquet" (default: from the suffix;
    .csv/.txt/.csv.gz are CSV). `time_unit` ("s", "ms", "us", "ns") reads integer epoch times."""
    path = Path(path)
    fmt = format or ("parquet" if path.suffix in (".parquet", ".pq") else "csv")
    if fmt not in ("csv", "parquet"):
        raise DataFormatError(path, None, None, f"unknown format {fmt!r}; use 'csv' or 'parquet'")
    if not path.is_file():
        raise DataFormatError(path, None, None, "no such file")
    if fmt == "csv":
        headers, rows, lines = _read_csv(path)
        raw = {h: [r[i] for r in rows] for i, h in enumerate(headers)}
        unit = "line"
    else:
        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several unrelated types for a damaged file
            raise DataFormatError(path, None, None, f"not a readable Parquet file ({exc})") from None
        if not isinstance(df.index, pd.RangeIndex):   # e.g. a reader's own output, indexed by time
            df = df.reset_index()
        headers = [str(c) for c in df.columns]
        raw = {h: df[c].tolist() for h, c in zip(headers, df.columns)}
        lines = np.arange(1, len(df) + 1)
        unit = "row"
    table = _rename(path, headers, raw, schema, dict(columns or {}))
    return _validate(path, table, lines, unit, schema, instrument, time_unit)


def _read_csv(path: Path) -> tuple[list[str], list[list[str]], np.ndarray]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            try:
                headers = next(reader)
            except StopIteration:
                raise DataFormatError(path, None, None, "the file is empty (no header line)") from None
            rows, lines = [], []
            for row in reader:
                if not row:
                    raise DataFormatError(path, reader.line_num, None, "empty line")
                if len(row) != len(headers):
                    raise DataFormatError(path, reader.line_num, None,
                                          f"{len(row)} fields, the header has {len(headers)}")
                rows.append(row)
                lines.append(reader.line_num)
    except UnicodeDecodeError as exc:
        raise DataFormatError(path, None, None, f"not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise DataFormatError(path, None, None, f"malformed CSV ({exc})") from None
    return headers, rows, np.asarray(lines, dtype=np.int64)


def _rename(path: Path, headers: Sequence[str], raw: dict[str, list[Any]], schema: Schema,
            columns: dict[str, str]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    names = [_canonical(h, columns) for h in headers]
    if "time" in names and names.count("time") == 2 and {"date", "time"} <= {h.strip().lower() for h in headers}:
        # a Date column and a Time column: join them
        d = next(h for h in headers if h.strip().lower() == "date")
        t = next(h for h in headers if h.strip().lower() == "time")
        raw = dict(raw)
        raw["__time__"] = [f"{a} {b}" for a, b in zip(raw[d], raw[t])]
        headers = [h for h in headers if h not in (d, t)] + ["__time__"]
        columns = {**columns, "__time__": "time"}
        names = [_canonical(h, columns) for h in headers]
    for h, n in zip(headers, names):
        if n in out:
            raise DataFormatError(path, None, h,
                                  f"maps to {n!r}, which another column already provides")
        out[n] = raw[h]
    missing = [c for c in schema.required if c not in out]
    if missing:
        raise DataFormatError(path, None, None,
                              f"missing required {schema.name} column(s) {', '.join(missing)}; "
                              f"found {', '.join(headers)}")
    return {c: out[c] for c in (*schema.required, *schema.optional) if c in out}


def _fail(path: Path, lines: np.ndarray, unit: str, bad: np.ndarray, column: str, message: str,
          values: Sequence[Any]) -> None:
    if bad.any():
        i = int(np.argmax(bad))
        raise DataFormatError(path, int(lines[i]), column, f"{message}: {values[i]!r}", unit=unit)


def _numbers(path: Path, lines: np.ndarray, unit: str, column: str, values: list[Any]) -> np.ndarray:
    nums = pd.to_numeric(pd.Series(values, dtype="object"), errors="coerce").to_numpy(dtype="float64")
    bad = ~np.isfinite(nums)
    if bad.any():
        i = int(np.argmax(bad))
        v = values[i]
        missing = v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and math.isnan(v))
        raise DataFormatError(path, int(lines[i]), column, f"{'missing value' if missing else 'not a finite number'}"
                                                           f": {v!r}", unit=unit)
    return nums


def _exact(path: Path, lines: np.ndarray, unit: str, column: str, values: list[Any], step: Decimal) -> np.ndarray:
    out = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        text = repr(v) if isinstance(v, float) else str(v).strip()
        try:
            units, rem = divmod(Decimal(text), step)
        except InvalidOperation:
            raise DataFormatError(path, int(lines[i]), column, f"not a number: {v!r}", unit=unit) from None
        if rem != 0:
            raise DataFormatError(path, int(lines[i]), column, f"{text} is not a multiple of {step}", unit=unit)
        out[i] = int(units)
    return out


def _times(path: Path, lines: np.ndarray, unit: str, values: list[Any], time_unit: str | None) -> pd.DatetimeIndex:
    s = pd.Series(values, dtype="object")
    if time_unit is not None:
        nums = pd.to_numeric(s, errors="coerce")
        _fail(path, lines, unit, nums.isna().to_numpy(), "time", f"not an integer epoch time in {time_unit}",
              values)
        t = pd.to_datetime(nums.astype("int64"), unit=time_unit)
    elif pd.api.types.is_datetime64_any_dtype(pd.Series(values)):
        t = pd.Series(pd.to_datetime(pd.Series(values)))
    else:
        t = pd.to_datetime(s.astype(str).str.strip(), format="ISO8601", errors="coerce")
        _fail(path, lines, unit, t.isna().to_numpy(), "time", "not an ISO 8601 date/time", values)
    idx = pd.DatetimeIndex(t, name="time")
    if len(idx) > 1:
        back = np.concatenate([[False], idx.to_numpy()[1:] < idx.to_numpy()[:-1]])
        _fail(path, lines, unit, back, "time", "earlier than the row before it", values)
    return idx


def _validate(path: Path, table: dict[str, list[Any]], lines: np.ndarray, unit: str, schema: Schema,
              instrument: Instrument | None, time_unit: str | None) -> pd.DataFrame:
    index = _times(path, lines, unit, table["time"], time_unit)
    cols: dict[str, Any] = {}
    floats: dict[str, np.ndarray] = {}
    for c, values in table.items():
        if c == "time":
            continue
        if c in schema.text:
            v = pd.Series(values, dtype="object").astype(str).str.strip().str.lower().to_numpy(dtype=object)
            allowed = dict(schema.choices).get(c)
            if allowed:
                _fail(path, lines, unit, ~np.isin(v, allowed), c, f"must be one of {', '.join(allowed)}", values)
            cols[c] = v
            continue
        nums = _numbers(path, lines, unit, c, values)
        floats[c] = nums
        if c in _INTEGER:
            _fail(path, lines, unit, nums != np.floor(nums), c, "not an integer", values)
            cols[c] = nums.astype(np.int64)
        elif instrument is not None and c in schema.prices:
            cols[c] = _exact(path, lines, unit, c, values, instrument.tick_size)
        elif instrument is not None and c in schema.quantities:
            cols[c] = _exact(path, lines, unit, c, values, instrument.lot_size)
        else:
            cols[c] = nums
    for c in schema.prices:
        if c in floats:
            _fail(path, lines, unit, floats[c] <= 0, c, "price must be positive", table[c])
    for c in schema.quantities:
        if c in floats:
            bad = floats[c] <= 0 if schema is TRADES else floats[c] < 0
            _fail(path, lines, unit, bad, c,
                  "quantity must be >= 0" if schema is not TRADES else "quantity must be positive", table[c])
    if schema is BARS:
        o, h, lo, c = floats["open"], floats["high"], floats["low"], floats["close"]
        _fail(path, lines, unit, h < np.maximum(np.maximum(o, c), lo), "high",
              "high is below open, low or close", table["high"])
        _fail(path, lines, unit, lo > np.minimum(o, c), "low", "low is above open or close", table["low"])
    if schema is QUOTES:
        _fail(path, lines, unit, floats["bid_price"] > floats["ask_price"], "bid_price",
              "crossed quote, bid above ask", table["bid_price"])
    return pd.DataFrame(cols, index=index)


# ---- Binance capture (hftbacktest's jsonl.gz recordings) ------------------------------------------------------

@dataclass(frozen=True, slots=True)
class BinanceCapture:
    """A Binance spot capture split into the reader schemas (time = local receive time; exchange_time kept)."""

    depth: pd.DataFrame
    trades: pd.DataFrame
    quotes: pd.DataFrame
    snapshot: pd.DataFrame   # REST depth snapshots ({"lastUpdateId", "bids", "asks"} lines), DEPTH schema


def read_binance_jsonl(path: str | Path, instrument: Instrument | None = None) -> BinanceCapture:
    """Read `<receive time ns> <exchange JSON>` lines of the depth@100ms, trade and bookTicker streams.

    Depth rows: one per level in a diff (quantity 0 = level removed), update_id = the diff's final id `u`.
    Trades: side is the aggressor ("sell" when the buyer is the maker, `m`). Quotes: the bookTicker fields.
    """
    path = Path(path)
    depth: list[tuple] = []
    trades: list[tuple] = []
    quotes: list[tuple] = []
    dlines: list[int] = []
    tlines: list[int] = []
    qlines: list[int] = []
    snap: list[tuple] = []
    slines: list[int] = []
    try:
        with gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                stamp, _, body = line.partition(" ")
                try:
                    t = int(stamp)
                    msg = json.loads(body)
                    if "lastUpdateId" in msg:
                        for side, key in (("bid", "bids"), ("ask", "asks")):
                            for price, qty in msg[key]:
                                snap.append((t, side, price, qty, msg["lastUpdateId"]))
                                slines.append(n)
                        continue
                    stream, data = msg["stream"], msg["data"]
                except (ValueError, KeyError, TypeError):
                    raise DataFormatError(path, n, None, "expected '<receive time ns> {\"stream\": ..., "
                                                         "\"data\": ...}'") from None
                try:
                    if stream.endswith("@depth@100ms") or stream.endswith("@depth"):
                        for side, key in (("bid", "b"), ("ask", "a")):
                            for price, qty in data[key]:
                                depth.append((t, data["E"], side, price, qty, data["u"]))
                                dlines.append(n)
                    elif stream.endswith("@trade"):
                        trades.append((t, data["T"], data["p"], data["q"], "sell" if data["m"] else "buy",
                                       data["t"]))
                        tlines.append(n)
                    elif stream.endswith("@bookTicker"):
                        quotes.append((t, data["b"], data["B"], data["a"], data["A"], data["u"]))
                        qlines.append(n)
                except (KeyError, TypeError, ValueError) as exc:
                    raise DataFormatError(path, n, None, f"{stream} message lacks field {exc}") from None
    except (OSError, EOFError) as exc:
        raise DataFormatError(path, None, None, f"cannot read ({exc})") from None

    def frame(rows: list[tuple], names: tuple[str, ...], schema: Schema, lines: list[int]) -> pd.DataFrame:
        table = {k: [r[i] for r in rows] for i, k in enumerate(names)}
        exch = table.pop("exchange_time")
        df = _validate(path, table, np.asarray(lines, dtype=np.int64), "line", schema, instrument, "ns")
        df["exchange_time"] = pd.to_datetime(np.asarray(exch, dtype=np.int64), unit="ms")
        return df

    return BinanceCapture(
        frame(depth, ("time", "exchange_time", "side", "price", "quantity", "update_id"), DEPTH, dlines),
        frame(trades, ("time", "exchange_time", "price", "quantity", "side", "trade_id"), TRADES, tlines),
        _quotes(path, quotes, qlines, instrument),
        _validate(path, {k: [r[i] for r in snap] for i, k in enumerate(("time", "side", "price", "quantity",
                                                                       "update_id"))},
                  np.asarray(slines, dtype=np.int64), "line", DEPTH, instrument, "ns"),
    )


def _quotes(path: Path, rows: list[tuple], lines: list[int], instrument: Instrument | None) -> pd.DataFrame:
    names = ("time", "bid_price", "bid_qty", "ask_price", "ask_qty", "update_id")
    table = {k: [r[i] for r in rows] for i, k in enumerate(names)}
    return _validate(path, table, np.asarray(lines, dtype=np.int64), "line", QUOTES, instrument, "ns")
