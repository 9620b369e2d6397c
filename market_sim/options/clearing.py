"""Exercise, assignment and expiry of listed options, booked into the accounts in integer base units.

Every settlement is a core `Fill` of venue `CLEARING` (order and trade id 0), so balances *and* positions (cost
basis, realized PnL) move exactly as for a trade:

* **cash settlement**: the option position is closed at its intrinsic value -- the long sells its contracts at
  `intrinsic` ticks, the short buys them back at the same price. The long receives, and the short pays,
  ``contracts * intrinsic * quote_units_per_lot_tick`` quote units (= contracts * multiplier * intrinsic price).
* **physical settlement**: the option position is closed at 0 and the underlying changes hands at the strike: the
  call holder buys (put holder sells) ``contracts * multiplier`` units of the underlying at the strike, the assigned
  short takes the other side.
* **expiring worthless** (out of the money, or in the money by less than one tick): closed at 0 on both sides.

Intrinsic value in ticks: ``max(0, S - K)`` for a call, ``max(0, K - S)`` for a put, with the settlement price S
and strike K both in the option's ticks.

Assignment rule (American early exercise): the exercised contracts are assigned **pro rata** to the accounts short
the series at that moment: account i, short s_i of S in total, is assigned ``floor(n * s_i / S)``; the remaining
contracts go one each to the shorts with the largest remainders ``n * s_i mod S`` (ties: the larger short first,
then the account id in ascending order). So no short is assigned more than it is short, the total is exactly n, and
the result does not depend on the order in which accounts were created.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from market_sim.core.accounts import Accounts, Fill, Transfer, book_fill
from market_sim.core.errors import ValidationError
from market_sim.core.instruments import ExerciseStyle, Instrument, SettlementType
from market_sim.core.orders import Side

__all__ = ["CLEARING", "ExerciseError", "Settlement", "OptionsClearing", "intrinsic_ticks", "pro_rata"]

CLEARING = "options-clearing"  # the venue name of settlement fills


class ExerciseError(ValidationError):
    """An exercise request the clearing house refuses (not long enough, not American, expired, out of the money)."""


@dataclass(frozen=True, slots=True)
class Settlement:
    """One account's side of an exercise, an assignment or an expiry (cash in quote base units, + received)."""

    ts: int
    symbol: str
    account: str
    kind: str          # "exercise" (a holder), "assignment" (a short), "expiry" (closed worthless)
    contracts: int     # > 0
    settle_ticks: int  # the underlying price used, in the option's ticks
    intrinsic_ticks: int
    cash: int          # quote base units received (negative: paid)
    underlying: int    # underlying base units received (negative: delivered); physical settlement only


def intrinsic_ticks(option: Instrument, settle_ticks: int) -> int:
    """The option's intrinsic value in its ticks at a settlement price in its ticks."""
    k = option.strike_ticks
    return max(0, settle_ticks - k) if option.option.is_call else max(0, k - settle_ticks)


