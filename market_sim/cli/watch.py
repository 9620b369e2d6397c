"""`market-sim watch RUN|SIM`: a terminal view of a market (rich.live): the book's top levels, recent trades and PnL
per agent.

RUN (no --url): a stored run, by id, id prefix or folder: its final book (top of book: stored runs keep L1
snapshots), last trades and final PnL per agent, shown once. SIM (with --url): a simulation on a `market-sim serve`
server, polled over REST (book/l2, trades, pnl) every --interval seconds until it ends or Ctrl-C (exit 130). The
token comes from --token or $MARKET_SIM_TOKEN and is only ever sent in the Authorization header.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer
from typer._click.exceptions import ClickException  # typer vendors click

from market_sim.core.errors import ApiClientError, ConfigError

__all__ = ["Frame", "BookView", "run_frame", "ServerSource", "render", "register"]

TOKEN_ENV = "MARKET_SIM_TOKEN"
_sleep = time.sleep  # between polls (tests replace it)


@dataclass
class BookView:
    venue: str
    symbol: str
    bids: list[tuple[int, int]]   # (price ticks, lots), best first
    asks: list[tuple[int, int]]
    last: int | None = None
    tick: Decimal | None = None   # tick size: prices shown in currency units when known


@dataclass
class Frame:
    title: str
    status: str
    books: list[BookView] = field(default_factory=list)
    trades: list[dict[str, Any]] = field(default_factory=list)  # oldest first: ts, symbol, price, quantity, ...
    pnl: list[tuple[str, str, str, float]] = field(default_factory=list)  # (agent, group, currency, value)
    ticks: dict[str, Decimal] = field(default_factory=dict)      # symbol -> tick size
    note: str = ""


def _price(p: Any, tick: Decimal | None) -> str:
    if p is None or p != p:  # None or NaN
        return "-"
    p = int(p)
    return f"{p * tick}" if tick is not None else str(p)


def _ns(ts: int) -> str:
    s, ns = divmod(int(ts), 1_000_000_000)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}.{ns // 1_000_000:03d}"


# ---- a stored run -----------------------------------------------------------------------------------------------
def _ticks_of(scenario: dict[str, Any]) -> dict[str, Decimal]:
    out = {}
    for inst in scenario.get("instruments", []) or []:
        try:
            out[str(inst["symbol"])] = Decimal(str(inst.get("tick_size", "1")))
        except (KeyError, ArithmeticError):
            continue
    return out


def run_frame(data: Any, *, trades: int = 15, agents: int = 12) -> Frame:
    """The final state of a stored run (RunData from market_sim.simulation.results.load_run)."""
    ticks = _ticks_of(data.scenario)
    frame = Frame(title=f"run {data.run_id}", status=f"{data.status} · scenario {data.info.get('scenario', '')}",
                  ticks=ticks, note="stored runs keep the top of book only")
    snaps = data.tables.get("book_snapshots")
    if snaps is not None and len(snaps):
        last = snaps.groupby(["venue", "symbol"], sort=False).tail(1)
        for row in last.itertuples(index=False):
            bid = [] if row.bid != row.bid or row.bid is None else [(int(row.bid), int(row.bid_qty))]
            ask = [] if row.ask != row.ask or row.ask is None else [(int(row.ask), int(row.ask_qty))]
            lastp = None if row.last != row.last or row.last is None else int(row.last)
            frame.books.append(BookView(str(row.venue), str(row.symbol), bid, ask, lastp, ticks.get(str(row.symbol))))
    tt = data.tables.get("trades")
    if tt is not None and len(tt):
        for row in tt.tail(trades).itertuples(index=False):
            frame.trades.append({"ts": int(row.ts), "symbol": str(row.symbol), "price": int(row.price),
                                 "quantity": int(row.quantity), "buyer": str(row.buyer), "seller": str(row.seller),
                                 "aggressor": str(row.aggressor)})
    pnl = data.tables.get("agent_pnl")
    if pnl is not None and len(pnl):
        sums = pnl.groupby(["agent", "group", "currency"], sort=False)["pnl_value"].sum().reset_index()
        frame.pnl = [(str(r.agent), str(r.group), str(r.currency), float(r.pnl_value))
                     for r in sums.itertuples(index=False)]
    frame.pnl = _top(frame.pnl, agents, frame)
    return frame


def _top(rows: list[tuple[str, str, str, float]], n: int, frame: Frame) -> list[tuple[str, str, str, float]]:
    rows = sorted(rows, key=lambda r: -r[3])
    if len(rows) <= n:
        return rows
    half = n // 2
    frame.note = (frame.note + "; " if frame.note else "") + f"PnL: best {half} and worst {n - half} of {len(rows)}"
    return rows[:half] + rows[-(n - half):]


# ---- a live simulation on a server ------------------------------------------------------------------------------
class ServerSource:
    """Polls a simulation on a market-sim server over REST."""

    def __init__(self, url: str, token: str | None, sim_id: str, *, levels: int = 5, trades: int = 15,
                 agents: int = 12, timeout: float = 5.0) -> None:
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError("must be an http(s) URL such as http://127.0.0.1:8000", key="--url", value=url)
        self.base = url.rstrip("/")
        self._token = token
        self.sim_id = sim_id
        self.levels, self.trades, self.agents, self.timeout = levels, trades, agents, timeout
        self.finished = False

    def get(self, path: str, **params: Any) -> Any:
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        req = urllib.request.Request(self.base + path + query, headers={"Accept": "application/json"})
        if self._token:
            req.add_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 (an http(s) URL)
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read())["error"]["message"]
            except Exception:  # noqa: BLE001 - not the API's JSON error body
                message = exc.reason
            raise ServerRefused(exc.code, f"{self.base} answered {exc.code}: {message}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiClientError(f"cannot reach {self.base}: {reason}") from None

    def frame(self) -> Frame:
        sid = urllib.parse.quote(self.sim_id, safe="")
        info = self.get(f"/v1/sims/{sid}")
        ticks = {s: Decimal(i["tick_size"]) for s, i in info.get("instruments", {}).items() if i.get("tick_size")}
        state = info["state"]
        self.finished = state in ("finished", "stopped", "failed")
        status = f"{state} · {info['scenario']} · t = {_ns(info['now_ns'])} of {_ns(info['duration_ns'])}"
        if info.get("error"):
            status += f" · {info['error']}"
        frame = Frame(title=f"simulation {info['id']} on {self.base}", status=status, ticks=ticks)
        for venue, symbols in info.get("venues", {}).items():
            for symbol in symbols:
                try:
                    book = self.get(f"/v1/sims/{sid}/book/l2", symbol=symbol, venue=venue, depth=self.levels)
                    l1 = self.get(f"/v1/sims/{sid}/book/l1", symbol=symbol, venue=venue)
                except ServerRefused as exc:
                    if exc.status != 400:  # a venue without an order book (an AMM) is skipped
                        raise
                    continue
                bids = [(x["price"], x["quantity"]) for x in book["bids"]]
                asks = [(x["price"], x["quantity"]) for x in book["asks"]]
                if not bids and not asks:  # a venue without depth (an AMM): its quote
                    bids = [(l1["bid"], l1["bid_quantity"])] if l1.get("bid") is not None else []
                    asks = [(l1["ask"], l1["ask_quantity"])] if l1.get("ask") is not None else []
                frame.books.append(BookView(venue, symbol, bids, asks, l1.get("last"), ticks.get(symbol)))
        frame.trades = self.get(f"/v1/sims/{sid}/trades", limit=self.trades)
        frame.pnl = _top([(r["agent"], r["group"], r["currency"], float(r["pnl_value"]))
                          for r in self.get(f"/v1/sims/{sid}/pnl")], self.agents, frame)
        return frame


class ServerRefused(ApiClientError):
    """The server answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# ---- rendering --------------------------------------------------------------------------------------------------
