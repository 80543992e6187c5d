"""Everything for one target after the stand-ins: ingest -> pretrain -> evaluate -> adapt.

``kedro run --pipeline=chain --params target=ski``; ``make run`` runs it for every target.
"""

from kedro.pipeline import Pipeline

from adaptpose_pipeline.pipelines import evaluate, ingest, pretrain
from adaptpose_pipeline.pipelines.adapt.pipeline import adaptation_nodes, adapted_evaluation, control_nodes


def create_pipeline(**kwargs) -> Pipeline:
    return (
        sum((m.create_pipeline() for m in (ingest, pretrain, evaluate)), Pipeline([]))
        + control_nodes()
        + adaptation_nodes()
        + adapted_evaluation()
    )


__all__ = ["create_pipeline"]
