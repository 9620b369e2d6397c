"""Kernel: (time, sequence) ordering, cancellation, periodic events, run limits and determinism."""

import pytest

from market_sim.core.errors import MarketSimError
from market_sim.simulation.kernel import Kernel


def test_events_run_in_time_then_insertion_order():
    k = Kernel()
    seen = []
    k.schedule_at(30, seen.append, "c")
    k.schedule_at(10, seen.append, "a1")
    k.schedule_at(20, seen.append, "b")
    k.schedule_at(10, seen.append, "a2")
    assert k.run() == 4
    assert seen == ["a1", "a2", "b", "c"]
    assert k.now == 30


def test_callbacks_scheduling_at_the_same_time_run_after_earlier_ones():
    k = Kernel()
    seen = []
    k.schedule_at(5, lambda: (seen.append("x"), k.schedule(0, seen.append, "z")))
    k.schedule_at(5, seen.append, "y")
    k.run()
    assert seen == ["x", "y", "z"]


def test_cancel_and_peek():
    k = Kernel()
    seen = []
    t1 = k.schedule_at(1, seen.append, 1)
    k.schedule_at(2, seen.append, 2)
    Kernel.cancel(t1)
    Kernel.cancel(t1)
    assert k.peek() == 2
    k.run()
    assert seen == [2]
    assert k.peek() is None


def test_until_is_inclusive_and_advances_the_clock():
    k = Kernel()
    seen = []
    for t in (5, 10, 11):
        k.schedule_at(t, seen.append, t)
    assert k.run(until=10) == 2
    assert seen == [5, 10] and k.now == 10
    k.run(until=100)
    assert seen == [5, 10, 11] and k.now == 100


def test_every_and_its_stop_function():
    k = Kernel()
    ticks = []
    stop = k.every(10, lambda: ticks.append(k.now))
    k.schedule_at(35, stop)
    k.run(until=100)
    assert ticks == [10, 20, 30]


def test_every_with_explicit_start():
    k = Kernel()
    ticks = []
    k.every(10, lambda: ticks.append(k.now), start=0)
    k.run(until=25)
    assert ticks == [0, 10, 20]


def test_stop_ends_run_after_current_callback():
    k = Kernel()
    seen = []
    k.schedule_at(1, lambda: (seen.append(1), k.stop()))
    k.schedule_at(2, seen.append, 2)
    k.run(until=10)
    assert seen == [1] and k.now == 1
    k.run()
    assert seen == [1, 2]


def test_past_and_negative_scheduling_raise():
    k = Kernel(start=100)
    with pytest.raises(MarketSimError, match="past"):
        k.schedule_at(99, print)
    with pytest.raises(MarketSimError, match="negative"):
        k.schedule(-1, print)
    with pytest.raises(MarketSimError, match="period"):
        k.every(0, print)


def test_pacer_called_once_per_distinct_time():
    k = Kernel()
    paced = []
    for t in (5, 5, 7, 9, 9):
        k.schedule_at(t, lambda: None)
    k.run(pacer=paced.append)
    assert paced == [5, 7, 9]


def _trace(seed: int) -> list[tuple[int, int]]:
    import random

    rng = random.Random(seed)
    k = Kernel()
    out = []

    def hop(i: int) -> None:
        out.append((k.now, i))
        if len(out) < 500:
            k.schedule(rng.randrange(0, 50), hop, i)

    for i in range(20):
        k.schedule(rng.randrange(0, 50), hop, i)
    k.run()
    return out


def test_same_schedule_same_trace():
    assert _trace(3) == _trace(3)
    assert _trace(3) != _trace(4)