def render(frame: Frame) -> Any:
    from rich.console import Group
    from rich.columns import Columns
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    books = []
    for b in frame.books:
        t = Table(title=f"{b.symbol} @ {b.venue}", title_style="bold", expand=False, pad_edge=False)
        t.add_column("bid qty", justify="right", style="green")
        t.add_column("bid", justify="right", style="bold green")
        t.add_column("ask", justify="right", style="bold red")
        t.add_column("ask qty", justify="right", style="red")
        for i in range(max(len(b.bids), len(b.asks), 1)):
            bid = b.bids[i] if i < len(b.bids) else None
            ask = b.asks[i] if i < len(b.asks) else None
            t.add_row(str(bid[1]) if bid else "", _price(bid[0], b.tick) if bid else "",
                      _price(ask[0], b.tick) if ask else "", str(ask[1]) if ask else "")
        t.caption = f"last {_price(b.last, b.tick)}"
        books.append(t)
    trades = Table(title="recent trades", title_style="bold", expand=False)
    for col, just in (("time", "left"), ("symbol", "left"), ("price", "right"), ("qty", "right"),
                      ("buyer", "left"), ("seller", "left")):
        trades.add_column(col, justify=just)  # type: ignore[arg-type]
    for tr in reversed(frame.trades):
        style = "green" if tr.get("aggressor") == "buy" else "red"
        trades.add_row(_ns(tr["ts"]), tr["symbol"], Text(_price(tr["price"], frame.ticks.get(tr["symbol"])), style),
                       str(tr["quantity"]), tr["buyer"], tr["seller"])
    pnl = Table(title="PnL per agent", title_style="bold", expand=False)
    for col, just in (("agent", "left"), ("group", "left"), ("pnl", "right"), ("ccy", "left")):
        pnl.add_column(col, justify=just)  # type: ignore[arg-type]
    for agent, group, cur, value in frame.pnl:
        pnl.add_row(agent, group, Text(f"{value:,.2f}", "green" if value >= 0 else "red"), cur)
    header = Text.assemble((frame.title, "bold"), "  ", (frame.status, "cyan"))
    parts: list[Any] = [header, Columns(books) if books else Text("(no order book)"), Columns([trades, pnl])]
    if frame.note:
        parts.append(Text(frame.note, style="dim"))
    return Panel(Group(*parts), title="market-sim watch", border_style="blue")


