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
  tif               gtc | day | gtd | ioc | fok (default gtc)
  expire_at         integer ns (gtd)
  display_quantity  decimal iceberg display quantity
  hidden            true | false (default false)
  post_only         reject | reprice (empty = not post-only)
  stp               none | cancel_newest | cancel_oldest | cancel_both | decrement_and_cancel (default none)
Prices and quantities are converted with the instrument's tick and lot size; off-grid, non-finite, zero or negative
values make the row malformed.
"""

from __future__ import annotations

import csv
import json
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from pathlib import Path

from market_sim.core.errors import ConfigError, MarketSimError, ValidationError
from market_sim.core.events import Event, OrderRejected, Trade
from market_sim.core.instruments import Instrument
from market_sim.core.orders import (
    CancelOrder, ModifyOrder, NewOrder, OrderType, PostOnlyMode, Side, STPMode, TimeInForce,
)
from market_sim.market.engine import MatchingEngine
from market_sim.market.order import OrderState

__all__ = ["COLUMNS", "ReplaySummary", "ReplayError", "load_instruments", "replay", "parse_rows"]

COLUMNS = ("action", "ts", "order_id", "trader", "symbol", "side", "type", "price", "quantity", "stop_price", "tif",
           "expire_at", "display_quantity", "hidden", "post_only", "stp")
TRADE_COLUMNS = ("trade_id", "ts", "symbol", "price", "quantity", "price_ticks", "quantity_lots", "buy_order_id",
                 "sell_order_id", "buyer", "seller", "aggressor", "line")
EVENT_COLUMNS = ("line", "ts", "event", "symbol", "order_id", "data")
_ACTIONS = ("new", "cancel", "modify", "end_session", "expire")
_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


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
        text = path.read_text()
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
            qty = _positive(inst.qty_to_lots, get("quantity"), "quantity") if get("quantity") else None
            price = _positive(inst.price_to_ticks, get("price"), "price") if get("price") else None
            if qty is None and price is None:
                raise ValidationError("modify needs a new quantity or price")
            return ModifyOrder(order_id, trader, quantity=qty, price=price)
        inst = self.instrument(need("symbol"))
        side = {"buy": Side.BUY, "sell": Side.SELL}.get(need("side").lower())
        if side is None:
            raise ValidationError(f"side must be buy | sell, got {get('side')!r}")
        kind = _enum(OrderType, get("type") or "limit", "type")
        qty = _positive(inst.qty_to_lots, need("quantity"), "quantity")
        price = _positive(inst.price_to_ticks, get("price"), "price") if get("price") else None
        stop = _positive(inst.price_to_ticks, get("stop_price"), "stop_price") if get("stop_price") else None
        display = (_positive(inst.qty_to_lots, get("display_quantity"), "display_quantity")
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


def parse_rows(path: Path) -> Iterator[tuple[int, dict[str, str] | None, str | None]]:
    """(line number, row, problem) for each data row; a row with the wrong number of cells has a problem."""
    try:
        f = path.open(newline="")
    except OSError as exc:
        raise ConfigError(f"cannot read orders file {path}: {exc}") from None
    with f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise ConfigError(f"{path} is empty; expected a header row with columns {', '.join(COLUMNS)}")
        header = [h.strip().lower() for h in header]
        unknown = [h for h in header if h not in COLUMNS]
        if unknown or "action" not in header:
            raise ConfigError(f"{path} header: unknown columns {unknown} or no 'action' column; "
                              f"allowed: {', '.join(COLUMNS)}")
        for cells in reader:
            if not cells or all(not c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                yield reader.line_num, None, f"expected {len(header)} cells, got {len(cells)}"
                continue
            yield reader.line_num, dict(zip(header, cells)), None


def _plain(value: object) -> object:
    if isinstance(value, Side):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    return value


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


def replay(orders: Path, out_dir: Path, *, instruments: list[Instrument] | None = None, strict: bool = False,
           engine: MatchingEngine | None = None) -> ReplaySummary:
    """Replay `orders` into trades.csv, events.csv and book.json under `out_dir`.

    Without `instruments`, each new symbol gets a default Instrument (tick 0.01, lot 1). Malformed rows are
    skipped and listed in the summary, or with `strict` the replay stops there (files are still written for the
    rows before it) and ReplayError is raised.
    """
    engine = engine if engine is not None else MatchingEngine(instruments or ())
    parser = _RowParser(engine, auto_instruments=instruments is None)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = ReplaySummary(out_dir=str(out_dir))
    failure: ReplayError | None = None
    with (out_dir / "trades.csv").open("w", newline="") as tf, (out_dir / "events.csv").open("w", newline="") as ef:
        trades, events = csv.writer(tf), csv.writer(ef)
        trades.writerow(TRADE_COLUMNS)
        events.writerow(EVENT_COLUMNS)
        for line, row, problem in parse_rows(orders):
            summary.rows += 1
            if problem is None:
                try:
                    action, ts, cmd = parser.parse(row)
                except MarketSimError as exc:
                    problem = str(exc)
            if problem is not None:
                if strict:
                    failure = ReplayError(orders, line, problem)
                    break
                summary.malformed.append((line, problem))
                continue
            if action == "end_session":
                produced = engine.end_session(ts, cmd)
            elif action == "expire":
                produced = engine.expire(ts)
            else:
                produced = engine.process(cmd, ts)
            summary.commands += 1
            for ev in produced:
                _write_event(events, trades, engine, line, ev, summary)
    (out_dir / "book.json").write_text(json.dumps(_book_json(engine), indent=2) + "\n")
    summary.instruments = sorted(engine.instruments)
    if failure is not None:
        raise failure
    return summary


def _write_event(events: csv.writer, trades: csv.writer, engine: MatchingEngine, line: int, ev: Event,
                 summary: ReplaySummary) -> None:
    summary.events += 1
    data = _plain(ev)
    data.pop("ts")
    if isinstance(ev, OrderRejected):
        summary.rejects += 1
    order = data.get("order") or {}   # OrderAccepted carries the whole command
    symbol = data.get("symbol", order.get("symbol", ""))
    order_id = data.get("order_id", order.get("order_id", ""))
    events.writerow((line, ev.ts, type(ev).__name__, symbol, order_id, json.dumps(data, separators=(",", ":"))))
    if isinstance(ev, Trade):
        summary.trades += 1
        inst = engine.instruments[ev.symbol]
        trades.writerow((ev.trade_id, ev.ts, ev.symbol, inst.ticks_to_price(ev.price), inst.lots_to_qty(ev.quantity),
                         ev.price, ev.quantity, ev.buy_order_id, ev.sell_order_id, ev.buyer, ev.seller,
                         str(ev.aggressor), line))
