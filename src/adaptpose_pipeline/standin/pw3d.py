"""3DPW stand-ins: sequence pickles in the layout ``datasets.pw3d`` reads.

The SMPL-24 joints and COCO-18 detections the files hold are made from H36M-17 joints:
the mapped joints are copied (:data:`~adaptpose_pipeline.datasets.pw3d.H36M_FROM_SMPL`),
the rest placed along bones by the constants below.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from adaptpose_pipeline.core.skeleton import H36M17, H36M17_JOINTS
from adaptpose_pipeline.datasets.common import DataError, check_array
from adaptpose_pipeline.datasets.pw3d import COCO18_JOINTS, FPS, H36M_FROM_SMPL, SMPL24_JOINTS, SPLITS, image_size_from_centre
from adaptpose_pipeline.standin.recording import Recording

_S = SMPL24_JOINTS.index
_H = H36M17.index
_H36M_MAPPED = np.array([_H(h) for h in H36M_FROM_SMPL])
_SMPL_MAPPED = np.array([_S(s) for s in H36M_FROM_SMPL.values()])

# SMPL joints H36M-17 lacks (fractions along a bone).
SPINE1_AT = 0.45  # spine1 = lerp(hip, spine, SPINE1_AT)
SPINE3_AT = 0.4  # spine3 = lerp(spine, thorax, SPINE3_AT)
COLLAR_AT = 0.35  # collar = lerp(thorax, shoulder, COLLAR_AT)
HAND_EXTENSION = 0.2  # hand = wrist + HAND_EXTENSION * (wrist - elbow)
FOOT_FORWARD_M = 0.1  # foot = ankle + FOOT_FORWARD_M along the body's forward direction

# COCO-18 joint <- H36M-17 joint; the eyes and ears are placed near the head instead.
COCO_FROM_H36M: dict[str, str] = {
    "nose": "neck",
    "neck": "thorax",
    "r_shoulder": "r_shoulder",
    "r_elbow": "r_elbow",
    "r_wrist": "r_wrist",
    "l_shoulder": "l_shoulder",
    "l_elbow": "l_elbow",
    "l_wrist": "l_wrist",
    "r_hip": "r_hip",
    "r_knee": "r_knee",
    "r_ankle": "r_ankle",
    "l_hip": "l_hip",
    "l_knee": "l_knee",
    "l_ankle": "l_ankle",
}
# Face points: (fraction of the way nose -> head top, metres towards the body's left).
COCO_FACE: dict[str, tuple[float, float]] = {
    "r_eye": (0.3, -0.03),
    "l_eye": (0.3, 0.03),
    "r_ear": (0.35, -0.075),
    "l_ear": (0.35, 0.075),
}


def h36m17_to_smpl24(joints: np.ndarray) -> np.ndarray:
    """``(..., 17, 3)`` H36M joints -> ``(..., 24, 3)`` SMPL joints (the inverse of the reader's ``smpl24_to_h36m17``).

    Mapped joints are copied (SMPL head = H36M neck, SMPL neck = H36M thorax); the rest
    are placed along bones by the module constants ``SPINE1_AT`` ... ``FOOT_FORWARD_M``.
    """
    x = np.asarray(joints, dtype=np.float64)
    out = np.empty(x.shape[:-2] + (len(SMPL24_JOINTS), 3))
    out[..., _SMPL_MAPPED, :] = x[..., _H36M_MAPPED, :]
    j = {name: x[..., _H(name), :] for name in H36M17_JOINTS}
    out[..., _S("spine1"), :] = j["hip"] + SPINE1_AT * (j["spine"] - j["hip"])
    out[..., _S("spine3"), :] = j["spine"] + SPINE3_AT * (j["thorax"] - j["spine"])
    forward = np.cross(j["thorax"] - j["hip"], j["r_hip"] - j["l_hip"])
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True).clip(1e-9)
    for side, smpl_side in (("l", "left"), ("r", "right")):
        shoulder, elbow, wrist = j[f"{side}_shoulder"], j[f"{side}_elbow"], j[f"{side}_wrist"]
        out[..., _S(f"{smpl_side}_collar"), :] = j["thorax"] + COLLAR_AT * (shoulder - j["thorax"])
        out[..., _S(f"{smpl_side}_hand"), :] = wrist + HAND_EXTENSION * (wrist - elbow)
        out[..., _S(f"{smpl_side}_foot"), :] = j[f"{side}_ankle"] + FOOT_FORWARD_M * forward
    return out


def h36m17_to_coco18(joints: np.ndarray) -> np.ndarray:
    """``(..., 17, 3)`` H36M joints -> ``(..., 18, 3)`` COCO-18 keypoints (face approximate)."""
    x = np.asarray(joints, dtype=np.float64)
    out = np.empty(x.shape[:-2] + (len(COCO18_JOINTS), 3))
    for coco, h36m in COCO_FROM_H36M.items():
        out[..., COCO18_JOINTS.index(coco), :] = x[..., _H(h36m), :]
    nose, top = x[..., _H("neck"), :], x[..., _H("head"), :]
    left = x[..., _H("l_shoulder"), :] - x[..., _H("r_shoulder"), :]
    left /= np.linalg.norm(left, axis=-1, keepdims=True).clip(1e-9)
    for name, (up, lateral) in COCO_FACE.items():
        out[..., COCO18_JOINTS.index(name), :] = nose + up * (top - nose) + lateral * left
    return out


def write_3dpw(
    root: str | Path,
    recordings: Iterable[Recording],
    fps: float = FPS,
) -> list[Path]:
    """Write ``recordings`` as 3DPW pickles; returns the files written.

    Each recording needs ``split`` in :data:`SPLITS`, ``joints_world (T, 17, 3)`` in
    H36M-17 order, exactly one moving :class:`CameraRig` (``R (T, 3, 3)``, ``t (T, 3)``,
    no distortion, image size as :func:`image_size_from_centre` infers it) and
    ``fps == fps`` (the files hold no frame rate). Recordings sharing ``split`` and
    ``sequence`` become the people of one pickle, in the order given, and must share
    the camera; the reader names them ``f"{sequence}_p{i}"``, camera ``"handheld"``.
    ``poses``, ``trans`` and ``betas`` are zeros (no SMPL fit); ``genders`` comes from
    ``rec.meta["gender"]`` (default ``"m"``). Everything is checked before a file is written.
    """
    groups: dict[tuple[str, str], list[Recording]] = {}
    for rec in recordings:
        _check_recording(rec, fps)
        groups.setdefault((rec.split, rec.sequence), []).append(rec)
    payloads = {}
    for (split, name), recs in groups.items():
        _check_shared_camera(recs)
        path = Path(root) / "sequenceFiles" / split / f"{name}.pkl"
        payloads[path] = _pickle_dict(name, recs)
    for path, data in payloads.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            pickle.dump(data, fh, protocol=2)
    return list(payloads)


def _where(rec: Recording) -> str:
    return f"recording {rec.subject}/{rec.sequence} ({rec.split})"


def _check_recording(rec: Recording, fps: float) -> None:
    where = _where(rec)
    if rec.split not in SPLITS:
        raise DataError(f"{where}: split: expected one of {SPLITS}, found {rec.split!r}")
    if not rec.sequence or Path(rec.sequence).name != rec.sequence:
        raise DataError(f"{where}: sequence: expected a plain file name, found {rec.sequence!r}")
    if len(rec.cameras) != 1:
        raise DataError(
            f"{where}: cameras: expected exactly one (3DPW is one handheld camera), "
            f"found {len(rec.cameras)}"
        )
    rig = rec.cameras[0]
    x = check_array(rec.joints_world, (None, len(H36M17_JOINTS), 3), f"{where}: joints_world")
    T = len(x)
    if T == 0:
        raise DataError(f"{where}: joints_world: expected at least one frame, found 0")
    check_array(rec.valid, (T,), f"{where}: valid")
    check_array(rig.R, (T, 3, 3), f"{where}: camera {rig.name} R (a moving camera)")
    check_array(rig.t, (T, 3), f"{where}: camera {rig.name} t (a moving camera)")
    check_array(rig.f, (2,), f"{where}: camera {rig.name} f")
    check_array(rig.c, (2,), f"{where}: camera {rig.name} c")
    if rig.k is not None or rig.p is not None:
        raise DataError(f"{where}: camera {rig.name}: expected no distortion (3DPW stores none), found k/p")
    expected = image_size_from_centre(np.asarray(rig.c))
    if tuple(int(v) for v in rig.image_size) != expected:
        raise DataError(
            f"{where}: camera {rig.name} image_size: expected {expected} (what the reader infers "
            f"from c = {np.asarray(rig.c).tolist()}), found {tuple(rig.image_size)}"
        )
    if float(rec.fps) != float(fps):
        raise DataError(f"{where}: fps: expected {fps} (3DPW files hold no frame rate), found {rec.fps}")


def _check_shared_camera(recs: list[Recording]) -> None:
    first = recs[0].cameras[0]
    for rec in recs[1:]:
        rig = rec.cameras[0]
        same = all(
            np.shape(a) == np.shape(b) and np.allclose(a, b, rtol=0, atol=1e-9)
            for a, b in ((first.R, rig.R), (first.t, rig.t), (first.f, rig.f), (first.c, rig.c))
        )
        if not same:
            raise DataError(
                f"{_where(rec)}: expected the camera of {_where(recs[0])} (people of one 3DPW "
                "sequence share its camera), found a different camera or frame count"
            )


def _pickle_dict(name: str, recs: list[Recording]) -> dict:
    rig = recs[0].cameras[0]
    R, t = np.asarray(rig.R, dtype=np.float64), np.asarray(rig.t, dtype=np.float64)
    T = len(R)
    cam_poses = np.zeros((T, 4, 4))
    cam_poses[:, :3, :3], cam_poses[:, :3, 3], cam_poses[:, 3, 3] = R, t, 1.0
    (fx, fy), (cx, cy) = np.asarray(rig.f, dtype=np.float64), np.asarray(rig.c, dtype=np.float64)
    K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    poses2d, joints = [], []
    for rec in recs:
        x = np.asarray(rec.joints_world, dtype=np.float64)
        coco_px = rig.project(rig.to_camera(h36m17_to_coco18(x)))
        poses2d.append(np.concatenate([coco_px, np.ones((T, len(COCO18_JOINTS), 1))], -1).transpose(0, 2, 1))
        joints.append(h36m17_to_smpl24(x).reshape(T, 72))
    return {
        "sequence": name,
        "genders": [str(rec.meta.get("gender", "m")) for rec in recs],
        "betas": [np.zeros(10) for _ in recs],
        "poses": [np.zeros((T, 72)) for _ in recs],
        "trans": [np.zeros((T, 3)) for _ in recs],
        "poses2d": poses2d,
        "jointPositions": joints,
        "cam_poses": cam_poses,
        "cam_intrinsics": K,
        "img_frame_ids": np.arange(T),
        "campose_valid": [np.asarray(rec.valid, dtype=np.int64) for rec in recs],
    }
