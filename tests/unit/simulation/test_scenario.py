"""Scenario schema: validation errors name the bad key and value; --set overrides; section registry."""

import pytest

from market_sim.core.errors import ConfigError
from market_sim.simulation.catalog import resolve_scenario
from market_sim.simulation.scenario import (
    Section, apply_overrides, load_scenario, parse_override, parse_scenario, register_section,
)


def test_minimal_scenario_defaults(base_raw):
    sc = parse_scenario(base_raw)
    assert sc.duration == 10_000_000_000
    assert [v.name for v in sc.venues] == ["exchange"]
    assert sc.venues[0].symbols == ("XYZ",)
    assert sc.session is None and sc.agents == ()


@pytest.mark.parametrize("edit, key, value", [
    (lambda r: r.update(bogus={"a": 1}), "bogus", "..."),
    (lambda r: r["scenario"].update(duration="ten seconds"), "scenario.duration", "ten seconds"),
    (lambda r: r["scenario"].update(seed=-1), "scenario.seed", -1),
    (lambda r: r["scenario"].update(colour="red"), "scenario.colour", "red"),
    (lambda r: r["instruments"][0].update(tick_size="-1"), "instruments[0].tick_size", "-1"),
    (lambda r: r["instruments"][0].update(tick="0.1"), "instruments[0].tick", "0.1"),
    (lambda r: r["instruments"][0].pop("initial_price"), "instruments[0].initial_price", None),
    (lambda r: r["instruments"][0].update(process="nope"), "instruments[0].process", "nope"),
    (lambda r: r.update(agents=[{"type": "wizard"}]), "agents[0].type", "wizard"),
    (lambda r: r.update(agents=[{"type": "noise", "intervall": "1s"}]), "agents.noise.intervall", "1s"),
    (lambda r: r.update(agents=[{"type": "noise", "interval": "-1s"}]), "agents.noise.interval", "-1s"),
    (lambda r: r.update(agents=[{"type": "noise", "max_quantity": 0}]), "agents.noise.max_quantity", 0),
    (lambda r: r.update(agents=[{"type": "noise", "market_prob": "high"}]), "agents.noise.market_prob", "high"),
    (lambda r: r.update(agents=[{"type": "noise", "count": -2}]), "agents.noise.count", -2),
    (lambda r: r.update(agents=[{"type": "noise", "instruments": ["ABC"]}]), "agents.noise.instruments", "ABC"),
    (lambda r: r.update(agents=[{"type": "noise", "venue": "nyse"}]), "agents.noise.venue", "nyse"),
    (lambda r: r.update(agents=[{"type": "noise"}, {"type": "noise"}]), "agents[1].name", "noise"),
    (lambda r: r.update(agents=[{"type": "market_maker", "anchor": "moon"}]), "agents.market_maker.anchor",
     "moon"),
    (lambda r: r.update(processes={"XYZ": {"kind": "levy"}}), "processes.XYZ.kind", "levy"),
    (lambda r: r.update(processes={"XYZ": {"kind": "gbm", "sigma": 0.2}}), "processes.XYZ.s0", None),
    (lambda r: r.update(processes={"XYZ": {"kind": "csv", "path": "missing.csv"}}), "processes.path", None),
    (lambda r: r.update(session={"open": "9h30", "close": "16:00"}), "session.open", "9h30"),
    (lambda r: r.update(session={"open": "16:00", "close": "09:30"}), "session.close", "09:30"),
    (lambda r: r.update(latency={"default": "gaussian:5ms"}), "latency.default", "gaussian:5ms"),
    (lambda r: r.update(latency={"pairs": {"ab": "1ms"}}), "latency.pairs.ab", "ab"),
    (lambda r: r.update(venues=[{"name": "x", "kind": "dark-pool"}]), "venues[0].kind", "dark-pool"),
    (lambda r: r.update(venues=[{"name": "x", "fee": 3}]), "venues[0].fee", 3),
    (lambda r: r.update(output={"format": "xlsx"}), "output.format", "xlsx"),
    (lambda r: r.update(instruments=[]), "instruments", None),
])
def test_bad_values_name_key_and_value(base_raw, edit, key, value):
    edit(base_raw)
    with pytest.raises(ConfigError) as info:
        parse_scenario(base_raw)
    assert info.value.key == key
    if value is not None:
        assert info.value.value == value
    assert key in str(info.value)


