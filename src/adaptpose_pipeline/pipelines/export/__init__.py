"""Generated motions -> documented arrays and BVH files: kedro run --pipeline=export."""

from adaptpose_pipeline.pipelines.export.pipeline import create_pipeline

__all__ = ["create_pipeline"]
