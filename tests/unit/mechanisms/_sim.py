"""A minimal stand-in for the Simulation a mechanism venue needs: a kernel, publish(), no validator."""

from __future__ import annotations

from types import SimpleNamespace

from market_sim.simulation.kernel import Kernel


class FakeSim:
    def __init__(self, duration: int = 10**12) -> None:
        self.kernel = Kernel()
        self.trade_validator = None
        self.scenario = SimpleNamespace(duration=duration)
        self.events: list = []

    def publish(self, venue, command, events) -> None:
        self.events.extend(events)

    def send(self, venue, t: int, command) -> None:
        """Deliver `command` to `venue` at time t (its events are published)."""
        self.kernel.schedule_at(t, lambda: self.publish(venue, command, venue.handle(command, self.kernel.now)))

    def of(self, tp) -> list:
        return [e for e in self.events if type(e) is tp]
