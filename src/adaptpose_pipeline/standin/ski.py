"""Ski-Pose PTZ stand-ins: ``labels.h5`` in the layout ``datasets.ski`` reads.

The real 2D lives in person crops that follow the skier: each frame is projected to
full-frame pixels, cut to a square box around the hip (:func:`crop_boxes`) and scaled
to the ``CROP_SIZE`` crop, whose intrinsics change every frame (:func:`crop_intrinsics`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np

from adaptpose_pipeline.core.skeleton import H36M17, H36M17_JOINTS
from adaptpose_pipeline.datasets.common import DataError, check_array
from adaptpose_pipeline.datasets.ski import CROP_SIZE, FPS, LABELS, ROW_SHAPES, SKI_JOINTS, SPLITS, native_to_h36m_index
from adaptpose_pipeline.standin.recording import Recording

# Crop side = CROP_MARGIN x the pose's extent, where the extent is the side of the
# smallest square centred on the projected hip that holds every projected joint.
CROP_MARGIN = 1.2


class CropBoxes(NamedTuple):
    """Square crops in full-frame pixels: top-left ``origin (T, 2)``, ``side (T,)``."""

    origin: np.ndarray
    side: np.ndarray


def crop_boxes(joints_2d_px: np.ndarray, margin: float = CROP_MARGIN, root: int = 0) -> CropBoxes:
    """Square boxes centred on the root joint of ``(T, J, 2)`` pixels; side = ``margin`` x extent."""
    x = np.asarray(joints_2d_px, dtype=np.float64)
    centre = x[:, root]
    half = margin * np.abs(x - centre[:, None]).max(axis=(1, 2))
    return CropBoxes(centre - half[:, None], 2 * half)


def crop_transform(points_px: np.ndarray, boxes: CropBoxes, crop_size: int = CROP_SIZE) -> np.ndarray:
    """``(T, J, 2)`` full-frame pixels -> pixels of the ``crop_size`` crop of each frame's box."""
    scale = crop_size / boxes.side
    return (np.asarray(points_px, dtype=np.float64) - boxes.origin[:, None]) * scale[:, None, None]


