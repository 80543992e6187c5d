"""Human3.6M cameras: the built-in calibration, and camera files in three layouts.

:func:`cameras_for_root` gives the cameras the reader uses for a Human3.6M root: those
of the one camera file in the root (``*.json`` or ``*.pkl``, its layout recognised by
content, not by name), else the built-in calibration, ``data/h36m_cameras.json``: the
published numbers VideoPose3D keeps in ``common/h36m_dataset.py`` (4 cameras'
intrinsics; per-subject extrinsics of S1, S5-S9, S11), copied unchanged.

Layouts of a camera file:

``ours`` (JSON; the built-in file and the stand-in writer use it)
    ``{"intrinsics": [4 x {"id", "res_w", "res_h", "center" [cx, cy], "focal_length"
    [fx, fy], "radial_distortion" [k1, k2, k3], "tangential_distortion" [p1, p2]}],
    "extrinsics": {subject: [4 x {"orientation" [w, x, y, z], "translation" [x, y, z]}]}}``.
    ``orientation`` rotates camera to world, ``translation`` is the camera centre in
    world coordinates in millimetres (both as in VideoPose3D):
    ``x_cam = R(orientation)^T (x_world - translation / 1000)``.
``per_subject`` (JSON)
    ``{subject: [4 x camera]}``, each camera a dict with all the keys above, intrinsics
    and extrinsics together (as VideoPose3D's ``Human36mDataset`` merges them). Other
    keys in a camera are ignored.
``mmpose`` (pickle: mmpose's ``cameras.pkl``)
    ``{(subject, camera_id): {"R" (3, 3), "T" (3, 1), "f" (2, 1), "c" (2, 1),
    "k" (3, 1), "p" (2, 1), "w", "h"}}``. mmpose documents ``R`` as camera-to-world
    and ``T`` as the camera centre (``SimpleCamera``), so ``x_cam = R^T (x_world - T)``.
    Because a transposed ``R`` is easy to store by mistake, the reader takes whichever
    of ``R^T`` and ``R`` gives a Human3.6M camera: level (image x axis within 15 deg
    of horizontal, world z up) and aimed at the capture area (optical axis within 15 deg
    of the world origin; the real cameras are within 8 deg, their transposes 20 deg or
    more off), and refuses a file where not exactly one does. ``T``
    is in metres in current mmpose and in millimetres in older versions; the cameras
    stand 3-6 m from the origin, so ``|T| > 100`` is read as millimetres. mmpose's
    ``p`` is VideoPose3D's ``tangential_distortion`` reversed (compare their
    projection code), so it is reversed on reading.

Every camera comes out as an :class:`H36mCamera` with ``R``, ``t`` world-to-camera
(``x_cam = R x_world + t``, metres) and the distortion of ``core.camera.project``.
"""

from __future__ import annotations

import json
import logging
import pickle
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from adaptpose_pipeline.core import rotations
from adaptpose_pipeline.datasets.common import DataError, check_array, opened
from adaptpose_pipeline.datasets.safe_pickle import load_pickle

log = logging.getLogger(__name__)

NUM_CAMERAS = 4
CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")
BUILTIN = "data/h36m_cameras.json"
CAMERA_FILE_SUFFIXES = (".json", ".pkl")
_MM_THRESHOLD = 100.0  # |camera centre| above this is millimetres (cameras stand 3-6 m away)
_MIN_FACING = np.cos(np.radians(15.0))  # optical axis vs the way to the world origin
_MAX_TILT = np.sin(np.radians(15.0))  # image x axis vs the horizontal plane


@dataclass(frozen=True)
class H36mCamera:
    """One calibrated camera: ``R`` (3, 3) and ``t`` (3,) m world-to-camera; ``f``,
    ``c`` (2,) px; ``k`` (3,), ``p`` (2,) distortion; ``image_size`` (w, h) px."""

    id: str
    image_size: tuple[int, int]
    f: np.ndarray
    c: np.ndarray
    k: np.ndarray
    p: np.ndarray
    R: np.ndarray
    t: np.ndarray


Cameras = dict[str, list[H36mCamera]]  # subject -> its 4 cameras, in the 2D file's order


def builtin_cameras() -> Cameras:
    """The published calibration shipped with the package (see the module docstring)."""
    path = resources.files("adaptpose_pipeline.datasets").joinpath(BUILTIN)
    return _from_ours(json.loads(path.read_text()), f"built-in {BUILTIN}")


