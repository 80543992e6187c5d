from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from adaptpose_pipeline.pipelines.adapt.nodes import (
    adapt_lifter,
    compare_with_references,
    control_lifter,
    plot_adapt_curves,
    select_samples,
)
from adaptpose_pipeline.pipelines.evaluate.nodes import mlflow_metrics, serving_lifter
from adaptpose_pipeline.pipelines.evaluate.pipeline import evaluation_nodes
from adaptpose_pipeline.evaluation import interactive, motion_plots


def control_nodes() -> Pipeline:
    """The fair control (the baseline fine-tuned as long on source alone) and its metrics."""
    control = node(
        control_lifter,
        inputs=[
            "source_train_arrays", "source_validation_arrays", "target_train_arrays", "lifter_baseline", "params:adapt",
            "params:ingest", "params:target", "params:seed", "params:device", "params:checkpoints",
        ],
        outputs=["lifter_control", "control_history"],
        name="finetune_control_lifter",
        tags=["adapt"],
    )
    return pipeline([control]) + evaluation_nodes("control")


def adaptation_nodes() -> Pipeline:
    return pipeline(
        [
            node(
                adapt_lifter,
                inputs=[
                    "source_train_arrays", "source_validation_arrays", "target_train_arrays", "lifter_baseline",
                    "lifter_control", "params:adapt", "params:ingest", "params:target", "params:seed", "params:device",
                    "params:checkpoints",
                ],
                outputs=["generator_weights", "discriminator_weights", "lifter_adapted", "generated_motions", "adapt_history"],
                name="generate_motion_and_finetune_lifter",
            ),
            node(select_samples, inputs="generated_motions", outputs="selected_motions", name="select_samples"),
            node(plot_adapt_curves, inputs="adapt_history", outputs="adapt_curves", name="plot_adapt_curves"),
            node(
                update_wrapper(partial(interactive.training_curves, title="Adaptation, per epoch"), interactive.training_curves),
                inputs="adapt_history", outputs="adapt_curves_interactive", name="plot_adapt_curves_interactive",
            ),
            node(
                interactive.keypoint_distributions,
                inputs=["source_train_arrays", "target_train_arrays", "generated_motions"],
                outputs="generated_keypoints_interactive",
                name="plot_generated_keypoints_interactive",
            ),
            node(
                motion_plots.plot_keypoint_distributions,
                inputs=["source_train_arrays", "target_train_arrays", "generated_motions"],
                outputs="generated_keypoints_plot",
                name="plot_generated_keypoints",
            ),
            node(
                motion_plots.plot_camera_histograms,
                inputs=["source_train_arrays", "generated_motions"],
                outputs="generated_cameras_plot",
                name="plot_generated_cameras",
            ),
            node(
                motion_plots.plot_bone_lengths,
                inputs=["source_train_arrays", "generated_motions"],
                outputs="generated_bone_lengths_plot",
                name="plot_generated_bone_lengths",
            ),
            node(motion_plots.plot_generated_skeletons, inputs="generated_motions", outputs="generated_skeletons_plot", name="plot_generated_skeletons"),
        ],
        tags=["adapt"],
    )


def create_pipeline(**kwargs) -> Pipeline:
    """Adaptation, the adapted lifter's evaluation, and the baseline's numbers (from its
    metrics file) in the same MLflow run. The chain pipeline takes the first two only."""
    recap = node(
        update_wrapper(partial(mlflow_metrics, model="baseline"), mlflow_metrics),
        inputs="metrics_baseline",
        outputs="adapt_baseline_mlflow_metrics",
        name="log_baseline_metrics",
        tags=["adapt"],
    )
    return control_nodes() + adaptation_nodes() + adapted_evaluation() + pipeline([recap])


def adapted_evaluation() -> Pipeline:
    """The adapted lifter's evaluation; its metrics file also holds the gains against the
    baseline and the control and the guard's decision (``compare_with_references``)."""
    plain = "adapted_metrics_before_comparison"
    compare = node(
        compare_with_references,
        inputs=[plain, "metrics_baseline", "metrics_control", "lifter_adapted"],
        outputs="metrics_adapted",
        name="compare_with_baseline_and_control",
        tags=["adapt"],
    )
    evaluation = evaluation_nodes("adapted")
    inner = [n for n in evaluation.nodes if n.name == "compute_metrics_adapted"]
    rest = [n for n in evaluation.nodes if n.name != "compute_metrics_adapted"]
    serve = node(
        serving_lifter,
        inputs=["lifter_adapted", "metrics_adapted"],
        outputs="lifter_adapted_model",
        name="register_adapted_lifter_model",
        tags=["adapt"],
    )
    return pipeline(inner, outputs={"metrics_adapted": plain}) + pipeline([compare, serve]) + pipeline(rest)
