"""Replay order commands from a CSV file through a MatchingEngine and write trades, events and the final book.

CSV schema (header row required; column order free; only `action` is mandatory as a column; empty cell = default):
  action            new | cancel | modify | end_session | expire
  ts                integer ns; empty repeats the previous row's ts (0 at the start); must not go backwards
  order_id          integer (new, cancel, modify)
  trader            trader id (new, cancel, modify)
  symbol            instrument (new; optional for cancel/modify; end_session: empty = all instruments)
  side              buy | sell (new)
  type              limit | market | stop | stop_limit (default limit)
  price             decimal limit price (limit, stop_limit; modify: new price)
  quantity          decimal quantity (new; modify: new open quantity)
  stop_price        decimal trigger price (stop, stop_limit)
  tif               gtc | day | gtd | ioc | fok | opg | cls (default gtc; opg/cls need a call-auction venue)
  expire_at         integer ns (gtd)
  display_quantity  decimal iceberg display quantity
  hidden            true | false (default false)
  post_only         reject | reprice (empty = not post-only)
  stp               none | cancel_newest | cancel_oldest | cancel_both | decrement_and_cancel (default none)
Prices and quantities are converted with the instrument's tick and lot size; off-grid, non-finite, zero or negative
values, and values of more than 28 digits of ticks or lots, make the row malformed. The file is read as UTF-8 (a
byte-order mark is skipped); a row with bytes that are not UTF-8 is malformed.

Outputs are written into a temporary folder next to `out_dir` and moved into place only when the replay succeeds:
a replay that fails (unreadable input, bad header, a malformed row with `strict`, an interrupt) leaves no output
files behind (and an existing `out_dir` as it was).

Speed: well-formed `new`, `cancel` and `modify` rows take a fast path (exact integer conversion of plain decimal
strings, cached per instrument; commands built without the dataclass __init__; event rows formatted directly).
Anything the fast path does not recognise goes to the precise path (`_RowParser`), which produces the error
messages; both give the same command for every row the fast path accepts (tests/unit/market/test_replay.py checks
that the two paths write byte-identical outputs).
"""

from __future__ import annotations

import codecs
import csv
import json
import os
import secrets
import shutil
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, is_dataclass
from decimal import Decimal, DecimalException
from enum import Enum
from functools import partial
from json.encoder import encode_basestring_ascii
from pathlib import Path

from market_sim.core.errors import ConfigError, MarketSimError, ValidationError
from market_sim.core.events import (
    Event, OrderAccepted, OrderCancelled, OrderModified, OrderRejected, Trade,
)
from market_sim.core.instruments import Instrument
from market_sim.core.orders import (
    CancelOrder, ModifyOrder, NewOrder, OrderType, PostOnlyMode, Side, STPMode, TimeInForce,
)
from market_sim.market._construct import constructor
from market_sim.market.engine import MatchingEngine
from market_sim.market.order import OrderState

__all__ = ["COLUMNS", "ReplaySummary", "ReplayError", "load_instruments", "replay", "parse_rows"]

COLUMNS = ("action", "ts", "order_id", "trader", "symbol", "side", "type", "price", "quantity", "stop_price", "tif",
           "expire_at", "display_quantity", "hidden", "post_only", "stp")
TRADE_COLUMNS = ("trade_id", "ts", "symbol", "price", "quantity", "price_ticks", "quantity_lots", "buy_order_id",
                 "sell_order_id", "buyer", "seller", "aggressor", "line")
EVENT_COLUMNS = ("line", "ts", "event", "symbol", "order_id", "data")
OUTPUT_FILES = ("trades.csv", "events.csv", "book.json")
MAX_DIGITS = 28  # ticks or lots: the precision of the decimal context the conversion uses
_ACTIONS = ("new", "cancel", "modify", "end_session", "expire")
_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_FAST = True  # the fast path for well-formed rows (tests switch it off to compare against the precise path)