def cameras_for_root(root: Path) -> tuple[Cameras, str]:
    """The cameras for a Human3.6M root and where they came from (a file or the built-in)."""
    found = [(path, cams) for path in _candidates(root) if (cams := load_camera_file(path, strict=False)) is not None]
    if len(found) > 1:
        names = [path.name for path, _ in found]
        raise DataError(f"{root}: expected at most one Human3.6M camera file, found {len(found)}: {names}")
    if found:
        return found[0][1], str(found[0][0])
    return builtin_cameras(), f"built-in {BUILTIN}"


def _candidates(root: Path) -> list[Path]:
    return sorted(
        p for p in Path(root).iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix in CAMERA_FILE_SUFFIXES
    )


def load_camera_file(path: Path, strict: bool = True) -> Cameras | None:
    """Cameras of a file in any layout above.

    A file that cannot be parsed (corrupt JSON, a pickle asking for a refused global)
    is an error. A parsed file in no known layout is an error when ``strict``, else
    ignored with a warning (``None``): a root may hold other JSON files.
    """
    path = Path(path)
    doc = _parse(path)
    layout = _layout(doc)
    if layout is None:
        what = (
            "expected a Human3.6M camera file: a dict with 'intrinsics' and 'extrinsics', "
            "subject -> list of cameras, or (subject, camera id) -> camera (mmpose)"
        )
        if strict:
            raise DataError(f"{path}: {what}, found {_describe(doc)}")
        log.warning("%s: not used as Human3.6M cameras (%s, found %s)", path, what, _describe(doc))
        return None
    return {"ours": _from_ours, "per_subject": _from_per_subject, "mmpose": _from_mmpose}[layout](doc, str(path))


def _parse(path: Path) -> object:
    opened(path)
    if path.suffix == ".pkl":
        try:
            return load_pickle(path, encoding="latin1")
        except DataError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
            raise DataError(f"{path}: cannot be unpickled (truncated or corrupt?): {exc}") from exc
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON (truncated or corrupt?): {exc}") from exc


def _layout(doc: object) -> str | None:
    if not isinstance(doc, dict) or not doc:
        return None
    if "intrinsics" in doc and "extrinsics" in doc:
        return "ours"
    if all(isinstance(key, tuple) and len(key) == 2 for key in doc):
        return "mmpose"
    if all(isinstance(v, list) and v and all(isinstance(c, dict) and "orientation" in c for c in v) for v in doc.values()):
        return "per_subject"
    return None


def _describe(doc: object) -> str:
    if isinstance(doc, dict):
        return f"a dict with keys {sorted(map(str, doc))[:8]}"
    return f"a {type(doc).__name__}"


# --- layouts -------------------------------------------------------------------------


def _from_ours(doc: dict, source: str) -> Cameras:
    intrinsics = doc["intrinsics"]
    if not isinstance(intrinsics, list) or len(intrinsics) != NUM_CAMERAS:
        found = len(intrinsics) if isinstance(intrinsics, list) else type(intrinsics).__name__
        raise DataError(f"{source}: expected {NUM_CAMERAS} cameras under 'intrinsics', found {found}")
    if not isinstance(doc["extrinsics"], dict):
        raise DataError(f"{source}: 'extrinsics': expected subject -> cameras, found {type(doc['extrinsics']).__name__}")
    out = {}
    for subject, extrinsics in doc["extrinsics"].items():
        if not isinstance(extrinsics, list) or len(extrinsics) != NUM_CAMERAS:
            found = len(extrinsics) if isinstance(extrinsics, list) else type(extrinsics).__name__
            raise DataError(f"{source}: extrinsics[{subject!r}]: expected {NUM_CAMERAS} cameras, found {found}")
        out[subject] = [
            _vp3d_camera({**intr, **ext}, f"{source}: intrinsics[{i}] / extrinsics[{subject!r}][{i}]", i)
            for i, (intr, ext) in enumerate(zip(intrinsics, extrinsics))
        ]
    return out


def _from_per_subject(doc: dict, source: str) -> Cameras:
    out = {}
    for subject, cams in doc.items():
        if len(cams) != NUM_CAMERAS:
            raise DataError(f"{source}: [{subject!r}]: expected {NUM_CAMERAS} cameras, found {len(cams)}")
        out[subject] = [_vp3d_camera(cam, f"{source}: [{subject!r}][{i}]", i) for i, cam in enumerate(cams)]
    return out


