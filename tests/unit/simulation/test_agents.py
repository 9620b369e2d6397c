"""Built-in agents: quoting, value trading, momentum, sell program, and market-data subscriptions."""

from market_sim.core.orders import Side
from market_sim.simulation.agents import Agent, register_agent_type
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import parse_scenario

MS = 1_000_000
SEC = 1_000_000_000


def _sim(raw):
    return Simulation(parse_scenario(raw)).build()


def test_market_maker_quotes_a_ladder_around_the_initial_price(base_raw):
    base_raw["agents"] = [{"type": "market_maker", "name": "mm", "half_spread_ticks": 2, "levels": 3,
                           "quantity": 7, "interval": "1s"}]
    sim = _sim(base_raw)
    sim.kernel.run(until=500 * MS)
    bids, asks = sim.venues["exchange"].depth("XYZ", 10)
    assert bids == [(9998, 7), (9997, 7), (9996, 7)] and asks == [(10002, 7), (10003, 7), (10004, 7)]
    sim.kernel.run(until=int(1.5 * SEC))  # unchanged centre: quotes are kept, nothing re-sent
    assert sum(1 for o in sim.recorder.orders if o[3] == "cancel") == 0


@register_agent_type
class Offer(Agent):
    """Posts one resting order at t=0: `price` ticks, `quantity` lots (negative quantity = bid)."""

    kind = "test_offer"

    def on_start(self):
        self.submit("XYZ", Side.SELL, 20, 9950)


def test_fundamental_trader_buys_below_value(base_raw):
    base_raw["processes"] = {"XYZ": {"kind": "gbm", "s0": 100.0, "sigma": 0.0}}
    base_raw["agents"] = [
        {"type": "test_offer", "name": "cheap"},
        {"type": "fundamental", "name": "v", "threshold_ticks": 10, "quantity": 3, "interval": "1s",
         "passive_prob": 0.0, "max_position": 9}]
    sim = Simulation(parse_scenario(base_raw))
    sim.run()
    v = sim.agent("v-1")
    inst = sim.instruments["XYZ"]
    assert v.positions["XYZ"] == v.position("XYZ") == 9  # bought the cheap offer up to its limit
    assert v.balance(inst.quote_asset) == -9 * 9950 * inst.quote_units_per_lot_tick
    assert v.balance(inst.base_asset) == 9 * inst.base_units_per_lot
    assert not [o for o in sim.recorder.orders if o[1] == "v-1" and o[6] == -1]   # never sold


def test_momentum_follows_a_rising_price(base_raw):
    @register_agent_type
    class Lifter(Agent):
        kind = "test_lifter"

        def on_start(self):
            self.px = 10_000
            self.wake_up_in(1)

        def on_wakeup(self):
            self.cancel_all()
            self.px += 5
            self.submit("XYZ", Side.BUY, 1, self.px)
            self.submit("XYZ", Side.SELL, 1, self.px)      # trades with itself: last price climbs
            self.submit("XYZ", Side.SELL, 10, self.px + 1)  # liquidity for the momentum buyer
            self.wake_up_in(200 * MS)

    base_raw["agents"] = [{"type": "test_lifter", "name": "lift"},
                          {"type": "momentum", "name": "mo", "interval": "200ms", "lookback": 3,
                           "threshold": 0.0005, "quantity": 2, "max_position": 6}]
    sim = Simulation(parse_scenario(base_raw))
    sim.run()
    assert sim.agent("mo-1").positions["XYZ"] == 6   # bought up to its limit, never sold


def test_sell_program_sends_its_children_on_schedule(base_raw):
    base_raw["agents"] = [{"type": "market_maker", "name": "mm", "quantity": 1000, "levels": 1,
                           "max_inventory": 1000},
                          {"type": "sell_program", "name": "s", "start": "2s", "total_quantity": 250,
                           "child_quantity": 100, "interval": "1s"}]
    sim = Simulation(parse_scenario(base_raw))
    sim.run()
    sent = [(o[0], o[9]) for o in sim.recorder.orders if o[1] == "s-1"]
    assert sent == [(2 * SEC, 100), (3 * SEC, 100), (4 * SEC, 50)]
    assert sim.agent("s-1").positions["XYZ"] == -250


def test_subscribers_get_top_of_book_changes_with_latency(base_raw):
    @register_agent_type
    class Watcher(Agent):
        kind = "test_watcher"

        def on_start(self):
            self.quotes = []
            self.subscribe("XYZ")

        def on_market_data(self, quote):
            self.quotes.append((self.now, quote.bid, quote.ask))

    base_raw["latency"] = {"default": "fixed:2ms"}
    base_raw["agents"] = [{"type": "test_watcher", "name": "w"},
                          {"type": "market_maker", "name": "mm", "levels": 1, "interval": "1h"}]
    sim = Simulation(parse_scenario(base_raw))
    sim.run()
    # The maker's bid and ask arrive at 2 ms (one quote change each); the watcher hears at 4 ms.
    assert sim.agent("w-1").quotes == [(4 * MS, None, 10002), (4 * MS, 9998, 10002)]  # ask sent first
