"""Ski-Pose PTZ (Spörri et al.; Rhodin et al.): reader of the native layout (stand-ins: ``standin.ski``).

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

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from adaptpose_pipeline.core.skeleton import H36M17_JOINTS
from adaptpose_pipeline.datasets.common import (
    DataError,
    PoseSequence,
    check_array,
    require_dir,
    require_file,
)

SPLITS: tuple[str, ...] = ("train", "test")
FPS = 30.0  # an assumption: labels.h5 holds no frame rate
LABELS = "labels.h5"
CROP_SIZE = 256
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
