"""Project hooks: parameters are checked before any node runs or anything is written."""

from __future__ import annotations

from kedro.framework.hooks import hook_impl

from adaptpose_pipeline.datasets.common import DATASETS


def check_parameters(params: dict) -> None:
    """Raise a ValueError/KeyError naming the key for any parameter the pipelines would
    refuse later, so that a bad value stops the run before anything is written."""
    from adaptpose_pipeline.core.generator import GeneratorConfig
    from adaptpose_pipeline.core.runtime import DEVICE_CHOICES
    from adaptpose_pipeline.pipelines.adapt.nodes import adapt_config, generator_params
    from adaptpose_pipeline.pipelines.config import for_target
    from adaptpose_pipeline.pipelines.ingest.nodes import target_config
    from adaptpose_pipeline.pipelines.pretrain.nodes import pretrain_configs
    from adaptpose_pipeline.reporting.evaluation import check_params as check_evaluate

    target = params.get("target")
    if target not in DATASETS:
        raise ValueError(f"target: unknown target {target!r}; expected one of {list(DATASETS)} (e.g. --params target=3dhp)")
    seed = params.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    device = params.get("device")
    if not isinstance(device, str) or device.split(":")[0] not in DEVICE_CHOICES:
        raise ValueError(f"device: expected one of {DEVICE_CHOICES} (or cuda:N), got {device!r}")
    scale = params.get("standin", {}).get("scale")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale <= 0):
        raise ValueError(f"standin.scale: expected a positive number, got {scale!r}")
    if "ingest" in params:
        target_config(params["ingest"], target)
    if "pretrain" in params:
        pretrain_configs(for_target(params["pretrain"], target, "pretrain"))
    if "evaluate" in params:
        check_evaluate(for_target(params["evaluate"], target, "evaluate"))
    if "adapt" in params:
        ad = for_target(params["adapt"], target, "adapt")
        adapt_config(ad)
        try:
            GeneratorConfig(frames=1, **generator_params(ad))
        except TypeError as exc:
            raise ValueError(f"adapt.generator: unexpected or missing keys: {exc}") from exc


class ParameterCheckHook:
    @hook_impl
    def after_context_created(self, context) -> None:
        check_parameters(context.params)
