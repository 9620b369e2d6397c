"""Runner: latency delivery (fixed, random FIFO, per-agent, per-pair), sessions and DAY/GTD expiry, bookkeeping."""

from dataclasses import dataclass

import pytest

from market_sim.core.errors import ConfigError
from market_sim.core.events import OrderAccepted, OrderCancelled, OrderRejected, RejectReason
from market_sim.core.orders import Side, TimeInForce
from market_sim.simulation.agents import Agent, register_agent_type
from market_sim.simulation.params import param
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import parse_scenario

MS = 1_000_000
SEC = 1_000_000_000


@dataclass(frozen=True, slots=True)
class ProbeParams:
    side: str = param("buy", choices=("buy", "sell"))
    at: int = param(0, duration=True)
    price: int = 10_000
    quantity: int = 1
    tif: str = "gtc"
    expire_after: int = param(0, duration=True)
    repeat: int = 1
    every: int = param(MS, duration=True)


@register_agent_type
class Probe(Agent):
    """Submits `repeat` orders from time `at`, recording every event it receives with the delivery time."""

    kind = "test_probe"
    Params = ProbeParams

    def on_start(self):
        self.log = []
        self.sent = []
        self.left = self.params.repeat
        self.wake_up_at(self.params.at)

    def on_wakeup(self):
        p = self.params
        side = Side.BUY if p.side == "buy" else Side.SELL
        tif = TimeInForce(p.tif)
        expire = self.now + p.expire_after if tif is TimeInForce.GTD else None
        self.sent.append((self.now, self.submit("XYZ", side, p.quantity, p.price, tif=tif, expire_at=expire)))
        self.left -= 1
        if self.left:
            self.wake_up_in(p.every)

    def on_order_event(self, event):
        self.log.append((self.now, type(event).__name__, event))

    def on_fill(self, fill):
        self.log.append((self.now, "fill", fill))


def _run(raw):
    sim = Simulation(parse_scenario(raw))
    out = sim.run()
    return sim, out


def test_fixed_latency_both_ways(base_raw):
    base_raw["latency"] = {"default": "fixed:5ms"}
    base_raw["agents"] = [{"type": "test_probe", "name": "b", "side": "buy"},
                          {"type": "test_probe", "name": "s", "side": "sell", "at": "20ms"}]
    sim, out = _run(base_raw)
    buyer, seller = sim.agent("b-1"), sim.agent("s-1")
    acc = [e for e in buyer.log if e[1] == "OrderAccepted"][0]
    assert acc[0] == 10 * MS and acc[2].ts == 5 * MS          # venue time 5 ms, back at the agent at 10 ms
    fill_b = [e for e in buyer.log if e[1] == "fill"][0]
    fill_s = [e for e in seller.log if e[1] == "fill"][0]
    assert fill_b[2].ts == 25 * MS and fill_b[0] == 30 * MS and fill_s[0] == 30 * MS
    assert (fill_b[2].maker, fill_s[2].maker) == (True, False)
    inst = sim.instruments["XYZ"]
    assert buyer.position("XYZ") == 1 and buyer.balance(inst.quote_asset) == -10_000 * inst.quote_units_per_lot_tick
    assert seller.position("XYZ") == -1 and seller.balance(inst.quote_asset) == 10_000 * inst.quote_units_per_lot_tick
    assert seller.balance(inst.base_asset) == -inst.base_units_per_lot   # a short: the base balance is negative
    assert (fill_b[2].price, fill_b[2].quantity, fill_b[2].side, fill_b[2].venue) == (10_000, 1, Side.BUY, "exchange")
    assert out.tables["trades"]["ts"] == [25 * MS]


def test_random_latency_is_fifo_per_link(base_raw):
    base_raw["latency"] = {"default": "uniform:1ms-50ms"}
    base_raw["agents"] = [{"type": "test_probe", "name": "b", "repeat": 40, "every": "100us", "price": 5000}]
    sim, out = _run(base_raw)
    accepted = [e[2].order.order_id for e in sim.agent("b-1").log if e[1] == "OrderAccepted"]
    assert accepted == [oid for _, oid in sim.agent("b-1").sent]   # arrival order == send order
    venue_ts = [e[2].ts for e in sim.agent("b-1").log if e[1] == "OrderAccepted"]
    delays = [v - s for (s, _), v in zip(sim.agent("b-1").sent, venue_ts)]
    assert min(delays) >= 1 * MS and len(set(delays)) > 5