def _vp3d_camera(cam: dict, where: str, index: int) -> H36mCamera:
    """A camera from VideoPose3D's keys (intrinsics and extrinsics in one dict)."""
    arrays = {}
    for key, shape in (
        ("center", (2,)), ("focal_length", (2,)), ("radial_distortion", (3,)), ("tangential_distortion", (2,)),
        ("orientation", (4,)), ("translation", (3,)),
    ):  # fmt: skip
        if key not in cam:
            raise DataError(f"{where}: expected key {key!r}, found keys {sorted(cam)}")
        arrays[key] = check_array(cam[key], shape, f"{where}.{key}").astype(np.float64)
    q = arrays["orientation"]
    if abs(np.linalg.norm(q) - 1.0) > 1e-3:
        raise DataError(f"{where}.orientation: expected a unit quaternion [w, x, y, z], found norm {np.linalg.norm(q):.4f}")
    cam_to_world = rotations.quaternion_to_matrix(torch.as_tensor(q)).numpy()
    return _camera(where, str(cam.get("id", index)), cam, ("res_w", "res_h"), arrays["focal_length"], arrays["center"],
                   arrays["radial_distortion"], arrays["tangential_distortion"],
                   cam_to_world.T, arrays["translation"] / 1000.0)  # fmt: skip


def _from_mmpose(doc: dict, source: str) -> Cameras:
    by_subject: dict[str, dict[str, dict]] = {}
    for (subject, cam_id), cam in doc.items():
        if str(cam_id) not in CAMERA_IDS:
            raise DataError(f"{source}: key {(subject, cam_id)!r}: expected a camera id in {CAMERA_IDS}")
        if not isinstance(cam, dict):
            raise DataError(f"{source}: [{(subject, cam_id)!r}]: expected a dict of camera parameters, found {type(cam).__name__}")
        by_subject.setdefault(str(subject), {})[str(cam_id)] = cam
    out = {}
    for subject, cams in by_subject.items():
        missing = [i for i in CAMERA_IDS if i not in cams]
        if missing:
            raise DataError(f"{source}: subject {subject!r}: expected cameras {CAMERA_IDS}, missing {missing}")
        out[subject] = [_mmpose_camera(cams[i], f"{source}: [({subject!r}, {i!r})]", i) for i in CAMERA_IDS]
    return out


def _mmpose_camera(cam: dict, where: str, cam_id: str) -> H36mCamera:
    arrays = {}
    for key, size in (("R", 9), ("T", 3), ("f", 2), ("c", 2), ("k", 3), ("p", 2)):
        if key not in cam:
            raise DataError(f"{where}: expected key {key!r}, found keys {sorted(cam)}")
        value = np.asarray(cam[key], dtype=np.float64)
        arrays[key] = check_array(value.reshape(-1) if value.size == size else value, (size,), f"{where}.{key}")
    centre = arrays["T"] / 1000.0 if np.linalg.norm(arrays["T"]) > _MM_THRESHOLD else arrays["T"]
    R = _world_to_camera(arrays["R"].reshape(3, 3), centre, f"{where}.R")
    return _camera(where, cam_id, cam, ("w", "h"),
                   arrays["f"], arrays["c"], arrays["k"], arrays["p"][::-1], R, centre)  # fmt: skip


def _world_to_camera(R: np.ndarray, centre: np.ndarray, where: str) -> np.ndarray:
    """``R^T`` (mmpose's convention) or ``R``: the one that makes a level camera aimed at the origin."""
    if np.abs(R @ R.T - np.eye(3)).max() > 1e-3 or np.linalg.det(R) < 0:
        raise DataError(f"{where}: expected a rotation matrix, found {np.round(R, 4).tolist()}")
    toward_origin = -centre / np.linalg.norm(centre)
    fits = [w2c for w2c in (R.T, R) if w2c[2] @ toward_origin > _MIN_FACING and abs(w2c[0, 2]) < _MAX_TILT]
    if len(fits) != 1:
        raise DataError(
            f"{where}: expected a level camera aimed at the capture area (world origin) with R camera-to-world "
            f"or world-to-camera, found {len(fits)} readings that fit (R = {np.round(R, 3).tolist()}, "
            f"camera centre {np.round(centre, 3).tolist()} m)"
        )
    return fits[0]


def _camera(where: str, cam_id: str, cam: dict, size_keys: tuple[str, str], f, c, k, p, R, centre) -> H36mCamera:
    """``R`` world-to-camera, ``centre`` (3,) m; the image size is read from ``cam[size_keys]``."""
    for key in size_keys:
        value = cam.get(key)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise DataError(f"{where}.{key}: expected a positive integer, found {value!r}")
    if (f <= 0).any():
        raise DataError(f"{where}: expected positive focal lengths, found {f.tolist()}")
    return H36mCamera(
        id=cam_id, image_size=tuple(int(cam[key]) for key in size_keys),
        f=f, c=c, k=k, p=np.ascontiguousarray(p), R=R, t=-R @ centre,
    )  # fmt: skip
