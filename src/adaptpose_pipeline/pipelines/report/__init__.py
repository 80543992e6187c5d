"""The ablation report from MLflow: kedro run --pipeline=report --params target=3dhp"""

from adaptpose_pipeline.pipelines.report.pipeline import create_pipeline

__all__ = ["create_pipeline"]
