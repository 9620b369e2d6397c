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


def test_metadata_params_and_plugin_from_the_object_or_given():
    from dataclasses import dataclass

    @dataclass(frozen=True, slots=True)
    class P:
        rate: int = 3

    class WithParams:
        """Uses P.

        Details."""

        kind = "with"
        Params = P

    class Inherits(WithParams):
        kind = "inherits"

    reg: Registry[object] = Registry("agent type")
    reg.register(WithParams)
    reg.register(Inherits)
    reg.register(object(), name="step", help="a step", params=P, plugin="my.plugin")
    assert reg.entry("with").params is P and reg.entry("with").help == "Uses P."
    assert reg.entry("inherits").help == ""  # an inherited docstring is not this kind's help
    e = reg.entry("step")
    assert (e.help, e.params, e.plugin) == ("a step", P, "my.plugin")
    with pytest.raises(ConfigError, match=r"agents.type: unknown agent type; choose one of inherits, step, with"):
        reg.entry("nope", "agents.type")
