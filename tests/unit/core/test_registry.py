"""The one registry type: names, help, the plug-in that registered an entry, and errors that list the choices."""

import pytest

from market_sim.core.errors import ConfigError
from market_sim.core.registry import Registry


class Noise:
    """Random limit orders around the mid.

    More text."""

    kind = "noise"


def test_register_by_attribute_or_name_with_help_and_plugin():
    reg: Registry[object] = Registry("agent type")
    reg.register(Noise)

    @reg.register(name="step-b", help="second")
    def step_b():
        return 2

    assert reg.names() == ("noise", "step-b")
    assert reg.get("noise") is Noise and reg.all()["step-b"] is step_b
    e = reg.entry("noise")
    assert (e.help, e.plugin) == ("Random limit orders around the mid.", __name__)
    assert "noise" in reg and len(reg) == 2 and list(reg) == ["noise", "step-b"]


def test_unknown_and_nameless_entries_are_clear_errors():
    reg: Registry[object] = Registry("price process")
    reg.register(Noise, name="gbm")
    with pytest.raises(ConfigError, match=r"processes.X.kind: unknown price process; choose one of gbm \(got 'bm'\)"):
        reg.get("bm", "processes.X.kind")
    with pytest.raises(ConfigError, match="needs a non-empty kind"):
        reg.register(object())
