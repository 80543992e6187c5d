"""Lifter x target test split -> metrics file, figures, MLflow metrics: kedro run --pipeline=evaluate."""

from adaptpose_pipeline.pipelines.evaluate.pipeline import create_pipeline, evaluation_nodes

__all__ = ["create_pipeline", "evaluation_nodes"]
