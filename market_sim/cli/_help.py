"""Help output for `market-sim`: plain text (no rich markup, so `[scenario]` prints as written) and click-style
value names (INTEGER, TEXT, PATH) instead of typer's Python type tags (`<int>`, `<bool>`, `<list[str]>`)."""

from __future__ import annotations

from typing import Any

import typer.core

__all__ = ["PlainHelpGroup", "value_label"]

_NAMES = {"int": "INTEGER", "float": "FLOAT", "str": "TEXT", "text": "TEXT", "path": "PATH", "file": "PATH",
          "directory": "PATH", "uuid": "UUID", "datetime": "DATETIME"}


def value_label(param: Any, ctx: Any) -> str | None:
    """What the help shows after an option or argument: None for flags, 'a|b' for choices, else INTEGER/TEXT/..."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    if getattr(param, "metavar", None) is not None:
        return param.metavar
    raw = type(param).display_type(param, ctx)
    inner = raw[1:-1] if raw.startswith("<") and raw.endswith(">") else raw
    repeat = inner.startswith("list[") and inner.endswith("]")
    if repeat:
        inner = inner[5:-1]
    if inner == "bool":
        return None
    label = inner if "|" in inner else _NAMES.get(inner.lower(), inner.upper())
    return label + "..." if repeat else label


def _plain(params: list[Any]) -> list[Any]:
    for p in params:
        if isinstance(p, (typer.core.TyperOption, typer.core.TyperArgument)) and "display_type_rich" not in vars(p):
            p.display_type_rich = lambda ctx, p=p: value_label(p, ctx)  # this instance only
    return params


class PlainHelpGroup(typer.core.TyperGroup):
    """The root group: its own and every subcommand's parameters show click-style value names."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain(super().get_params(ctx))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None and not isinstance(cmd, PlainHelpGroup):
            _plain(list(cmd.params))
            help_option = cmd.get_help_option(ctx)
            if help_option is not None:
                _plain([help_option])
        return cmd
