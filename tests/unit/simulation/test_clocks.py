"""Real-time pacer arithmetic with an injected clock (no wall-clock race)."""

import pytest

from market_sim.core.errors import ConfigError
from market_sim.simulation.clocks import RealTimePacer, make_pacer
from market_sim.simulation.kernel import Kernel


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s


def test_speed_one_sleeps_the_simulated_gap():
    c = FakeClock()
    p = RealTimePacer(1.0, time_fn=c.time, sleep_fn=c.sleep)
    p(0)
    p(2_000_000_000)
    assert c.sleeps == [pytest.approx(2.0)]
    assert c.t == pytest.approx(1002.0)


def test_speed_ten_divides_and_subtracts_work_already_done():
    c = FakeClock()
    p = RealTimePacer(10.0, time_fn=c.time, sleep_fn=c.sleep)
    p(5_000_000_000)            # anchor: sim 5 s == wall 1000
    c.t += 0.3                  # 0.3 s of work
    p(10_000_000_000)           # due at wall 1000.5
    assert c.sleeps == [pytest.approx(0.2)]
    assert p.wall_deadline(15_000_000_000) == pytest.approx(1001.0)


def test_behind_schedule_does_not_sleep_and_records_lag():
    c = FakeClock()
    p = RealTimePacer(2.0, time_fn=c.time, sleep_fn=c.sleep)
    p(0)
    c.t += 3.0
    p(4_000_000_000)            # due at +2 s, we are at +3 s
    assert c.sleeps == []
    assert p.lag == pytest.approx(1.0)


def test_kernel_run_with_pacer_tracks_simulated_time():
    c = FakeClock()
    p = RealTimePacer(4.0, time_fn=c.time, sleep_fn=c.sleep)
    k = Kernel()
    wall_at = {}
    for t in (0, 1_000_000_000, 3_000_000_000, 8_000_000_000):
        k.schedule_at(t, lambda: wall_at.setdefault(k.now, c.t))
    k.run(pacer=p)
    # First event anchors (the kernel starts at 0, so the pacer first sees t=1 s).
    base = wall_at[1_000_000_000]
    assert wall_at[3_000_000_000] - base == pytest.approx(0.5)
    assert wall_at[8_000_000_000] - base == pytest.approx(1.75)


def test_bad_speed_is_a_named_error():
    with pytest.raises(ConfigError, match="realtime"):
        RealTimePacer(0)
    assert make_pacer(None) is None


def test_simulation_run_in_real_time_takes_the_scaled_duration(base_raw):
    from market_sim.simulation.runner import Simulation
    from market_sim.simulation.scenario import parse_scenario

    c = FakeClock()
    base_raw["scenario"]["duration"] = "60s"
    sim = Simulation(parse_scenario(base_raw), pacer=RealTimePacer(20.0, time_fn=c.time, sleep_fn=c.sleep))
    start = c.t
    sim.run(chunk=5_000_000_000)
    assert c.t - start == pytest.approx(3.0)   # 60 simulated seconds at 20x
