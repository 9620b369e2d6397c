"""Registry metadata for listings: parameter dataclasses described field by field, venue kinds and sections with
their parameters, and which shipped plug-in provides a kind."""

from __future__ import annotations

import dataclasses

import pytest

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
    from market_sim.simulation.venues import OrderBookVenueParams, venue_type_info

    assert venue_type_info("amm")[1] is AmmVenueParams
    assert venue_type_info("orderbook")[1] is OrderBookVenueParams  # its one key: fees
    assert [p.name for p in describe_params(OrderBookVenueParams)] == ["fees"]
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


def test_every_extension_kind_is_a_core_registry_with_metadata() -> None:
    import market_sim.consensus.scenario  # noqa: F401
    import market_sim.defi.sim  # noqa: F401
    from market_sim.consensus.protocols import PROTOCOL_TYPES, Streamlet
    from market_sim.core.registry import Registry
    from market_sim.defi.world import AmmVenueParams
    from market_sim.simulation.agents.base import AGENT_TYPES
    from market_sim.simulation.catalog import SCENARIOS
    from market_sim.simulation.processes import PROCESS_TYPES
    from market_sim.simulation.scenario import SECTIONS
    from market_sim.simulation.venues import VENUE_TYPES

    for registry in (AGENT_TYPES, PROCESS_TYPES, VENUE_TYPES, SECTIONS, SCENARIOS, PROTOCOL_TYPES):
        assert isinstance(registry, Registry)
    amm = VENUE_TYPES.entry("amm")
    assert (amm.params, amm.plugin) == (AmmVenueParams, "market_sim.defi.sim") and amm.help
    lp = AGENT_TYPES.entry("amm_lp")
    assert lp.params is AGENT_TYPES.get("amm_lp").Params and lp.plugin == "market_sim.defi.agents" and lp.help
    section = SECTIONS.entry("consensus")
    assert section.plugin == "market_sim.consensus.scenario" and section.help.startswith("every trade approved")
    assert PROTOCOL_TYPES.get("streamlet") is Streamlet and "f < n/3" in PROTOCOL_TYPES.entry("streamlet").help


def test_protocol_names_and_fault_bounds_come_from_the_registry() -> None:
    from market_sim.consensus.config import BFT_PROTOCOLS, PROTOCOLS, ConsensusConfig
    from market_sim.consensus.protocols import PROTOCOL_TYPES, BftQuorum
    from market_sim.core.errors import ConfigError, ConsensusError

    assert PROTOCOLS == PROTOCOL_TYPES.names() == ("majority", "bft", "streamlet", "raft")
    assert BFT_PROTOCOLS == ("bft", "streamlet")

    class Hotstuff(BftQuorum):
        """A test protocol registered by a plug-in."""

        name = "test_hotstuff"

    PROTOCOL_TYPES.register(Hotstuff)
    try:
        assert ConsensusConfig(nodes=4, byzantine=1, protocol="test_hotstuff").quorum == 3
        with pytest.raises(ConsensusError, match=r"test_hotstuff tolerates f Byzantine nodes only when f < n/3"):
            ConsensusConfig(nodes=3, byzantine=1, protocol="test_hotstuff")
    finally:
        PROTOCOL_TYPES.pop("test_hotstuff")
    with pytest.raises(ConfigError, match="unknown protocol; choose one of majority, bft, streamlet, raft"):
        ConsensusConfig(protocol="test_hotstuff")


def test_market_sim_agents_lists_the_protocols_from_the_registry() -> None:
    from market_sim.cli.agents import catalog

    protocols = {e["name"]: e for e in catalog()["consensus protocols"]}
    assert set(protocols) == {"majority", "bft", "streamlet", "raft"}
    assert protocols["raft"]["module"] == "market_sim.consensus.protocols.raft" and "crash" in \
        protocols["raft"]["description"]
