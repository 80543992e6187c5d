"""The metrics file of one model on one target's test split, and its schema.

Predictions and ground truth are root-relative poses in metres, ``(N, 17, 3)`` in
H36M-17 order, one row per model-input row; only rows with ``valid`` count, and
every frame weighs the same (``"averaging"``: per frame, over valid frames). Numbers in
the file are millimetres.

Joint sets (``evaluate.joint_set``), by the names of ``core.skeleton.H36M17``:

- ``h36m17``: hip, r_hip, r_knee, r_ankle, l_hip, l_knee, l_ankle, spine, thorax, neck,
  head, l_shoulder, l_elbow, l_wrist, r_shoulder, r_elbow, r_wrist.
- ``h36m16``: the same without ``neck`` (Human3.6M's neck/nose joint between thorax and
  head top), the 16 joints the released AdaptPose/PoseAug code evaluates.

``protocol.coordinates`` names the native field the ground-truth 3D came from (for
3DHP ``annot3`` or ``univ_annot3``), as the model-input arrays record it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NoReturn

import numpy as np

from adaptpose_pipeline.core.metrics import AUC_THRESHOLDS_MM, joint_errors, pck_curve, summarise
from adaptpose_pipeline.core.skeleton import H36M17, SKELETONS, Skeleton, get_skeleton
from adaptpose_pipeline.core.windows import check_arrays

TOP_KEYS = ("target", "model", "source", "protocol", "overall", "per_joint", "per_sequence", "pck_curve")
PROTOCOL_TYPES: dict[str, type | tuple[type, ...]] = {
    "joints": int,
    "joint_set": str,
    "averaging": str,
    "frames": int,
    "coordinates": str,
    "root": str,
    "mpjpe": str,
    "p_mpjpe": str,
    "n_mpjpe": str,
    "pck_threshold_mm": (int, float),
    "auc_thresholds_mm": str,
    "test_time_augmentation": bool,
    "model_selection": str,
}
ERROR_KEYS = ("mpjpe", "p_mpjpe", "n_mpjpe")
AVERAGING = "per frame, over valid frames"
# The protocol keys that say which numbers are comparable (MLflow params ``protocol.<key>``).
PROTOCOL_PARAMS = ("joint_set", "coordinates", "frames", "averaging")


def protocol_params(metrics: dict) -> dict[str, str]:
    """``protocol.<key>`` -> value of a metrics file's comparability keys (MLflow params)."""
    return {f"protocol.{k}": str(metrics["protocol"][k]) for k in PROTOCOL_PARAMS}


def check_params(evaluate: dict) -> dict:
    """The ``evaluate`` parameter block, checked (``parameters.Evaluate``): joint set,
    PCK threshold (a whole number of mm, as an int), frames to draw."""
    from adaptpose_pipeline.parameters import Evaluate, check  # parameters imports this package's neighbours

    return check(Evaluate, evaluate, "evaluate").model_dump()


