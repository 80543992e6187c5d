"""Human3.6M in VideoPose3D's preprocessed layout: reader and stand-in writer.

Layout under ``root``:

``data_3d_h36m.npz``
    key ``positions_3d``: a pickled dict ``subject -> action -> (N, 32, 3)`` float32,
    metres, **world frame** (z up), 50 Hz. The 17 working joints are the rows
    ``H36M32_KEEP = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]``
    of the 32 motion-capture joints, already in H36M-17 order.
``data_2d_h36m_gt.npz``
    key ``positions_2d``: ``subject -> action -> list of 4 (N, 17, 2)`` float32 pixels,
    one per camera in the order of ``h36m_cameras.json``; key ``metadata``:
    ``{"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": [...]}``.
    Where a 2D sequence is longer than its 3D one (as happens in the real files), it is
    cut to the 3D length, as VideoPose3D does.
``h36m_cameras.json`` (VideoPose3D keeps these in code; we keep them in a file)
    ``{"intrinsics": [4 x {"id", "res_w", "res_h", "center" [cx, cy], "focal_length"
    [fx, fy], "radial_distortion" [k1, k2, k3], "tangential_distortion" [p1, p2]}],
    "extrinsics": {subject: [4 x {"orientation" [w, x, y, z], "translation" [x, y, z]}]}}``.
    ``orientation`` rotates camera to world and ``translation`` is the camera centre
    in world coordinates in **millimetres** (both as in VideoPose3D), so
    ``x_cam = R(orientation)^T (x_world - translation / 1000)``.

Splits follow the standard protocol: S1, S5, S6, S7, S8 are ``train``, S9 and S11
``test``; which of them serve as source, validation or target is the ingest
pipeline's choice, not the reader's.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import torch

from adaptpose_pipeline.core import rotations
from adaptpose_pipeline.core.skeleton import H36M17
from adaptpose_pipeline.datasets.common import DataError, PoseSequence, check_array, require_dir, require_file
from adaptpose_pipeline.datasets.recording import CameraRig, Recording

FILE_3D = "data_3d_h36m.npz"
FILE_2D = "data_2d_h36m_gt.npz"
FILE_CAMERAS = "h36m_cameras.json"
FPS = 50.0
NUM_CAMERAS = 4
CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")
H36M32_KEEP = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
# Rows of the 32 that the 17 do not use: written as copies of a nearby kept joint
# (feet/toes <- ankle, hands/thumbs <- wrist, extra spine/clavicle <- thorax).
H36M32_FILL = {
    4: 3, 5: 3, 9: 8, 10: 8, 11: 0, 16: 13, 20: 19, 21: 19, 22: 19, 23: 19,
    24: 13, 28: 27, 29: 27, 30: 27, 31: 27,
}
SPLITS = {"S1": "train", "S5": "train", "S6": "train", "S7": "train", "S8": "train", "S9": "test", "S11": "test"}
METADATA = {
    "layout_name": "h36m",
    "num_joints": 17,
    "keypoints_symmetry": [
        [H36M17.index(n) for n in ("l_hip", "l_knee", "l_ankle", "l_shoulder", "l_elbow", "l_wrist")],
        [H36M17.index(n) for n in ("r_hip", "r_knee", "r_ankle", "r_shoulder", "r_elbow", "r_wrist")],
    ],
}


def _load_npz_dict(path: Path, key: str) -> dict:
    require_file(path, "Human3.6M")
    try:
        with np.load(path, allow_pickle=True) as npz:
            if key not in npz.files:
                raise DataError(f"{path}: expected key {key!r}, found keys {sorted(npz.files)}")
            value = npz[key].item()
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot be read as an .npz archive (truncated or corrupt?): {exc}") from exc
    if not isinstance(value, dict):
        raise DataError(f"{path}: expected {key!r} to hold a dict subject -> action -> array, found {type(value).__name__}")
    return value


def load_cameras(path: Path) -> dict:
    """Parse ``h36m_cameras.json``; see the module docstring for its keys."""
    require_file(path, "Human3.6M cameras")
    try:
        cams = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON (truncated or corrupt?): {exc}") from exc
    for key in ("intrinsics", "extrinsics"):
        if key not in cams:
            raise DataError(f"{path}: expected key {key!r}, found keys {sorted(cams)}")
    if len(cams["intrinsics"]) != NUM_CAMERAS:
        raise DataError(f"{path}: expected {NUM_CAMERAS} cameras under 'intrinsics', found {len(cams['intrinsics'])}")
    for i, intr in enumerate(cams["intrinsics"]):
        for key, shape in (("center", (2,)), ("focal_length", (2,)), ("radial_distortion", (3,)), ("tangential_distortion", (2,))):
            if key not in intr:
                raise DataError(f"{path}: intrinsics[{i}] lacks key {key!r}")
            check_array(intr[key], shape, f"{path}: intrinsics[{i}].{key}")
        for key in ("res_w", "res_h"):
            if not isinstance(intr.get(key), int) or intr[key] <= 0:
                raise DataError(f"{path}: intrinsics[{i}].{key}: expected a positive integer, found {intr.get(key)!r}")
    return cams


def _extrinsics(cams: dict, subject: str, path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """World-to-camera ``(R, t)`` of the subject's 4 cameras."""
    ext = cams["extrinsics"].get(subject)
    if ext is None or len(ext) != NUM_CAMERAS:
        found = "none" if ext is None else len(ext)
        raise DataError(f"{path}: extrinsics[{subject!r}]: expected {NUM_CAMERAS} cameras, found {found}")
    out = []
    for i, e in enumerate(ext):
        q = check_array(e.get("orientation"), (4,), f"{path}: extrinsics[{subject!r}][{i}].orientation")
        pos = check_array(e.get("translation"), (3,), f"{path}: extrinsics[{subject!r}][{i}].translation") / 1000.0
        cam_to_world = rotations.quaternion_to_matrix(torch.as_tensor(q, dtype=torch.float64)).numpy()
        R = cam_to_world.T
        out.append((R, -R @ pos))
    return out


