"""Type checks for the configuration dataclasses: a parameter of the wrong type fails
at load with the key named (``pretrain.train.epochs: expected int, got 'ten' (str)``),
instead of a ``TypeError`` deep in a training loop."""

from __future__ import annotations

import dataclasses
import types
import typing


def _accepts(hint, value) -> bool:
    origin = typing.get_origin(hint)
    if hint is typing.Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(h, value) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is tuple:
        args = typing.get_args(hint)
        return isinstance(value, (tuple, list)) and all(_accepts(args[0], v) for v in value)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:  # YAML writes 1 for 1.0
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _name(hint) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def check_types(obj, prefix: str) -> None:
    """Raise ``ValueError`` naming ``<prefix>.<field>`` for a field of the wrong type."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if not _accepts(hints[f.name], value):
            raise ValueError(
                f"{prefix}.{f.name}: expected {_name(hints[f.name])}, got {value!r} ({type(value).__name__})"
            )
