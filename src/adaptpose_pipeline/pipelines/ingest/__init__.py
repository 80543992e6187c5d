"""Native files -> common form -> splits by role -> model inputs: kedro run --pipeline=ingest."""

from adaptpose_pipeline.pipelines.ingest.pipeline import create_pipeline

__all__ = ["create_pipeline"]
