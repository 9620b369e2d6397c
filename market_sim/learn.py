"""The learning environment's catalog and its answer checks.

The tutorials are Jupyter notebooks in the repository's `tutorials/` folder (their sources, `tutorials/src/*.py`, are
"percent" scripts that `scripts/build_tutorials.py` turns into the notebooks). `TUTORIALS` lists them (number, title,
goal, minutes) so that `market-sim learn` can list them from an installed package; `tutorial_path(n)` finds the
notebook itself, which exists only in a checkout (or where `$MARKET_SIM_ROOT` points to one).

`check_answer(name, answer, expected)` is what the tutorials' check cells call: it prints one line when the reader's
answer is right and raises `WrongAnswer` (an AssertionError) saying what was expected when it is not.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from market_sim.core.errors import ConfigError

__all__ = ["Tutorial", "TUTORIALS", "WrongAnswer", "check_answer", "tutorial", "tutorial_path", "tutorials_dir",
           "tutorials_using"]


@dataclass(frozen=True, slots=True)
class Tutorial:
    """One notebook of the learning path."""

    number: int
    slug: str     # the notebook's file name without .ipynb
    title: str
    goal: str
    minutes: int  # reading and doing the exercises (running it takes seconds)
    scenarios: tuple[str, ...] = ()  # the shipped scenarios it runs or sends the reader to run (`market-sim describe`)

    @property
    def filename(self) -> str:
        return f"{self.slug}.ipynb"


TUTORIALS: tuple[Tutorial, ...] = (
    Tutorial(1, "01_order_book", "The order book and matching",
             "Build a book order by order, see price-time priority, and measure what a market order does to it", 20),
    Tutorial(2, "02_price_formation", "Agents and price formation: a flash crash",
             "Run the flash-crash scenario, watch a sell program walk a thin book and the value traders bring the "
             "price back", 20, ("flash-crash",)),
    Tutorial(3, "03_consensus", "Consensus: quorums, Byzantine validators, and what breaks at f+1",
             "See why n = 3f+1 validators need 2f+1 signatures, and what breaks with f+1 faulty ones", 20,
             ("byzantine-validators",)),
    Tutorial(4, "04_settlement", "Settlement on chain: a batch's life",
             "Follow a batch from the matching engine to a final block: latency per stage, gas, Merkle proofs and "
             "reconciliation", 25, ("settlement-demo", "settlement-faults", "settlement-latency")),
    Tutorial(5, "05_amm_lvr", "The AMM, arbitrage and loss-versus-rebalancing",
             "Trade against a constant-product pool by hand, then measure an LP's LVR against the sigma^2/8 theory", 25,
             ("amm-lvr", "cross-chain-arbitrage")),
    Tutorial(6, "06_backtesting", "Backtesting on real data and reading a tear sheet",
             "Backtest an SMA crossover on 20 years of ORCL bars with fees and slippage, and read its report", 20),
    Tutorial(7, "07_margin_cascade", "Margin and a liquidation cascade",
             "Compute margin and the margin-call price by hand, then watch forced selling deepen a fall in the "
             "margin-cascade scenario", 20, ("margin-cascade", "short-squeeze")),
    Tutorial(8, "08_latency_arbitrage", "Market mechanisms and latency arbitrage",
             "Watch a sniper pick off stale quotes, then compare continuous matching, batch auctions and speed bumps "
             "with the mechanism study", 20, ("latency-arbitrage",)),
    Tutorial(9, "09_options", "Options: pricing, Greeks and a delta-hedged market maker",
             "Price a call, read its Greeks as slopes, recover an implied volatility, and see what delta hedging "
             "does to a maker's PnL", 20),
)


# The checkout this module runs from, when it is one (an editable install); a wheel's site-packages has no tutorials/.
CHECKOUT = Path(__file__).resolve().parents[1]


class WrongAnswer(AssertionError):
    """A tutorial exercise's answer is not the expected one (the message says what was expected)."""


def _close(answer: Any, expected: Any, rel: float, abs_: float) -> bool:
    if isinstance(expected, bool) or isinstance(answer, bool):
        return isinstance(answer, bool) and isinstance(expected, bool) and answer is expected
    if isinstance(expected, (int, float)) and isinstance(answer, (int, float)):
        if isinstance(expected, int) and isinstance(answer, int):
            return answer == expected
        return math.isclose(float(answer), float(expected), rel_tol=rel, abs_tol=abs_)
    if isinstance(expected, (list, tuple)) and isinstance(answer, (list, tuple)):
        return len(answer) == len(expected) and all(_close(a, e, rel, abs_) for a, e in zip(answer, expected))
    return answer == expected


def _plain(value: Any) -> Any:
    """numpy / pandas scalars as Python numbers (so that messages print 46.86, not np.float64(46.86))."""
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "ndim", None) == 0:
        return item()
    return value


def check_answer(name: str, answer: Any, expected: Any, *, rel: float = 1e-9, abs_: float = 0.0,
                 hint: str = "") -> Any:
    """Check a reader's answer: print `check NAME: ok (ANSWER)` when it matches `expected` (numbers within `rel` /
    `abs_`; sequences element by element; integers exactly), else raise WrongAnswer naming both. Returns the answer."""
    answer, expected = _plain(answer), _plain(expected)
    if answer is None or answer is Ellipsis:
        raise WrongAnswer(f"{name}: no answer yet -- replace the ... in the exercise cell above and run it again")
    if not _close(answer, expected, rel, abs_):
        extra = f" (hint: {hint})" if hint else ""
        raise WrongAnswer(f"{name}: got {answer!r}, expected {expected!r}{extra}")
    print(f"check {name}: ok ({answer!r})")
    return answer


def tutorial(number: int) -> Tutorial:
    """The tutorial with this number; a ConfigError lists the numbers there are."""
    for t in TUTORIALS:
        if t.number == number:
            return t
    raise ConfigError(f"no tutorial {number}: choose one of {', '.join(str(t.number) for t in TUTORIALS)} "
                      f"(`market-sim learn` lists them)")


def tutorials_using(scenario: str) -> tuple[Tutorial, ...]:
    """The tutorials that run the named shipped scenario or send the reader to run it (possibly none)."""
    return tuple(t for t in TUTORIALS if scenario in t.scenarios)


def tutorials_dir() -> Path:
    """The folder holding the notebooks: `$MARKET_SIM_ROOT/tutorials`, else the checkout this package runs from. A
    ConfigError says how to get them when neither has them (a package installed from a wheel ships no notebooks)."""
    candidates = []
    root = os.environ.get("MARKET_SIM_ROOT")
    if root:
        candidates.append(Path(root) / "tutorials")
    candidates.append(CHECKOUT / "tutorials")
    for folder in candidates:
        if (folder / TUTORIALS[0].filename).is_file():
            return folder
    raise ConfigError("the tutorial notebooks were not found (looked in "
                      f"{', '.join(str(c) for c in candidates)}): they ship with the source repository, not the "
                      "package; clone it and run `market-sim learn` there, or set MARKET_SIM_ROOT to the checkout")


def tutorial_path(number: int) -> Path:
    """The notebook file of tutorial `number` (see tutorials_dir for where it is looked for)."""
    t = tutorial(number)
    path = tutorials_dir() / t.filename
    if not path.is_file():
        raise ConfigError(f"tutorial {number} ({t.filename}) is missing from {path.parent}")
    return path