def select_joints(poses: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """H36M-17 poses ``(..., 17, D)`` -> the joints of ``skeleton`` ``(..., J, D)``, by name."""
    if poses.shape[-2] != H36M17.num_joints:
        raise ValueError(f"select_joints: expected (..., {H36M17.num_joints}, D) poses, got {tuple(poses.shape)}")
    return poses[..., list(H36M17.indices(skeleton.joints)), :]


def frame_sequences(arrays: dict) -> np.ndarray:
    """The sequence name of every row ``(N,)``."""
    return np.repeat(arrays["seq_name"], arrays["seq_length"])


def pick_frames(valid: np.ndarray, count: int) -> np.ndarray:
    """Up to ``count`` evenly spaced valid rows (first and last valid included)."""
    rows = np.flatnonzero(valid)
    if len(rows) == 0:
        raise ValueError("pick_frames: no valid frames")
    return np.unique(rows[np.linspace(0, len(rows) - 1, count).round().astype(int)])


def _range_text(thresholds: np.ndarray) -> str:
    return f"{thresholds[0]:g}..{thresholds[-1]:g} step {thresholds[1] - thresholds[0]:g}"


def evaluate_predictions(
    pred: np.ndarray, arrays: dict, joint_set: str = "h36m17", pck_threshold_mm: int = 150
) -> dict:
    """Metrics of ``pred (N, 17, 3)`` (m) against ``arrays["pose_3d"]`` on valid rows.

    Returns the metrics file without ``target``/``model``/``source``: ``protocol``,
    ``overall``, ``per_joint``, ``per_sequence`` (keyed by ``seq_name``) and
    ``pck_curve``, all in mm.
    """
    check_arrays(arrays, "target_test")
    if "seq_name" not in arrays:
        raise KeyError("target_test: model-input arrays lack ['seq_name']")
    if pred.shape != arrays["pose_3d"].shape:
        raise ValueError(f"predictions: expected {arrays['pose_3d'].shape} to match target_test pose_3d, got {pred.shape}")
    skeleton = get_skeleton(joint_set)
    valid = arrays["valid"].astype(bool)
    p = select_joints(np.asarray(pred, np.float64)[valid], skeleton)
    g = select_joints(np.asarray(arrays["pose_3d"], np.float64)[valid], skeleton)
    summary = summarise(p, g, skeleton.joints, frame_sequences(arrays)[valid], pck_threshold_mm)
    curve = pck_curve(joint_errors(p, g, "root") * 1000.0, AUC_THRESHOLDS_MM)
    protocol = {
        "joints": skeleton.num_joints,
        "joint_set": skeleton.name,
        "averaging": AVERAGING,
        "frames": int(valid.sum()),
        "coordinates": str(np.ravel(arrays["coordinates"])[0]) if "coordinates" in arrays else "unrecorded",
        "root": skeleton.joints[0],
        "mpjpe": "root-aligned",
        "p_mpjpe": "similarity Procrustes per frame",
        "n_mpjpe": "least-squares scale per frame",
        "pck_threshold_mm": int(pck_threshold_mm),
        "auc_thresholds_mm": _range_text(AUC_THRESHOLDS_MM),
        "test_time_augmentation": False,
        "model_selection": "source validation split",
    }
    return {
        "protocol": protocol,
        **summary,
        "pck_curve": {"thresholds_mm": [float(t) for t in AUC_THRESHOLDS_MM], "pck": [float(v) for v in curve]},
    }


def _fail(key: str, expected: str, found) -> NoReturn:
    raise ValueError(f"metrics.{key}: expected {expected}, got {found!r}")


def _number(value, key: str, lo: float = 0.0, hi: float = math.inf) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not lo <= value <= hi:
        _fail(key, f"a number in [{lo:g}, {hi:g}]", value)


def _mapping(d, key: str, keys: Sequence[str] | None = None) -> None:
    if not isinstance(d, dict):
        _fail(key, "a mapping", d)
    if keys is not None and set(d) != set(keys):
        missing, extra = [k for k in keys if k not in d], sorted(set(d) - set(keys))
        _fail(key, f"keys {list(keys)} (missing {missing}, unexpected {extra})", sorted(d))


def validate_metrics(d: dict) -> None:
    """Raise ``ValueError`` naming the first key of ``d`` that breaks the metrics-file schema."""
    _mapping(d, "<top>", TOP_KEYS)
    for key in ("target", "model", "source"):
        if not isinstance(d[key], str) or not d[key]:
            _fail(key, "a non-empty string", d[key])
    protocol = d["protocol"]
    _mapping(protocol, "protocol", tuple(PROTOCOL_TYPES))
    for key, kind in PROTOCOL_TYPES.items():
        value = protocol[key]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            _fail(f"protocol.{key}", f"a {kind.__name__ if isinstance(kind, type) else 'number'}", value)
    if protocol["joint_set"] not in SKELETONS:
        _fail("protocol.joint_set", f"one of {sorted(SKELETONS)}", protocol["joint_set"])
    skeleton = get_skeleton(protocol["joint_set"])
    if protocol["joints"] != skeleton.num_joints:
        _fail("protocol.joints", f"{skeleton.num_joints} for {skeleton.name}", protocol["joints"])
    if protocol["frames"] < 1:
        _fail("protocol.frames", "at least 1", protocol["frames"])
    _number(protocol["pck_threshold_mm"], "protocol.pck_threshold_mm", lo=1e-9)
    pck_key = f"pck{int(protocol['pck_threshold_mm'])}"
    _mapping(d["overall"], "overall", (*ERROR_KEYS, pck_key, "auc"))
    for key in ERROR_KEYS:
        _number(d["overall"][key], f"overall.{key}")
    for key in (pck_key, "auc"):
        _number(d["overall"][key], f"overall.{key}", hi=1.0)
    _mapping(d["per_joint"], "per_joint", skeleton.joints)
    for joint, value in d["per_joint"].items():
        _number(value, f"per_joint.{joint}")
    _mapping(d["per_sequence"], "per_sequence")
    if not d["per_sequence"]:
        _fail("per_sequence", "at least one sequence", d["per_sequence"])
    for name, value in d["per_sequence"].items():
        _number(value, f"per_sequence.{name}")
    curve = d["pck_curve"]
    _mapping(curve, "pck_curve", ("thresholds_mm", "pck"))
    thresholds, pck = curve["thresholds_mm"], curve["pck"]
    if not isinstance(thresholds, list) or len(thresholds) < 2:
        _fail("pck_curve.thresholds_mm", "a list of at least 2 thresholds", thresholds)
    if not isinstance(pck, list) or len(pck) != len(thresholds):
        _fail("pck_curve.pck", f"a list of {len(thresholds)} values (one per threshold)", pck)
    for i, (t, v) in enumerate(zip(thresholds, pck)):
        _number(t, f"pck_curve.thresholds_mm[{i}]")
        _number(v, f"pck_curve.pck[{i}]", hi=1.0)
    if any(b <= a for a, b in zip(thresholds, thresholds[1:])):
        _fail("pck_curve.thresholds_mm", "increasing thresholds", thresholds)
