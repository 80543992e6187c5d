"""Project pipelines: every sub-package of ``pipelines/`` with a ``create_pipeline``."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# `kedro run`: the stand-ins, then the whole chain for the run's target.
DEFAULT = ("standin", "chain")


def register_pipelines() -> dict[str, Pipeline]:
    # Kedro 1.7 imports only the pipelines a run asks for (`--pipeline=x` finds just x),
    # so the default is assembled only when its parts were found.
    pipelines = find_pipelines(raise_errors=True)
    if all(name in pipelines for name in DEFAULT):
        pipelines["__default__"] = sum((pipelines[name] for name in DEFAULT), Pipeline([]))
    return pipelines
