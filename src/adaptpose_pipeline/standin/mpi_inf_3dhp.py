"""MPI-INF-3DHP stand-ins in the native layout (read by ``datasets.mpi_inf_3dhp``).

The writers take :class:`~adaptpose_pipeline.standin.recording.Recording` objects
and write the layout that ``datasets.mpi_inf_3dhp`` reads. The 11 training joints H36M-17 lacks are filled by
:data:`FILLED_JOINTS` (``joint = a + w (b - a)``; ``w < 0`` extrapolates past ``a``).
``univ_annot3`` is the pose scaled about the pelvis by ``universal_scale`` (1.0 by
default, which makes it equal to ``annot3``). The test-set file stores no intrinsics:
read it back with the rig's intrinsics (give them as ``intrinsics=`` if they differ
from ``datasets.mpi_inf_3dhp.TS_INTRINSICS``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import h5py
import numpy as np
import scipy.io

from adaptpose_pipeline.datasets.common import NUM_JOINTS, DataError, check_array
from adaptpose_pipeline.datasets.mpi_inf_3dhp import (
    CALIBRATION_HEADER,
    MPI_TEST_JOINTS,
    MPI_TRAIN_JOINTS,
    NUM_CAMERAS,
    NUM_TRAIN_JOINTS,
    TEST_FOLDER,
    TEST_TO_H36M,
    TRAIN_TO_H36M,
    TS_NAMES,
)
from adaptpose_pipeline.standin.recording import CameraRig, Recording

# Training joints H36M-17 lacks, as (a, b, w) -> a + w (b - a).
FILLED_JOINTS: dict[str, tuple[str, str, float]] = {
    "spine2": ("spine", "neck", 0.25),
    "spine3": ("spine", "neck", 0.5),
    "spine4": ("spine", "neck", 0.75),
    "left_clavicle": ("neck", "left_shoulder", 0.3),
    "right_clavicle": ("neck", "right_shoulder", 0.3),
    "left_hand": ("left_wrist", "left_elbow", -0.25),
    "right_hand": ("right_wrist", "right_elbow", -0.25),
    "left_foot": ("left_ankle", "left_knee", -0.15),
    "right_foot": ("right_ankle", "right_knee", -0.15),
    "left_toe": ("left_ankle", "left_knee", -0.3),
    "right_toe": ("right_ankle", "right_knee", -0.3),
}


def write_3dhp(root: Path, recordings: list[Recording]) -> None:
    """The training recordings into the training layout, the test ones into the test set's."""
    write_3dhp_train(root, [r for r in recordings if r.split == "train"])
    write_3dhp_test(root, [r for r in recordings if r.split == "test"])


def write_3dhp_train(root: str | Path, recordings: list[Recording], universal_scale: float = 1.0) -> list[Path]:
    """Write recordings as ``<root>/<subject>/<sequence>/{annot.mat, camera.calibration}``.

    Each recording: subject ``S<k>``, sequence ``Seq<k>``, all frames valid, 1 to 14
    static pinhole cameras named ``cam<id>`` (id 0..13). Returns the folders written.
    """
    root = Path(root)
    _check_unique([(rec.subject, rec.sequence) for rec in recordings], root)
    planned = [(root / rec.subject / rec.sequence, _train_files(rec, universal_scale)) for rec in recordings]
    for folder, (annot, calibration) in planned:
        folder.mkdir(parents=True, exist_ok=True)
        scipy.io.savemat(str(folder / "annot.mat"), annot)
        _fix_mat5_header(folder / "annot.mat")
        (folder / "camera.calibration").write_text(calibration)
    return [folder for folder, _ in planned]


def write_3dhp_test(root: str | Path, recordings: list[Recording], universal_scale: float = 1.0) -> list[Path]:
    """Write recordings as ``<root>/mpi_inf_3dhp_test_set/<TS>/annot_data.mat``.

    Each recording: ``sequence`` a TS name, exactly one static pinhole camera.
    The file keeps no intrinsics or fps (see ``datasets.mpi_inf_3dhp.TS_INTRINSICS``). Returns the files written.
    """
    folder = Path(root) / TEST_FOLDER
    _check_unique([(rec.sequence,) for rec in recordings], folder)
    planned = [(folder / rec.sequence / "annot_data.mat", _test_arrays(rec, universal_scale)) for rec in recordings]
    for path, arrays in planned:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_mat73(path, arrays)
    return [path for path, _ in planned]


def _check_unique(keys: list[tuple[str, ...]], where: Path) -> None:
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise DataError(f"{where}: expected one recording per sequence, found several for {dupes}")


def _check_recording(rec: Recording, where: str, max_cameras: int) -> None:
    T = check_array(rec.joints_world, (None, NUM_JOINTS, 3), f"{where} joints_world").shape[0]
    if T == 0:
        raise DataError(f"{where}: expected at least one frame, found an empty recording")
    check_array(rec.valid, (T,), f"{where} valid")
    if not 1 <= len(rec.cameras) <= max_cameras:
        raise DataError(f"{where}: expected 1 to {max_cameras} cameras, found {len(rec.cameras)}")
    for rig in rec.cameras:
        if rig.moving or rig.k is not None or rig.p is not None:
            raise DataError(f"{where}: camera {rig.name!r}: expected a static pinhole camera (no k, p)")


