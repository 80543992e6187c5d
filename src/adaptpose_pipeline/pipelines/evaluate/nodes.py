"""Nodes of the evaluate pipeline: lift the target's test split, score it, draw it.

The test split is only ever scored here, never used to pick a model.
"""

from __future__ import annotations

import logging

import numpy as np
from matplotlib.figure import Figure

from adaptpose_pipeline.core.lifter import LifterCheckpoint, SequenceLifter
from adaptpose_pipeline.core.runtime import resolve_device
from adaptpose_pipeline.core.skeleton import get_skeleton
from adaptpose_pipeline.core.training import predict_sequences
from adaptpose_pipeline.core.windows import check_arrays
from adaptpose_pipeline.evaluation import plots
from adaptpose_pipeline.evaluation.metrics_file import (
    check_params,
    evaluate_predictions,
    frame_sequences,
    pick_frames,
    select_joints,
    validate_metrics,
)

log = logging.getLogger(__name__)
# MLflow metric names per model: the baseline's carry a prefix so that an adaptation
# run can log both and the compare view lines `mpjpe` up across runs.
MLFLOW_PREFIX = {"baseline": "baseline_", "control": "control_", "adapted": ""}
CHECKPOINT_KEYS = ("config", "state_dict", "info")


def predict_target_test(lifter_payload: dict, target_test_arrays: dict, device: str) -> np.ndarray:
    """Lift every target test sequence whole: ``(N, 17, 3)`` root-relative metres."""
    if not isinstance(lifter_payload, dict) or any(k not in lifter_payload for k in CHECKPOINT_KEYS):
        found = sorted(lifter_payload) if isinstance(lifter_payload, dict) else type(lifter_payload).__name__
        raise ValueError(f"lifter checkpoint: expected a dict with keys {list(CHECKPOINT_KEYS)}, got {found}")
    check_arrays(target_test_arrays, "target_test")
    dev = resolve_device(device)
    model = LifterCheckpoint.from_payload(lifter_payload).model(dev)
    log.info("lifting %d target test frames with a %d-frame lifter (%s)", len(target_test_arrays["pose_2d"]), model.receptive_field, dev)
    return predict_sequences(model, target_test_arrays, dev)


def compute_metrics(
    predictions: np.ndarray, target_test_arrays: dict, evaluate: dict, target: str, ingest: dict, model: str
) -> dict:
    """The metrics file of ``model`` on the target test split (valid frames, mm)."""
    params = check_params(evaluate)
    try:
        source = ingest["source_train"]["dataset"]
    except KeyError:
        raise KeyError(f"ingest.targets.{target}.source_train.dataset: missing") from None
    metrics = {
        "target": target,
        "model": model,
        "source": source,
        **evaluate_predictions(predictions, target_test_arrays, params["joint_set"], params["pck_threshold_mm"]),
    }
    validate_metrics(metrics)
    overall = metrics["overall"]
    log.info(
        "%s on %s test (%d frames): MPJPE %.1f mm, P-MPJPE %.1f mm, AUC %.3f",
        model, target, metrics["protocol"]["frames"], overall["mpjpe"], overall["p_mpjpe"], overall["auc"],
    )
    return metrics


def plot_skeletons(predictions: np.ndarray, target_test_arrays: dict, evaluate: dict, target: str) -> Figure:
    """Predicted vs true skeletons on evenly spaced valid test frames."""
    params = check_params(evaluate)
    skeleton = get_skeleton(params["joint_set"])
    frames = pick_frames(target_test_arrays["valid"], params["skeleton_frames"])
    names = frame_sequences(target_test_arrays)
    frame_numbers = target_test_arrays.get("frame", np.arange(len(names)))
    labels = [f"{names[i]}\nframe {frame_numbers[i]}" for i in frames]
    return plots.skeleton_panel(
        select_joints(predictions, skeleton), select_joints(target_test_arrays["pose_3d"], skeleton), frames, skeleton, labels
    )


def mlflow_metrics(metrics: dict, model: str) -> dict:
    """The overall metrics as kedro-mlflow's metrics-history format, named per model."""
    prefix = MLFLOW_PREFIX[model]
    return {f"{prefix}{name}": {"value": float(value), "step": 0} for name, value in metrics["overall"].items()}


def serving_lifter(lifter: dict, metrics: dict | None = None) -> SequenceLifter:
    """A lifter checkpoint as the model MLflow serves (``core.lifter.SequenceLifter``).

    ``metrics``: the lifter's metrics file; its overall numbers travel with the model
    (``served_metrics``) and become the registered version's tags.
    """
    model = LifterCheckpoint.from_payload(lifter).sequence_model()
    model.served_metrics = {} if metrics is None else {k: float(v) for k, v in metrics["overall"].items()}
    return model
