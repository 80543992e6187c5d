"""Parameter validation: the configuration dataclasses of ``core/`` are pydantic
dataclasses, so each field's type, ``Literal`` choices and bounds are declared once,
on the field, and checked when the configuration is built (a bool for an int, a
string for a float or an unknown key fails there, not deep in a training loop).

:func:`named_error` re-words a ``ValidationError`` so that each problem names the
dotted parameter key (``adapt.train.epochs: Input should be greater than or equal to
1 (got 0)``), which is how ``adaptpose_pipeline.parameters`` reports a bad
``parameters*.yml`` before anything runs.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated

from pydantic import ConfigDict, Field, Strict, ValidationError

# A misspelt key is an error (extra="forbid"). The field types below are strict: no
# silent coercion ("10" is not an int, true is not 1), while an int is still a valid
# float (YAML writes 1 for 1.0). (A class-wide strict=True would also refuse a dict
# for a nested dataclass, which is how the parameter files give them.)
FORBID_EXTRA = ConfigDict(extra="forbid")

Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]
PositiveInt = Annotated[int, Strict(), Field(ge=1)]
NonNegativeInt = Annotated[int, Strict(), Field(ge=0)]
PositiveFloat = Annotated[float, Strict(), Field(gt=0)]
NonNegativeFloat = Annotated[float, Strict(), Field(ge=0)]


def describe(exc: ValidationError, prefix: str = "") -> str:
    """One line per problem: ``<prefix>.<location>: <message> (got <value>)``."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (prefix, *err["loc"]) if str(p))
        msg = err["msg"]
        if err["type"] == "value_error":  # a check of ours; the cross-field ones name their keys
            lines.append(_rooted(msg.removeprefix("Value error, "), loc))
        elif err["type"] == "missing":
            lines.append(f"{loc}: missing")
        else:
            lines.append(f"{loc}: {msg} (got {err.get('input')!r})")
    return "; ".join(lines)


def _rooted(msg: str, where: str) -> str:
    """A check's message at ``where`` (the dotted location of the failing block). One
    that names its own key (``pretrain.lifter.receptive_field: ...``) is rooted where
    ``where`` enters that key's first block (``table8.f1.overrides.pretrain.lifter`` ->
    ``table8.f1.overrides.pretrain.lifter.receptive_field``), or below ``where`` when
    that block is not on the path (``coordinates: ...`` under ``ingest.targets.ski``);
    one that names no key is put after ``where``."""
    match = re.match(r"([\w.]+): ", msg)
    if not match:
        return f"{where}: {msg}" if where else msg
    key = match[1]
    parts = where.split(".") if where else []
    head = key.split(".")[0]
    if head in parts:
        root = ".".join(parts[: len(parts) - 1 - parts[::-1].index(head)])
    else:
        root = where
    return f"{root}.{msg}" if root else msg


def named_error(exc: ValidationError, prefix: str = "") -> ValueError:
    return ValueError(describe(exc, prefix))


def named(prefix: str):
    """Class decorator for a pydantic dataclass: building it directly (``AdaptConfig(epochs=0)``)
    raises a ``ValueError`` whose lines name ``<prefix>.<field>``, as the parameter
    models do. (Validation inside a parameter model does not go through ``__init__``;
    the model reports its own dotted locations.)"""

    def wrap(cls):
        init = cls.__init__

        @functools.wraps(init)
        def __init__(self, *args, **kwargs):
            try:
                init(self, *args, **kwargs)
            except ValidationError as exc:
                raise named_error(exc, prefix) from None

        cls.__init__ = __init__
        return cls

    return wrap
