"""MPI-INF-3DHP: reader of the native layout (its stand-in writer: ``standin.mpi_inf_3dhp``).

A root may hold the training set, the test set or both (:func:`read_3dhp`); a part
that is absent reads as empty, with a warning.

Training set (:func:`read_3dhp_train`)
--------------------------------------

::

    <root>/S{1..8}/Seq{1,2}/annot.mat            MATLAB v5 (scipy.io.loadmat)
    <root>/S{1..8}/Seq{1,2}/camera.calibration   text

``annot.mat`` (shapes as ``scipy.io.loadmat`` gives them; ``C`` cameras, 14 in the
real data; ``N`` frames):

=============  =====================  ================================================
key            shape                  content
=============  =====================  ================================================
annot2         cell (C, 1) of (N, 56) 28 training joints x (x, y), pixels, interleaved
                                      ``x1 y1 x2 y2 ...``
annot3         cell (C, 1) of (N, 84) 28 training joints x (x, y, z), millimetres, in
                                      the frame of that cell's camera
univ_annot3    cell (C, 1) of (N, 84) as ``annot3``, skeleton rescaled to the
                                      "universal" height (read with ``use_universal``)
cameras        (1, C) int             camera id (0..13) of each cell, in cell order
frames         (N, 1) int             frame numbers (optional; kept in ``meta``)
=============  =====================  ================================================

``camera.calibration``: a first line ``Skeletool Camera Calibration File V1.0``, then
one block per camera::

    name          0
      sensor      10 10
      size        2048 2048
      animated    0
      intrinsic   fx 0 cx 0  0 fy cy 0  0 0 1 0  0 0 0 1
      extrinsic   r11 r12 r13 tx  r21 r22 r23 ty  r31 r32 r33 tz  0 0 0 1
      radial      0

``size`` is ``width height`` in pixels; ``intrinsic`` and ``extrinsic`` are 4x4
row-major; ``extrinsic`` maps world to camera with its translation in millimetres.
The reader takes ``image_size`` from ``size`` and ``f = (fx, fy)``, ``c = (cx, cy)``
from ``intrinsic``; it keeps ``R`` (3, 3) and ``t`` (3,) in metres in ``meta``. The 3D
comes from ``annot3``, already in the camera frame. Lens distortion is not read
(``k``, ``p`` are ``None``).

Training joints (28), in file order: spine3, spine4, spine2, spine, pelvis, neck,
head, head_top, left_clavicle, left_shoulder, left_elbow, left_wrist, left_hand,
right_clavicle, right_shoulder, right_elbow, right_wrist, right_hand, left_hip,
left_knee, left_ankle, left_foot, left_toe, right_hip, right_knee, right_ankle,
right_foot, right_toe (:data:`MPI_TRAIN_JOINTS`).

Test set (:func:`read_3dhp_test`)
---------------------------------

::

    <root>/mpi_inf_3dhp_test_set/TS{1..6}/annot_data.mat   MATLAB v7.3 (HDF5, h5py)

=============  ===============  ======================================================
key            shape (h5py)     content
=============  ===============  ======================================================
annot2         (N, 1, 17, 2)    17 test joints, pixels
annot3         (N, 1, 17, 3)    17 test joints, millimetres, camera frame
univ_annot3    (N, 1, 17, 3)    as ``annot3``, "universal" skeleton height
valid_frame    (N, 1)           1 where the frame is annotated, 0 where not
=============  ===============  ======================================================

The reader also accepts joints as ``(N, 17, k)`` and ``valid_frame`` as ``(N,)``.
Other datasets in the file (``activity_annotation``...) and other files beside the
TS folders (such as a ``test_info.json``) are not read.
Test joints (17), in file order: head_top, neck, right_shoulder, right_elbow,
right_wrist, left_shoulder, left_elbow, left_wrist, right_hip, right_knee,
right_ankle, left_hip, left_knee, left_ankle, pelvis, spine, head
(:data:`MPI_TEST_JOINTS`).

Mapping to Human3.6M-17
-----------------------

One table, :data:`H36M_FROM_MPI` (H36M name -> 3DHP name): hip <- pelvis, spine <-
spine, thorax <- neck, neck <- head, head <- head_top, and hips, knees, ankles,
shoulders, elbows and wrists by side. Index arrays are derived from it.

Assumptions a user can override
-------------------------------

- Training fps is not in the files: ``fps=25.0`` (the real sequences are 25 or 50 Hz
  depending on the sequence).
- Test-set camera intrinsics, image size and fps are not in ``annot_data.mat``; the
  defaults (:data:`TS_INTRINSICS`, overridable per sequence with ``intrinsics=``) are
  TS1-TS4: 2048x2048, f = (1500.17, 1500.17), c = (1017.3, 1043.0), 25 Hz;
  TS5-TS6: 1920x1080, f = (1683.98, 1683.98), c = (939.9, 560.1), 50 Hz.
- Camera ids: training cameras are named ``cam<id>`` with the id from ``cameras``;
  the single test camera is ``cam0``. Subject and sequence of a test sequence are
  both its TS name.
- With ``use_universal`` the 3D comes from ``univ_annot3`` while the 2D stays
  ``annot2``, so the two no longer agree through the intrinsics (as in the real data).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

import h5py
import numpy as np
import scipy.io

from adaptpose_pipeline.core.skeleton import H36M17_JOINTS
from adaptpose_pipeline.datasets.common import (
    DataError,
    PoseSequence,
    check_array,
    require_dir,
    require_file,
)

log = logging.getLogger(__name__)

MPI_TRAIN_JOINTS: tuple[str, ...] = (
    "spine3", "spine4", "spine2", "spine", "pelvis", "neck", "head", "head_top",
    "left_clavicle", "left_shoulder", "left_elbow", "left_wrist", "left_hand",
    "right_clavicle", "right_shoulder", "right_elbow", "right_wrist", "right_hand",
    "left_hip", "left_knee", "left_ankle", "left_foot", "left_toe",
    "right_hip", "right_knee", "right_ankle", "right_foot", "right_toe",
)  # fmt: skip
MPI_TEST_JOINTS: tuple[str, ...] = (
    "head_top", "neck", "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist", "right_hip", "right_knee",
    "right_ankle", "left_hip", "left_knee", "left_ankle", "pelvis", "spine", "head",
)  # fmt: skip

# 3DHP's "neck" sits where H36M's thorax does, and its "head" where H36M's neck/nose does.
H36M_FROM_MPI: dict[str, str] = {
    "hip": "pelvis",
    "r_hip": "right_hip",
    "r_knee": "right_knee",
    "r_ankle": "right_ankle",
    "l_hip": "left_hip",
    "l_knee": "left_knee",
    "l_ankle": "left_ankle",
    "spine": "spine",
    "thorax": "neck",
    "neck": "head",
    "head": "head_top",
    "l_shoulder": "left_shoulder",
    "l_elbow": "left_elbow",
    "l_wrist": "left_wrist",
    "r_shoulder": "right_shoulder",
    "r_elbow": "right_elbow",
    "r_wrist": "right_wrist",
}
# h36m = joints[..., TRAIN_TO_H36M, :] for training order, TEST_TO_H36M for test order.
TRAIN_TO_H36M = np.array([MPI_TRAIN_JOINTS.index(H36M_FROM_MPI[j]) for j in H36M17_JOINTS])
TEST_TO_H36M = np.array([MPI_TEST_JOINTS.index(H36M_FROM_MPI[j]) for j in H36M17_JOINTS])

NUM_TRAIN_JOINTS = len(MPI_TRAIN_JOINTS)
NUM_CAMERAS = 14
TEST_FOLDER = "mpi_inf_3dhp_test_set"
TS_NAMES: tuple[str, ...] = ("TS1", "TS2", "TS3", "TS4", "TS5", "TS6")
SUBJECT_PATTERN = r"S\d+"
CALIBRATION_HEADER = "Skeletool Camera Calibration File"


@dataclass(frozen=True)
class TsIntrinsics:
    """Camera of one test sequence: ``image_size`` (w, h) px, ``f``, ``c`` px, ``fps`` Hz."""

    image_size: tuple[int, int]
    f: tuple[float, float]
    c: tuple[float, float]
    fps: float


_STUDIO = TsIntrinsics((2048, 2048), (1500.17, 1500.17), (1017.3, 1043.0), 25.0)
_OUTDOOR = TsIntrinsics((1920, 1080), (1683.98, 1683.98), (939.9, 560.1), 50.0)
TS_INTRINSICS: dict[str, TsIntrinsics] = {
    "TS1": _STUDIO,
    "TS2": _STUDIO,
    "TS3": _STUDIO,
    "TS4": _STUDIO,
    "TS5": _OUTDOOR,
    "TS6": _OUTDOOR,
}


# ----------------------------------------------------------------------------- reading


def read_3dhp(
    root: str | Path,
    train_fps: float = 25.0,
    use_universal: bool = False,
    test_intrinsics: Mapping[str, TsIntrinsics | Mapping] | None = None,
) -> list[PoseSequence]:
    """Training (``S*/Seq*``) and test (``mpi_inf_3dhp_test_set/TS*``) sequences.

    Either part may be missing from ``root`` (it is then empty, with a warning); a
    root with neither is an error.
    """
    root = require_dir(Path(root), "3DHP root")
    has_train = any(p.is_dir() and re.fullmatch(SUBJECT_PATTERN, p.name) for p in root.iterdir())
    has_test = (root / TEST_FOLDER).is_dir()
    if not (has_train or has_test):
        raise DataError(
            f"{root}: expected 3DHP training subject folders (S1..S8) and/or the test set folder "
            f"{TEST_FOLDER}/, found neither"
        )
    if not has_train:
        log.warning("3DHP: %s has no training subject folders (S1..S8); the train split is empty", root)
    if not has_test:
        log.warning("3DHP: %s has no %s/ folder; the test split is empty", root, TEST_FOLDER)
    train = read_3dhp_train(root, fps=train_fps, use_universal=use_universal) if has_train else []
    test = read_3dhp_test(root, intrinsics=test_intrinsics, use_universal=use_universal) if has_test else []
    return train + test


def read_3dhp_train(
    root: str | Path,
    subjects: Iterable[str] | None = None,
    sequences: Iterable[str] | None = None,
    cameras: Iterable[int] | None = None,
    fps: float = 25.0,
    use_universal: bool = False,
) -> list[PoseSequence]:
    """One :class:`PoseSequence` per subject x sequence x camera of the training set.

    ``subjects`` (``"S1"``...), ``sequences`` (``"Seq1"``...) and ``cameras`` (ids
    0..13) select; ``None`` takes all found on disk. 3D in metres, camera frame.
    """
    root = require_dir(Path(root), "3DHP training set root")
    sequences = None if sequences is None else list(sequences)  # used once per subject
    cameras = None if cameras is None else list(cameras)
    out = []
    for subject in _select_folders(root, subjects, SUBJECT_PATTERN, "3DHP subject folder"):
        subject_dir = root / subject
        for sequence in _select_folders(subject_dir, sequences, r"Seq\d+", "3DHP sequence folder"):
            out += _read_train_sequence(subject_dir / sequence, subject, sequence, cameras, fps, use_universal)
    return out


def read_3dhp_test(
    root: str | Path,
    sequences: Iterable[str] = TS_NAMES,
    intrinsics: Mapping[str, TsIntrinsics | Mapping] | None = None,
    use_universal: bool = False,
) -> list[PoseSequence]:
    """One :class:`PoseSequence` per test sequence (``"TS1"``...), camera ``cam0``.

    ``intrinsics`` overrides :data:`TS_INTRINSICS` per sequence, whole
    (a :class:`TsIntrinsics`) or in part (a dict, e.g. ``{"TS5": {"fps": 25.0}}``).
    """
    folder = require_dir(Path(root) / TEST_FOLDER, "3DHP test set folder")
    sequences = list(sequences)
    for ts in list(sequences) + list(intrinsics or {}):
        if ts not in TS_NAMES:
            raise DataError(f"{folder}: expected a test sequence name in {TS_NAMES}, got {ts!r}")
    return [
        _read_test_sequence(folder / ts / "annot_data.mat", ts, _ts_intrinsics(ts, intrinsics), use_universal)
        for ts in sequences
    ]


def _select_folders(parent: Path, wanted: Iterable[str] | None, pattern: str, what: str) -> list[str]:
    """``wanted`` (each must exist under ``parent``), or all folders matching ``pattern``."""
    if wanted is not None:
        wanted = list(wanted)
        for name in wanted:
            require_dir(parent / name, what)
        return wanted
    found = [p.name for p in parent.iterdir() if p.is_dir() and re.fullmatch(pattern, p.name)]
    if not found:
        raise DataError(f"{parent}: expected {what}s named like {pattern!r}, found none")
    return sorted(found, key=lambda name: int(re.sub(r"\D", "", name)))


def _read_train_sequence(
    folder: Path,
    subject: str,
    sequence: str,
    cameras: list[int] | None,
    fps: float,
    use_universal: bool,
) -> list[PoseSequence]:
    mat_path = require_file(folder / "annot.mat", "3DHP training annotations")
    calib_path = require_file(folder / "camera.calibration", "3DHP camera calibration")
    calibration = _read_calibration(calib_path)
    mat = _load_mat(mat_path)
    ids = _camera_ids(mat, mat_path)
    key3 = "univ_annot3" if use_universal else "annot3"
    cells2 = _cells(mat, "annot2", mat_path, len(ids))
    cells3 = _cells(mat, key3, mat_path, len(ids))
    frames = None if "frames" not in mat else np.asarray(mat["frames"]).ravel()

    out = []
    for cam_id in ids if cameras is None else cameras:
        if cam_id not in ids:
            raise DataError(f"{mat_path}: 'cameras': expected camera {cam_id!r}, found cameras {ids}")
        if cam_id not in calibration:
            raise DataError(
                f"{calib_path}: expected a block 'name {cam_id}', found cameras {sorted(calibration)}"
            )
        i = ids.index(cam_id)
        joints_2d = check_array(
            cells2[i], (None, 2 * NUM_TRAIN_JOINTS), f"{mat_path}: 'annot2' cell {i} (28 joints x 2 px)"
        )
        joints_3d = check_array(
            cells3[i], (None, 3 * NUM_TRAIN_JOINTS), f"{mat_path}: '{key3}' cell {i} (28 joints x 3 mm)"
        )
        n = len(joints_2d)
        if n == 0:
            raise DataError(f"{mat_path}: 'annot2' cell {i}: expected at least one frame, found an empty sequence")
        if len(joints_3d) != n:
            raise DataError(
                f"{mat_path}: camera {cam_id}: expected as many frames in '{key3}' as in 'annot2' ({n}), "
                f"found {len(joints_3d)}"
            )
        if frames is not None and len(frames) != n:
            raise DataError(f"{mat_path}: 'frames': expected {n} frame numbers, found {len(frames)}")
        cal = calibration[cam_id]
        out.append(
            PoseSequence(
                dataset="3dhp",
                subject=subject,
                sequence=sequence,
                camera=f"cam{cam_id}",
                split="train",
                fps=float(fps),
                image_size=cal.image_size,
                f=cal.intrinsic[[0, 1], [0, 1]],
                c=cal.intrinsic[[0, 1], [2, 2]],
                joints_2d=joints_2d.reshape(n, NUM_TRAIN_JOINTS, 2)[:, TRAIN_TO_H36M],
                joints_3d_cam=joints_3d.reshape(n, NUM_TRAIN_JOINTS, 3)[:, TRAIN_TO_H36M] / 1000.0,
                valid=np.ones(n, dtype=bool),
                meta={
                    "R": cal.extrinsic[:3, :3].copy(),
                    "t": cal.extrinsic[:3, 3] / 1000.0,
                    "frames": None if frames is None else frames.astype(np.int64),
                },
            ).validate(mat_path)
        )
    return out


def _load_mat(path: Path) -> dict:
    try:
        return scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises many types for truncated or foreign files
        raise DataError(
            f"{path}: expected a MATLAB v5 .mat file, could not read it ({type(exc).__name__}: {exc})"
        ) from exc


def _mat_key(mat: dict, key: str, path: Path) -> object:
    if key not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise DataError(f"{path}: expected key {key!r}, found keys {keys}")
    return mat[key]


def _camera_ids(mat: dict, path: Path) -> list[int]:
    ids = np.asarray(_mat_key(mat, "cameras", path)).ravel()
    if ids.dtype.kind not in "iuf" or not np.all(ids == np.round(ids)) or len(set(ids.tolist())) != len(ids):
        raise DataError(f"{path}: 'cameras': expected distinct integer camera ids, found {ids.tolist()}")
    return [int(i) for i in ids]


def _cells(mat: dict, key: str, path: Path, count: int) -> list[np.ndarray]:
    """A MATLAB cell array ``(count, 1)`` (or ``(1, count)``) as a list of arrays."""
    cells = np.asarray(_mat_key(mat, key, path))
    if cells.dtype != object:
        raise DataError(
            f"{path}: {key!r}: expected a cell array (one array per camera), "
            f"found a {cells.dtype} array {cells.shape}"
        )
    if cells.size != count or cells.ndim != 2 or 1 not in cells.shape:
        raise DataError(
            f"{path}: {key!r}: expected a cell array of shape ({count}, 1) like 'cameras', found {cells.shape}"
        )
    return list(cells.ravel())


@dataclass(frozen=True)
class _Calibration:
    image_size: tuple[int, int]
    intrinsic: np.ndarray  # (4, 4)
    extrinsic: np.ndarray  # (4, 4), world -> camera, translation in mm


def _read_calibration(path: Path) -> dict[int, _Calibration]:
    """Camera id -> calibration, from a ``camera.calibration`` text file."""
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: expected a text calibration file, found undecodable bytes") from exc
    if not lines or not lines[0].startswith(CALIBRATION_HEADER):
        found = lines[0][:60] if lines else "an empty file"
        raise DataError(f"{path}: expected a first line {CALIBRATION_HEADER!r}..., found {found!r}")
    blocks: dict[int, dict[str, tuple[int, list[str]]]] = {}
    current = None
    for lineno, line in enumerate(lines[1:], start=2):
        words = line.split()
        if not words:
            continue
        if words[0] == "name":
            current = int(_numbers(path, lineno, words, 1)[0])
            blocks[current] = {}
        elif current is None:
            raise DataError(f"{path} line {lineno}: expected 'name <id>' before {words[0]!r}")
        else:
            blocks[current][words[0]] = (lineno, words)
    return {cam_id: _calibration_block(path, cam_id, block) for cam_id, block in blocks.items()}


def _calibration_block(path: Path, cam_id: int, block: dict[str, tuple[int, list[str]]]) -> _Calibration:
    for key in ("size", "intrinsic", "extrinsic"):
        if key not in block:
            raise DataError(f"{path}: camera {cam_id}: expected a line {key!r}, found {sorted(block)}")
    size = _numbers(path, *block["size"], 2)
    return _Calibration(
        image_size=(int(size[0]), int(size[1])),
        intrinsic=_numbers(path, *block["intrinsic"], 16).reshape(4, 4),
        extrinsic=_numbers(path, *block["extrinsic"], 16).reshape(4, 4),
    )


def _numbers(path: Path, lineno: int, words: list[str], count: int) -> np.ndarray:
    """The ``count`` numbers after the keyword on one calibration line."""
    values = words[1:]
    try:
        numbers = np.array([float(v) for v in values])
    except ValueError as exc:
        raise DataError(f"{path} line {lineno}: {words[0]!r}: expected {count} numbers, found {values}") from exc
    if len(numbers) != count or not np.isfinite(numbers).all():
        raise DataError(f"{path} line {lineno}: {words[0]!r}: expected {count} finite numbers, found {values}")
    return numbers


def _ts_intrinsics(ts: str, intrinsics: Mapping[str, TsIntrinsics | Mapping] | None) -> TsIntrinsics:
    override = (intrinsics or {}).get(ts)
    if override is None or isinstance(override, TsIntrinsics):
        return override or TS_INTRINSICS[ts]
    known = {f.name for f in fields(TsIntrinsics)}
    unknown = sorted(set(override) - known)
    if unknown:
        raise DataError(f"intrinsics[{ts!r}]: expected keys among {sorted(known)}, found {unknown}")
    return replace(TS_INTRINSICS[ts], **override)


def _read_test_sequence(path: Path, ts: str, camera: TsIntrinsics, use_universal: bool) -> PoseSequence:
    require_file(path, "3DHP test annotations")
    key3 = "univ_annot3" if use_universal else "annot3"
    arrays, found = {}, []
    try:
        with h5py.File(path, "r") as f:
            found = sorted(f.keys())
            for key in ("annot2", key3, "valid_frame"):
                if isinstance(f.get(key), h5py.Dataset):
                    arrays[key] = f[key][()]
    except Exception as exc:  # h5py raises OSError, KeyError, ... for truncated or foreign files
        raise DataError(
            f"{path}: expected a MATLAB v7.3 (HDF5) file, could not read it ({type(exc).__name__}: {exc})"
        ) from exc
    for key in ("annot2", key3, "valid_frame"):
        if key not in arrays:
            raise DataError(f"{path}: expected dataset {key!r}, found {found}")

    joints_2d = _test_joints(arrays["annot2"], 2, f"{path}: 'annot2'")
    joints_3d = _test_joints(arrays[key3], 3, f"{path}: '{key3}'")
    valid = np.asarray(arrays["valid_frame"])
    if valid.ndim == 2 and 1 in valid.shape:
        valid = valid.ravel()
    valid = check_array(valid, (None,), f"{path}: 'valid_frame'")
    n = len(joints_2d)
    if n == 0:
        raise DataError(f"{path}: 'annot2': expected at least one frame, found an empty sequence")
    if len(joints_3d) != n or len(valid) != n:
        raise DataError(
            f"{path}: expected as many frames in '{key3}' and 'valid_frame' as in 'annot2' ({n}), "
            f"found {len(joints_3d)} and {len(valid)}"
        )
    if not np.isin(valid, (0, 1)).all():
        raise DataError(f"{path}: 'valid_frame': expected 0/1 values, found {np.unique(valid)[:5].tolist()}")
    return PoseSequence(
        dataset="3dhp",
        subject=ts,
        sequence=ts,
        camera="cam0",
        split="test",
        fps=float(camera.fps),
        image_size=tuple(camera.image_size),
        f=np.asarray(camera.f, dtype=np.float64),
        c=np.asarray(camera.c, dtype=np.float64),
        joints_2d=joints_2d[:, TEST_TO_H36M],
        joints_3d_cam=joints_3d[:, TEST_TO_H36M] / 1000.0,
        valid=valid.astype(bool),
    ).validate(path)


def _test_joints(x: np.ndarray, dim: int, where: str) -> np.ndarray:
    """``(N, 1, 17, dim)`` or ``(N, 17, dim)`` -> ``(N, 17, dim)``."""
    x = np.asarray(x)
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    return check_array(x, (None, len(MPI_TEST_JOINTS), dim), where)
