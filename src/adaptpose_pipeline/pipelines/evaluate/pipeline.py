from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from adaptpose_pipeline.pipelines.evaluate.nodes import (
    MLFLOW_PREFIX,
    compute_metrics,
    mlflow_metrics,
    plot_skeletons,
    predict_target_test,
)
from adaptpose_pipeline.evaluation import interactive, plots


def evaluation_nodes(model: str) -> Pipeline:
    """Score ``lifter_{model}`` on the target test split: ``metrics_{model}``, the
    ``eval_*_{model}`` figures and the MLflow metrics. Node names end in ``_{model}``
    so the baseline's and the adapted lifter's nodes live in one run."""
    if model not in MLFLOW_PREFIX:
        raise ValueError(f"evaluation_nodes: model must be one of {list(MLFLOW_PREFIX)}, got {model!r}")
    predictions, metrics = f"predictions_{model}", f"metrics_{model}"
    return pipeline(
        [
            node(
                predict_target_test,
                inputs=[f"lifter_{model}", "target_test_arrays", "params:device"],
                outputs=predictions,
                name=f"lift_target_test_{model}",
            ),
            node(
                update_wrapper(partial(compute_metrics, model=model), compute_metrics),
                inputs=[predictions, "target_test_arrays", "params:evaluate", "params:target", "params:ingest"],
                outputs=metrics,
                name=f"compute_metrics_{model}",
            ),
            node(plots.per_joint_errors, inputs=metrics, outputs=f"eval_per_joint_{model}", name=f"plot_per_joint_{model}"),
            node(
                interactive.per_joint_errors, inputs=metrics, outputs=f"eval_per_joint_interactive_{model}",
                name=f"plot_per_joint_interactive_{model}",
            ),
            node(plots.pck_curve, inputs=metrics, outputs=f"eval_pck_{model}", name=f"plot_pck_{model}"),
            node(
                plot_skeletons,
                inputs=[predictions, "target_test_arrays", "params:evaluate", "params:target"],
                outputs=f"eval_skeletons_{model}",
                name=f"plot_skeletons_{model}",
            ),
            node(
                update_wrapper(partial(mlflow_metrics, model=model), mlflow_metrics),
                inputs=metrics,
                outputs=f"eval_mlflow_metrics_{model}",
                name=f"log_metrics_{model}",
            ),
        ],
        tags=["evaluate", model],
    )


def create_pipeline(**kwargs) -> Pipeline:
    return evaluation_nodes("baseline")
