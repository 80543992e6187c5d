"""A user's 2D keypoints -> 3D poses, table, report and figure: kedro run --pipeline=predict."""

from adaptpose_pipeline.pipelines.predict.pipeline import create_pipeline

__all__ = ["create_pipeline"]
