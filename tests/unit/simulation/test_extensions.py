"""Extension points used by later packages: a scenario section with run hooks, a venue kind, an agent kind,
periodic events, message delivery and extra result tables."""

from dataclasses import dataclass

import pandas as pd

from market_sim.core.errors import ConfigError
from market_sim.core.events import OrderAccepted, Trade
from market_sim.core.orders import NewOrder, Side
from market_sim.simulation.agents import Agent, register_agent_type
from market_sim.simulation.results import load_run, write_run
from market_sim.simulation.runner import Simulation
from market_sim.simulation.scenario import Section, parse_scenario, register_section
from market_sim.simulation.venues import Quote, register_venue_type

SEC = 1_000_000_000


class FixedPriceVenue:
    """A toy non-book venue (like an AMM): fills every order in full at a fixed price against 'pool'."""

    kind = "test_fixed_price"

    def __init__(self, name, symbols, price):
        self.name, self.symbols, self.price, self.trades = name, tuple(symbols), price, 0

    def handle(self, cmd, ts):
        self.trades += 1
        buy = cmd.side is Side.BUY
        return [OrderAccepted(ts, cmd),
                Trade(ts, self.trades, cmd.symbol, self.price, cmd.quantity,
                      cmd.order_id if buy else 0, 0 if buy else cmd.order_id,
                      cmd.trader if buy else "pool", "pool" if buy else cmd.trader, cmd.side)]

    def quote(self, symbol, ts):
        return Quote(ts, self.name, symbol, self.price, 10**9, self.price, 10**9, self.price)

    def depth(self, symbol, levels=10):
        return [(self.price, 10**9)], [(self.price, 10**9)]

    def end_session(self, ts):
        return []

    def expire(self, ts):
        return []


def _check_fixed(params, where):
    if not isinstance(params.get("price"), int) or params["price"] <= 0:
        raise ConfigError("must be a positive integer (ticks)", key=f"{where}.price", value=params.get("price"))
    return params


register_venue_type("test_fixed_price",
                    lambda sim, cfg: FixedPriceVenue(cfg.name, cfg.symbols, cfg.params["price"]), _check_fixed)


@dataclass(frozen=True, slots=True)
class BuyerParams:
    quantity: int = 2


@register_agent_type
class PeriodicBuyer(Agent):
    kind = "test_periodic_buyer"
    Params = BuyerParams

    def on_start(self):
        self.wake_up_in(SEC)

    def on_wakeup(self):
        self.submit(self.symbols[0], Side.BUY, self.params.quantity, 20_000)
        self.wake_up_in(SEC)


@dataclass
class ChainCfg:
    block_time: int


class ToyChain(Section):
    """A section like the later 'chains' one: produces blocks on the simulation clock and records transactions."""

    name = "test_chains"

    def parse(self, raw, ctx):
        from market_sim.simulation.latency import parse_duration

        return ChainCfg(parse_duration(raw.get("block_time", "2s"), "test_chains.block_time"))

    def prepare(self, sim, cfg):
        self.calls = ["prepare"]
        self.pending = []
        self.blocks = 0

    def install(self, sim, cfg):
        self.calls.append("install")
        sim.bus.subscribe(Trade, self.pending.append)

        def produce():
            self.blocks += 1
            for t in self.pending:
                sim.record("chain_transactions", {"ts": sim.kernel.now, "chain": "toy", "tx_hash": f"0x{t.trade_id:04x}",
                                                  "kind": "settle", "batch": self.blocks, "gas_used": 21000,
                                                  "status": 1})
            self.pending.clear()

        sim.every(cfg.block_time, produce)

    def finish(self, sim, cfg):
        self.calls.append("finish")
        sim.metrics["blocks"] = self.blocks


def test_section_venue_agent_and_tables_plug_in(base_raw, tmp_path):
    section = register_section(ToyChain())
    base_raw["test_chains"] = {"block_time": "2s"}
    base_raw["venues"] = [{"name": "book"}, {"name": "pool", "kind": "test_fixed_price", "price": 10_000}]
    base_raw["agents"] = [{"type": "test_periodic_buyer", "name": "buyer", "count": 2, "venue": "pool"}]
    sc = parse_scenario(base_raw)
    out = Simulation(sc).run()
    assert section.calls == ["prepare", "install", "finish"]
    assert out.metrics["blocks"] == 5                          # blocks at 2, 4, ..., 10 s
    trades = pd.DataFrame(out.tables["trades"])
    assert set(trades["venue"]) == {"pool"} and len(trades) == 2 * 9  # wake-ups at 1..9 s (+1 ms latency)
    chain = pd.DataFrame(out.tables["chain_transactions"])
    assert len(chain) == 18 and chain["ts"].max() == 10 * SEC
    pnl = pd.DataFrame(out.tables["agent_pnl"]).set_index("agent")
    assert pnl.loc["buyer-1", "position"] == 18 and pnl.loc["buyer-1", "pnl"] == 0.0
    rec = write_run(out, tmp_path, plots=False)
    assert len(load_run(rec.run_id, tmp_path)["chain_transactions"]) == 18


def test_venue_kind_params_are_validated(base_raw):
    import pytest

    base_raw["venues"] = [{"name": "pool", "kind": "test_fixed_price", "price": -1}]
    with pytest.raises(ConfigError) as info:
        parse_scenario(base_raw)
    assert info.value.key == "venues[0].price"


def test_new_order_type_is_what_agents_send(base_raw):
    # Agents reach venues only via the simulation: submit builds a NewOrder for the venue kind.
    base_raw["agents"] = [{"type": "test_periodic_buyer", "name": "b"}]
    sim = Simulation(parse_scenario(base_raw)).build()
    sent = []
    sim.bus.subscribe(OrderAccepted, lambda e: sent.append(type(e.order)))
    sim.run()
    assert sent and set(sent) == {NewOrder}
