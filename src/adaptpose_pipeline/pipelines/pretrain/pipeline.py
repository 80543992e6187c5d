from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from adaptpose_pipeline.pipelines.evaluate.nodes import serving_lifter
from adaptpose_pipeline.pipelines.pretrain.nodes import plot_pretrain_curves, pretrain_lifter
from adaptpose_pipeline.evaluation import interactive


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                pretrain_lifter,
                inputs=["source_train_arrays", "source_validation_arrays", "params:pretrain", "params:target", "params:seed", "params:device", "params:checkpoints"],
                outputs=["lifter_baseline", "pretrain_history"],
                name="pretrain_lifter",
            ),
            node(plot_pretrain_curves, inputs="pretrain_history", outputs="pretrain_curves", name="plot_pretrain_curves"),
            node(
                update_wrapper(partial(interactive.training_curves, title="Baseline lifter pretraining"), interactive.training_curves),
                inputs="pretrain_history", outputs="pretrain_curves_interactive", name="plot_pretrain_curves_interactive",
            ),
            node(serving_lifter, inputs="lifter_baseline", outputs="lifter_baseline_model", name="log_baseline_lifter_model"),
        ],
        tags=["pretrain"],
    )
