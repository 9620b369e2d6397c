"""Registry metadata for listings: parameter dataclasses described field by field, venue kinds and sections with
their parameters, and which shipped plug-in provides a kind."""

from __future__ import annotations

import dataclasses

from market_sim.simulation.params import ParamSpec, describe_params, param
from market_sim.simulation.scenario import builtin_sections, plugin_providing


@dataclasses.dataclass(frozen=True, slots=True)
class _Params:
    pool: str = param(help="venue to trade")
    interval: int = param("30s", duration=True, min=1, help="mean time between swaps")
    lifetime: int = param(90 * 10**9, duration=True)
    share: float = param(0.3, min=0.0, max=1.0)
    side: str = param("sell", choices=("sell", "buy"))
    symbols: list[str] = param([])
    on: bool = True


def test_describe_params_lists_type_default_and_help_with_bounds() -> None:
    assert describe_params(_Params) == [
        ParamSpec("pool", "string", None, "venue to trade"),
        ParamSpec("interval", "duration", "30s", "mean time between swaps; >= 1"),
        ParamSpec("lifetime", "duration", "90s", ""),
        ParamSpec("share", "number", "0.3", "0.0..1.0"),
        ParamSpec("side", "string", '"sell"', "one of sell, buy"),
        ParamSpec("symbols", "list of strings", "[]", ""),
        ParamSpec("on", "true/false", "true", ""),
    ]
    assert describe_params(None) == []


def test_registered_kinds_carry_their_parameter_dataclasses() -> None:
    import market_sim.defi.sim  # noqa: F401
    import market_sim.settlement.scenario  # noqa: F401
    from market_sim.defi.world import AmmVenueParams, BridgeConfig, ChainConfig, DefiTableKeys
    from market_sim.settlement.scenario import SettlementParams
    from market_sim.simulation.scenario import sections
    from market_sim.simulation.venues import venue_type_info

    assert venue_type_info("amm")[1] is AmmVenueParams and venue_type_info("orderbook")[1] is None
    assert sections()["settlement"].parameters() == [("settlement", SettlementParams)]
    assert sections()["defi"].parameters() == [("defi", DefiTableKeys), ("[[defi.chains]]", ChainConfig),
                                               ("defi.bridge", BridgeConfig)]
    assert [p.name for p in describe_params(DefiTableKeys)] == ["home_chain", "sample_interval", "epoch"]
    assert {"scenario", "instruments", "agents", "output"} <= set(builtin_sections())


def test_the_shipped_plugin_providing_a_kind_is_found() -> None:
    assert plugin_providing("agent", "amm_lp") == "market_sim.defi.sim"
    assert plugin_providing("venue", "amm") == "market_sim.defi.sim"
    assert plugin_providing("section", "settlement") == "market_sim.settlement.scenario"
    assert plugin_providing("section", "consensus") == "market_sim.consensus.scenario"
    assert plugin_providing("agent", "no_such_kind") is None and plugin_providing("agent", 3) is None
