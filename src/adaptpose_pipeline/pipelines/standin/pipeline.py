from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from adaptpose_pipeline.datasets import registry
from adaptpose_pipeline.pipelines.standin.nodes import generate_standin, report_domain_gaps


def create_pipeline(**kwargs) -> Pipeline:
    nodes = []
    for ds in registry.with_standin():
        nodes += [
            node(
                update_wrapper(partial(generate_standin, dataset=ds), generate_standin),
                inputs=["params:standin", "params:seed"],
                outputs=[f"standin_{ds}", f"gap_summary_{ds}"],
                name=f"generate_standin_{ds}",
                tags=["standin"],
            )
        ]
    nodes.append(
        node(
            report_domain_gaps,
            inputs=[f"gap_summary_{ds}" for ds in registry.with_standin()],
            outputs=["standin_gaps_table", "standin_gaps_markdown", "standin_gaps_plot"],
            name="report_domain_gaps",
            tags=["standin"],
        )
    )
    return pipeline(nodes)