def _train_files(rec: Recording, universal_scale: float) -> tuple[dict, str]:
    """``annot.mat`` contents and ``camera.calibration`` text for one recording."""
    where = f"recording {rec.subject}/{rec.sequence}"
    if not (re.fullmatch(r"S\d+", rec.subject) and re.fullmatch(r"Seq\d+", rec.sequence)):
        raise DataError(f"{where}: expected subject 'S<k>' and sequence 'Seq<k>'")
    _check_recording(rec, where, NUM_CAMERAS)
    if not np.asarray(rec.valid, dtype=bool).all():
        raise DataError(f"{where}: the training layout has no validity mask; expected all frames valid")
    ids = [_camera_id(rig, where) for rig in rec.cameras]
    if len(set(ids)) != len(ids):
        raise DataError(f"{where}: expected distinct camera names, found {[rig.name for rig in rec.cameras]}")

    T = rec.num_frames
    annot2, annot3, univ = (np.empty((len(ids), 1), dtype=object) for _ in range(3))
    for i, rig in enumerate(rec.cameras):
        x28 = _to_train28(rig.to_camera(np.asarray(rec.joints_world, dtype=np.float64)))
        annot2[i, 0] = rig.project(x28).reshape(T, 2 * NUM_TRAIN_JOINTS)
        annot3[i, 0] = 1000.0 * x28.reshape(T, 3 * NUM_TRAIN_JOINTS)
        univ[i, 0] = 1000.0 * _rescale(x28, MPI_TRAIN_JOINTS.index("pelvis"), universal_scale).reshape(T, -1)
    annot = {
        "annot2": annot2,
        "annot3": annot3,
        "univ_annot3": univ,
        "cameras": np.array([ids], dtype=np.int64),
        "frames": np.arange(T, dtype=np.int64)[:, None],
    }
    return annot, _calibration_text(rec.cameras, ids)


def _camera_id(rig: CameraRig, where: str) -> int:
    match = re.fullmatch(r"cam(\d+)", rig.name)
    if not match or int(match.group(1)) >= NUM_CAMERAS:
        raise DataError(f"{where}: expected camera names cam0..cam{NUM_CAMERAS - 1}, found {rig.name!r}")
    return int(match.group(1))


def _to_train28(joints: np.ndarray) -> np.ndarray:
    """``(T, 17, 3)`` H36M order -> ``(T, 28, 3)`` training order, filling by :data:`FILLED_JOINTS`."""
    out = np.zeros(joints.shape[:-2] + (NUM_TRAIN_JOINTS, joints.shape[-1]))
    out[..., TRAIN_TO_H36M, :] = joints
    index = MPI_TRAIN_JOINTS.index
    for name, (a, b, w) in FILLED_JOINTS.items():
        out[..., index(name), :] = out[..., index(a), :] + w * (out[..., index(b), :] - out[..., index(a), :])
    return out


def _rescale(joints: np.ndarray, pelvis: int, scale: float) -> np.ndarray:
    root = joints[..., pelvis : pelvis + 1, :]
    return root + scale * (joints - root)


def _calibration_text(rigs: list[CameraRig], ids: list[int]) -> str:
    lines = [f"{CALIBRATION_HEADER} V1.0"]
    for cam_id, rig in sorted(zip(ids, rigs), key=lambda pair: pair[0]):
        (fx, fy), (cx, cy) = np.asarray(rig.f, dtype=float), np.asarray(rig.c, dtype=float)
        extrinsic = np.eye(4)
        extrinsic[:3, :3] = rig.R
        extrinsic[:3, 3] = 1000.0 * np.asarray(rig.t)
        w, h = rig.image_size
        lines += [
            f"name          {cam_id}",
            "  sensor      10 10",
            f"  size        {int(w)} {int(h)}",
            "  animated    0",
            "  intrinsic   " + _fmt_numbers([fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0, 0, 0, 0, 1]),
            "  extrinsic   " + _fmt_numbers(extrinsic.ravel()),
            "  radial      0",
        ]
    return "\n".join(lines) + "\n"


def _fmt_numbers(values: Iterable[float]) -> str:
    return " ".join(repr(float(v)) for v in values)


def _fix_mat5_header(path: Path) -> None:
    # savemat stamps the current time into the 116-byte text header; a fixed text keeps
    # stand-ins byte-identical for the same data.
    text = b"MATLAB 5.0 MAT-file, Created by: adaptpose-pipeline 3DHP stand-in writer"
    with open(path, "r+b") as fh:
        fh.write(text.ljust(116))


def _test_arrays(rec: Recording, universal_scale: float) -> dict[str, np.ndarray]:
    """``annot_data.mat`` datasets for one test recording."""
    where = f"recording {rec.subject}/{rec.sequence}"
    if rec.sequence not in TS_NAMES:
        raise DataError(f"{where}: expected a test sequence name in {TS_NAMES}, got {rec.sequence!r}")
    _check_recording(rec, where, 1)
    rig = rec.cameras[0]
    x_cam = rig.to_camera(np.asarray(rec.joints_world, dtype=np.float64))
    x17 = np.empty_like(x_cam)
    x17[:, TEST_TO_H36M] = x_cam
    univ = _rescale(x17, MPI_TEST_JOINTS.index("pelvis"), universal_scale)
    return {
        "annot2": rig.project(x17)[:, None],
        "annot3": 1000.0 * x17[:, None],
        "univ_annot3": 1000.0 * univ[:, None],
        "valid_frame": np.asarray(rec.valid, dtype=np.float64)[:, None],
    }


def _write_mat73(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An HDF5 file laid out as MATLAB v7.3 writes it: 512-byte user block with the MAT header."""
    with h5py.File(path, "w", userblock_size=512) as f:
        for key, value in arrays.items():
            f.create_dataset(key, data=value, track_times=False).attrs["MATLAB_class"] = np.bytes_("double")
    text = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created by: adaptpose-pipeline HDF5 schema 1.00 ."
    # 116 bytes of text, 8 bytes of subsystem offset, version 0x0200, endian mark "IM".
    header = text.ljust(116) + b"\x00" * 8 + b"\x00\x02" + b"IM"
    with open(path, "r+b") as fh:
        fh.write(header)
