"""The paper's ablations (Tables 5-8) as namespaced rows:
kedro run --pipeline=ablation --namespaces=table5 --params target=3dhp"""

from adaptpose_pipeline.pipelines.ablation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
