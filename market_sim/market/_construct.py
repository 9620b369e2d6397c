"""Fast positional constructors for the frozen slotted dataclasses built on hot paths (commands, events).

A frozen dataclass's __init__ sets every field through object.__setattr__ (and, for a subclass of another frozen
dataclass, through the dataclass's own Python __setattr__ check), which costs more than the matching it reports on.
`constructor(cls)` returns a function taking the same positional arguments (defaults included) that builds an
ordinary instance of `cls`, equal to `cls(*args)` and just as frozen:
- for a class whose only base is object, the slots are filled on a plain twin class with the same slots (same
  layout), which then gets its real class;
- for a subclass (events derive from Event), each slot is set through its member descriptor.
It falls back to `cls` itself for anything else (a __post_init__, no slots, a layout that does not allow this), and
checks itself once against `cls(...)` when it is made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, fields, is_dataclass

__all__ = ["constructor"]


def constructor(cls: type) -> Callable[..., object]:
    """A function building `cls` instances from positional (or keyword) arguments, faster than `cls(...)`."""
    if not is_dataclass(cls) or hasattr(cls, "__post_init__"):
        return cls
    names = [f.name for f in fields(cls)]
    params = []
    namespace: dict[str, object] = {"cls": cls, "new": object.__new__}
    for f in fields(cls):
        if f.default is not MISSING:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not MISSING:  # type: ignore[misc]
            return cls
        else:
            params.append(f.name)
    if cls.__bases__ == (object,):
        if getattr(cls, "__slots__", None) != tuple(names):
            return cls
        namespace["twin"] = type(f"_{cls.__name__}Twin", (), {"__slots__": tuple(names)})
        body = "    o = twin()\n" + "".join(f"    o.{n} = {n}\n" for n in names) + "    o.__class__ = cls\n"
    else:
        owners = {}
        for klass in cls.__mro__:
            for slot in klass.__dict__.get("__slots__", ()):
                owners.setdefault(slot, klass)
        if set(owners) != set(names):
            return cls
        for n in names:
            namespace[f"_set_{n}"] = owners[n].__dict__[n].__set__
        body = "    o = new(cls)\n" + "".join(f"    _set_{n}(o, {n})\n" for n in names)
    source = f"def build({', '.join(params)}):\n{body}    return o\n"
    exec(source, namespace)  # noqa: S102 - generated from the dataclass's own field names
    build = namespace["build"]
    build.__doc__ = f"Build a {cls.__name__} (same arguments, same result as {cls.__name__}(...))."
    try:
        probe = [object() for _ in names]
        made = build(*probe)
        if type(made) is not cls or [getattr(made, n) for n in names] != probe or made != cls(*probe):
            return cls
    except TypeError:  # e.g. "__class__ assignment: object layout differs"
        return cls
    return build