def read_h36m(root: Path, subjects: list[str] | None = None) -> list[PoseSequence]:
    """One :class:`PoseSequence` per subject x action x camera (see module docstring).

    ``subjects``: restrict to these (all in the files when ``None``); a requested
    subject missing from either file is an error.
    """
    root = require_dir(Path(root), "Human3.6M root")
    path3d, path2d, pathcam = root / FILE_3D, root / FILE_2D, root / FILE_CAMERAS
    cams = load_cameras(pathcam)
    pos3d = _load_npz_dict(path3d, "positions_3d")
    pos2d = _load_npz_dict(path2d, "positions_2d")
    wanted = sorted(pos3d) if subjects is None else list(subjects)
    out = []
    for subject in wanted:
        for path, data in ((path3d, pos3d), (path2d, pos2d)):
            if subject not in data:
                raise DataError(f"{path}: expected subject {subject!r}, found {sorted(data)}")
        extrinsics = _extrinsics(cams, subject, pathcam)
        for action in sorted(pos3d[subject]):
            where3 = f"{path3d}: positions_3d[{subject!r}][{action!r}]"
            x32 = check_array(pos3d[subject][action], (None, 32, 3), where3)
            if len(x32) == 0:
                raise DataError(f"{where3}: expected at least one frame, found an empty sequence")
            world = x32[:, list(H36M32_KEEP)].astype(np.float64)
            if action not in pos2d[subject]:
                raise DataError(f"{path2d}: expected action {action!r} for subject {subject!r} (it is in {path3d.name})")
            views = pos2d[subject][action]
            if len(views) != NUM_CAMERAS:
                raise DataError(f"{path2d}: positions_2d[{subject!r}][{action!r}]: expected {NUM_CAMERAS} cameras, found {len(views)}")
            for cam_idx, (intr, (R, t)) in enumerate(zip(cams["intrinsics"], extrinsics)):
                where2 = f"{path2d}: positions_2d[{subject!r}][{action!r}][{cam_idx}]"
                x2d = check_array(views[cam_idx], (None, 17, 2), where2)
                if len(x2d) < len(world):
                    raise DataError(f"{where2}: expected at least {len(world)} frames (as in 3D), found {len(x2d)}")
                x_cam = world @ R.T + t
                seq = PoseSequence(
                    dataset="h36m",
                    subject=subject,
                    sequence=action,
                    camera=str(intr.get("id", cam_idx)),
                    split=SPLITS.get(subject, "train"),
                    fps=FPS,
                    image_size=(intr["res_w"], intr["res_h"]),
                    f=np.asarray(intr["focal_length"]),
                    c=np.asarray(intr["center"]),
                    k=np.asarray(intr["radial_distortion"]),
                    p=np.asarray(intr["tangential_distortion"]),
                    joints_2d=x2d[: len(world)],
                    joints_3d_cam=x_cam,
                    valid=np.ones(len(world), dtype=bool),
                )
                out.append(seq.validate(path2d))
    return out


