"""The common form every dataset reader returns, and the errors readers raise.

One :class:`PoseSequence` per sequence x camera (x person for 3DPW). Joint order is
always Human3.6M-17 (``core.skeleton.H36M17``); readers own the mapping from their
native order.

==================  ==========================  ==========================
field               shape / type                unit
==================  ==========================  ==========================
dataset             str (a name of ``datasets.registry``)
subject, sequence,  str
camera, split
fps                 float                       Hz
image_size          (w, h) ints                 px
f, c                (2,) float64                px
k, p                (3,), (2,) float64 or None  radial / tangential
joints_2d           (T, 17, 2) float32          px
joints_3d_cam       (T, 17, 3) float32          m, camera frame
valid               (T,) bool
root_relative       bool                        True: 3D has no depth (Ski)
==================  ==========================  ==========================

Readers name every file they read with :func:`opened` (``require_file`` does it for
them); :func:`recording_opened` collects those names, so that the run manifest hashes
the files a run read and not the rest of a dataset folder (videos, images).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from adaptpose_pipeline.core.skeleton import H36M17

NUM_JOINTS = H36M17.num_joints
_OPENED: ContextVar[list[Path] | None] = ContextVar("adaptpose_opened_files", default=None)


class DataError(ValueError):
    """A native file or an in-memory record is not what its layout promises.

    The message names the file (or key), what was expected and what was found.
    """


@contextmanager
def recording_opened() -> Iterator[list[Path]]:
    """The files readers report with :func:`opened` inside the block, in order."""
    files: list[Path] = []
    token = _OPENED.set(files)
    try:
        yield files
    finally:
        _OPENED.reset(token)


def opened(path: Path) -> Path:
    """Report that a reader reads ``path`` (see :func:`recording_opened`); ``path``."""
    path = Path(path)
    files = _OPENED.get()
    if files is not None:
        files.append(path)
    return path


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a file (reported as read, see :func:`opened`), else a
    :class:`DataError` naming it."""
    path = Path(path)
    if not path.is_file():
        parent = path.parent
        hint = "" if parent.is_dir() else f" (folder {parent} does not exist either)"
        raise DataError(f"{what}: expected file {path}, which does not exist{hint}")
    return opened(path)


def require_dir(path: Path, what: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{what}: expected folder {path}, which does not exist")
    return path


def check_array(
    x: object,
    shape: tuple[int | None, ...],
    where: str,
    finite: bool = True,
) -> np.ndarray:
    """``x`` as an array of ``shape`` (``None`` = any size), else :class:`DataError`.

    ``where`` names the file and key, e.g. ``"S1/Seq1/annot.mat: annot3[0]"``.
    """
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise DataError(f"{where}: expected an array of shape {_fmt(shape)}, got {type(x).__name__}") from exc
    if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
        raise DataError(f"{where}: expected shape {_fmt(shape)}, found {tuple(arr.shape)}")
    if finite and arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise DataError(f"{where}: expected finite values, found {bad} NaN/inf")
    return arr


def _fmt(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"


@dataclass
class PoseSequence:
    dataset: str
    subject: str
    sequence: str
    camera: str
    split: str
    fps: float
    image_size: tuple[int, int]
    f: np.ndarray
    c: np.ndarray
    joints_2d: np.ndarray
    joints_3d_cam: np.ndarray
    valid: np.ndarray
    k: np.ndarray | None = None
    p: np.ndarray | None = None
    root_relative: bool = False
    meta: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.joints_2d.shape[0])

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.subject}/{self.sequence}/{self.camera}"

    def validate(self, source: str | Path) -> PoseSequence:
        """Check shapes, dtypes and values; ``source`` names the file it came from.

        Returns ``self`` with arrays cast to the documented dtypes.
        """
        from adaptpose_pipeline.datasets.registry import names  # the registry imports the readers

        where = f"{source} [{self.key}]"
        if self.dataset not in names():
            raise DataError(f"{where}: dataset must be one of {names()}, got {self.dataset!r}")
        self.joints_2d = check_array(self.joints_2d, (None, NUM_JOINTS, 2), f"{where} joints_2d").astype(np.float32)
        T = self.joints_2d.shape[0]
        if T == 0:
            raise DataError(f"{where}: expected at least one frame, found an empty sequence")
        self.joints_3d_cam = check_array(
            self.joints_3d_cam, (T, NUM_JOINTS, 3), f"{where} joints_3d_cam"
        ).astype(np.float32)
        self.valid = check_array(self.valid, (T,), f"{where} valid").astype(bool)
        if not self.valid.any():
            raise DataError(f"{where}: expected some valid frames, found none of {T}")
        self.f = check_array(self.f, (2,), f"{where} f").astype(np.float64)
        self.c = check_array(self.c, (2,), f"{where} c").astype(np.float64)
        if self.k is not None:
            self.k = check_array(self.k, (3,), f"{where} k").astype(np.float64)
        if self.p is not None:
            self.p = check_array(self.p, (2,), f"{where} p").astype(np.float64)
        w, h = (int(v) for v in self.image_size)
        if w <= 0 or h <= 0:
            raise DataError(f"{where}: expected a positive image size (w, h), found {self.image_size}")
        self.image_size = (w, h)
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise DataError(f"{where}: expected a positive fps, found {self.fps}")
        if (self.f <= 0).any():
            raise DataError(f"{where}: expected positive focal lengths, found {self.f.tolist()}")
        if not self.root_relative:
            depth = self.joints_3d_cam[self.valid, :, 2]
            if (depth <= 0).any():
                raise DataError(
                    f"{where}: expected joints in front of the camera (z > 0 m), "
                    f"found z down to {float(depth.min()):.3f} m"
                )
        return self

