from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from adaptpose_pipeline.pipelines.ablation.nodes import (
    NO_ADAPTATION,
    OWN_BASELINE,
    TABLES,
    control_row,
    generate_row,
    pretrain_row,
    record_row,
    row_parameters,
)
from adaptpose_pipeline.pipelines.evaluate.nodes import compute_metrics, predict_target_test

# Datasets and parameters every row shares (the rest is namespaced: table5.A1.<name>).
SHARED_DATASETS = {"source_train_arrays", "source_validation_arrays", "target_train_arrays", "target_test_arrays", "lifter_baseline", "metrics_baseline"}
SHARED_PARAMS = {"params:adapt", "params:pretrain", "params:ingest", "params:evaluate", "params:target", "params:seed", "params:device", "params:checkpoints"}


def _bind(fn, **kwargs):
    return update_wrapper(partial(fn, **kwargs), fn)


def _row_nodes(table: int, row: str) -> list:
    if (table, row) in NO_ADAPTATION:
        rec = _bind(record_row, run_id=None, table=table, row=row)
        return [node(rec, inputs=["metrics_baseline", "params:target", "params:seed", "params:row"], outputs="row_result", name="record_row")]
    rec = _bind(record_row, table=table, row=row)
    nodes = [
        node(_bind(row_parameters, name="adapt"), inputs=["params:adapt", "params:overrides"], outputs="row_adapt", name="configure_adapt"),
    ]
    lifter = "lifter_baseline"
    if (table, row) in OWN_BASELINE:
        lifter = "row_lifter_baseline"
        nodes += [
            node(_bind(row_parameters, name="pretrain"), inputs=["params:pretrain", "params:overrides"], outputs="row_pretrain", name="configure_pretrain"),
            node(
                _bind(pretrain_row, table=table, row=row),
                inputs=["source_train_arrays", "source_validation_arrays", "row_pretrain", "params:target", "params:seed", "params:device", "params:checkpoints"],
                outputs=[lifter, "pretrain_history"],
                name="pretrain_lifter",
            ),
        ]
    nodes += [
        node(
            _bind(control_row, table=table, row=row),
            inputs=[
                "source_train_arrays", "source_validation_arrays", "target_train_arrays", lifter, "row_adapt",
                "params:ingest", "params:target", "params:seed", "params:device", "params:checkpoints",
            ],
            outputs=["lifter_control", "control_history"],
            name="finetune_control_lifter",
        ),
        node(
            _bind(generate_row, table=table, row=row),
            inputs=[
                "source_train_arrays", "source_validation_arrays", "target_train_arrays", lifter, "lifter_control",
                "row_adapt", "params:ingest", "params:target", "params:seed", "params:device", "params:checkpoints",
                "params:row",
            ],
            outputs=["generator_weights", "discriminator_weights", "lifter_adapted", "generated_motions", "adapt_history", "row_run_id"],
            name="generate_motion_and_finetune_lifter",
        ),
        node(predict_target_test, inputs=["lifter_adapted", "target_test_arrays", "params:device"], outputs="predictions", name="lift_target_test"),
        node(
            _bind(compute_metrics, model="adapted"),
            inputs=["predictions", "target_test_arrays", "params:evaluate", "params:target", "params:ingest"],
            outputs="metrics_adapted",
            name="compute_metrics",
        ),
        node(rec, inputs=["metrics_adapted", "params:target", "params:seed", "params:row", "row_run_id"], outputs="row_result", name="record_row"),
    ]
    return nodes


def create_pipeline(**kwargs) -> Pipeline:
    """Every row of Tables 5-8, one namespace each (``table5.A1``, ...); pick a table
    with ``--namespaces=table5``. Reads the chain's artifacts for the target."""
    rows = []
    for table, names in TABLES.items():
        for row in names:
            nodes = _row_nodes(table, row)
            free = Pipeline(nodes).inputs()
            rows.append(
                pipeline(
                    nodes,
                    namespace=f"table{table}.{row}",
                    inputs=SHARED_DATASETS & free,
                    parameters=SHARED_PARAMS & free,
                    tags=["ablation", f"table{table}"],
                )
            )
    return sum(rows, Pipeline([]))
