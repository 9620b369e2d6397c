from __future__ import annotations

import pytest

from market_sim.core.errors import ConfigError
from market_sim.consensus.network import Network, Partition, default_delta
from market_sim.simulation.kernel import Kernel
from market_sim.simulation.latency import FixedLatency, LogNormalLatency, UniformLatency


def _net(**kw) -> tuple[Kernel, Network, list]:
    k = Kernel()
    net = Network(k, **kw)
    got: list = []
    for name in ("a", "b", "c"):
        net.attach(name, lambda src, msg, name=name: got.append((k.now, src, name, msg)))
    return k, net, got


def test_fixed_latency_and_self_delivery() -> None:
    k, net, got = _net(latency="fixed:5ms")
    net.broadcast("a", "hello")
    k.run()
    assert got == [(0, "a", "a", "hello"), (5_000_000, "a", "b", "hello"), (5_000_000, "a", "c", "hello")]
    assert net.messages == 2  # self-delivery is not network traffic


def test_same_seed_same_deliveries() -> None:
    runs = []
    for _ in range(2):
        k, net, got = _net(latency="lognormal:20ms:0.7", seed=9, loss=0.3, gst=10**9)
        for i in range(50):
            net.send("a", "b", i)
        k.run()
        runs.append(got)
    assert runs[0] == runs[1] and 0 < len(runs[0]) < 50


def test_partition_cuts_then_heals_and_gst_stops_loss() -> None:
    part = Partition((frozenset({"a"}), frozenset({"b", "c"})), 0, 10_000_000)
    k, net, got = _net(latency="fixed:1ms", partitions=(part,), loss=0.5, gst=5_000_000)
    assert net.gst == 10_000_000  # never before the last heal
    net.send("a", "b", "cut")
    net.send("b", "c", "inside")
    k.run(until=9_999_999)
    k.schedule_at(10_000_000, lambda: [net.send("a", "b", i) for i in range(20)])
    k.run()
    msgs = [m for _, _, _, m in got]
    assert "cut" not in msgs and net.cut == 1
    assert list(range(20)) == [m for m in msgs if isinstance(m, int)]  # after GST: no loss


def test_delay_capped_after_gst() -> None:
    k, net, got = _net(latency=UniformLatency(1, 10_000_000), delta=2_000_000)
    for i in range(30):
        net.send("a", "b", i)
    k.run()
    assert max(t for t, *_ in got) <= 2_000_000


def test_bad_configs() -> None:
    k = Kernel()
    with pytest.raises(ConfigError, match="negative"):
        Network(k, FixedLatency(-1))
    with pytest.raises(ConfigError, match=r"latency: must be a non-negative duration .*\(got '-5ms'\)"):
        Network(k, "fixed:-5ms")
    with pytest.raises(ConfigError, match="loss"):
        Network(k, loss=1.5)
    with pytest.raises(ConfigError, match="heal"):
        Partition((frozenset({"a"}),), 10, 5)
    assert default_delta(LogNormalLatency(1_000_000, 0.0)) == 1_000_000
