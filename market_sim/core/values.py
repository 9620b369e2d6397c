"""A cheaper `__init__` for the frozen slotted dataclasses built on every message of a run.

The `__init__` that `dataclass(frozen=True, slots=True)` generates sets each field with
`object.__setattr__(self, "name", value)`: a global, an attribute lookup and a generic attribute set that looks the
name up in the type, once per field. Orders, events, fills and quotes are built for every message of a simulation
(`random-market` builds ~1.3 million in an hour, up to 16 fields each), and that was ~13 % of its run time.

`fast_init(cls)` gives such a class an `__init__` with the same parameters, defaults and `__post_init__` call that
sets each field through its slot's own descriptor (`member_descriptor.__set__`), which skips the name lookup: about
half the cost. The class stays the same frozen slotted dataclass (same type, fields, equality, hashing, repr,
pickling, `dataclasses.replace`; assigning a field after construction still raises FrozenInstanceError). A class
the rewrite does not cover (not frozen or not slotted, a default_factory, an InitVar, a field outside `__init__`,
keyword-only fields) is returned unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar

__all__ = ["fast_init"]

T = TypeVar("T", bound=type)

_MEMBER = type(type("_Probe", (), {"__slots__": ("x",)}).__dict__["x"])  # the slot descriptor type


def fast_init(cls: T) -> T:
    """Replace a frozen slotted dataclass's generated `__init__` by one setting the slots directly (see module)."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        return cls
    all_fields = cls.__dataclass_fields__.values()
    if any(f._field_type is dataclasses._FIELD_INITVAR for f in all_fields):
        return cls
    fields = dataclasses.fields(cls)
    ns: dict[str, object] = {}
    args, body = [], []
    for i, f in enumerate(fields):
        if not f.init or f.kw_only or f.default_factory is not dataclasses.MISSING:
            return cls
        descr = getattr(cls, f.name, None)
        if type(descr) is not _MEMBER:
            return cls
        ns[f"_set{i}"] = descr.__set__
        if f.default is dataclasses.MISSING:
            args.append(f.name)
        else:
            ns[f"_default{i}"] = f.default
            args.append(f"{f.name}=_default{i}")
        body.append(f"    _set{i}(self, {f.name})\n")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()\n")
    if not body:
        return cls
    exec(f"def __init__(self, {', '.join(args)}):\n{''.join(body)}", ns)
    init = ns["__init__"]
    old = cls.__dict__.get("__init__")
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    if old is not None:
        init.__annotations__ = dict(getattr(old, "__annotations__", {}))
        init.__doc__ = old.__doc__
    cls.__init__ = init
    return cls