def _to_32(joints17: np.ndarray) -> np.ndarray:
    x32 = np.zeros((len(joints17), 32, 3), dtype=np.float32)
    x32[:, list(H36M32_KEEP)] = joints17
    for row, src in H36M32_FILL.items():
        x32[:, row] = x32[:, src]
    return x32


def write_h36m(root: Path, recordings: list[Recording]) -> None:
    """Write stand-in recordings in the layout above.

    Every recording has 4 static cameras; a subject's recordings share them (the
    extrinsics are stored per subject, intrinsics once for all subjects).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    pos3d: dict = {}
    pos2d: dict = {}
    extrinsics: dict = {}
    intrinsics = None
    for rec in recordings:
        if len(rec.cameras) != NUM_CAMERAS or any(r.moving for r in rec.cameras):
            raise ValueError(f"{rec.subject}/{rec.sequence}: Human3.6M needs {NUM_CAMERAS} static cameras")
        pos3d.setdefault(rec.subject, {})[rec.sequence] = _to_32(rec.joints_world)
        pos2d.setdefault(rec.subject, {})[rec.sequence] = [
            r.project(r.to_camera(rec.joints_world)).astype(np.float32) for r in rec.cameras
        ]
        extrinsics[rec.subject] = [_camera_extrinsics(r) for r in rec.cameras]
        these = [_camera_intrinsics(r) for r in rec.cameras]
        intrinsics = intrinsics or these
        if these != intrinsics:
            raise ValueError(f"{rec.subject}/{rec.sequence}: Human3.6M stores one set of intrinsics for all subjects; these cameras differ")
    np.savez_compressed(root / FILE_3D, positions_3d=pos3d)
    np.savez_compressed(root / FILE_2D, positions_2d=pos2d, metadata=METADATA)
    (root / FILE_CAMERAS).write_text(json.dumps({"intrinsics": intrinsics, "extrinsics": extrinsics}, indent=1))


def _camera_intrinsics(rig: CameraRig) -> dict:
    return {
        "id": rig.name,
        "res_w": int(rig.image_size[0]),
        "res_h": int(rig.image_size[1]),
        "center": [float(v) for v in rig.c],
        "focal_length": [float(v) for v in rig.f],
        "radial_distortion": [float(v) for v in (rig.k if rig.k is not None else np.zeros(3))],
        "tangential_distortion": [float(v) for v in (rig.p if rig.p is not None else np.zeros(2))],
    }


def _camera_extrinsics(rig: CameraRig) -> dict:
    cam_to_world = torch.as_tensor(np.asarray(rig.R).T, dtype=torch.float64)
    q = rotations.matrix_to_quaternion(cam_to_world).numpy()
    return {"orientation": [float(v) for v in q], "translation": [float(v) for v in rig.position * 1000.0]}