class ReplayError(ValidationError):
    """A malformed row in strict mode."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path} line {line}: {message}")
        self.line = line


@dataclass(slots=True)
class ReplaySummary:
    """What a replay did; `malformed` lists (line, message) of skipped rows."""

    rows: int = 0
    commands: int = 0
    events: int = 0
    trades: int = 0
    rejects: int = 0
    malformed: list[tuple[int, str]] = field(default_factory=list)
    instruments: list[str] = field(default_factory=list)
    out_dir: str = ""


def load_instruments(path: Path) -> list[Instrument]:
    """Instruments from a JSON or TOML file: a list (or an `instruments` list) of Instrument fields."""
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read instruments file {path}: {exc}") from None
    items = data.get("instruments") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{path}: expected a non-empty list of instruments (or an 'instruments' list)")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ConfigError(f"{path}: instrument #{i + 1} is not a table/object")
        try:
            out.append(Instrument(**item))
        except (TypeError, ValueError, MarketSimError) as exc:  # unknown field, bad enum value, bad grid
            raise ConfigError(f"{path}: instrument #{i + 1}: {exc}") from None
    return out


def _enum(enum: type[Enum], text: str, what: str) -> Enum:
    try:
        return enum(text.lower())
    except ValueError:
        choices = " | ".join(str(m.value) for m in enum)  # type: ignore[attr-defined]
        raise ValidationError(f"{what} must be one of {choices}, got {text!r}") from None


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValidationError(f"{what} must be an integer, got {text!r}") from None


def _positive(convert: Callable[[str], int], text: str, what: str) -> int:
    value = convert(text)
    if value <= 0:
        raise ValidationError(f"{what} must be positive, got {text!r}")
    return value


def _units(inst: Instrument, price: bool, text: str) -> int:
    """`text` in ticks (price) or lots of `inst`; ValidationError if malformed, off the grid or too large."""
    try:
        return inst.price_to_ticks(text) if price else inst.qty_to_lots(text)
    except DecimalException:  # the integer part of value / step needs more digits than the decimal context has
        what, unit, step = ("price", "ticks", inst.tick_size) if price else ("quantity", "lots", inst.lot_size)
        raise ValidationError(f"{inst.symbol} {what} {text} is too large: more than {MAX_DIGITS} digits of {unit} "
                              f"of {step}") from None


class _RowParser:
    """Turns one CSV row into an engine command, resolving instruments as it goes."""

    def __init__(self, engine: MatchingEngine, auto_instruments: bool) -> None:
        self.engine = engine
        self.auto = auto_instruments
        self.ts = 0

    def instrument(self, symbol: str) -> Instrument:
        inst = self.engine.instruments.get(symbol)
        if inst is None:
            if not self.auto:
                raise ValidationError(f"unknown instrument {symbol!r}")
            inst = Instrument(symbol)
            self.engine.add_instrument(inst)
        return inst

    def parse(self, row: dict[str, str]) -> tuple[str, int, object]:
        def get(name: str) -> str:
            return (row.get(name) or "").strip()

        def need(name: str) -> str:
            value = get(name)
            if not value:
                raise ValidationError(f"{name} is required for action {action!r}")
            return value

        action = get("action").lower()
        if action not in _ACTIONS:
            raise ValidationError(f"action must be one of {' | '.join(_ACTIONS)}, got {get('action')!r}")
        ts = self.ts
        if get("ts"):
            ts = _int(get("ts"), "ts")
            if ts < self.ts:
                raise ValidationError(f"ts {ts} goes back in time (previous row: {self.ts})")
        cmd = self._command(action, get, need)
        self.ts = ts  # only a well-formed row moves the clock
        return action, ts, cmd

    def _command(self, action: str, get: Callable[[str], str], need: Callable[[str], str]) -> object:
        if action == "end_session":
            symbol = get("symbol") or None
            if symbol is not None:
                self.instrument(symbol)
            return symbol
        if action == "expire":
            return None
        order_id = _int(need("order_id"), "order_id")
        trader = need("trader")
        if action == "cancel":
            return CancelOrder(order_id, trader)
        if action == "modify":
            symbol = get("symbol")
            if not symbol:
                live: OrderState | None = self.engine.order(order_id)
                if live is None:  # the engine will reject it as unknown
                    return ModifyOrder(order_id, trader)
                symbol = live.symbol
            inst = self.instrument(symbol)
            qty = _positive(partial(_units, inst, False), get("quantity"), "quantity") if get("quantity") else None
            price = _positive(partial(_units, inst, True), get("price"), "price") if get("price") else None
            if qty is None and price is None:
                raise ValidationError("modify needs a new quantity or price")
            return ModifyOrder(order_id, trader, quantity=qty, price=price)
        inst = self.instrument(need("symbol"))
        side = {"buy": Side.BUY, "sell": Side.SELL}.get(need("side").lower())
        if side is None:
            raise ValidationError(f"side must be buy | sell, got {get('side')!r}")
        kind = _enum(OrderType, get("type") or "limit", "type")
        qty = _positive(partial(_units, inst, False), need("quantity"), "quantity")
        price = _positive(partial(_units, inst, True), get("price"), "price") if get("price") else None
        stop = _positive(partial(_units, inst, True), get("stop_price"), "stop_price") if get("stop_price") else None
        display = (_positive(partial(_units, inst, False), get("display_quantity"), "display_quantity")
                   if get("display_quantity") else None)
        hidden = _BOOLS.get(get("hidden").lower() or "false")
        if hidden is None:
            raise ValidationError(f"hidden must be true | false, got {get('hidden')!r}")
        return NewOrder(
            order_id, trader, inst.symbol, side, qty, kind, price, stop,
            _enum(TimeInForce, get("tif") or "gtc", "tif"),
            _int(get("expire_at"), "expire_at") if get("expire_at") else None,
            display, hidden,
            _enum(PostOnlyMode, get("post_only"), "post_only") if get("post_only") else None,
            _enum(STPMode, get("stp") or "none", "stp"))



def _utf8_problem(path: Path) -> str | None:
    """None if the whole file is valid UTF-8, else where the first invalid byte is."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 22):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    return f"byte {offset + exc.start}"
                offset += len(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "its end (a truncated character)"
    except OSError as exc:
        raise ConfigError(f"cannot read orders file {path}: {exc}") from None
    return None


def _not_utf8(cells: list[str], header: list[str]) -> str | None:
    """The problem with a row read with surrogateescape from a file that is not all UTF-8, or None."""
    for i, cell in enumerate(cells):
        try:
            cell.encode("utf-8")
        except UnicodeEncodeError:
            name = header[i] if i < len(header) else f"cell {i + 1}"
            return f"{name} is not valid UTF-8 text: {cell.encode('utf-8', 'surrogateescape')!r}"
    return None


class _Source:
    """An orders file opened for reading: header checked, csv reader positioned on the first data row."""

    def __init__(self, path: Path) -> None:
        self.path = path
        bad = _utf8_problem(path)
        self.clean = bad is None  # no per-row UTF-8 checks needed
        try:
            self.file = path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
        except OSError as exc:
            raise ConfigError(f"cannot read orders file {path}: {exc}") from None
        try:
            self.reader = csv.reader(self.file)
            try:
                header = next(self.reader, None)
            except csv.Error as exc:
                raise ConfigError(f"{path} line 1: cannot read the header: {exc}") from None
            if header is None:
                raise ConfigError(f"{path} is empty; expected a header row with columns {', '.join(COLUMNS)}")
            if not self.clean and _not_utf8(header, header):
                raise ConfigError(f"{path} line 1: the header is not UTF-8 text (the first invalid byte is at {bad}); "
                                  f"expected columns {', '.join(COLUMNS)}")
            header = [h.strip().lower() for h in header]
            unknown = [h for h in header if h not in COLUMNS]
            if unknown or "action" not in header:
                raise ConfigError(f"{path} header: unknown columns {unknown} or no 'action' column; "
                                  f"allowed: {', '.join(COLUMNS)}")
            twice = sorted({h for h in header if header.count(h) > 1})
            if twice:
                raise ConfigError(f"{path} header: columns given more than once: {', '.join(twice)}")
            self.header = header
        except BaseException:
            self.file.close()
            raise

    def rows(self) -> Iterator[tuple[int, list[str] | None, str | None]]:
        """(line, cells, None) per row, or (line, None, problem) for a row the csv module cannot read."""
        reader = self.reader
        while True:
            try:
                for cells in reader:
                    yield reader.line_num, cells, None
                return
            except csv.Error as exc:  # e.g. a field beyond the csv module's size limit
                yield reader.line_num, None, f"unreadable CSV row: {exc}"

    def close(self) -> None:
        self.file.close()


def _row_problem(cells: list[str], header: list[str], clean: bool) -> str | None:
    if not clean:
        problem = _not_utf8(cells, header)
        if problem is not None:
            return problem
    if len(cells) != len(header):
        return f"expected {len(header)} cells, got {len(cells)}"
    return None


def _blank(cells: list[str]) -> bool:
    return not cells or all(not c.strip() for c in cells)


def parse_rows(path: Path) -> Iterator[tuple[int, dict[str, str] | None, str | None]]:
    """(line number, row, problem) for each data row; a row with the wrong number of cells has a problem.

    Raises ConfigError (before yielding anything) if the file cannot be read or its header is wrong.
    """
    source = _Source(path)
    return _parse_rows(source)


def _parse_rows(source: _Source) -> Iterator[tuple[int, dict[str, str] | None, str | None]]:
    header = source.header
    try:
        for line, cells, problem in source.rows():
            if problem is None:
                if _blank(cells):
                    continue
                problem = _row_problem(cells, header, source.clean)
            if problem is not None:
                yield line, None, problem
                continue
            yield line, dict(zip(header, cells)), None
    finally:
        source.close()


# ------------------------------------------------------------------------------------------ fast path

_new_order = constructor(NewOrder)
_cancel_order = constructor(CancelOrder)
_modify_order = constructor(ModifyOrder)


class _Grid:
    """Exact conversion of plain decimal strings (digits, optionally '.' and digits) to units of one step.

    `units(text)` is the positive unit count, or None for anything else (other notations, zero, off the grid, too
    many digits), which the precise path then handles. Results are cached per string.
    """

    __slots__ = ("cache", "_scale")
    _LIMIT = 10 ** MAX_DIGITS
    _MAX_LENGTH = 30

    def __init__(self, step: Decimal) -> None:
        _, digits, exponent = step.as_tuple()
        coefficient = int("".join(map(str, digits)))
        # value = n / 10**f and step = coefficient * 10**exponent, so units = n * mul / den
        self._scale = []
        for f in range(self._MAX_LENGTH + 1):
            e = f + exponent
            mul, den = (1, coefficient * 10 ** e) if e >= 0 else (10 ** -e, coefficient)
            self._scale.append((mul, den))
        self.cache: dict[str, int] = {}

    def units(self, text: str) -> int | None:
        if len(text) > self._MAX_LENGTH:
            return None
        whole, _, fraction = text.partition(".")
        if not (whole.isdigit() and whole.isascii()):
            return None
        if fraction:
            if not (fraction.isdigit() and fraction.isascii()):
                return None
            n = int(whole + fraction)
        else:
            n = int(whole)
        mul, den = self._scale[len(fraction)]
        units, rest = divmod(n * mul, den)
        if rest or units <= 0 or units >= self._LIMIT:
            return None
        cache = self.cache
        if len(cache) >= 65_536:
            cache.clear()
        cache[text] = units
        return units


class _Listing:
    """Per-instrument state of the fast path: price and quantity grids and decimal strings for the outputs."""

    __slots__ = ("symbol", "inst", "ticks", "lots", "price_text", "qty_text")

    def __init__(self, inst: Instrument) -> None:
        self.symbol = inst.symbol
        self.inst = inst
        self.ticks = _Grid(inst.tick_size)
        self.lots = _Grid(inst.lot_size)
        self.price_text = _Texts(inst.ticks_to_price)
        self.qty_text = _Texts(inst.lots_to_qty)


class _Texts(dict):
    """units -> str(decimal value), computed on first use."""

    __slots__ = ("convert",)

    def __init__(self, convert: Callable[[int], Decimal]) -> None:
        super().__init__()
        self.convert = convert

    def __missing__(self, units: int) -> str:
        text = str(self.convert(units))
        if len(self) >= 65_536:
            self.clear()
        self[units] = text
        return text


class _JsonText(dict):
    """str -> its JSON literal with quotes doubled for a quoted CSV cell."""

    __slots__ = ()

    def __missing__(self, text: str) -> str:
        quoted = json.dumps(text).replace('"', '""')
        if len(self) >= 65_536:
            self.clear()
        self[text] = quoted
        return quoted


class _IntText(dict):
    """int -> str(int), for the prices and quantities that recur in the outputs (str() of an int costs more than
    a look-up)."""

    __slots__ = ()

    def __missing__(self, value: int) -> str:
        text = str(value)
        if len(self) >= 65_536:
            self.clear()
        self[value] = text
        return text


class _CsvText(dict):
    """str -> the CSV cell the csv module writes for it (quoted only if it holds , \" CR or LF)."""

    __slots__ = ()

    def __missing__(self, text: str) -> str:
        cell = text
        if "," in text or '"' in text or "\r" in text or "\n" in text:
            cell = '"' + text.replace('"', '""') + '"'
        if len(self) >= 65_536:
            self.clear()
        self[text] = cell
        return cell


_SIDES = {"buy": Side.BUY, "sell": Side.SELL}
_TYPES = {"": OrderType.LIMIT, **{m.value: m for m in OrderType}}
_TIFS = {"": TimeInForce.GTC, **{m.value: m for m in TimeInForce}}
_STPS = {"": STPMode.NONE, **{m.value: m for m in STPMode}}
_POST_ONLY = {"": None, **{m.value: m for m in PostOnlyMode}}
_HIDDEN = {"": False, **_BOOLS}


# ------------------------------------------------------------------------------------------ outputs

def _plain(value: object) -> object:
    if isinstance(value, Side):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    return value


class _LineOut:
    """A file-like target for csv.writer that keeps the last formatted row."""

    __slots__ = ("text",)

    def write(self, text: str) -> None:
        self.text = text


class _Rows:
    """Formats output rows the way the csv module does (excel dialect, CRLF), generically."""

    def __init__(self) -> None:
        self._out = _LineOut()
        self._writer = csv.writer(self._out)

    def row(self, cells: tuple) -> str:
        self._writer.writerow(cells)
        return self._out.text


def _event_row(rows: _Rows, line: int, ev: Event) -> str:
    """The events.csv row of any event (the reference format the fast writers reproduce)."""
    data = _plain(ev)
    data.pop("ts")
    order = data.get("order") or {}   # OrderAccepted carries the whole command
    symbol = data.get("symbol", order.get("symbol", ""))
    order_id = data.get("order_id", order.get("order_id", ""))
    return rows.row((line, ev.ts, type(ev).__name__, symbol, order_id, json.dumps(data, separators=(",", ":"))))


def _trade_row(rows: _Rows, engine: MatchingEngine, line: int, ev: Trade) -> str:
    inst = engine.instruments[ev.symbol]
    return rows.row((ev.trade_id, ev.ts, ev.symbol, inst.ticks_to_price(ev.price), inst.lots_to_qty(ev.quantity),
                     ev.price, ev.quantity, ev.buy_order_id, ev.sell_order_id, ev.buyer, ev.seller,
                     str(ev.aggressor), line))


def _book_json(engine: MatchingEngine) -> dict:
    out = {}
    for book in engine.books():
        inst = book.instrument
        bids, asks = book.l3(include_hidden=True)

        def rows(states: list[OrderState]) -> list[dict]:
            return [{"order_id": s.order_id, "trader": s.trader, "price": str(inst.ticks_to_price(s.price)),
                     "quantity": str(inst.lots_to_qty(s.quantity)), "displayed": str(inst.lots_to_qty(s.displayed)),
                     "price_ticks": s.price, "quantity_lots": s.quantity, "displayed_lots": s.displayed,
                     "hidden": s.hidden, "tif": s.tif.value} for s in states]

        stats = book.stats()
        out[book.symbol] = {
            "tick_size": str(inst.tick_size), "lot_size": str(inst.lot_size),
            "bids": rows(bids), "asks": rows(asks),
            "pending_stops": [{"order_id": s.order_id, "trader": s.trader, "side": str(s.side),
                               "order_type": s.order_type.value, "stop_price": str(inst.ticks_to_price(s.stop_price)),
                               "price": None if s.price is None else str(inst.ticks_to_price(s.price)),
                               "quantity": str(inst.lots_to_qty(s.quantity)), "stop_price_ticks": s.stop_price,
                               "price_ticks": s.price, "quantity_lots": s.quantity, "tif": s.tif.value}
                              for s in engine.pending_stops(book.symbol)],
            "stats": {"last_price_ticks": stats.last_price, "volume_lots": stats.volume,
                      "trade_count": stats.trade_count, "vwap_ticks": stats.vwap},
        }
    return out


class _Staging:
    """The temporary folder a replay writes into, next to its output folder; commit() moves the files into place."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir = Path(os.path.abspath(out_dir))
        if out_dir.exists() and not out_dir.is_dir():
            raise ConfigError(f"output folder {out_dir} exists and is not a folder")
        self.created: list[Path] = []  # missing parent folders this replay creates, deepest first
        parent = out_dir.parent
        while not parent.exists():
            self.created.append(parent)
            parent = parent.parent
        try:
            for folder in reversed(self.created):
                folder.mkdir()
            self.path = out_dir.parent / f".{out_dir.name}.partial-{secrets.token_hex(4)}"
            self.path.mkdir()
        except OSError as exc:
            self._remove_parents()
            raise ConfigError(f"cannot create output folder {out_dir}: {exc}") from None

    def commit(self) -> None:
        """Move the outputs into the output folder (a rename of the whole folder if it did not exist)."""
        try:
            if not self.out_dir.exists():
                os.replace(self.path, self.out_dir)
                return
            for name in OUTPUT_FILES:
                os.replace(self.path / name, self.out_dir / name)
            self.path.rmdir()
        except OSError as exc:
            self.abort()
            raise ConfigError(f"cannot write the outputs into {self.out_dir}: {exc}") from None

    def abort(self) -> None:
        """Remove everything this replay created."""
        shutil.rmtree(self.path, ignore_errors=True)
        self._remove_parents()

    def _remove_parents(self) -> None:
        for folder in self.created:
            try:
                folder.rmdir()
            except OSError:
                return


def replay(orders: Path, out_dir: Path, *, instruments: list[Instrument] | None = None, strict: bool = False,
           engine: MatchingEngine | None = None) -> ReplaySummary:
    """Replay `orders` into trades.csv, events.csv and book.json under `out_dir`.

    Without `instruments`, each new symbol gets a default Instrument (tick 0.01, lot 1). Malformed rows are
    skipped and listed in the summary, or with `strict` the replay stops at the first one and raises ReplayError.
    The input and its header are checked before anything is created, and the outputs appear only when the replay
    has succeeded: after an error (or an interrupt) no output files are left behind.
    """
    source = _Source(orders)
    try:
        engine = engine if engine is not None else MatchingEngine(instruments or ())
        parser = _RowParser(engine, auto_instruments=instruments is None)
        stage = _Staging(out_dir)
        try:
            summary = ReplaySummary(out_dir=str(out_dir))
            _run(source, engine, parser, stage.path, strict, summary)
            with (stage.path / "book.json").open("w", encoding="utf-8") as f:
                f.write(json.dumps(_book_json(engine), indent=2) + "\n")
            summary.instruments = sorted(engine.instruments)
            stage.commit()
        except BaseException:
            stage.abort()
            raise
    finally:
        source.close()
    return summary


def _run(source: _Source, engine: MatchingEngine, parser: _RowParser, folder: Path, strict: bool,
         summary: ReplaySummary) -> None:
    """Read every row, feed the engine and write trades.csv and events.csv into `folder`.

    One long loop with everything in locals: at a million rows, each attribute lookup or call saved is visible.
    """
    header = source.header
    width = len(header)
    where = {name: i for i, name in enumerate(header)}
    # a missing column reads the empty cell appended to each row at index `width`
    (i_action, i_ts, i_oid, i_trader, i_symbol, i_side, i_type, i_price, i_qty, i_stop, i_tif, i_expire,
     i_display, i_hidden, i_post, i_stp) = (where.get(name, width) for name in COLUMNS)
    fast = _FAST
    clean = source.clean
    reader = source.reader
    listings: dict[str, _Listing] = {}
    traders: set[str] = set()
    instruments = engine.instruments
    symbol_of = engine.symbol_of
    process = engine.process
    new_order, cancel_order, modify_order = _new_order, _cancel_order, _modify_order
    # local copies made with dict displays: compiled, the look-ups are then direct dict calls, not method calls
    sides, types, tifs, stps = {**_SIDES}, {**_TYPES}, {**_TIFS}, {**_STPS}
    post_only, hidden_flags = {**_POST_ONLY}, {**_HIDDEN}
    last_ts = parser.ts  # the parser's clock, kept in a local between the rows the precise path parses
    BUY = Side.BUY
    buy_json, sell_json = '""buy""', '""sell""'
    post_json = {m: f'""{m.value}""' for m in PostOnlyMode}
    plain_tails = {tif.value: {stp.value: f',""stop_price"":null,""tif"":""{tif.value}"",""expire_at"":null,'
                                          f'""display_quantity"":null,""hidden"":false,""post_only"":null,""stp"":'
                                          f'""{stp.value}""}}}}"\r\n' for stp in STPMode} for tif in TimeInForce}
    json_text, csv_text, num_text = _JsonText(), _CsvText(), _IntText()
    quote = encode_basestring_ascii  # what json.dumps does with a str, without its Python-level wrapper
    rows = _Rows()
    malformed = summary.malformed
    n_rows = n_commands = n_events = n_trades = n_rejects = 0
    events_out: list[str] = [",".join(EVENT_COLUMNS) + "\r\n"]
    trades_out: list[str] = [",".join(TRADE_COLUMNS) + "\r\n"]

    def bad(line: int, problem: str) -> None:
        if strict:
            raise ReplayError(source.path, line, problem)
        malformed.append((line, problem))

    def listing_of(symbol: str) -> _Listing | None:
        inst = instruments.get(symbol)
        if inst is None or symbol != symbol.strip():  # the precise path strips cells
            return None
        listing = listings[symbol] = _Listing(inst)
        return listing

    with (folder / "trades.csv").open("w", encoding="utf-8", newline="") as trades_file, \
            (folder / "events.csv").open("w", encoding="utf-8", newline="") as events_file:
        while True:
            try:
                for cells in reader:
                    line = reader.line_num
                    if not clean and not "".join(cells).isascii():
                        problem = _not_utf8(cells, header)
                        if problem is not None:
                            n_rows += 1
                            bad(line, problem)
                            continue
                    cmd = None
                    accepted = None  # the NewOrder the fast path built from this row (its OrderAccepted row is
                    padded = False   # then formatted from the row's values, without reading the event back)
                    if fast and len(cells) == width:
                        # The fast path: plain new / cancel / modify rows. It takes a row only if every cell it
                        # reads is in the exact form the precise path would accept and convert the same way.
                        cells.append("")
                        padded = True
                        action = cells[i_action]
                        last = last_ts
                        text = cells[i_ts]
                        if text:
                            try:
                                ts = int(text)
                            except ValueError:
                                ts = -1
                        else:
                            ts = last
                        try:
                            oid = int(cells[i_oid])
                        except ValueError:
                            oid = None
                        trader = cells[i_trader]
                        if trader not in traders and trader and trader == trader.strip():
                            traders.add(trader)
                        if ts >= last and oid is not None and trader in traders:
                            if action == "new":
                                symbol = cells[i_symbol]
                                listing = listings.get(symbol) or listing_of(symbol)
                                side = sides.get(cells[i_side])
                                kind = types.get(cells[i_type])
                                tif = tifs.get(cells[i_tif])
                                stp = stps.get(cells[i_stp])
                                hidden = hidden_flags.get(cells[i_hidden])
                                post = post_only.get(cells[i_post], False)
                                text = cells[i_expire]
                                try:
                                    expire_at = int(text) if text else None
                                except ValueError:
                                    expire_at = False
                                if (listing is not None and side is not None and kind is not None
                                        and tif is not None and stp is not None and hidden is not None
                                        and post is not False and expire_at is not False):
                                    ticks, lots = listing.ticks, listing.lots
                                    text = cells[i_qty]
                                    qty = lots.cache.get(text) or lots.units(text)
                                    text = cells[i_price]
                                    price = (ticks.cache.get(text) or ticks.units(text) or False) if text else None
                                    text = cells[i_stop]
                                    stop = (ticks.cache.get(text) or ticks.units(text) or False) if text else None
                                    text = cells[i_display]
                                    display = (lots.cache.get(text) or lots.units(text) or False) if text else None
                                    if (qty is not None and price is not False and stop is not False
                                            and display is not False):
                                        cmd = accepted = new_order(oid, trader, symbol, side, qty, kind, price,
                                                                   stop, tif, expire_at, display, hidden, post, stp)
                                        a_oid, a_trader, a_symbol, a_qty, a_price = oid, trader, symbol, qty, price
                                        a_stop, a_expire, a_display, a_hidden = stop, expire_at, display, hidden
                                        a_side, a_post = cells[i_side], cells[i_post]
                                        # the enum values: each cell is "" (the default) or exactly the value
                                        a_type, a_tif, a_stp = (cells[i_type] or "limit", cells[i_tif] or "gtc",
                                                                cells[i_stp] or "none")
                            elif action == "cancel":
                                cmd = cancel_order(oid, trader)
                            elif action == "modify":
                                symbol = cells[i_symbol] or symbol_of(oid)
                                if symbol is None:
                                    cmd = modify_order(oid, trader, None, None)  # unknown order: the engine rejects
                                else:
                                    listing = listings.get(symbol) or listing_of(symbol)
                                    if listing is not None:
                                        ticks, lots = listing.ticks, listing.lots
                                        text = cells[i_qty]
                                        qty = (lots.cache.get(text) or lots.units(text) or False) if text else None
                                        text = cells[i_price]
                                        price = ((ticks.cache.get(text) or ticks.units(text) or False) if text
                                                 else None)
                                        if (qty is not False and price is not False
                                                and (qty is not None or price is not None)):
                                            cmd = modify_order(oid, trader, qty, price)
                            if cmd is not None:
                                last_ts = ts
                    if cmd is None:  # the precise path: other actions, and every row the fast path does not take
                        if padded:
                            cells.pop()
                        if not cells or all(not c.strip() for c in cells):
                            continue  # blank rows are not rows
                        n_rows += 1
                        if len(cells) != width:
                            bad(line, f"expected {width} cells, got {len(cells)}")
                            continue
                        try:
                            parser.ts = last_ts
                            action, ts, cmd = parser.parse(dict(zip(header, cells)))
                        except MarketSimError as exc:
                            bad(line, str(exc))
                            continue
                        last_ts = parser.ts
                        if action == "end_session":
                            produced = engine.end_session(ts, cmd)
                        elif action == "expire":
                            produced = engine.expire(ts)
                        else:
                            produced = process(cmd, ts)
                    else:
                        n_rows += 1
                        produced = process(cmd, ts)
                    n_commands += 1
                    n_events += len(produced)
                    # every event of a row starts with the row's line and (nearly always: the engine stamps its
                    # events with the ts it was given) that ts, so those are formatted once per row
                    row_ts = str(ts)
                    prefix = f"{line},{row_ts},"
                    for ev in produced:
                        kind = type(ev) if fast else None
                        if kind is OrderAccepted:
                            o = ev.order
                            t = ev.ts
                            start = prefix if t is ts else f"{line},{t},"
                            if o is accepted:  # built from this row: format it from the row's values
                                oid_text = str(a_oid)
                                head = (f'{start}OrderAccepted,{csv_text[a_symbol]},{oid_text},"{{""order"":{{'
                                        f'""order_id"":{oid_text},""trader"":{json_text[a_trader]},""symbol"":'
                                        f'{json_text[a_symbol]},""side"":""{a_side}"",""quantity"":{num_text[a_qty]},'
                                        f'""order_type"":""{a_type}"",""price"":'
                                        f'{"null" if a_price is None else num_text[a_price]}')
                                if (a_stop is None and a_expire is None and a_display is None and not a_post
                                        and not a_hidden):
                                    events_out.append(head + plain_tails[a_tif][a_stp])
                                else:
                                    post_out = f'""{a_post}""' if a_post else "null"
                                    events_out.append(
                                        f'{head},""stop_price"":{"null" if a_stop is None else a_stop},""tif"":'
                                        f'""{a_tif}"",""expire_at"":{"null" if a_expire is None else a_expire},'
                                        f'""display_quantity"":{"null" if a_display is None else a_display},'
                                        f'""hidden"":{"true" if a_hidden else "false"},""post_only"":'
                                        f'{post_out},""stp"":'
                                        f'""{a_stp}""}}}}"\r\n')
                                continue
                            symbol, oid, price = o.symbol, o.order_id, o.price
                            oid_text = str(oid)
                            # enum members hash and look up .value in Python code: read _value_ instead
                            head = (f'{start}OrderAccepted,{csv_text[symbol]},{oid_text},"{{""order"":{{'
                                    f'""order_id"":{oid_text},""trader"":{json_text[o.trader]},""symbol"":'
                                    f'{json_text[symbol]},""side"":{buy_json if o.side is BUY else sell_json},'
                                    f'""quantity"":{o.quantity},""order_type"":""{o.order_type._value_}"",""price"":'
                                    f'{"null" if price is None else price}')
                            stop, expire_at, display, post = o.stop_price, o.expire_at, o.display_quantity, o.post_only
                            if stop is None and expire_at is None and display is None and post is None and not o.hidden:
                                events_out.append(head + plain_tails[o.tif._value_][o.stp._value_])
                            else:
                                events_out.append(
                                    f'{head},""stop_price"":{"null" if stop is None else stop},""tif"":'
                                    f'""{o.tif._value_}"",""expire_at"":{"null" if expire_at is None else expire_at},'
                                    f'""display_quantity"":{"null" if display is None else display},""hidden"":'
                                    f'{"true" if o.hidden else "false"},""post_only"":'
                                    f'{"null" if post is None else post_json[post]},""stp"":'
                                    f'""{o.stp._value_}""}}}}"\r\n')
                        elif kind is Trade:
                            n_trades += 1
                            symbol = ev.symbol
                            listing = listings.get(symbol)
                            if listing is None:
                                listing = listings[symbol] = _Listing(instruments[symbol])
                            t = ev.ts
                            price, qty, buyer, seller, tid = ev.price, ev.quantity, ev.buyer, ev.seller, ev.trade_id
                            aggressor, buy_id, sell_id = ev.aggressor, str(ev.buy_order_id), str(ev.sell_order_id)
                            price_units, qty_units, tid = num_text[price], num_text[qty], str(tid)
                            ts_text = row_ts if t is ts else str(t)
                            events_out.append(
                                f'{line},{ts_text},Trade,{csv_text[symbol]},,"{{""trade_id"":{tid},""symbol"":'
                                f'{json_text[symbol]},""price"":{price_units},""quantity"":{qty_units},""buy_order_id"":'
                                f'{buy_id},""sell_order_id"":{sell_id},""buyer"":'
                                f'{json_text[buyer]},""seller"":{json_text[seller]},""aggressor"":'
                                f'{buy_json if aggressor is BUY else sell_json}}}"\r\n')
                            trades_out.append(
                                f'{tid},{ts_text},{csv_text[symbol]},{listing.price_text[price]},'
                                f'{listing.qty_text[qty]},{price_units},{qty_units},{buy_id},{sell_id},'
                                f'{csv_text[buyer]},{csv_text[seller]},{"buy" if aggressor is BUY else "sell"},'
                                f'{line}\r\n')
                        elif kind is OrderCancelled:
                            t = ev.ts
                            symbol, oid_text = ev.symbol, str(ev.order_id)
                            events_out.append(
                                f'{prefix if t is ts else f"{line},{t},"}OrderCancelled,{csv_text[symbol]},{oid_text},'
                                f'"{{""order_id"":{oid_text},""trader"":{json_text[ev.trader]},""symbol"":'
                                f'{json_text[symbol]},""cancelled_quantity"":{num_text[ev.cancelled_quantity]},'
                                f'""reason"":""{ev.reason._value_}"",""remaining_quantity"":'
                                f'{num_text[ev.remaining_quantity]}}}"\r\n')
                        elif kind is OrderModified:
                            t = ev.ts
                            symbol, oid_text, price = ev.symbol, str(ev.order_id), ev.price
                            events_out.append(
                                f'{prefix if t is ts else f"{line},{t},"}OrderModified,{csv_text[symbol]},{oid_text},'
                                f'"{{""order_id"":{oid_text},""trader"":{json_text[ev.trader]},""symbol"":'
                                f'{json_text[symbol]},""quantity"":{ev.quantity},""price"":'
                                f'{"null" if price is None else price},""priority_kept"":'
                                f'{"true" if ev.priority_kept else "false"}}}"\r\n')
                        elif kind is OrderRejected:
                            n_rejects += 1
                            t = ev.ts
                            symbol, oid_text = ev.symbol, str(ev.order_id)
                            message = quote(ev.message).replace('"', '""')
                            events_out.append(
                                f'{prefix if t is ts else f"{line},{t},"}OrderRejected,{csv_text[symbol]},{oid_text},'
                                f'"{{""order_id"":{oid_text},""trader"":{json_text[ev.trader]},""symbol"":'
                                f'{json_text[symbol]},""reason"":""{ev.reason._value_}"",""message"":'
                                f'{message}}}"\r\n')
                        else:  # every other event, and all of them when the fast path is off: the generic rows
                            events_out.append(_event_row(rows, line, ev))
                            if isinstance(ev, Trade):
                                n_trades += 1
                                trades_out.append(_trade_row(rows, engine, line, ev))
                            elif isinstance(ev, OrderRejected):
                                n_rejects += 1
                    if len(events_out) >= 4096:
                        events_file.write("".join(events_out))
                        events_out.clear()
                        trades_file.write("".join(trades_out))
                        trades_out.clear()
                break
            except csv.Error as exc:  # e.g. a field beyond the csv module's size limit; reading goes on after it
                n_rows += 1
                bad(reader.line_num, f"unreadable CSV row: {exc}")
        events_file.write("".join(events_out))
        trades_file.write("".join(trades_out))
    parser.ts = last_ts
    summary.rows += n_rows
    summary.commands += n_commands
    summary.events += n_events
    summary.trades += n_trades
    summary.rejects += n_rejects