def pro_rata(n: int, shorts: Mapping[str, int]) -> dict[str, int]:
    """Split n exercised contracts over the shorts (account -> contracts short, all > 0) by the module's rule."""
    total = sum(shorts.values())
    if n < 0 or n > total:
        raise ExerciseError(f"cannot assign {n} contracts to shorts holding {total}")
    out = {a: n * s // total for a, s in shorts.items()}
    left = n - sum(out.values())
    order = sorted(shorts, key=lambda a: (-(n * shorts[a] % total), -shorts[a], a))
    for a in order[:left]:
        out[a] += 1
    return {a: q for a, q in out.items() if q}


class OptionsClearing:
    """The clearing house of one simulation's listed options: reads and books `accounts`."""

    def __init__(self, accounts: Accounts, instruments: Mapping[str, Instrument]) -> None:
        self.accounts = accounts
        self.instruments = instruments
        self.expired: set[str] = set()
        # called with every Fill / Transfer booked (the [options] section publishes them on ("clearing", account),
        # so a broker's books -- market_sim.risk's ledger -- follow exercise, assignment, expiry and placement)
        self.on_booked: Callable[[Fill | Transfer], None] | None = None

    def book(self, item: Fill | Transfer) -> None:
        """Book a settlement Fill or Transfer on the accounts and report it to `on_booked`."""
        if type(item) is Transfer:
            self.accounts.transfer(item)
        else:
            self.accounts.apply(item)
        if self.on_booked is not None:
            self.on_booked(item)

    # ----- positions -----
    def contracts(self, account: str, symbol: str) -> int:
        """Signed contracts of `account` in the option `symbol`."""
        acct = self.accounts.get(account)
        pos = acct.positions.get(symbol) if acct is not None else None
        if pos is None or pos.quantity == 0:
            return 0
        per = self.instruments[symbol].base_units_per_lot
        if pos.quantity % per:
            raise ValidationError(f"{account} holds {pos.quantity} units of {symbol}, not whole contracts")
        return pos.quantity // per

    def open_interest(self, symbol: str) -> dict[str, int]:
        """Account -> signed contracts, for every account with an open position in `symbol` (sorted by id)."""
        out = {}
        for acct in sorted(self.accounts, key=lambda a: a.id):
            pos = acct.positions.get(symbol)
            if pos is not None and pos.quantity:
                out[acct.id] = self.contracts(acct.id, symbol)
        return out

    # ----- booking -----
    def _close(self, ts: int, account: str, inst: Instrument, contracts: int, price: int) -> Fill:
        """Close `contracts` (signed: > 0 a long sells, < 0 a short buys back) at `price` ticks."""
        side = Side.SELL if contracts > 0 else Side.BUY
        fill = book_fill(ts, account, CLEARING, inst, side, price, abs(contracts), order_id=0, trade_id=0,
                         maker=False)
        self.book(fill)
        return fill

    def _deliver(self, ts: int, account: str, inst: Instrument, units_in: int) -> Fill:
        """Physical delivery: `account` receives (> 0) or delivers (< 0) underlying units at the strike."""
        und = self.instruments[inst.option.underlying]
        per = und.base_units_per_lot
        lots = abs(units_in) // per
        strike = und.price_to_ticks(inst.option.strike)
        fill = book_fill(ts, account, CLEARING, und, Side.BUY if units_in > 0 else Side.SELL, strike, lots,
                         order_id=0, trade_id=0, maker=False)
        self.book(fill)
        return fill

    def _settle(self, ts: int, account: str, inst: Instrument, contracts: int, settle: int, kind: str,
                exercised: bool) -> Settlement:
        """Settle `contracts` (signed) of one account: exercised/assigned when `exercised`, else expired at 0."""
        itm = intrinsic_ticks(inst, settle)
        terms = inst.option
        if not exercised:
            self._close(ts, account, inst, contracts, 0)
            return Settlement(ts, inst.symbol, account, "expiry", abs(contracts), settle, itm, 0, 0)
        if terms.settlement is SettlementType.CASH:
            fill = self._close(ts, account, inst, contracts, itm)
            return Settlement(ts, inst.symbol, account, kind, abs(contracts), settle, itm, fill.signed_quote, 0)
        self._close(ts, account, inst, contracts, 0)
        units = contracts * terms.multiplier * 10 ** self.instruments[terms.underlying].base_decimals
        units_in = units if terms.is_call else -units  # a long call receives, a long put delivers
        fill = self._deliver(ts, account, inst, units_in)
        return Settlement(ts, inst.symbol, account, kind, abs(contracts), settle, itm, fill.signed_quote,
                          fill.signed_base)

    def check_physical(self, inst: Instrument) -> None:
        """A physically settled series must deliver whole lots of the underlying at a strike on its tick grid."""
        und = self.instruments.get(inst.option.underlying)
        if und is None:
            raise ValidationError(f"{inst.symbol}: no underlying instrument {inst.option.underlying}")
        units = inst.option.multiplier * 10 ** und.base_decimals
        if units % und.base_units_per_lot:
            raise ValidationError(f"{inst.symbol}: a contract ({units} base units of {und.symbol}) is not whole "
                                  f"lots of the underlying ({und.base_units_per_lot})")
        und.price_to_ticks(inst.option.strike)

    # ----- expiry and exercise -----
    def expire(self, symbol: str, settle_ticks: int, ts: int) -> list[Settlement]:
        """Expire a series at a settlement price (option ticks): every open position is exercised/assigned when
        the option is in the money by at least one tick, else closed worthless. Nothing is left open."""
        inst = self.instruments[symbol]
        if symbol in self.expired:
            raise ExerciseError(f"{symbol} has already expired")
        exercised = intrinsic_ticks(inst, settle_ticks) > 0
        oi = self.open_interest(symbol)
        if sum(oi.values()) != 0:
            raise ValidationError(f"{symbol}: open interest does not net to zero ({oi})")
        rows = [self._settle(ts, a, inst, q, settle_ticks, "exercise" if q > 0 else "assignment", exercised)
                for a, q in oi.items()]
        self.expired.add(symbol)
        return rows

    def exercise(self, holder: str, symbol: str, contracts: int, settle_ticks: int, ts: int) -> list[Settlement]:
        """American early exercise of `contracts` by `holder`, assigned pro rata to the shorts (module doc).
        Cash-settled exercise needs the option in the money; the holder must be long at least `contracts`."""
        inst = self.instruments.get(symbol)
        if inst is None or inst.option is None:
            raise ExerciseError(f"{symbol} is not a listed option")
        if symbol in self.expired or ts >= inst.option.expiry:
            raise ExerciseError(f"{symbol} has expired")
        if inst.option.style is not ExerciseStyle.AMERICAN:
            raise ExerciseError(f"{symbol} is European: it is exercised only at expiry")
        if isinstance(contracts, bool) or not isinstance(contracts, int) or contracts <= 0:
            raise ExerciseError(f"exercise needs a positive whole number of contracts, got {contracts!r}")
        held = self.contracts(holder, symbol)
        if held < contracts:
            raise ExerciseError(f"{holder} is long {held} contracts of {symbol}, cannot exercise {contracts}")
        if inst.option.settlement is SettlementType.CASH and intrinsic_ticks(inst, settle_ticks) <= 0:
            raise ExerciseError(f"{symbol} is not in the money (settlement price {settle_ticks} ticks, strike "
                                f"{inst.strike_ticks}): a cash-settled exercise would pay nothing")
        shorts = {a: -q for a, q in self.open_interest(symbol).items() if q < 0}
        rows = [self._settle(ts, holder, inst, contracts, settle_ticks, "exercise", True)]
        for acct, n in sorted(pro_rata(contracts, shorts).items()):
            rows.append(self._settle(ts, acct, inst, -n, settle_ticks, "assignment", True))
        return rows
