"""Pre-trade risk engine, Reg T margin and liquidation, securities lending and short-sale rules.

Plug-in: `plugins = ["market_sim.risk"]` registers the [risk] section (market_sim.risk.section) and the
`gbm_shock` price process and the `position_taker` agent. The pieces:
- `margin`: the integer margin arithmetic (MarginRate, MarginRules, margin_state);
- `config`: PreTradeLimits and the section's typed configuration;
- `engine`: RiskEngine — the order gate at the venue boundary, the venue-time ledger, margin calls and the
  liquidation engine, lending pools (locates, borrow fees, recalls and buy-ins) and the short-sale rules.
"""

from market_sim.risk import agents as _agents  # noqa: F401  (registers position_taker)
from market_sim.risk import process as _process  # noqa: F401  (registers gbm_shock)
from market_sim.risk.config import PreTradeLimits, RiskConfig
from market_sim.risk.engine import RiskEngine
from market_sim.risk.margin import MarginRate, MarginRules, MarginState, margin_state
from market_sim.risk.section import RiskResult, RiskSection

__all__ = ["PreTradeLimits", "RiskConfig", "RiskEngine", "MarginRate", "MarginRules", "MarginState",
           "margin_state", "RiskResult", "RiskSection"]