def test_bad_toml_file_is_a_named_error(tmp_path):
    f = tmp_path / "broken.toml"
    f.write_text("[scenario\nname = 1\n")
    with pytest.raises(ConfigError, match="broken.toml"):
        load_scenario(f)
    g = tmp_path / "bad.toml"
    g.write_text('[scenario]\nduration = "1h"\n[[instruments]]\nsymbol = "A"\ninitial_price = 1.0\n'
                 '[[agents]]\ntype = "noise"\ncount = "many"\n')
    with pytest.raises(ConfigError, match=r"agents.noise.count: .*'many'"):
        load_scenario(g)
    with pytest.raises(ConfigError, match="not found"):
        load_scenario(tmp_path / "nope.toml")


def test_parse_override_values():
    assert parse_override("agents.noise.count=50") == ("agents.noise.count", 50)
    assert parse_override("scenario.duration=10min") == ("scenario.duration", "10min")
    assert parse_override("output.plots=false") == ("output.plots", False)
    assert parse_override('x.y="a b"') == ("x.y", "a b")
    with pytest.raises(ConfigError, match="--set"):
        parse_override("novalue")


def test_overrides_by_name_symbol_index_and_new_tables(base_raw):
    base_raw["agents"] = [{"type": "noise", "count": 3}, {"type": "momentum", "name": "mom"}]
    raw = apply_overrides(base_raw, [("agents.noise.count", 7), ("agents.1.count", 2),
                                     ("instruments.XYZ.initial_price", 55.5), ("session.open", "09:30"),
                                     ("session.close", "16:00")])
    sc = parse_scenario(raw)
    assert [(a.name, a.count) for a in sc.agents] == [("noise", 7), ("mom", 2)]
    assert sc.instruments[0].initial_price == 55.5
    assert sc.session is not None and sc.session.open == 9.5 * 3600 * 10**9
    assert base_raw["agents"][0]["count"] == 3  # the input is not modified
    with pytest.raises(ConfigError) as info:
        apply_overrides(base_raw, [("agents.whale.count", 1)])
    assert info.value.key == "agents.whale" and info.value.value == "whale"
    with pytest.raises(ConfigError, match="index out of range"):
        apply_overrides(base_raw, [("agents.5.count", 1)])


def test_load_named_scenario_with_overrides_and_seed():
    sc = load_scenario(resolve_scenario("random-market"), ["scenario.duration=2min", "agents.noise.count=4"],
                       seed=99)
    assert sc.seed == 99 and sc.duration == 120 * 10**9
    assert {a.kind: a.count for a in sc.agents}["noise"] == 4
    assert sc.raw["scenario"]["seed"] == 99


def test_registered_section_parses_and_validates(base_raw):
    class Validators(Section):
        name = "test_validators"

        def parse(self, raw, ctx):
            n = raw.get("nodes")
            if not isinstance(n, int) or n < 1:
                raise ConfigError("must be a positive integer", key="test_validators.nodes", value=n)
            return {"nodes": n, "symbols": ctx.symbols}

    register_section(Validators())
    base_raw["test_validators"] = {"nodes": 4}
    assert parse_scenario(base_raw).extensions["test_validators"] == {"nodes": 4, "symbols": ("XYZ",)}
    base_raw["test_validators"] = {"nodes": 0}
    with pytest.raises(ConfigError, match="test_validators.nodes"):
        parse_scenario(base_raw)
    base_raw["test_validators"] = [1, 2]
    with pytest.raises(ConfigError, match="must be a table"):
        parse_scenario(base_raw)
    with pytest.raises(ConfigError, match=r"section: section name must be .*not a built-in section \(got 'agents'\)"):
        register_section(type("Bad", (Section,), {"name": "agents"})())


def test_unknown_plugin_module_is_named(base_raw):
    base_raw["scenario"]["plugins"] = ["market_sim.nope_plugin"]
    with pytest.raises(ConfigError) as info:
        parse_scenario(base_raw)
    assert info.value.key == "scenario.plugins" and info.value.value == "market_sim.nope_plugin"
