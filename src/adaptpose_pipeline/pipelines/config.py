"""Parameter helpers shared by the pipelines (no I/O)."""

from __future__ import annotations

import copy


def deep_merge(base: dict, override: dict) -> dict:
    """``base`` with ``override``'s keys replaced recursively (dicts merge, the rest replaces)."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else copy.deepcopy(value)
    return out


def for_target(params: dict, target: str, name: str) -> dict:
    """A pipeline's parameter block with ``targets.<target>`` merged over it."""
    targets = params.get("targets") or {}
    unknown = set(targets) - {"h36m", "3dhp", "3dpw", "ski"}
    if unknown:
        raise KeyError(f"{name}.targets: unknown targets {sorted(unknown)}")
    base = {k: v for k, v in params.items() if k != "targets"}
    return deep_merge(base, targets.get(target, {}))


def _leaves(tree: dict, path: tuple = ()):
    """``(key path, value)`` of every non-mapping value of a nested mapping."""
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, (*path, key))
        else:
            yield (*path, key), value


def command_line_wins(params: dict, runtime: dict | None) -> dict:
    """``params`` with each command-line value (``--params``) also written into every
    per-target block that sets the same key, so that :func:`for_target` keeps it.

    ``--params target=ski,pretrain.lifter.receptive_field=27`` then trains a 27-frame
    lifter although ``pretrain.targets.ski.lifter.receptive_field`` is 1. A value given
    for one target (``pretrain.targets.ski.lifter.receptive_field=27``) is already in
    that target's block."""
    out = copy.deepcopy(params)
    for (block, *rest), value in _leaves(runtime or {}):
        targets = out.get(block, {}).get("targets") if isinstance(out.get(block), dict) else None
        if not rest or rest[0] == "targets" or not isinstance(targets, dict):
            continue
        for override in targets.values():
            node = override
            for key in rest[:-1]:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, dict) and rest[-1] in node:
                node[rest[-1]] = copy.deepcopy(value)
    return out
