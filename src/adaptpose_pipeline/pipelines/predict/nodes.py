"""Nodes of the predict pipeline: a user's 2D keypoints -> 3D poses with a trained lifter.

Which lifter: the catalog entry ``predict_lifter`` (``conf/base/catalog_predict.yml``)
is ``06_models/<target>/lifter_<model>.pt`` with ``<model>`` the runtime parameter
``predict.model`` (default ``adapted``). A node taking both ``lifter_baseline`` and
``lifter_adapted`` would make Kedro load both, so predicting with the baseline would
need an adaptation run first; one entry chosen by the run does not. Because the
catalog reads the command line, not ``parameters_predict.yml``, the lifting node
checks that the checkpoint it got is the kind ``predict.model`` names.

The keypoint file is the user's choice per run (``--params predict.input=<file>``): the
catalog entry ``predict_keypoints`` (``datasets.kedro_io.KeypointFileDataset``) reads
it, the first node parses it, and what was read is saved, versioned, as
``user_keypoints``, so the input shows in lineage; its SHA-256 goes into the report.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure

from adaptpose_pipeline.core import bvh
from adaptpose_pipeline.core.camera import normalise_pixels
from adaptpose_pipeline.core.lifter import LifterCheckpoint
from adaptpose_pipeline.core.runtime import resolve_device
from adaptpose_pipeline.core.skeleton import H36M17, H36M17_JOINTS
from adaptpose_pipeline.core.training import predict_sequences
from adaptpose_pipeline.datasets.common import DataError
from adaptpose_pipeline.datasets.keypoints import fill_missing, parse_keypoints
from adaptpose_pipeline.parameters import Predict, check
from adaptpose_pipeline.pipelines.evaluate.nodes import CHECKPOINT_KEYS
from adaptpose_pipeline.pipelines.ingest.nodes import target_config
from adaptpose_pipeline.evaluation import interactive
from adaptpose_pipeline.evaluation.prediction import pick_rows, predicted_skeletons

log = logging.getLogger(__name__)
OUTPUT_FRAME = "camera: x right, y down, z forward (m); root-relative, the hip at 0"


def check_predict_params(predict: dict) -> dict:
    """The ``predict`` block checked (``parameters.Predict``; keys named in errors);
    ``image_size`` as ``(w, h)`` or ``None``. ``input`` may be unset here: only the
    predict run needs it."""
    return check(Predict, predict, "predict").model_dump()


def read_user_keypoints(keypoint_file: dict, predict: dict) -> dict:
    """Parse the user's keypoint file (catalog entry ``predict_keypoints``:
    ``{"path", "raw"}``), map it to H36M-17 and fill undetected joints.

    Returns ``joints_2d (T, 17, 2)`` px, ``filled (T, 17)``, ``scores (T, 17)``,
    ``frames (T,)`` and the file's ``path``, ``format``, ``sha256``, ``image_size``
    (saved, versioned, as ``user_keypoints``).
    """
    params = check_predict_params(predict)
    if params["input"] is not None and Path(params["input"]).expanduser().resolve() != Path(keypoint_file["path"]):
        raise ValueError(
            f"predict.input: the parameter names {params['input']!r} but the catalog read {keypoint_file['path']!r}; "
            "set the file with --params predict.input=<file> (or predict_input in conf/local/globals.yml), not in a "
            "parameters file, so that the catalog entry predict_keypoints reads it too"
        )
    kp = parse_keypoints(keypoint_file["path"], keypoint_file["raw"], params["format"], float(params["min_score"]))
    joints, filled = fill_missing(kp, float(params["min_score"]))
    log.info(
        "read %d frames of 2D keypoints (%s) from %s; %d of %d joint detections filled in",
        kp.num_frames, kp.format, kp.path, int(filled.sum()), filled.size,
    )
    return {
        "joints_2d": joints, "filled": filled, "scores": kp.scores, "frames": kp.frames,
        "path": kp.path, "format": kp.format, "sha256": kp.sha256, "image_size": kp.image_size,
    }


def _checkpoint(payload: dict, model: str, target: str) -> LifterCheckpoint:
    if not isinstance(payload, dict) or any(k not in payload for k in CHECKPOINT_KEYS):
        found = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(f"predict_lifter: expected a lifter checkpoint with keys {list(CHECKPOINT_KEYS)}, got {found}")
    ckpt = LifterCheckpoint.from_payload(payload)
    adapted_to = ckpt.info.get("adapted_to")
    if (model == "adapted") != (adapted_to is not None):
        raise ValueError(
            f"predict.model is {model!r} but predict_lifter loaded {'an adapted' if adapted_to else 'a baseline'} "
            "lifter: the catalog picks the file from the command line, so give the model there "
            f"(--params predict.model={model}), not only in parameters_predict.yml"
        )
    trained_for = adapted_to or ckpt.info.get("target")
    if trained_for not in (None, target):
        raise ValueError(f"predict_lifter: the checkpoint was made for target {trained_for!r}, the run's target is {target!r}")
    return ckpt


def lift_keypoints(
    keypoints: dict, predict_lifter: dict, predict: dict, ingest: dict, target: str, device: str
) -> tuple[dict, dict]:
    """Normalise the 2D as the target's model inputs are, lift the whole sequence.

    Returns the arrays of ``predicted_poses`` (``pose_3d (T, 17, 3)`` m, root-relative,
    camera frame; ``keypoints_2d``, ``filled``, ``score``, ``frame``) and a summary of
    the lifter and normalisation used.
    """
    params = check_predict_params(predict)
    ckpt = _checkpoint(predict_lifter, params["model"], target)
    cfg = target_config(ingest, target)
    normalisation, pad = cfg["normalisation"], bool(cfg.get("pad_to_square", False))
    size = params["image_size"] or keypoints["image_size"]
    if params["image_size"] and keypoints["image_size"] and tuple(params["image_size"]) != tuple(keypoints["image_size"]):
        log.warning("predict.image_size %s overrides the size %s given in %s", params["image_size"], keypoints["image_size"], keypoints["path"])
    if size is None and normalisation == "screen":
        raise DataError(
            f"{keypoints['path']}: the {target} lifter takes screen-normalised 2D, which needs the image size; "
            "the file gives none, so pass --params predict.image_size=<w>x<h>"
        )
    w, h = size if size is not None else (1, 1)  # frobenius does not use the image size
    pose_2d, _ = normalise_pixels(keypoints["joints_2d"].astype(np.float32), np.float32(w), np.float32(h), normalisation, pad)
    T = len(pose_2d)
    dev = resolve_device(device)
    arrays = {"pose_2d": pose_2d, "seq_start": np.array([0]), "seq_length": np.array([T])}
    pose_3d = predict_sequences(ckpt.model(dev), arrays, dev)
    log.info("lifted %d frames with the %s %s lifter (%d-frame receptive field, %s 2D)", T, target, params["model"], ckpt.config.receptive_field, normalisation)
    predicted = {
        "pose_3d": pose_3d.astype(np.float32),
        "keypoints_2d": keypoints["joints_2d"].astype(np.float32),
        "filled": keypoints["filled"].astype(bool),
        "score": keypoints["scores"].astype(np.float32),
        "frame": keypoints["frames"].astype(np.int64),
    }
    summary = {
        "model": params["model"],
        "target": target,
        "receptive_field": ckpt.config.receptive_field,
        "channels": ckpt.config.channels,
        "checkpoint_info": {k: v for k, v in ckpt.info.items() if isinstance(v, (str, int, float, bool))},
        "normalisation": {"kind": normalisation, "pad_to_square": pad, "image_size": list(size) if size else None},
    }
    return predicted, summary


def predict_report(keypoints: dict, lifting: dict, predict: dict) -> dict:
    """What was read, what filled in, which model and normalisation made the output."""
    filled, frames = keypoints["filled"], keypoints["frames"]
    return {
        "input": {
            "path": keypoints["path"],
            "format": keypoints["format"],
            "sha256": keypoints["sha256"],
            "frames": int(len(frames)),
            "first_frame": int(frames[0]),
            "last_frame": int(frames[-1]),
            "image_size": list(keypoints["image_size"]) if keypoints["image_size"] else None,
        },
        "model": {k: v for k, v in lifting.items() if k != "normalisation"},
        "normalisation": lifting["normalisation"],
        "min_score": float(predict["min_score"]),
        "filled": {
            "rule": "score < min_score or undetected: linear interpolation over time per joint, nearest detection at the ends",
            "joint_frames": int(filled.sum()),
            "frames_with_filled_joints": int(filled.any(axis=1).sum()),
            "frames_without_detection": int(filled.all(axis=1).sum()),
            "per_joint": {name: int(n) for name, n in zip(H36M17_JOINTS, filled.sum(axis=0))},
        },
        "output": {"units": "m", "frame": OUTPUT_FRAME, "joints": list(H36M17_JOINTS)},
    }


def poses_table(predicted: dict) -> pd.DataFrame:
    """One row per frame: ``frame``, ``<joint>_x/_y/_z`` (m) and ``<joint>_filled`` (0/1)."""
    pose, filled = predicted["pose_3d"], predicted["filled"]
    columns = {"frame": predicted["frame"]}
    for j, name in enumerate(H36M17_JOINTS):
        for d, axis in enumerate("xyz"):
            columns[f"{name}_{axis}"] = pose[:, j, d]
    for j, name in enumerate(H36M17_JOINTS):
        columns[f"{name}_filled"] = filled[:, j].astype(np.int8)
    return pd.DataFrame(columns)


def skeleton_viewer(predicted: dict, predict: dict) -> go.Figure:
    """The lifted sequence as an interactive 3D skeleton with a frame slider."""
    return interactive.skeleton_viewer(predicted["pose_3d"], title=f"{predict.get('input')}: lifted 3D poses")


BVH_NAME = "poses_3d.bvh"


def predicted_bvh(predicted: dict, predict: dict) -> dict[str, str]:
    """With ``predict.bvh``: the lifted sequence as ``poses_3d.bvh`` (y up, metres, the
    root at the origin, ``predict.fps``), written by the same fitter as the export
    pipeline's; for Blender or MotionBuilder. Without: nothing (an empty folder)."""
    params = check_predict_params(predict)
    if not params["bvh"]:
        log.info("predict.bvh is false: no BVH written (--params predict.bvh=true to get one)")
        return {}
    motion = bvh.fit_bvh(bvh.from_camera(predicted["pose_3d"]), H36M17, float(params["fps"]))
    log.info("predict: %d frames written as %s at %s fps", motion.num_frames, BVH_NAME, params["fps"])
    return {BVH_NAME: bvh.to_text(motion)}


def plot_predicted_poses(predicted: dict, predict: dict) -> Figure:
    """Evenly spaced frames of the lifted sequence, front and side views."""
    rows = pick_rows(len(predicted["pose_3d"]), int(predict["plot_frames"]))
    labels = [f"frame {predicted['frame'][r]}" for r in rows]
    return predicted_skeletons(predicted["pose_3d"], rows, H36M17, labels, predicted["filled"])
