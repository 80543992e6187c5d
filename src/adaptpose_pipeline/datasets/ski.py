"""Ski-Pose PTZ (Spörri et al.; Rhodin et al.): reader of the native layout, stand-in writer.

Layout::

    <root>/{train,test}/labels.h5
    <root>/{train,test}/seq_XXX/cam_XX/image_XXXXXX.png   (person crops; not read or written)

``labels.h5`` holds one row per sample (one subject, sequence, camera and frame);
``N`` rows, every dataset indexed by row first:

==============  ========================  ===============================================
dataset         shape                     meaning
==============  ========================  ===============================================
seq             (N,)                      sequence id (integer-valued)
cam             (N,)                      camera id, 0-5 (six pan-tilt-zoom cameras)
frame           (N,)                      frame index within the sequence
subj            (N,)                      subject id
3D              (N, 51) or (N, 17, 3)     joints, m, root-relative (hip = 0), axes of
                                          the camera (x right, y down, z forward)
2D              (N, 34) or (N, 17, 2)     joints in 0..1 of the 256 x 256 person crop
cam_intrinsic   (N, 9) or (N, 3, 3)       the crop's ``K`` (px of the 256 crop) / 256
cam_position    (N, 3)                    camera centre, world frame, m
R_cam_2_world   (N, 9) or (N, 3, 3)       camera -> world rotation (row-major); its
                                          transpose is the world -> camera ``R``
==============  ========================  ===============================================

Ids may be stored as integers or as integer-valued floats. Joint order is
:data:`SKI_JOINTS` (H36M-like; public sources disagree on details, so readers and
writers take ``joint_names``), mapped to Human3.6M-17 by the name table
:data:`H36M_FROM_SKI` (Ski neck -> H36M thorax, head -> H36M neck/nose, head_top ->
H36M head).

What :func:`read_ski` assumes, because the file does not say:

- Frame rate: 30 Hz (parameter ``fps``; used for bookkeeping only, AdaptPose lifts
  Ski single-frame).
- One :class:`PoseSequence` per (subject, sequence, camera), frames in ``frame``
  order; every frame valid; no lens distortion; image size ``(256, 256)`` (the crop).
- 2D is in crop pixels (``2D * 256``). The crop follows the skier, so its intrinsics
  change every frame: ``f``, ``c`` are the first frame's; ``meta["f_per_frame"]``,
  ``meta["c_per_frame"]`` hold all ``(T, 2)``. Projecting ``joints_3d_cam`` plus the
  (unknown) root position with frame ``i``'s intrinsics gives ``joints_2d[i]``.
- ``root_relative=True``: the 3D has no depth; normalise the 2D by root-centring and
  the Frobenius norm (``core.camera.frobenius_normalise``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np

from adaptpose_pipeline.core.skeleton import H36M17, H36M17_JOINTS
from adaptpose_pipeline.datasets.common import (
    DataError,
    PoseSequence,
    check_array,
    require_dir,
    require_file,
)
from adaptpose_pipeline.datasets.recording import Recording

SPLITS: tuple[str, ...] = ("train", "test")
FPS = 30.0  # an assumption: labels.h5 holds no frame rate
LABELS = "labels.h5"
CROP_SIZE = 256
# Crop side = CROP_MARGIN x the pose's extent, where the extent is the side of the
# smallest square centred on the projected hip that holds every projected joint.
CROP_MARGIN = 1.2

SKI_JOINTS: tuple[str, ...] = (
    "hip",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_hip",
    "left_knee",
    "left_ankle",
    "spine",
    "neck",
    "head",
    "head_top",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
)

# Ski joint -> H36M-17 joint.
H36M_FROM_SKI: dict[str, str] = {
    "hip": "hip",
    "right_hip": "r_hip",
    "right_knee": "r_knee",
    "right_ankle": "r_ankle",
    "left_hip": "l_hip",
    "left_knee": "l_knee",
    "left_ankle": "l_ankle",
    "spine": "spine",
    "neck": "thorax",
    "head": "neck",
    "head_top": "head",
    "left_shoulder": "l_shoulder",
    "left_elbow": "l_elbow",
    "left_wrist": "l_wrist",
    "right_shoulder": "r_shoulder",
    "right_elbow": "r_elbow",
    "right_wrist": "r_wrist",
}

ID_KEYS: tuple[str, ...] = ("seq", "cam", "frame", "subj")
# Per-row shape of each dataset; a flattened row is accepted too.
ROW_SHAPES: dict[str, tuple[int, ...]] = {
    "seq": (),
    "cam": (),
    "frame": (),
    "subj": (),
    "3D": (17, 3),
    "2D": (17, 2),
    "cam_intrinsic": (3, 3),
    "cam_position": (3,),
    "R_cam_2_world": (3, 3),
}


class CropBoxes(NamedTuple):
    """Square crops in full-frame pixels: top-left ``origin (T, 2)``, ``side (T,)``."""

    origin: np.ndarray
    side: np.ndarray


def native_to_h36m_index(joint_names: Sequence[str] = SKI_JOINTS) -> np.ndarray:
    """``(17,)``: for each H36M-17 joint, its index in ``joint_names`` (via :data:`H36M_FROM_SKI`)."""
    names = tuple(joint_names)
    unknown = [n for n in names if n not in H36M_FROM_SKI]
    if len(names) != len(SKI_JOINTS) or unknown or len(set(names)) != len(names):
        raise ValueError(
            f"joint_names: expected the {len(SKI_JOINTS)} names of {sorted(H36M_FROM_SKI)} "
            f"in some order, got {list(names)}"
        )
    native = [H36M_FROM_SKI[n] for n in names]
    return np.array([native.index(j) for j in H36M17_JOINTS])


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


# --- reading -------------------------------------------------------------------------


def read_ski(
    root: str | Path,
    splits: Sequence[str] = SPLITS,
    fps: float = FPS,
    joint_names: Sequence[str] = SKI_JOINTS,
) -> list[PoseSequence]:
    """One :class:`PoseSequence` per (subject, sequence, camera) in ``<root>/<split>/labels.h5``."""
    to_h36m = native_to_h36m_index(joint_names)
    base = require_dir(Path(root), "Ski-Pose PTZ root")
    out: list[PoseSequence] = []
    for split in splits:
        if split not in SPLITS:
            raise ValueError(f"Ski splits: expected names from {SPLITS}, got {split!r}")
        folder = require_dir(base / split, f"Ski-Pose PTZ split {split!r}")
        path = require_file(folder / LABELS, f"Ski-Pose PTZ {split} labels")
        out.extend(_sequences(_load_labels(path), path, split, fps, to_h36m))
    return out


def _load_labels(path: Path) -> dict[str, np.ndarray]:
    try:
        with h5py.File(path, "r") as fh:
            missing = [k for k in ROW_SHAPES if k not in fh]
            if missing:
                raise DataError(f"{path}: expected datasets {missing}, which are missing; found {sorted(fh)}")
            raw = {k: np.asarray(fh[k][()]) for k in ROW_SHAPES}
    except DataError:
        raise
    except Exception as exc:  # h5py raises OSError, KeyError, ... on truncated files
        raise DataError(
            f"{path}: expected an HDF5 labels file, h5py could not read it ({type(exc).__name__}: {exc})"
        ) from exc
    if raw["frame"].ndim == 0:
        raise DataError(f"{path}: frame: expected shape (N,), found a scalar")
    n = len(raw["frame"])
    if n == 0:
        raise DataError(f"{path}: frame: expected at least one sample, found an empty file (0 rows)")
    cols = {key: _rows(raw[key], n, ROW_SHAPES[key], f"{path}: {key}") for key in ROW_SHAPES}
    for key in ID_KEYS:
        if not np.array_equal(cols[key], np.round(cols[key])):
            raise DataError(f"{path}: {key}: expected integer ids, found non-integer values")
        cols[key] = np.round(cols[key]).astype(np.int64)
    return cols


def _rows(arr: np.ndarray, n: int, row: tuple[int, ...], where: str) -> np.ndarray:
    """``arr`` as ``(n, *row)``, accepting the flattened ``(n, prod(row))`` form."""
    flat = (n, int(np.prod(row))) if row else (n, 1)
    if arr.shape == flat:
        arr = arr.reshape((n, *row))
    forms = f"({', '.join(map(str, (n, *row)))})"
    if arr.shape != (n, *row):
        raise DataError(
            f"{where}: expected shape {forms} or {flat} ({n} rows, as in frame), found {arr.shape}"
        )
    return check_array(arr, (n, *row), where)


def _sequences(cols: dict, path: Path, split: str, fps: float, to_h36m: np.ndarray) -> list[PoseSequence]:
    groups = np.stack([cols["subj"], cols["seq"], cols["cam"]], 1)
    out = []
    for subj, seq, cam in np.unique(groups, axis=0):
        rows = np.flatnonzero((groups == (subj, seq, cam)).all(1))
        rows = rows[np.argsort(cols["frame"][rows], kind="stable")]
        frames = cols["frame"][rows]
        where = f"{path}: subj {subj}, seq {seq}, cam {cam}"
        repeated = frames[1:][np.diff(frames) == 0]
        if len(repeated):
            raise DataError(f"{where}: expected one row per frame, found frame {repeated[0]} twice")
        K = cols["cam_intrinsic"][rows] * CROP_SIZE
        f_all, c_all = K[:, [0, 1], [0, 1]], K[:, [0, 1], [2, 2]]
        if (f_all <= 0).any():
            raise DataError(
                f"{where}: cam_intrinsic: expected positive focal lengths, found down to {f_all.min()}"
            )
        T = len(rows)
        seq_out = PoseSequence(
            dataset="ski",
            subject=f"{subj}",
            sequence=f"seq_{seq:03d}",
            camera=f"cam_{cam:02d}",
            split=split,
            fps=float(fps),
            image_size=(CROP_SIZE, CROP_SIZE),
            f=f_all[0],
            c=c_all[0],
            joints_2d=cols["2D"][rows][:, to_h36m] * CROP_SIZE,
            joints_3d_cam=cols["3D"][rows][:, to_h36m],
            valid=np.ones(T, dtype=bool),
            root_relative=True,
            meta={
                "frames": frames,
                "f_per_frame": f_all,
                "c_per_frame": c_all,
                "cam_position": cols["cam_position"][rows],
                "R_cam_2_world": cols["R_cam_2_world"][rows],
                "crop_size": CROP_SIZE,
            },
        )
        out.append(seq_out.validate(path))
    return out


# --- writing (stand-ins) -------------------------------------------------------------


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
