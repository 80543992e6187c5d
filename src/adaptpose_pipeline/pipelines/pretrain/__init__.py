"""Baseline lifter pretraining on the source: kedro run --pipeline=pretrain --params target=..."""

from adaptpose_pipeline.pipelines.pretrain.pipeline import create_pipeline

__all__ = ["create_pipeline"]
