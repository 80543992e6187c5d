"""3DPW (von Marcard et al., ECCV 2018): reader of the native layout (stand-ins: ``standin.pw3d``).

Layout::

    <root>/sequenceFiles/{train,validation,test}/<sequence_name>.pkl

Each file is a Python pickle (protocol 2; read with ``encoding="latin1"``) of a dict.
``P`` people, ``N`` frames; per-person keys hold a list with one entry per person.

================  ===============  ============================================================
key               shape / type     meaning
================  ===============  ============================================================
sequence          str              sequence name (the file stem in the released data)
genders           P x str          ``'m'`` / ``'f'``
betas             P x (10,)        SMPL shape (checked: 1-D, finite; not used)
poses             P x (N, 72)      SMPL axis-angle pose (checked; not used)
trans             P x (N, 3)       SMPL root translation, m (checked; not used)
poses2d           P x (N, 3, 18)   OpenPose COCO-18 detections, rows x, y (px), confidence
                                   (checked; not used, see below)
jointPositions    P x (N, 72)      24 SMPL joints x (x, y, z), world frame, m
cam_poses         (N, 4, 4)        world -> camera ``[[R, t], [0, 1]]``, OpenCV axes, m
cam_intrinsics    (3, 3)           ``K`` in px: ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``
img_frame_ids     (N,)             image index of each frame
campose_valid     P x (N,)         1 where the camera pose, hence the person's 3D, is valid
================  ===============  ============================================================

Released files also hold ``betas_clothed``, ``v_template_clothed`` and ``texture_maps``;
they are ignored. Every per-person key must list the same number of people. The
pickles are read by a restricted unpickler (:mod:`~adaptpose_pipeline.datasets.safe_pickle`):
a file asking for anything but numpy arrays and plain containers is refused.

Any subset of the three split folders may be present: a requested split whose folder
is missing reads as empty, with a warning; a root with none of them is an error.

Joint orders: ``jointPositions`` is in :data:`SMPL24_JOINTS` order, ``poses2d`` in
:data:`COCO18_JOINTS` order. SMPL-24 maps to Human3.6M-17 by the name table
:data:`H36M_FROM_SMPL`; the H36M head top has no SMPL joint and is extrapolated along
the SMPL neck -> head direction (:data:`HEAD_TOP_FACTOR`). The usual H36M regressor
needs the licensed SMPL body model, hence a joint table.

What :func:`read_3dpw` assumes, because the pickles do not say:

- 2D is the perspective projection of the camera-frame 3D with ``cam_intrinsics``
  (no distortion). The detections ``poses2d`` are shape-checked but not used: COCO-18
  has no pelvis, spine, thorax or head top.
- Image size: portrait ``(1080, 1920)`` when ``cy > cx``, else landscape
  ``(1920, 1080)``. The normaliser should pad to a square first
  (``core.camera.pad_to_square``; ``meta["pad_to_square"]`` is True).
- Frame rate: 30 Hz (parameter ``fps``).
- Each person is a subject named ``f"{sequence}_p{i}"``; the camera is ``"handheld"``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from adaptpose_pipeline.core.camera import project, world_to_camera
from adaptpose_pipeline.core.skeleton import H36M17, H36M17_JOINTS
from adaptpose_pipeline.datasets.common import (
    DataError,
    PoseSequence,
    check_array,
    require_dir,
)
from adaptpose_pipeline.datasets.safe_pickle import load_pickle

log = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "validation", "test")
FPS = 30.0
CAMERA = "handheld"
PORTRAIT_SIZE = (1080, 1920)
LANDSCAPE_SIZE = (1920, 1080)

SMPL24_JOINTS: tuple[str, ...] = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hand",
    "right_hand",
)

COCO18_JOINTS: tuple[str, ...] = (
    "nose",
    "neck",
    "r_shoulder",
    "r_elbow",
    "r_wrist",
    "l_shoulder",
    "l_elbow",
    "l_wrist",
    "r_hip",
    "r_knee",
    "r_ankle",
    "l_hip",
    "l_knee",
    "l_ankle",
    "r_eye",
    "l_eye",
    "r_ear",
    "l_ear",
)

# H36M-17 joint <- SMPL-24 joint. H36M "neck" is the nose/neck-top joint, closest to
# SMPL "head"; H36M "thorax" sits where SMPL puts "neck". H36M "head" (top) is derived.
H36M_FROM_SMPL: dict[str, str] = {
    "hip": "pelvis",
    "r_hip": "right_hip",
    "r_knee": "right_knee",
    "r_ankle": "right_ankle",
    "l_hip": "left_hip",
    "l_knee": "left_knee",
    "l_ankle": "left_ankle",
    "spine": "spine2",
    "thorax": "neck",
    "neck": "head",
    "l_shoulder": "left_shoulder",
    "l_elbow": "left_elbow",
    "l_wrist": "left_wrist",
    "r_shoulder": "right_shoulder",
    "r_elbow": "right_elbow",
    "r_wrist": "right_wrist",
}
# H36M head top = SMPL head + HEAD_TOP_FACTOR * (SMPL head - SMPL neck): an
# anthropometric guess, good to a few centimetres, not a fitted regressor.
HEAD_TOP_FACTOR = 0.6

PERSON_KEYS: tuple[str, ...] = (
    "genders",
    "betas",
    "poses",
    "trans",
    "poses2d",
    "jointPositions",
    "campose_valid",
)
REQUIRED_KEYS: tuple[str, ...] = (
    "sequence",
    *PERSON_KEYS,
    "cam_poses",
    "cam_intrinsics",
    "img_frame_ids",
)

_S = SMPL24_JOINTS.index
_H = H36M17.index
_H36M_MAPPED = np.array([_H(h) for h in H36M_FROM_SMPL])
_SMPL_MAPPED = np.array([_S(s) for s in H36M_FROM_SMPL.values()])


def smpl24_to_h36m17(joints: np.ndarray) -> np.ndarray:
    """``(..., 24, 3)`` SMPL joints -> ``(..., 17, 3)`` H36M joints by :data:`H36M_FROM_SMPL`."""
    joints = np.asarray(joints, dtype=np.float64)
    out = np.empty(joints.shape[:-2] + (len(H36M17_JOINTS), 3))
    out[..., _H36M_MAPPED, :] = joints[..., _SMPL_MAPPED, :]
    head, neck = joints[..., _S("head"), :], joints[..., _S("neck"), :]
    out[..., _H("head"), :] = head + HEAD_TOP_FACTOR * (head - neck)
    return out


def image_size_from_centre(c: np.ndarray) -> tuple[int, int]:
    """3DPW image ``(w, h)``: portrait when the principal point lies lower than it is wide."""
    return PORTRAIT_SIZE if c[1] > c[0] else LANDSCAPE_SIZE


# --- reading -------------------------------------------------------------------------


def read_3dpw(
    root: str | Path,
    splits: Sequence[str] = SPLITS,
    fps: float = FPS,
) -> list[PoseSequence]:
    """One :class:`PoseSequence` per (pickle, person) under ``<root>/sequenceFiles/<split>/``.

    A split whose folder is missing is empty (with a warning); if none of ``splits``
    is present, that is an error.
    """
    base = require_dir(Path(root), "3DPW root")
    base = require_dir(base / "sequenceFiles", "3DPW sequence files")
    for split in splits:
        if split not in SPLITS:
            raise ValueError(f"3DPW splits: expected names from {SPLITS}, got {split!r}")
    present = [split for split in splits if (base / split).is_dir()]
    if not present:
        raise DataError(f"{base}: expected split folders among {list(splits)}, found none of them")
    for split in splits:
        if split not in present:
            log.warning("3DPW: %s has no split folder %r; that split is empty", base, split)
    out: list[PoseSequence] = []
    for split in present:
        folder = base / split
        files = sorted(folder.glob("*.pkl"))
        if not files:
            raise DataError(f"{folder}: expected 3DPW sequence pickles (*.pkl), found none")
        for path in files:
            out.extend(_read_sequence(path, split, fps))
    return out


def _load_pickle(path: Path) -> dict:
    try:
        data = load_pickle(path, encoding="latin1")
    except DataError:
        raise
    except Exception as exc:  # truncated or corrupt files raise many kinds of error
        raise DataError(
            f"{path}: expected a 3DPW sequence pickle, could not unpickle it "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a dict of arrays, found {type(data).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise DataError(f"{path}: expected keys {missing}, which are missing; found keys {sorted(data)}")
    return data


def _person_counts(data: dict, path: Path) -> int:
    counts = {}
    for key in PERSON_KEYS:
        try:
            counts[key] = len(data[key])
        except TypeError:
            raise DataError(
                f"{path}: {key}: expected a list with one entry per person, "
                f"found {type(data[key]).__name__}"
            ) from None
    if len(set(counts.values())) != 1:
        raise DataError(
            f"{path}: expected the same number of people under every per-person key, found {counts}"
        )
    people = counts["jointPositions"]
    if people == 0:
        raise DataError(f"{path}: jointPositions: expected at least one person, found none")
    return people


def _read_sequence(path: Path, split: str, fps: float) -> list[PoseSequence]:
    data = _load_pickle(path)
    name = data["sequence"]
    if not isinstance(name, str) or not name:
        raise DataError(f"{path}: sequence: expected a non-empty name, found {name!r}")
    people = _person_counts(data, path)
    cam_poses = check_array(data["cam_poses"], (None, 4, 4), f"{path}: cam_poses").astype(np.float64)
    n = len(cam_poses)
    if n == 0:
        raise DataError(f"{path}: cam_poses: expected at least one frame, found an empty sequence (0 frames)")
    K = check_array(data["cam_intrinsics"], (3, 3), f"{path}: cam_intrinsics").astype(np.float64)
    frame_ids = check_array(data["img_frame_ids"], (n,), f"{path}: img_frame_ids")
    R, t = cam_poses[:, None, :3, :3], cam_poses[:, None, :3, 3]
    f, c = np.array([K[0, 0], K[1, 1]]), np.array([K[0, 2], K[1, 2]])
    image_size = image_size_from_centre(c)

    out = []
    for i in range(people):
        check_array(data["betas"][i], (None,), f"{path}: betas[{i}]")
        check_array(data["poses"][i], (n, 72), f"{path}: poses[{i}]")
        check_array(data["trans"][i], (n, 3), f"{path}: trans[{i}]")
        check_array(data["poses2d"][i], (n, 3, 18), f"{path}: poses2d[{i}]")
        joints = check_array(data["jointPositions"][i], (n, 72), f"{path}: jointPositions[{i}]")
        valid = check_array(data["campose_valid"][i], (n,), f"{path}: campose_valid[{i}]")
        x_cam = world_to_camera(smpl24_to_h36m17(joints.reshape(n, 24, 3)), R, t)
        seq = PoseSequence(
            dataset="3dpw",
            subject=f"{name}_p{i}",
            sequence=name,
            camera=CAMERA,
            split=split,
            fps=float(fps),
            image_size=image_size,
            f=f,
            c=c,
            joints_2d=project(x_cam, f, c),
            joints_3d_cam=x_cam,
            valid=np.asarray(valid) != 0,
            meta={
                "pad_to_square": True,
                "person": i,
                "gender": str(data["genders"][i]),
                "img_frame_ids": np.asarray(frame_ids),
            },
        )
        out.append(seq.validate(path))
    return out
