from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from adaptpose_pipeline.pipelines.adapt.nodes import adapt_lifter, plot_adapt_curves, select_samples
from adaptpose_pipeline.pipelines.evaluate.nodes import mlflow_metrics
from adaptpose_pipeline.pipelines.evaluate.pipeline import evaluation_nodes
from adaptpose_pipeline.reporting import motion_plots


def adaptation_nodes() -> Pipeline:
    return pipeline(
        [
            node(
                adapt_lifter,
                inputs=[
                    "source_train_arrays", "target_train_arrays", "lifter_baseline", "params:adapt",
                    "params:ingest", "params:target", "params:seed", "params:device", "params:checkpoints",
                ],
                outputs=["generator_weights", "discriminator_weights", "lifter_adapted", "generated_motions", "adapt_history"],
                name="generate_motion_and_finetune_lifter",
            ),
            node(select_samples, inputs="generated_motions", outputs="selected_motions", name="select_samples"),
            node(plot_adapt_curves, inputs="adapt_history", outputs="adapt_curves", name="plot_adapt_curves"),
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
    return adaptation_nodes() + evaluation_nodes("adapted") + pipeline([recap])
