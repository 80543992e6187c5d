from functools import partial

from kedro.pipeline import Pipeline, node, pipeline

from adaptpose_pipeline.pipelines.ingest.nodes import ROLES, build_model_input, read_common_form, split_by_role


def create_pipeline(**kwargs) -> Pipeline:
    nodes = [
        node(
            read_common_form,
            inputs=["params:ingest", "params:target", "raw_h36m", "raw_3dhp", "raw_3dpw", "raw_ski"],
            outputs="poses",
            name="read_common_form",
        ),
        node(
            split_by_role,
            inputs=["poses", "params:ingest", "params:target"],
            outputs=[f"{role}_frames" for role in ROLES],
            name="split_by_role",
        ),
    ]
    nodes += [
        node(
            partial(build_model_input, role=role),
            inputs=[f"{role}_frames", "params:ingest", "params:target"],
            outputs=f"{role}_arrays",
            name=f"build_model_input_{role}",
        )
        for role in ROLES
    ]
    return pipeline(nodes, tags=["ingest"])
