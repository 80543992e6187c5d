"""The run's parameters for its target, resolved once before any node runs (no I/O).

One rule, for every top-level parameter block that has a ``targets:`` mapping::

    command line (--params)  >  per-target block (<block>.targets.<target>)  >  the block

``settings.ProjectConfigLoader`` applies it to ``parameters``, so ``context.params``
and every ``params:<block>`` a node receives is the plain block for the run's
``target``, without a ``targets`` key. Mappings merge key by key; any other value
replaces.
"""

from __future__ import annotations

import copy

from adaptpose_pipeline.datasets.registry import names as dataset_names

TARGETS_KEY = "targets"


def deep_merge(base: dict, override: dict) -> dict:
    """``base`` with ``override``'s keys replaced recursively (dicts merge, the rest replaces)."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else copy.deepcopy(value)
    return out


def check_target(target) -> str:
    """``target`` if it names a dataset, else a ``ValueError`` naming the key."""
    known = dataset_names()
    if target not in known:
        raise ValueError(f"target: unknown target {target!r}; expected one of {list(known)} (e.g. --params target=3dhp)")
    return target


def per_target_blocks(params: dict) -> list[str]:
    """The top-level blocks of ``params`` that have a ``targets:`` mapping."""
    return [name for name, block in params.items() if isinstance(block, dict) and TARGETS_KEY in block]


def _check_targets(name: str, targets) -> dict:
    if targets is None:
        return {}
    if not isinstance(targets, dict):
        raise ValueError(f"{name}.targets: expected a mapping from target to settings, got {targets!r}")
    known = dataset_names()
    unknown = sorted(set(targets) - set(known))
    if unknown:
        raise ValueError(f"{name}.targets: unknown targets {unknown}; expected some of {list(known)}")
    for target, block in targets.items():
        if block is not None and not isinstance(block, dict):
            raise ValueError(f"{name}.targets.{target}: expected a mapping of this block's keys, got {block!r}")
    return targets


def resolve_block(block: dict, target: str, command_line: dict | None = None, name: str = "") -> dict:
    """``block`` for ``target``: its ``targets.<target>`` merged over it, then the
    command line's values for the block (``command_line``, its ``targets`` aside) over that."""
    targets = _check_targets(name, block.get(TARGETS_KEY))
    base = {k: v for k, v in block.items() if k != TARGETS_KEY}
    given = {k: v for k, v in (command_line or {}).items() if k != TARGETS_KEY} if isinstance(command_line, dict) else {}
    return deep_merge(deep_merge(base, targets.get(target) or {}), given)


def resolve_targets(params: dict, command_line: dict | None = None) -> dict:
    """Every block of ``params`` that has ``targets:`` resolved for ``params["target"]``
    by the rule above; the other entries as they are.

    ``params``: the parameter files with the command line merged in (Kedro's loader);
    ``command_line``: the ``--params`` values alone (nested), which beat a per-target
    block. A ``--params <block>.targets.<target>.<key>=...`` value is part of the
    per-target block; one given for the whole block (``<block>.<key>``) beats it.
    """
    blocks = per_target_blocks(params)
    if not blocks:
        return dict(params)
    target = check_target(params.get("target"))
    command_line = command_line or {}
    return {
        name: resolve_block(value, target, command_line.get(name), name) if name in blocks else value
        for name, value in params.items()
    }
