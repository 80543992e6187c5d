"""Nodes of the ablation pipeline: a row's parameters, its MLflow run, its record.

Every row of every table becomes one MLflow run nested in the ``kedro run``'s run,
named ``table5/A3 3dhp seed0``, tagged ``table``, ``row``, ``target``, ``seed`` (and
``label``), with the row's resolved settings as flat parameters
(``adapt.generator.bone_generation`` = ``bg1``, ...), the paper's numbers as
``paper_<metric>`` parameters and the measured ones under the metric names the chain
uses (``mpjpe``, ``p_mpjpe``, ...), so MLflow's compare view lines the rows up, and
the evaluation protocol as ``protocol.<key>`` parameters.
"""

from __future__ import annotations

import logging

import mlflow

from adaptpose_pipeline.core.lifter import LifterCheckpoint
from adaptpose_pipeline.pipelines.adapt.nodes import adapt_lifter, control_lifter
from adaptpose_pipeline.pipelines.config import deep_merge
from adaptpose_pipeline.pipelines.pretrain.nodes import pretrain_lifter
from adaptpose_pipeline.evaluation.metrics_file import protocol_params

log = logging.getLogger(__name__)

# Row names per table, in the paper's order (their settings: conf/base/parameters_ablation.yml).
TABLES: dict[int, tuple[str, ...]] = {
    5: ("baseline", "A1", "A2", "A3", "A4", "A5", "full"),
    6: ("BG1", "BG2", "BG3"),
    7: ("det_axis_angle", "prob_axis_angle", "prob_quaternion", "prob_euler"),
    8: ("f1", "f27"),
}
# Rows that train their own baseline lifter (Table 8 changes its receptive field).
OWN_BASELINE = {(8, "f1"), (8, "f27")}
# Rows that only report the chain's baseline lifter.
NO_ADAPTATION = {(5, "baseline")}


def row_parameters(base: dict, overrides: dict | None, name: str) -> dict:
    """``base`` (``adapt`` or ``pretrain``, resolved for the run's target) with the row's
    overrides on top: a row's choice (e.g. Table 8's receptive field) wins over a
    per-target setting (Ski's single-frame lifter) and over the command line."""
    return deep_merge(base, (overrides or {}).get(name) or {})


def _tags(table: int, row: str, target: str, seed: int, info: dict) -> dict[str, str]:
    return {"table": str(table), "row": row, "target": target, "seed": str(seed), "label": str(info.get("label", row))}


def flat_params(params: dict, prefix: str) -> dict[str, str]:
    """Nested settings as MLflow parameters: ``{"a": {"b": 1}}`` -> ``{"<prefix>.a.b": "1"}``
    (lists and scalars as their string; MLflow's Compare view lines rows up by these)."""
    out: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}.{key}"
        if isinstance(value, dict):
            out.update(flat_params(value, name))
        else:
            out[name] = str(value)
    return out


def _paper_params(info: dict) -> dict[str, float]:
    return {f"paper_{k}": v for k, v in (info.get("paper") or {}).items() if v is not None}


def row_run_name(table: int, row: str, target: str, seed: int) -> str:
    return f"table{table}/{row} {target} seed{seed}"


def _start_row_run(table: int, row: str, target: str, seed: int, info: dict):
    return mlflow.start_run(
        run_name=row_run_name(table, row, target, seed), nested=mlflow.active_run() is not None, tags=_tags(table, row, target, seed, info)
    )


def control_row(
    source_train: dict, source_validation: dict, target_train: dict, lifter_baseline: dict, adapt_params: dict,
    ingest: dict, target: str, seed: int, device: str, checkpoints: dict, *, table: int, row: str,
):
    """The row's fair control (its own baseline fine-tuned as long on source alone), for its guard."""
    return control_lifter(
        source_train, source_validation, target_train, lifter_baseline, adapt_params, ingest, target, seed, device,
        checkpoints, stage=f"ablation/table{table}/{row}/control",
    )


def generate_row(
    source_train: dict, source_validation: dict, target_train: dict, lifter_baseline: dict, lifter_control: dict,
    adapt_params: dict, ingest: dict, target: str, seed: int, device: str, checkpoints: dict, info: dict, *,
    table: int, row: str,
) -> tuple[dict, dict, dict, dict, object, str]:
    """The adaptation loop for one row, inside the row's own MLflow run (its per-epoch
    losses land there). Returns the loop's outputs and the run's id."""
    with _start_row_run(table, row, target, seed, info) as run:
        rf = LifterCheckpoint.from_payload(lifter_baseline).config.receptive_field
        mlflow.log_params({**_paper_params(info), **flat_params(adapt_params, "adapt"), "lifter_receptive_field": rf})
        out = adapt_lifter(
            source_train, source_validation, target_train, lifter_baseline, lifter_control, adapt_params, ingest,
            target, seed, device, checkpoints, stage=f"ablation/table{table}/{row}",
        )
        mlflow.log_dict(adapt_params, "row_adapt_parameters.json")
    return (*out, run.info.run_id)


def pretrain_row(
    source_train: dict, source_validation: dict, pretrain: dict, target: str, seed: int, device: str,
    checkpoints: dict, *, table: int, row: str,
):
    """A row's own baseline lifter (Table 8)."""
    return pretrain_lifter(source_train, source_validation, pretrain, target, seed, device, checkpoints, stage=f"ablation/table{table}/{row}/pretrain")


def record_row(metrics: dict, target: str, seed: int, info: dict, run_id: str | None = None, *, table: int, row: str) -> dict:
    """Log the row's overall metrics into its MLflow run (a new one for rows without
    adaptation) and return the row's record (table, row, label, run id, measured, paper)."""
    if run_id is None:
        with _start_row_run(table, row, target, seed, info) as run:
            mlflow.log_params(_paper_params(info))
            run_id = run.info.run_id
    with mlflow.start_run(run_id=run_id, nested=mlflow.active_run() is not None):
        mlflow.log_metrics({k: float(v) for k, v in metrics["overall"].items()})
        mlflow.log_params(protocol_params(metrics))
    log.info("table %d row %s on %s: MPJPE %.1f mm", table, row, target, metrics["overall"]["mpjpe"])
    return {
        "table": table, "row": row, "label": info.get("label", row), "target": target, "mlflow_run_id": run_id,
        "measured": dict(metrics["overall"]), "paper": dict(info.get("paper") or {}),
    }
