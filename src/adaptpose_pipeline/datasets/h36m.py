"""Human3.6M in VideoPose3D's preprocessed layout: the reader.

Layout under ``root``:

``data_3d_h36m.npz``
    key ``positions_3d``: a pickled dict ``subject -> action -> (N, 32, 3)`` float32,
    metres, **world frame** (z up), 50 Hz. The 17 working joints are the rows
    ``H36M32_KEEP = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]``
    of the 32 motion-capture joints, already in H36M-17 order.
``data_2d_h36m_gt.npz``
    key ``positions_2d``: ``subject -> action -> list of 4 (N, 17, 2)`` float32 pixels,
    one per camera in the order of the cameras (54138969, 55011271, 58860488, 60457274
    in the real files); key ``metadata``:
    ``{"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": [...]}``.
    Where a 2D sequence is longer than its 3D one (as happens in the real files), it is
    cut to the 3D length, as VideoPose3D does.
Cameras (optional file)
    The two files above are enough: without a camera file the reader uses the
    published Human3.6M calibration shipped with the package. A camera file in the
    root (``*.json`` or ``*.pkl``: ours, a per-subject list, or mmpose's
    ``cameras.pkl``, recognised by content) takes precedence; see
    :mod:`~adaptpose_pipeline.datasets.h36m_cameras`. The stand-in writer
    (``standin.h36m``) writes its cameras as ``h36m_cameras.json`` in our layout.

The pickled dicts inside the ``.npz`` files are read by a restricted unpickler
(:mod:`~adaptpose_pipeline.datasets.safe_pickle`), which refuses anything but arrays
and plain containers.

Splits follow the standard protocol: S1, S5, S6, S7, S8 are ``train``, S9 and S11
``test``; which of them serve as source, validation or target is the ingest
pipeline's choice, not the reader's.
"""

from __future__ import annotations

import logging
import pickle
import zipfile
from pathlib import Path

import numpy as np

from adaptpose_pipeline.core.skeleton import H36M17
from adaptpose_pipeline.datasets.common import DataError, PoseSequence, check_array, require_dir, require_file
from adaptpose_pipeline.datasets.h36m_cameras import CAMERA_IDS, NUM_CAMERAS, cameras_for_root  # noqa: F401 (CAMERA_IDS: h36m.CAMERA_IDS)
from adaptpose_pipeline.datasets.safe_pickle import load_npz_object

log = logging.getLogger(__name__)

FILE_3D = "data_3d_h36m.npz"
FILE_2D = "data_2d_h36m_gt.npz"
FILE_CAMERAS = "h36m_cameras.json"
FPS = 50.0
H36M32_KEEP = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
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
        value = load_npz_object(path, key)
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as exc:
        raise DataError(f"{path}: cannot be read as an .npz archive (truncated or corrupt?): {exc}") from exc
    if not isinstance(value, dict):
        raise DataError(f"{path}: expected {key!r} to hold a dict subject -> action -> array, found {type(value).__name__}")
    return value


def read_h36m(root: Path, subjects: list[str] | None = None) -> list[PoseSequence]:
    """One :class:`PoseSequence` per subject x action x camera (see module docstring).

    ``subjects``: restrict to these (all in the files when ``None``); a requested
    subject missing from either file is an error.
    """
    root = require_dir(Path(root), "Human3.6M root")
    path3d, path2d = root / FILE_3D, root / FILE_2D
    cameras, camera_source = cameras_for_root(root)
    log.info("Human3.6M cameras: %s", camera_source)
    pos3d = _load_npz_dict(path3d, "positions_3d")
    pos2d = _load_npz_dict(path2d, "positions_2d")
    wanted = sorted(pos3d) if subjects is None else list(subjects)
    out = []
    for subject in wanted:
        for path, data in ((path3d, pos3d), (path2d, pos2d)):
            if subject not in data:
                raise DataError(f"{path}: expected subject {subject!r}, found {sorted(data)}")
        if subject not in cameras:
            raise DataError(f"{camera_source}: expected cameras of subject {subject!r}, found subjects {sorted(cameras)}")
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
            for cam_idx, cam in enumerate(cameras[subject]):
                where2 = f"{path2d}: positions_2d[{subject!r}][{action!r}][{cam_idx}]"
                x2d = check_array(views[cam_idx], (None, 17, 2), where2)
                if len(x2d) < len(world):
                    raise DataError(f"{where2}: expected at least {len(world)} frames (as in 3D), found {len(x2d)}")
                x_cam = world @ cam.R.T + cam.t
                seq = PoseSequence(
                    dataset="h36m",
                    subject=subject,
                    sequence=action,
                    camera=cam.id,
                    split=SPLITS.get(subject, "train"),
                    fps=FPS,
                    image_size=cam.image_size,
                    f=cam.f,
                    c=cam.c,
                    k=cam.k,
                    p=cam.p,
                    joints_2d=x2d[: len(world)],
                    joints_3d_cam=x_cam,
                    valid=np.ones(len(world), dtype=bool),
                )
                out.append(seq.validate(path2d))
    return out