def crop_intrinsics(
    f: np.ndarray, c: np.ndarray, boxes: CropBoxes, crop_size: int = CROP_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """Full-frame ``f``, ``c`` ``(2,)`` -> the crops' ``(T, 2)`` focal lengths and centres."""
    scale = (crop_size / boxes.side)[:, None]
    return np.asarray(f, dtype=np.float64) * scale, (np.asarray(c, dtype=np.float64) - boxes.origin) * scale


def write_ski(
    root: str | Path,
    recordings: Iterable[Recording],
    crop_size: int = CROP_SIZE,
    margin: float = CROP_MARGIN,
    fps: float = FPS,
    joint_names: Sequence[str] = SKI_JOINTS,
) -> dict[str, CropBoxes]:
    """Write ``recordings`` as ``<root>/<split>/labels.h5``; returns the crop boxes.

    Each recording needs ``split`` in :data:`SPLITS`, an integer ``subject`` (``"3"``),
    ``sequence`` ``"seq_<id>"`` (or an int ``meta["seq"]``), ``fps == fps``,
    ``joints_world (T, 17, 3)`` in H36M-17 order and cameras named ``"cam_<id>"``
    without distortion (static or pan-tilt-zoom: moving ``R``, static position).
    Only valid frames are written; ``frame`` is the index in the recording.

    Per frame and camera: project to full-frame pixels, take the square box of
    :func:`crop_boxes` (``margin``), and store 2D in 0..1 of the box, the box's
    intrinsics / ``crop_size``, the root-relative camera-frame 3D, ``R^T`` and the
    camera centre. The result maps each reader key ``"ski/<subj>/seq_XXX/cam_XX"`` to
    the boxes of its written frames. Everything is checked before a file is written.
    """
    if crop_size <= 0 or not margin >= 1.0:
        raise ValueError(f"write_ski: expected crop_size > 0 and margin >= 1, got {crop_size}, {margin}")
    to_native = np.argsort(native_to_h36m_index(joint_names))
    rows: dict[str, list[dict]] = {split: [] for split in SPLITS}
    boxes: dict[str, CropBoxes] = {}
    for rec in recordings:
        subj, seq = _check_recording(rec, fps)
        keep = np.asarray(rec.valid, dtype=bool)
        x_world = np.asarray(rec.joints_world, dtype=np.float64)
        for rig in rec.cameras:
            cam = _camera_id(rec, rig)
            key = f"ski/{subj}/seq_{seq:03d}/cam_{cam:02d}"
            if key in boxes:
                raise DataError(f"{_where(rec)}: expected one recording per {key}, found two")
            block, boxes[key] = _camera_rows(rec, rig, x_world, keep, crop_size, margin, to_native)
            block.update(subj=subj, seq=seq, cam=cam)
            rows[rec.split].append(block)
    for split, blocks in rows.items():
        if blocks:
            _write_labels(Path(root) / split / LABELS, blocks)
    return boxes


def _where(rec: Recording) -> str:
    return f"recording {rec.subject}/{rec.sequence} ({rec.split})"


def _check_recording(rec: Recording, fps: float) -> tuple[int, int]:
    where = _where(rec)
    if rec.split not in SPLITS:
        raise DataError(f"{where}: split: expected one of {SPLITS}, found {rec.split!r}")
    if not re.fullmatch(r"\d+", str(rec.subject)) or str(int(rec.subject)) != str(rec.subject):
        raise DataError(f"{where}: subject: expected an integer id such as '3', found {rec.subject!r}")
    match = re.fullmatch(r"seq_(\d+)", rec.sequence)
    seq = rec.meta.get("seq", int(match[1]) if match else None)
    if not isinstance(seq, (int, np.integer)) or f"seq_{seq:03d}" != rec.sequence:
        raise DataError(
            f"{where}: sequence: expected 'seq_<id>' (three digits or more, e.g. 'seq_007') "
            f"agreeing with meta['seq'], found {rec.sequence!r}"
        )
    x = check_array(rec.joints_world, (None, len(H36M17_JOINTS), 3), f"{where}: joints_world")
    valid = check_array(rec.valid, (len(x),), f"{where}: valid")
    if not np.asarray(valid, dtype=bool).any():
        raise DataError(f"{where}: valid: expected at least one valid frame, found none of {len(x)}")
    if not rec.cameras:
        raise DataError(f"{where}: cameras: expected at least one, found none")
    if float(rec.fps) != float(fps):
        raise DataError(f"{where}: fps: expected {fps} (Ski files hold no frame rate), found {rec.fps}")
    return int(rec.subject), int(seq)


def _camera_id(rec: Recording, rig) -> int:
    match = re.fullmatch(r"cam_(\d+)", rig.name)
    if not match or rig.name != f"cam_{int(match[1]):02d}":
        raise DataError(
            f"{_where(rec)}: camera name: expected 'cam_<id>' such as 'cam_03', found {rig.name!r}"
        )
    if rig.k is not None or rig.p is not None:
        raise DataError(
            f"{_where(rec)}: camera {rig.name}: expected no distortion "
            "(crop intrinsics hold none), found k/p"
        )
    return int(match[1])


def _camera_rows(rec, rig, x_world, keep, crop_size, margin, to_native) -> tuple[dict, CropBoxes]:
    where = f"{_where(rec)}: camera {rig.name}"
    T = len(x_world)
    R = np.broadcast_to(np.asarray(rig.R, dtype=np.float64), (T, 3, 3))
    check_array(np.broadcast_to(np.asarray(rig.t, dtype=np.float64), (T, 3)), (T, 3), f"{where} t")
    x_cam = rig.to_camera(x_world)[keep]
    if (x_cam[..., 2] <= 0).any():
        raise DataError(
            f"{where}: expected joints in front of the camera (z > 0 m), "
            f"found z down to {x_cam[..., 2].min():.3f} m"
        )
    px = rig.project(x_cam)
    box = crop_boxes(px, margin)
    if (box.side <= 0).any():
        raise DataError(f"{where}: expected a pose of non-zero 2D extent, found all joints on one pixel")
    f_crop, c_crop = crop_intrinsics(rig.f, rig.c, box, crop_size)
    n = len(px)
    K = np.zeros((n, 3, 3))
    K[:, 0, 0], K[:, 1, 1] = f_crop[:, 0], f_crop[:, 1]
    K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = c_crop[:, 0], c_crop[:, 1], 1.0
    root = H36M17.index("hip")
    pose_3d = (x_cam - x_cam[:, root : root + 1])[:, to_native]
    pose_2d = (crop_transform(px, box, crop_size) / crop_size)[:, to_native]
    position = np.broadcast_to(rig.position, (T, 3))[keep]
    block = {
        "frame": np.flatnonzero(keep),
        "3D": pose_3d.reshape(n, 51),
        "2D": pose_2d.reshape(n, 34),
        "cam_intrinsic": (K / crop_size).reshape(n, 9),
        "cam_position": position,
        "R_cam_2_world": R[keep].transpose(0, 2, 1).reshape(n, 9),
    }
    return block, box


def _write_labels(path: Path, blocks: list[dict]) -> None:
    n = [len(b["frame"]) for b in blocks]
    data = {
        key: np.concatenate([np.full(k, b[key]) for b, k in zip(blocks, n)])
        for key in ("seq", "cam", "subj")
    }
    data.update({key: np.concatenate([b[key] for b in blocks]) for key in ROW_SHAPES if key not in data})
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as fh:
        for key in ROW_SHAPES:
            fh.create_dataset(key, data=data[key])
