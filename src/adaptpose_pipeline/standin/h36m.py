"""Human3.6M stand-ins in VideoPose3D's preprocessed layout (read by ``datasets.h36m``).

The two ``.npz`` files the reader reads, and the stand-in cameras as ``h36m_cameras.json``
(our camera layout, see ``datasets.h36m_cameras``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from adaptpose_pipeline.core import rotations
from adaptpose_pipeline.datasets.h36m import FILE_2D, FILE_3D, FILE_CAMERAS, H36M32_KEEP, METADATA, NUM_CAMERAS
from adaptpose_pipeline.standin.recording import CameraRig, Recording

# Rows of the 32 that the 17 do not use: written as copies of a nearby kept joint
# (feet/toes <- ankle, hands/thumbs <- wrist, extra spine/clavicle <- thorax).
H36M32_FILL = {
    4: 3, 5: 3, 9: 8, 10: 8, 11: 0, 16: 13, 20: 19, 21: 19, 22: 19, 23: 19,
    24: 13, 28: 27, 29: 27, 30: 27, 31: 27,
}


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
