"""AdaptPose adaptation and evaluation of the adapted lifter: kedro run --pipeline=adapt --params target=..."""

from adaptpose_pipeline.pipelines.adapt.pipeline import create_pipeline

__all__ = ["create_pipeline"]
