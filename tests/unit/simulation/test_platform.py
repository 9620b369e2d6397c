"""The simulation on the platform: the bus (venue events, fills, quotes, L2 deltas, trades), accounts, composed
trade validators, section state objects and the step API."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import pytest

from market_sim.core.accounts import Fill, book_fill
from market_sim.core.errors import ConfigError, MarketSimError
from market_sim.core.events import BookUpdate, OrderAccepted, Trade
from market_sim.core.orders import Side
from market_sim.simulation.agents import Agent, register_agent_type
from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.params import param
from market_sim.simulation.runner import ComposedValidator, Simulation
from market_sim.simulation.scenario import Section, load_scenario, parse_scenario, register_section
from market_sim.simulation.venues import BookDelta, BookSnapshot, L2Book, Quote

MS = 1_000_000
SEC = 1_000_000_000


@dataclass(frozen=True, slots=True)
class WatcherParams:
    book: bool = True
    trades: bool = True
    quotes: bool = False


@register_agent_type
class Watcher(Agent):
    """Subscribes to market data and logs (delivery time, what) for each item; never trades."""

    kind = "test_platform_watcher"
    Params = WatcherParams

    def on_start(self):
        self.log = []
        if self.params.book:
            self.subscribe_book("XYZ")
        if self.params.trades:
            self.subscribe_trades("XYZ")
        if self.params.quotes:
            self.subscribe("XYZ")

    def on_book_snapshot(self, snap):
        self.log.append((self.now, "snapshot", snap))

    def on_book_delta(self, delta):
        self.log.append((self.now, "delta", delta))

    def on_trade(self, trade):
        self.log.append((self.now, "trade", trade))

    def on_market_data(self, quote):
        self.log.append((self.now, "quote", quote))


@dataclass(frozen=True, slots=True)
class LadderParams:
    side: str = param("sell", choices=("buy", "sell"))
    price: int = 10_000
    quantity: int = 3
    repeat: int = 5
    every: int = param(100 * MS, duration=True)
    at: int = param(10 * MS, duration=True)


@register_agent_type
class Ladder(Agent):
    """Sends `repeat` limit orders one tick apart (away from the book) every `every`."""

    kind = "test_platform_ladder"
    Params = LadderParams

    def on_start(self):
        self.n = 0
        self.got = []
        self.wake_up_at(self.params.at)

    def on_wakeup(self):
        p = self.params
        side = Side.SELL if p.side == "sell" else Side.BUY
        step = 1 if side is Side.SELL else -1
        self.submit("XYZ", side, p.quantity, p.price + step * self.n)
        self.n += 1
        if self.n < p.repeat:
            self.wake_up_in(p.every)

    def on_fill(self, fill):
        self.got.append((self.now, fill, self.position("XYZ")))


def _market(base_raw, *watchers):
    base_raw["agents"] = [
        {"type": "test_platform_ladder", "name": "ask", "side": "sell", "price": 10_010},
        {"type": "test_platform_ladder", "name": "bid", "side": "buy", "price": 9_990},
        {"type": "test_platform_ladder", "name": "take", "side": "buy", "price": 10_020, "quantity": 2, "repeat": 3,
         "at": "200ms", "every": "150ms"},
        *watchers]
    return Simulation(parse_scenario(base_raw))


# ----------------------------------------------------------------------------------------------- the bus

def test_venue_events_are_published_with_venue_symbol_topics(base_raw):
    sim = _market(base_raw).build()
    seen = []
    sim.bus.subscribe(Trade, lambda e: seen.append(("trade", e.trade_id)), ("exchange", "XYZ"))
    sim.bus.subscribe(OrderAccepted, lambda e: seen.append(("acc", e.order.order_id)), ("exchange",))
    sim.bus.subscribe(Fill, lambda f: seen.append(("fill", f.account, f.side)), ("account", "take-1"))
    out = sim.run()
    assert [s for s in seen if s[0] == "trade"] == [("trade", t) for t in out.tables["trades"]["trade_id"]]
    assert len([s for s in seen if s[0] == "acc"]) == 13
    assert [s for s in seen if s[0] == "fill"] == [("fill", "take-1", Side.BUY)] * len(out.tables["trades"]["ts"])


def test_book_deltas_are_built_only_for_subscribers(base_raw):
    sim = _market(base_raw).build()
    assert not sim.venues["exchange"].engine.book_updates   # nobody wants L2: the engine builds no deltas
    sim.run()
    sim2 = _market(base_raw, {"type": "test_platform_watcher", "name": "w"}).build()
    sim2.run_until(1)
    assert sim2.venues["exchange"].engine.book_updates


def test_l2_subscriber_gets_a_snapshot_then_gapless_deltas_with_latency(base_raw):
    sim = _market(base_raw, {"type": "test_platform_watcher", "name": "w", "trades": False})
    deltas = []
    sim.build()
    sim.bus.subscribe(BookUpdate, deltas.append, ("exchange", "XYZ"))   # venue time, on the bus
    out = sim.run()
    w = sim.agent("w-1")
    kinds = [k for _, k, _ in w.log]
    assert kinds[0] == "snapshot" and set(kinds[1:]) == {"delta"}
    snap = w.log[0][2]
    assert isinstance(snap, BookSnapshot) and (snap.seq, snap.bids, snap.asks, snap.ts) == (0, (), (), 0)
    got = [d for _, k, d in w.log if k == "delta"]
    assert got == deltas and all(isinstance(d, BookDelta) for d in got)
    assert [d.seq for d in got] == list(range(1, len(got) + 1))               # per (venue, symbol), no gaps
    assert all(t == d.ts + 1 * MS for t, k, d in w.log if k == "delta")       # venue→agent latency
    bids, asks = sim.venues["exchange"].depth("XYZ", 100)
    assert w.books["XYZ"].depth(100) == (bids, asks)                          # the copy is the book
    assert out.metrics["trades"] > 0


def test_a_snapshot_taken_mid_run_carries_the_seq_of_the_last_delta(base_raw):
    sim = _market(base_raw, {"type": "test_platform_watcher", "name": "w", "trades": False}).build()
    sim.run_until(450 * MS)
    snap = sim.book_snapshot("exchange", "XYZ")
    w = sim.agent("w-1")
    assert snap.seq == w.books["XYZ"].seq > 0
    copy = L2Book.from_snapshot(snap)
    sim.run_until(10 * SEC)
    for _, k, d in w.log:
        if k == "delta":
            copy.apply(d)   # deltas up to the snapshot's seq are skipped, later ones apply
    assert copy.depth(100) == w.books["XYZ"].depth(100)
    with pytest.raises(MarketSimError, match="gap"):
        L2Book("exchange", "XYZ").apply(BookDelta(0, "XYZ", Side.BUY, 1, 1, "exchange", 5))


def test_trade_subscribers_receive_every_trade_with_latency(base_raw):
    sim = _market(base_raw, {"type": "test_platform_watcher", "name": "w", "book": False})
    out = sim.run()
    w = sim.agent("w-1")
    assert [d.trade_id for _, k, d in w.log if k == "trade"] == out.tables["trades"]["trade_id"]
    assert all(t == d.ts + MS for t, k, d in w.log)
    assert not sim.venues["exchange"].engine.book_updates


def test_quote_subscribers_get_top_of_book_changes(base_raw):
    sim = _market(base_raw, {"type": "test_platform_watcher", "name": "w", "book": False, "trades": False, "quotes": True})
    sim.run()
    quotes = [q for _, k, q in sim.agent("w-1").log if k == "quote"]
    assert quotes and all(isinstance(q, Quote) for q in quotes)
    assert quotes[0].ask == 10_010 and quotes[0].bid is None
    tops = [(q.bid, q.bid_qty, q.ask, q.ask_qty) for q in quotes]
    assert all(a != b for a, b in zip(tops, tops[1:]))   # only changes


def test_subscribing_to_an_unknown_symbol_is_a_config_error(base_raw):
    sim = _market(base_raw).build()
    with pytest.raises(ConfigError) as info:
        sim.subscribe_book(sim.agent("ask-1"), "exchange", "NOPE")
    assert info.value.key == "symbol"


# ----------------------------------------------------------------------------------------------- accounts

def test_fills_are_core_fills_booked_on_accounts_when_the_report_arrives(base_raw):
    sim = _market(base_raw)
    out = sim.run()
    inst = sim.instruments["XYZ"]
    take = sim.agent("take-1")
    assert take.got, "the taker traded"
    t, fill, pos_after = take.got[0]
    assert t == fill.ts + MS                                    # booked when the report reached the agent
    assert fill == book_fill(fill.ts, "take-1", "exchange", inst, Side.BUY, fill.price, fill.quantity,
                             order_id=fill.order_id, trade_id=fill.trade_id, maker=False)
    assert pos_after == fill.quantity
    # conservation: trading moves assets between accounts, never creates them
    assert sim.accounts.totals() == {inst.base_asset: 0, inst.quote_asset: 0}
    bought = sum(out.tables["trades"]["quantity"])
    assert take.position("XYZ") == bought == -sim.agent("ask-1").position("XYZ")
    assert take.account.positions["XYZ"].fills == len(out.tables["trades"]["ts"])


def test_pnl_is_integer_quote_units_marked_to_the_exact_mid(base_raw):
    sim = _market(base_raw)
    out = sim.run()
    inst = sim.instruments["XYZ"]
    q = sim.quote("exchange", "XYZ")
    mark = Fraction(q.bid + q.ask, 2) * inst.quote_units_per_lot_tick / inst.base_units_per_lot
    rows = {r["agent"]: r for r in _rows(out.tables["agent_pnl"])}
    for agent_id in ("ask-1", "bid-1", "take-1"):
        pos = sim.agent(agent_id).account.positions.get("XYZ")
        expected = 0 if pos is None else pos.realized + int(pos.quantity * mark) - pos.cost - pos.fees
        assert int(rows[agent_id]["pnl"]) == expected
        assert rows[agent_id]["pnl_value"] == expected / 10 ** inst.quote_decimals
    series = _rows(out.tables["pnl_series"])
    assert {r["currency"] for r in series} == {inst.quote_asset}
    assert all(isinstance(r["pnl"], int) or r["pnl"] == int(r["pnl"]) for r in series)


def _rows(table):
    cols = list(table)
    return [dict(zip(cols, vals)) for vals in zip(*(table[c] for c in cols))]


# ----------------------------------------------------------------------------------------------- validators

class _Refuse:
    def __init__(self, log, name, refuse=False):
        self.log, self.name, self.refuse = log, name, refuse

    def validate_trade(self, trade, buy, sell):
        self.log.append(self.name)
        return f"{self.name} says no" if self.refuse else None


def test_trade_validators_compose_in_order_with_the_final_one_last(base_raw):
    sim = _market(base_raw)
    log = []
    sim.add_trade_validator("committee", _Refuse(log, "committee"), final=True)
    sim.add_trade_validator("risk", _Refuse(log, "risk"))
    assert [n for n, _ in sim.trade_validators] == ["risk", "committee"]
    out = sim.run()
    assert isinstance(sim.venues["exchange"].engine._validator, ComposedValidator)
    assert log == ["risk", "committee"] * out.metrics["trades"]


def test_a_refusal_stops_the_chain_and_the_trade(base_raw):
    sim = _market(base_raw)
    log = []
    sim.add_trade_validator("risk", _Refuse(log, "risk", refuse=True))
    sim.add_trade_validator("committee", _Refuse(log, "committee"), final=True)
    out = sim.run()
    assert out.metrics["trades"] == 0 and log and set(log) == {"risk"}     # the committee never saw them
    assert "trade_rejected" in out.tables["order_events"]["event"]


def test_two_final_validators_or_a_late_one_are_config_errors(base_raw):
    sim = _market(base_raw)
    sim.add_trade_validator("consensus", _Refuse([], "a"), final=True)
    with pytest.raises(ConfigError, match="two final trade validators"):
        sim.add_trade_validator("settlement", _Refuse([], "b"), final=True)
    with pytest.raises(ConfigError, match="already added"):
        sim.add_trade_validator("consensus", _Refuse([], "c"))
    sim.build()
    with pytest.raises(ConfigError, match="before the venues are built"):
        sim.add_trade_validator("late", _Refuse([], "d"))


def test_consensus_and_settlement_sections_together_are_a_config_error(base_raw):
    import market_sim.consensus.scenario  # noqa: F401  (registers the section)

    sim = Simulation(parse_scenario({**base_raw, "consensus": {"validators": 4, "byzantine": 1}}))
    sim.add_trade_validator("settlement", _Refuse([], "s"), final=True)   # what the settlement section adds
    with pytest.raises(ConfigError, match="two final trade validators"):
        sim.build()


# ----------------------------------------------------------------------------------------------- section state

@dataclass
class _State:
    trades: list


class StateSection(Section):
    name = "test_platform_state"

    def parse(self, raw, ctx):
        return raw

    def prepare(self, sim, cfg):
        self.prepared = _State([])
        return self.prepared

    def install(self, sim, cfg, state):
        sim.bus.subscribe(Trade, state.trades.append)

    def finish(self, sim, cfg, state):
        sim.metrics["state_trades"] = len(state.trades)


class LegacySection(Section):
    name = "test_platform_legacy"

    def install(self, sim, cfg):
        self.installed = True

    def finish(self, sim, cfg):
        sim.metrics["legacy"] = True


def test_sections_return_state_from_prepare_and_get_it_back(base_raw):
    section = register_section(StateSection())
    legacy = register_section(LegacySection())
    base_raw["test_platform_state"] = {}
    base_raw["test_platform_legacy"] = {}
    sim = _market(base_raw)
    out = sim.run()
    assert sim.state("test_platform_state") is section.prepared
    assert out.metrics["state_trades"] == out.metrics["trades"] > 0
    assert legacy.installed and out.metrics["legacy"] is True and sim.state("test_platform_legacy") is None
    assert "chain_transactions" not in out.tables   # the simulation seeds no chain table



@pytest.mark.parametrize("name", ["byzantine-validators", "settlement-demo"])
def test_the_consensus_and_settlement_sections_attach_nothing_to_the_simulation(name):
    sc = load_scenario(resolve_scenario(name), ['scenario.duration="5s"'])
    sim = Simulation(sc)
    before = set(vars(sim))
    out = sim.run()
    assert set(vars(sim)) - before == set()  # their per-run records are section state: sim.state(name)
    assert sim.state(next(iter(sc.extensions))) is not None and out.metrics["trades"] > 0

# ----------------------------------------------------------------------------------------------- step API

def _trades(sim_or_out):
    t = sim_or_out.tables["trades"]
    return list(zip(*t.values()))


def test_random_market_in_seven_uneven_increments_trades_exactly_like_run():
    overrides = ["scenario.duration=40s"]
    whole = Simulation(load_scenario(resolve_scenario("random-market"), overrides)).run()
    sim = Simulation(load_scenario(resolve_scenario("random-market"), overrides))
    for t in (1, 999_999, 1_300 * MS, 7 * SEC + 3, 7 * SEC + 4, 22 * SEC, 40 * SEC):
        sim.run_until(t)
        assert sim.now == t
    stepped = sim.finish()
    assert _trades(stepped) == _trades(whole) and len(_trades(whole)) > 100
    assert stepped.tables["orders"] == whole.tables["orders"]
    assert stepped.events == whole.events
    assert sim.finish() is stepped
    with pytest.raises(MarketSimError, match="finished"):
        sim.run_until(50 * SEC)


def test_step_processes_one_event_at_a_time_and_says_when_nothing_is_left(base_raw):
    base_raw["scenario"]["duration"] = "1s"
    whole = _market(base_raw).run()
    sim = _market(base_raw)
    n = 0
    while sim.step():
        n += 1
    assert n == sim.kernel.events_processed and not sim.step()
    out = sim.finish()
    assert _trades(out) == _trades(whole) and out.events == whole.events


def test_an_outside_consumer_attaches_to_the_book_feed_mid_run(base_raw):
    sim = _market(base_raw).build()
    sim.run_until(150 * MS)
    assert not sim.venues["exchange"].engine.book_updates
    got = []
    sub, snap = sim.book_feed("exchange", "XYZ", got.append)   # e.g. an API server attaching mid-run
    sim.run_until(10 * SEC)
    assert sim.venues["exchange"].engine.book_updates and got and got[0].seq == snap.seq + 1
    book = L2Book.from_snapshot(snap)
    for d in got:
        book.apply(d)
    assert book.depth(100) == tuple(sim.venues["exchange"].depth("XYZ", 100))
    sim.bus.unsubscribe(sub)