# ---- the command ------------------------------------------------------------------------------------------------
class _UsageError(ClickException):
    """A bad RUN|SIM: one line on stderr, exit code 2 (no usage text: the argument was well formed)."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        from market_sim.cli.main import err_console
        from rich.markup import escape

        err_console.print(f"[bold red]error:[/] {escape(self.message)}", highlight=False, soft_wrap=True)


def _usage_error(message: str) -> _UsageError:
    return _UsageError(message)


def register(app: typer.Typer) -> None:
    @app.command("watch")
    def watch(
        target: str = typer.Argument(..., metavar="RUN|SIM",
                                     help="A stored run (id, id prefix or folder), or with --url a simulation id."),
        url: str = typer.Option(None, "--url", help="A market-sim server, e.g. http://127.0.0.1:8000: watch the "
                                                    "simulation SIM on it."),
        token: str = typer.Option(None, "--token", envvar=TOKEN_ENV, show_default=False, show_envvar=True,
                                  help="Bearer token for --url (a read token is enough)."),
        runs: Path = typer.Option(None, "--runs", help="Runs folder (default $MARKET_SIM_RUNS or ./runs)."),
        interval: float = typer.Option(0.5, "--interval", min=0.05, help="Seconds between polls of a server."),
        levels: int = typer.Option(5, "--levels", min=1, max=100, help="Book levels per side."),
        trades: int = typer.Option(15, "--trades", min=1, max=1000, help="Recent trades shown."),
        agents: int = typer.Option(12, "--agents", min=2, max=1000, help="Agents shown in the PnL table."),
        once: bool = typer.Option(False, "--once", help="Render one frame and exit."),
    ) -> None:
        """Watch a market in the terminal: book, recent trades and PnL per agent (a run's final state, or a live
        simulation on a server until it ends; Ctrl-C exits)."""
        from rich.console import Console
        from rich.live import Live

        console = Console()
        if url is None:
            from market_sim.simulation.results import IncompleteRunError, load_run

            import warnings

            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # a partial run is shown as such in the header
                    data = load_run(target, runs)
            except IncompleteRunError:
                raise
            except ConfigError as exc:
                raise _usage_error(str(exc)) from None
            console.print(render(run_frame(data, trades=trades, agents=agents)))
            return
        source = ServerSource(url, token, target, levels=levels, trades=trades, agents=agents)
        try:
            frame = source.frame()
        except ServerRefused as exc:
            if exc.status == 404:
                raise _usage_error(str(exc)) from None
            raise
        if once or source.finished:
            console.print(render(frame))
            return
        with Live(render(frame), console=console, refresh_per_second=max(1, int(1 / interval)),
                  screen=False) as live_view:
            while not source.finished:
                _sleep(interval)
                live_view.update(render(source.frame()))
