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
