"""Stand-in datasets in each dataset's native layout: kedro run --pipeline=standin."""

from adaptpose_pipeline.pipelines.standin.pipeline import create_pipeline

__all__ = ["create_pipeline"]
