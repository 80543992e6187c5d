"""Project hooks: parameters are checked before any node runs or anything is written."""

from __future__ import annotations

from kedro.framework.hooks import hook_impl

from adaptpose_pipeline.datasets.common import DATASETS


class ParameterCheckHook:
    @hook_impl
    def after_context_created(self, context) -> None:
        params = context.params
        target = params.get("target")
        if target not in DATASETS:
            raise ValueError(f"target: unknown target {target!r}; expected one of {list(DATASETS)} (e.g. --params target=3dhp)")
        scale = params.get("standin", {}).get("scale")
        if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale <= 0):
            raise ValueError(f"standin.scale: expected a positive number, got {scale!r}")
