"""The fast constructors build ordinary, equal, frozen instances of the commands and events."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields

import pytest

from market_sim.core.events import (
    BookUpdate, OrderAccepted, OrderCancelled, OrderModified, OrderRejected, OrderRepriced, OrderTriggered, Trade,
    TradeRejected,
)
from market_sim.core.orders import CancelOrder, ModifyOrder, NewOrder
from market_sim.market._construct import constructor

CLASSES = [NewOrder, CancelOrder, ModifyOrder, OrderAccepted, OrderRejected, OrderCancelled, OrderModified,
           OrderRepriced, OrderTriggered, Trade, TradeRejected, BookUpdate]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_constructor_builds_the_same_frozen_instance(cls):
    build = constructor(cls)
    assert build is not cls   # the fast path applies to every one of them
    args = [f"v{i}" for i in range(len(fields(cls)))]
    made = build(*args)
    assert type(made) is cls and made == cls(*args) and hash(made) == hash(cls(*args)) and repr(made) == repr(
        cls(*args))
    with pytest.raises(FrozenInstanceError):
        setattr(made, fields(cls)[0].name, "changed")
    assert build(**{f.name: a for f, a in zip(fields(cls), args)}) == made


def test_defaults_are_the_dataclass_defaults():
    assert constructor(OrderCancelled)(1, 2, "t", "X", 5, "user") == OrderCancelled(1, 2, "t", "X", 5, "user")
    assert constructor(NewOrder)(1, "t", "X", 1, 5) == NewOrder(1, "t", "X", 1, 5)


def test_classes_it_cannot_build_fall_back_to_themselves():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class WithPostInit:
        x: int

        def __post_init__(self) -> None:
            pass

    class Plain:
        pass

    assert constructor(WithPostInit) is WithPostInit and constructor(Plain) is Plain
