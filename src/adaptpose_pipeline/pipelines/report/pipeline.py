from kedro.pipeline import Pipeline, node, pipeline

from adaptpose_pipeline.pipelines.report.nodes import ablation_markdown, ablation_plot, collect_rows


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(collect_rows, inputs="params:target", outputs="ablation_rows", name="collect_ablation_runs"),
            node(ablation_markdown, inputs=["ablation_rows", "params:target"], outputs="ablation_report", name="write_ablation_tables"),
            node(ablation_plot, inputs=["ablation_rows", "params:target"], outputs="ablation_plot", name="plot_ablation_tables"),
        ],
        tags=["report"],
    )
