from kedro.pipeline import Pipeline, node, pipeline

from adaptpose_pipeline.pipelines.export.nodes import export_motions, motions_to_bvh


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(export_motions, inputs="generated_motions", outputs="exported_motions", name="export_motions"),
            node(motions_to_bvh, inputs=["generated_motions", "params:export"], outputs="exported_motions_bvh", name="motions_to_bvh"),
        ],
        tags=["export"],
    )
