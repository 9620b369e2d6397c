"""core.values.fast_init: the same frozen slotted dataclass, built through the slots' descriptors."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from dataclasses import InitVar, dataclass, field

import pytest
from hypothesis import given, strategies as st

from market_sim.core.accounts import Fill
from market_sim.core.errors import ValidationError
from market_sim.core.events import OrderAccepted, OrderCancelled, Trade
from market_sim.core.orders import CancelOrder, NewOrder, Side
from market_sim.core.values import fast_init
from market_sim.simulation.venues import BookDelta, Quote


def _rewritten(cls: type) -> bool:
    return "_set0" in cls.__init__.__code__.co_names  # the fast __init__ calls the slot setters _set0, _set1...


@dataclass(frozen=True, slots=True)
class Plain:
    a: int
    b: str = "x"
    c: tuple = ()


@fast_init
@dataclass(frozen=True, slots=True)
class Fast:
    a: int
    b: str = "x"
    c: tuple = ()


@fast_init
@dataclass(frozen=True, slots=True)
class Checked:
    n: int

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError(f"n must be >= 0, got {self.n}")


@fast_init
@dataclass(frozen=True, slots=True)
class Child(Fast):
    d: int = 7


def test_the_hot_domain_values_are_rewritten():
    for cls in (NewOrder, CancelOrder, OrderAccepted, OrderCancelled, Trade, Fill, Quote, BookDelta, Fast, Checked,
                Child):
        assert _rewritten(cls), cls
    assert not _rewritten(Plain)


@given(st.integers(), st.text(max_size=5), st.tuples(st.integers()))
def test_same_fields_as_the_generated_init(a, b, c):
    for args, kwargs in (((a,), {}), ((a, b), {}), ((a, b, c), {}), ((), {"a": a, "c": c}), ((a,), {"b": b})):
        fast, plain = Fast(*args, **kwargs), Plain(*args, **kwargs)
        assert dataclasses.astuple(fast) == dataclasses.astuple(plain)
        assert repr(fast) == repr(plain).replace("Plain", "Fast")
    assert Fast(a, b, c) == Fast(a, b, c) and hash(Fast(a, b, c)) == hash(Fast(a, b, c))


def test_signature_defaults_and_errors_are_the_generated_ones():
    assert str(inspect.signature(Fast)) == str(inspect.signature(Plain))
    assert Fast.__init__.__qualname__ == "Fast.__init__"
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'a'"):
        Fast()
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        Fast(1, z=2)
    assert Child(1) == Child(1, "x", (), 7) and Child(1, d=3).d == 3


def test_still_frozen_slotted_picklable_and_replaceable():
    f = Fast(1, "y")
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'a'"):
        f.a = 2
    assert not hasattr(f, "__dict__")
    assert pickle.loads(pickle.dumps(f)) == f
    assert dataclasses.replace(f, b="z") == Fast(1, "z")


def test_post_init_runs():
    assert Checked(3).n == 3
    with pytest.raises(ValueError, match="n must be >= 0, got -1"):
        Checked(-1)
    with pytest.raises(ValidationError, match="amounts must be positive"):
        Fill(1, "a", "v", "S", Side.BUY, "X", 0, "USD", 5)


def test_classes_it_does_not_cover_are_returned_unchanged():
    @dataclass(slots=True)
    class Mutable:
        a: int

    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(frozen=True, slots=True)
    class Factory:
        a: list = field(default_factory=list)

    @dataclass(frozen=True, slots=True)
    class WithInitVar:
        a: int
        scale: InitVar[int] = 1

    @dataclass(frozen=True, slots=True, kw_only=True)
    class KwOnly:
        a: int

    for cls in (Mutable, NoSlots, Factory, WithInitVar, KwOnly):
        init = cls.__init__
        assert fast_init(cls) is cls and cls.__init__ is init
    assert fast_init(int) is int