def test_per_agent_and_per_venue_latency(base_raw):
    base_raw["latency"] = {"default": "fixed:1ms", "venues": {"exchange": "fixed:3ms"}}
    base_raw["agents"] = [{"type": "test_probe", "name": "fast", "latency": "fixed:100us"},
                          {"type": "test_probe", "name": "slow"}]
    sim, _ = _run(base_raw)
    first = {a: [e for e in sim.agent(a).log if e[1] == "OrderAccepted"][0] for a in ("fast-1", "slow-1")}
    assert first["fast-1"][2].ts == 100_000 and first["fast-1"][0] == 200_000
    assert first["slow-1"][2].ts == 3 * MS and first["slow-1"][0] == 6 * MS


def test_send_between_any_participants_uses_pairs(base_raw):
    base_raw["latency"] = {"default": "fixed:1ms", "pairs": {"node-a->node-b": "fixed:7ms"}}
    sim = Simulation(parse_scenario(base_raw)).build()
    got = []
    t1 = sim.send("node-a", "node-b", lambda: got.append(("hello", sim.kernel.now)))
    t2 = sim.send("node-b", "node-a", lambda: got.append(("back", sim.kernel.now)))  # pairs work both ways
    t3 = sim.send("node-a", "node-c", lambda: got.append(("other", sim.kernel.now)))
    sim.kernel.run(until=20 * MS)
    assert (t1, t2, t3) == (7 * MS, 7 * MS, 1 * MS)
    assert got == [("other", 1 * MS), ("hello", 7 * MS), ("back", 7 * MS)]


def test_day_orders_expire_at_session_close_and_closed_market_rejects(base_raw):
    base_raw["scenario"]["duration"] = "2h"
    base_raw["session"] = {"open": "09:30", "close": "10:30", "start": "09:30"}
    base_raw["agents"] = [{"type": "test_probe", "name": "day", "tif": "day"},
                          {"type": "test_probe", "name": "gtc", "at": "59min"},
                          {"type": "test_probe", "name": "late", "at": "61min", "price": 9000}]
    sim, out = _run(base_raw)
    day = sim.agent("day-1")
    cancels = [e for e in day.log if e[1] == "OrderCancelled"]
    assert len(cancels) == 1 and cancels[0][2].ts == 3600 * SEC
    assert cancels[0][2].reason == "expired"
    assert not day.open_orders and len(sim.agent("gtc-1").open_orders) == 1
    # The 61-min wake-up is deferred to the next open (day 1, 09:30), beyond the 2 h run: nothing sent.
    assert sim.agent("late-1").sent == []


def test_market_closed_rejection_for_orders_arriving_after_close(base_raw):
    base_raw["scenario"]["duration"] = "2h"
    base_raw["session"] = {"open": "09:30", "close": "10:30", "start": "09:30"}
    base_raw["latency"] = {"default": "fixed:2s"}
    base_raw["agents"] = [{"type": "test_probe", "name": "p", "at": "59min 59s".replace(" ", "")}]
    # '59min59s' is not a single duration: a named error, not a crash
    with pytest.raises(ConfigError, match=r"agents\.p\.at: must be a non-negative duration .*\(got '59min59s'\)"):
        parse_scenario(base_raw)
    base_raw["agents"] = [{"type": "test_probe", "name": "p", "at": "3599s"}]
    sim, _ = _run(base_raw)
    rej = [e[2] for e in sim.agent("p-1").log if e[1] == "OrderRejected"]
    assert len(rej) == 1 and rej[0].reason is RejectReason.MARKET_CLOSED and not sim.agent("p-1").open_orders


def test_gtd_orders_expire_on_time(base_raw):
    base_raw["agents"] = [{"type": "test_probe", "name": "g", "tif": "gtd", "expire_after": "3s"}]
    sim, out = _run(base_raw)
    ev = [e[2] for e in sim.agent("g-1").log if isinstance(e[2], OrderCancelled)]
    assert len(ev) == 1 and ev[0].ts == 3 * SEC and ev[0].reason == "expired"
    assert isinstance(sim.agent("g-1").log[0][2], OrderAccepted)


def test_rejected_new_order_leaves_no_open_order(base_raw):
    base_raw["agents"] = [{"type": "test_probe", "name": "bad", "quantity": 0}]
    sim, _ = _run(base_raw)
    a = sim.agent("bad-1")
    assert [e[1] for e in a.log] == ["OrderRejected"] and not a.open_orders
    assert isinstance(a.log[0][2], OrderRejected)


def test_stop_ends_the_run_early_and_keeps_results(base_raw):
    base_raw["scenario"]["duration"] = "1h"
    base_raw["agents"] = [{"type": "test_probe", "name": "p", "repeat": 1000, "every": "1s"}]
    sim = Simulation(parse_scenario(base_raw)).build()
    sim.kernel.schedule_at(10 * SEC + 1, sim.stop)
    out = sim.run(chunk=SEC)
    assert sim.kernel.now == 10 * SEC + 1 and len(sim.agent("p-1").sent) == 11
    assert out.tables["book_snapshots"]["ts"][-1] == 10 * SEC + 1
