"""Kernel: (time, sequence) ordering, cancellation, periodic events, run limits and determinism."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --- the bucket queue: one heap entry per distinct time, callbacks at that time in scheduling order ---------------


def test_same_time_order_is_kept_across_callbacks_scheduling_at_the_current_time():
    k = Kernel()
    seen = []

    def first():
        seen.append("a")
        k.schedule(0, seen.append, "d")          # appended to time 5's bucket: after b and c
        k.schedule_at(5, seen.append, "e")       # the same bucket, after d
        k.schedule(1, seen.append, "g")
        k.schedule(0, lambda: (seen.append("f"), k.schedule(0, seen.append, "f2")))

    k.schedule_at(5, first)
    k.schedule_at(5, seen.append, "b")
    k.schedule_at(6, seen.append, "h")
    k.schedule_at(5, seen.append, "c")
    assert k.run() == 9
    assert seen == ["a", "b", "c", "d", "e", "f", "f2", "h", "g"] and k.now == 6


def test_stop_in_the_middle_of_a_time_resumes_in_order():
    k = Kernel()
    seen = []
    k.schedule_at(5, lambda: (seen.append(1), k.stop()))
    k.schedule_at(5, seen.append, 2)
    assert k.run() == 1 and seen == [1] and k.now == 5
    k.schedule_at(5, seen.append, 3)             # scheduled while stopped at time 5: after 2
    k.schedule(0, seen.append, 4)
    assert k.peek() == 5
    assert k.run() == 3 and seen == [1, 2, 3, 4]
    assert k.events_processed == 4 and k.pending == 0 and k.peek() is None


def test_cancel_a_later_callback_at_the_current_time_and_after_it_ran():
    k = Kernel()
    seen = []
    later = []
    t = k.schedule_at(3, seen.append, "ran")
    k.schedule_at(3, lambda: Kernel.cancel(later[0]))
    later.append(k.schedule_at(3, seen.append, "cancelled"))
    k.schedule_at(3, seen.append, "last")
    assert k.pending == 4
    k.run()
    assert seen == ["ran", "last"] and k.events_processed == 3
    Kernel.cancel(t)                             # after it ran: harmless
    assert k.peek() is None and k.pending == 0


def test_a_callback_that_raises_is_consumed_and_the_rest_runs_next_time():
    k = Kernel()
    seen = []

    def boom():
        raise RuntimeError("boom")

    k.schedule_at(1, seen.append, 1)
    k.schedule_at(2, boom)
    k.schedule_at(2, seen.append, 2)
    with pytest.raises(RuntimeError, match="boom"):
        k.run()
    assert seen == [1] and k.events_processed == 1 and k.now == 2
    assert k.run() == 1 and seen == [1, 2]


def test_peek_from_a_callback_skips_the_exhausted_current_time():
    k = Kernel()
    peeked = []
    k.schedule_at(4, lambda: peeked.append(k.peek()))
    cancelled = k.schedule_at(4, print)
    k.schedule_at(9, lambda: peeked.append(k.peek()))
    Kernel.cancel(cancelled)
    assert k.run() == 2
    assert peeked == [9, None]


def test_pacer_once_per_time_even_when_a_callback_adds_to_the_current_time():
    k = Kernel()
    paced = []
    k.schedule_at(5, lambda: k.schedule(0, lambda: None))
    k.schedule_at(8, lambda: None)
    k.run(pacer=paced.append)
    assert paced == [5, 8] and k.events_processed == 3


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 3), st.booleans()), min_size=1, max_size=40),
       st.lists(st.integers(0, 60), max_size=6))
def test_matches_a_reference_time_then_sequence_queue(plan, cancels):
    """Callbacks that schedule more (delay 0 included), cancels and stops, against a sorted (time, seq) model."""
    k = Kernel()
    order: list[int] = []
    handles: dict[int, list] = {}
    ref: list[tuple[int, int]] = []          # the reference queue: (time, seq) of live entries
    cancelled: set[int] = set()
    ids = iter(range(10**6))

    def add(at: int) -> None:
        i = next(ids)
        handles[i] = k.schedule_at(at, fire, i)
        ref.append((at, i))

    def fire(i: int) -> None:
        order.append(i)
        if i < len(plan):
            delay, children, stop = plan[i]
            for _ in range(children if len(ref) < 200 else 0):
                add(k.now + delay)
            if stop:
                k.stop()
        for c in cancels:
            if c == i + 1 and c in handles:
                Kernel.cancel(handles[c])
                if c not in order:           # cancelling after it ran changes nothing
                    cancelled.add(c)

    add(0)
    add(0)
    while k.run(until=10**6):
        pass
    expected = [i for _t, i in sorted(ref) if i not in cancelled]
    assert order == expected
    assert k.events_processed == len(expected) and k.pending == 0 and k.peek() is None
