"""DeFi: Uniswap-V2-style AMM (contracts + identical integer math), a quorum-attested bridge between in-process
chains, AMM venues and arbitrage / noise agents for the simulation, and the LVR measurement.

Scenario plug-in: `plugins = ["market_sim.defi.sim"]` registers the [defi] and [lvr] sections, the `amm` venue kind
and the agent kinds amm_noise, amm_lp, amm_arbitrageur, xchain_inventory_arb, xchain_bridge_arb, book_amm_arb.
"""
