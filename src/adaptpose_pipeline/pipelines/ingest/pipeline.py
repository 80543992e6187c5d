from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from adaptpose_pipeline import standin  # noqa: F401 (gives the registry's datasets their stand-ins)
from adaptpose_pipeline.datasets import registry
from adaptpose_pipeline.pipelines.ingest.nodes import ROLES, build_model_input, read_common_form, split_by_role


def create_pipeline(**kwargs) -> Pipeline:
    nodes = [
        node(
            read_common_form,
            # Every dataset's folder is an input (lineage shows them all; only the target's
            # are read); the stand-in folders too, so that in the default run the stand-ins
            # are written before anything reads them.
            inputs={
                "ingest": "params:ingest",
                "target": "params:target",
                **{f"raw_{ds}": f"raw_{ds}" for ds in registry.names()},
                **{f"standin_{ds}": f"standin_{ds}" for ds in registry.with_standin()},
            },
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
            update_wrapper(partial(build_model_input, role=role), build_model_input),
            inputs=[f"{role}_frames", "params:ingest", "params:target"],
            outputs=f"{role}_arrays",
            name=f"build_model_input_{role}",
        )
        for role in ROLES
    ]
    return pipeline(nodes, tags=["ingest"])
