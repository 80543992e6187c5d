"""A user's 2D keypoints for one video: readers, and the COCO-17 -> Human3.6M-17 rule.

Formats (picked by the file's extension, or named):

``coco_json`` (``.json``), COCO-17 keypoints as mmpose, Detectron2 and the COCO
results format write them, either

- a list of per-person records ``{"image_id" | "frame_id": int, "keypoints": [x, y,
  score] * 17 (flat), "score": float, "category_id": 1}``; or
- a dict with ``"annotations"`` (such records) and optionally ``"images"``
  (``{"id", "width", "height"}``) giving the image size and every frame, also those
  where nobody was detected.

The frame number is ``frame_id`` when a record has one, else ``image_id``. Frames are
every image listed under ``"images"`` (sorted by id), else every number from the
first to the last frame seen; a frame without a record has every joint missing. With
several people in a frame the record with the highest ``score`` is used (the mean
keypoint score when a record has none). Records of another ``category_id`` than 1
(person) are skipped.

``csv`` (``.csv``), one row per frame, H36M-17 joints, a header naming the columns::

    frame,hip_x,hip_y,hip_score,r_hip_x,r_hip_y,r_hip_score,...,r_wrist_score

``frame`` (integer frame numbers, increasing) is optional (rows are then frames 0, 1,
...); each joint needs ``<joint>_x`` and ``<joint>_y`` in pixels, ``<joint>_score`` is
optional (1 when absent). Joint names are ``core.skeleton.H36M17_JOINTS``. Any other
column is an error (a misspelt name would otherwise be ignored).

``npy`` (``.npy`` / ``.npz``), an array ``(T, 17, 2)`` or ``(T, 17, 3)`` (x, y[,
score]) in H36M-17 order, pixels; an ``.npz`` holds one array, or one named
``keypoints``. Rows are frames 0, 1, ...

Scores: a joint whose score is below ``min_score`` counts as missing (COCO marks an
undetected joint with score or visibility 0); its coordinates are ignored, and may be
NaN. A joint with a high enough score must have finite coordinates; a NaN score is an
error.

COCO-17 -> H36M-17 (:func:`coco17_to_h36m17`): limbs map by name, ``neck`` (H36M's
nose/neck-top joint) is the nose, and

- ``hip`` (pelvis) = midpoint of the hips; ``thorax`` = midpoint of the shoulders;
- ``spine`` = midpoint of pelvis and thorax;
- ``head`` (top) = ``thorax + HEAD_TOP_SCALE * (face - thorax)``, ``face`` the mean of
  the eyes and ears that were detected (at least one).

A derived joint's score is the lowest score of the joints it is made from (those
used). The neck-to-face distance is taken as ``1 / HEAD_TOP_SCALE`` of the neck-to-
crown distance, an anthropometric average good to a few centimetres; COCO's hips also
sit a little higher and wider than H36M's, a gap no fixed rule removes.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from adaptpose_pipeline.core.interpolation import fill_gaps
from adaptpose_pipeline.core.skeleton import H36M17, H36M17_JOINTS
from adaptpose_pipeline.datasets.common import DataError, require_file

COCO17_JOINTS: tuple[str, ...] = (
    "nose",
    "l_eye",
    "r_eye",
    "l_ear",
    "r_ear",
    "l_shoulder",
    "r_shoulder",
    "l_elbow",
    "r_elbow",
    "l_wrist",
    "r_wrist",
    "l_hip",
    "r_hip",
    "l_knee",
    "r_knee",
    "l_ankle",
    "r_ankle",
)
COCO_PERSON = 1
# H36M-17 joint <- COCO-17 joint, where one joint is the other.
H36M_FROM_COCO: dict[str, str] = {
    "r_hip": "r_hip",
    "r_knee": "r_knee",
    "r_ankle": "r_ankle",
    "l_hip": "l_hip",
    "l_knee": "l_knee",
    "l_ankle": "l_ankle",
    "neck": "nose",
    "l_shoulder": "l_shoulder",
    "l_elbow": "l_elbow",
    "l_wrist": "l_wrist",
    "r_shoulder": "r_shoulder",
    "r_elbow": "r_elbow",
    "r_wrist": "r_wrist",
}
FACE = ("l_eye", "r_eye", "l_ear", "r_ear")
HEAD_TOP_SCALE = 1.6  # thorax -> head top over thorax -> eye/ear centre
# The inverse rule (synthetic detections): eyes lie EYE_SHARE of the way from the face
# centre to the nose, ears as far on the other side; lateral offsets in metres.
EYE_SHARE = 0.5
EYE_LATERAL_M, EAR_LATERAL_M = 0.03, 0.075

FORMATS: tuple[str, ...] = ("coco_json", "csv", "npy")
EXTENSIONS: dict[str, str] = {".json": "coco_json", ".csv": "csv", ".npy": "npy", ".npz": "npy"}

_C = COCO17_JOINTS.index
_H = H36M17.index


@dataclass
class Keypoints2D:
    """2D keypoints of one person over one video, H36M-17 order.

    ``joints_2d (T, 17, 2)`` px (NaN where unknown), ``scores (T, 17)`` (0 where
    missing), ``frames (T,)`` frame numbers (consecutive), ``image_size`` ``(w, h)``
    when the file gives it, ``sha256`` of the file.
    """

    path: str
    format: str
    joints_2d: np.ndarray
    scores: np.ndarray
    frames: np.ndarray
    image_size: tuple[int, int] | None
    sha256: str

    @property
    def num_frames(self) -> int:
        return int(len(self.frames))


# --------------------------------------------------------------------------- joint rules


def coco17_to_h36m17(xy: np.ndarray, scores: np.ndarray, min_score: float) -> tuple[np.ndarray, np.ndarray]:
    """COCO-17 ``xy (..., 17, D)`` and ``scores (..., 17)`` -> H36M-17 ``(..., 17, D)``
    and ``(..., 17)`` by the rule in the module docstring. Points below ``min_score``
    are not used; a joint that cannot be made gets NaN and score 0."""
    xy = np.asarray(xy, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if xy.shape[-2] != len(COCO17_JOINTS) or scores.shape != xy.shape[:-1]:
        raise ValueError(f"coco17_to_h36m17: expected xy (..., 17, D) and scores (..., 17), got {xy.shape} and {scores.shape}")
    out = np.full(xy.shape, np.nan)
    score = np.zeros(scores.shape)
    for h36m, coco in H36M_FROM_COCO.items():
        out[..., _H(h36m), :] = xy[..., _C(coco), :]
        score[..., _H(h36m)] = scores[..., _C(coco)]

    def mid(a: str, b: str) -> tuple[np.ndarray, np.ndarray]:
        return 0.5 * (xy[..., _C(a), :] + xy[..., _C(b), :]), np.minimum(scores[..., _C(a)], scores[..., _C(b)])

    (pelvis, s_pelvis), (thorax, s_thorax) = mid("l_hip", "r_hip"), mid("l_shoulder", "r_shoulder")
    out[..., _H("hip"), :], score[..., _H("hip")] = pelvis, s_pelvis
    out[..., _H("thorax"), :], score[..., _H("thorax")] = thorax, s_thorax
    out[..., _H("spine"), :], score[..., _H("spine")] = 0.5 * (pelvis + thorax), np.minimum(s_pelvis, s_thorax)

    face_idx = [_C(n) for n in FACE]
    used = scores[..., face_idx] >= min_score
    count = used.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        face = np.where(used[..., None], xy[..., face_idx, :], 0.0).sum(-2) / count[..., None]
    s_face = np.where(used, scores[..., face_idx], np.inf).min(-1)
    has_face = count > 0
    out[..., _H("head"), :] = np.where(has_face[..., None], thorax + HEAD_TOP_SCALE * (face - thorax), np.nan)
    score[..., _H("head")] = np.where(has_face, np.minimum(s_thorax, s_face), 0.0)
    return out, score


def h36m17_to_coco17(joints: np.ndarray) -> np.ndarray:
    """H36M-17 ``(..., 17, 3)`` metres -> COCO-17 ``(..., 17, 3)``: the inverse of
    :func:`coco17_to_h36m17` for making synthetic detections (project afterwards).

    The eyes and ears are placed so that their mean is the face centre the forward
    rule needs (``thorax + (head - thorax) / HEAD_TOP_SCALE``): eyes part way towards
    the nose, ears as far beyond, spread sideways along the shoulder line.
    """
    x = np.asarray(joints, dtype=np.float64)
    if x.shape[-2:] != (H36M17.num_joints, 3):
        raise ValueError(f"h36m17_to_coco17: expected joints (..., 17, 3), got {x.shape}")
    out = np.empty(x.shape)
    for h36m, coco in H36M_FROM_COCO.items():
        out[..., _C(coco), :] = x[..., _H(h36m), :]
    thorax, nose = x[..., _H("thorax"), :], x[..., _H("neck"), :]
    centre = thorax + (x[..., _H("head"), :] - thorax) / HEAD_TOP_SCALE
    toward_nose = EYE_SHARE * (nose - centre)
    left = x[..., _H("l_shoulder"), :] - x[..., _H("r_shoulder"), :]
    left = left / np.maximum(np.linalg.norm(left, axis=-1, keepdims=True), 1e-9)
    for side, sign in (("l", 1.0), ("r", -1.0)):
        out[..., _C(f"{side}_eye"), :] = centre + toward_nose + sign * EYE_LATERAL_M * left
        out[..., _C(f"{side}_ear"), :] = centre - toward_nose + sign * EAR_LATERAL_M * left
    return out


# --------------------------------------------------------------------------- readers


def keypoint_format(path: Path, fmt: str = "auto") -> str:
    """The format to read ``path`` with: ``fmt``, or by extension when ``"auto"``."""
    if fmt != "auto":
        if fmt not in FORMATS:
            raise DataError(f"{path}: unknown keypoint format {fmt!r}; expected one of {('auto',) + FORMATS}")
        return fmt
    ext = Path(path).suffix.lower()
    if ext not in EXTENSIONS:
        raise DataError(
            f"{path}: cannot tell the keypoint format from the extension {ext!r}; expected one of "
            f"{sorted(EXTENSIONS)} or a format named by predict.format ({list(FORMATS)})"
        )
    return EXTENSIONS[ext]


def read_keypoints(path: str | Path, fmt: str = "auto", min_score: float = 0.3) -> Keypoints2D:
    """Read one person's 2D keypoints over a video; every problem is a :class:`DataError`
    naming the file."""
    path = require_file(Path(path), "2D keypoints")
    return parse_keypoints(path, path.read_bytes(), fmt, min_score)


def parse_keypoints(path: str | Path, raw: bytes, fmt: str = "auto", min_score: float = 0.3) -> Keypoints2D:
    """:func:`read_keypoints` on a file's bytes already read (``path`` names it in errors
    and picks the format when ``fmt`` is ``auto``)."""
    path = Path(path)
    kind = keypoint_format(path, fmt)
    readers = {"coco_json": _read_coco, "csv": _read_csv, "npy": _read_npy}
    xy, scores, frames, image_size = readers[kind](path, raw, min_score)
    if len(frames) == 0:
        raise DataError(f"{path}: holds no frames")
    return Keypoints2D(str(path), kind, xy, scores, frames, image_size, hashlib.sha256(raw).hexdigest())


def _check_values(path: Path, xy: np.ndarray, scores: np.ndarray, frames: np.ndarray, names, min_score: float) -> None:
    """NaN scores, and non-finite coordinates of joints the scores call detected, are errors."""
    bad = ~np.isfinite(scores)
    if bad.any():
        t, j = np.argwhere(bad)[0]
        raise DataError(f"{path}: expected finite scores, found {scores[t, j]} at frame {frames[t]}, joint {names[j]!r}")
    bad = (scores >= min_score) & ~np.isfinite(xy).all(-1)
    if bad.any():
        t, j = np.argwhere(bad)[0]
        raise DataError(
            f"{path}: expected finite x, y for detected joints (score >= {min_score}), found {xy[t, j].tolist()} "
            f"at frame {frames[t]}, joint {names[j]!r} ({int(bad.sum())} such joints)"
        )


def _consecutive(ids: np.ndarray, xy: np.ndarray, scores: np.ndarray, frames: np.ndarray | None = None):
    """Rows for every frame from ``frames`` (default: first to last id); frames without a
    row get NaN coordinates and zero scores."""
    if frames is None:
        frames = np.arange(ids.min(), ids.max() + 1, dtype=np.int64) if len(ids) else np.zeros(0, np.int64)
    full_xy = np.full((len(frames),) + xy.shape[1:], np.nan)
    full_scores = np.zeros((len(frames),) + scores.shape[1:])
    rows = np.searchsorted(frames, ids)
    full_xy[rows], full_scores[rows] = xy, scores
    return full_xy, full_scores, frames


def _integer(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        raise DataError(f"{where}: expected an integer frame/image id, found {value!r}")
    return int(value)


def _read_coco(path: Path, raw: bytes, min_score: float):
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot be parsed as JSON: {exc}") from None
    images = None
    if isinstance(doc, dict):
        if "annotations" not in doc:
            raise DataError(f"{path}: expected a list of keypoint records or a dict with 'annotations', found keys {sorted(doc)[:10]}")
        records, images = doc["annotations"], doc.get("images")
    else:
        records = doc
    if not isinstance(records, list):
        raise DataError(f"{path}: expected a list of keypoint records, found {type(records).__name__}")
    best: dict[int, tuple[float, np.ndarray]] = {}
    for i, rec in enumerate(records):
        where = f"{path}: record {i}"
        if not isinstance(rec, dict) or "keypoints" not in rec:
            raise DataError(f"{where}: expected a dict with 'keypoints', found {type(rec).__name__ if not isinstance(rec, dict) else sorted(rec)}")
        if rec.get("category_id", COCO_PERSON) != COCO_PERSON:
            continue
        key = "frame_id" if "frame_id" in rec else "image_id"
        if key not in rec:
            raise DataError(f"{where}: expected 'frame_id' or 'image_id', found keys {sorted(rec)}")
        frame = _integer(rec[key], f"{where} {key}")
        kp = rec["keypoints"]
        if not isinstance(kp, list) or len(kp) != 3 * len(COCO17_JOINTS):
            n = len(kp) if isinstance(kp, list) else type(kp).__name__
            raise DataError(f"{where} (frame {frame}): expected {3 * len(COCO17_JOINTS)} keypoint values (17 COCO joints x [x, y, score]), found {n}")
        try:
            kp = np.array(kp, dtype=np.float64).reshape(len(COCO17_JOINTS), 3)
            score = float(rec["score"]) if "score" in rec else float(kp[:, 2].mean())
        except (TypeError, ValueError):
            raise DataError(f"{where} (frame {frame}): expected numbers for keypoints and score") from None
        if frame not in best or score > best[frame][0]:
            best[frame] = (score, kp)
    if not best:
        raise DataError(f"{path}: holds no person keypoint records (category_id 1)")
    ids = np.array(sorted(best), dtype=np.int64)
    kp = np.stack([best[f][1] for f in ids])
    frames, image_size = None, None
    if images is not None:
        frames, image_size = _coco_images(path, images, ids)
    xy, scores, frames = _consecutive(ids, kp[..., :2], kp[..., 2], frames)
    _check_values(path, xy, scores, frames, COCO17_JOINTS, min_score)
    xy, scores = coco17_to_h36m17(xy, scores, min_score)
    return xy, scores, frames, image_size


def _coco_images(path: Path, images, ids: np.ndarray) -> tuple[np.ndarray, tuple[int, int] | None]:
    if not isinstance(images, list) or not images or not all(isinstance(im, dict) and "id" in im for im in images):
        raise DataError(f"{path}: expected 'images' to be a non-empty list of dicts with 'id'")
    frames = np.array(sorted(_integer(im["id"], f"{path}: images id") for im in images), dtype=np.int64)
    unknown = np.setdiff1d(ids, frames)
    if len(unknown):
        raise DataError(f"{path}: annotations refer to image ids {unknown[:5].tolist()} that 'images' does not list")
    sizes = {(im.get("width"), im.get("height")) for im in images}
    if sizes == {(None, None)}:
        return frames, None
    if len(sizes) != 1 or None in next(iter(sizes)):
        raise DataError(f"{path}: expected one image size (width, height) for every image, found {sorted(sizes, key=str)[:4]}")
    w, h = next(iter(sizes))
    if not (isinstance(w, (int, float)) and isinstance(h, (int, float)) and w > 0 and h > 0):
        raise DataError(f"{path}: expected a positive image width and height, found {w!r}, {h!r}")
    return frames, (int(w), int(h))


def _read_csv(path: Path, raw: bytes, min_score: float):
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be parsed as CSV: {exc}") from None
    expected = [f"{j}_{c}" for j in H36M17_JOINTS for c in ("x", "y")]
    allowed = set(expected) | {f"{j}_score" for j in H36M17_JOINTS} | {"frame"}
    missing = [c for c in expected if c not in df.columns]
    unknown = [c for c in df.columns if c not in allowed]
    if missing or unknown:
        raise DataError(
            f"{path}: expected columns frame (optional), <joint>_x, <joint>_y and <joint>_score (optional) for the "
            f"H36M-17 joints {list(H36M17_JOINTS)}; missing {missing[:6]}{'...' if len(missing) > 6 else ''}, unknown {unknown[:6]}"
        )
    if len(df) == 0:
        raise DataError(f"{path}: holds no frames (a header and no rows)")
    try:
        values = df.apply(pd.to_numeric, errors="raise").astype(np.float64)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: expected numbers in every column: {exc}") from None
    xy = np.stack([values[[f"{j}_x", f"{j}_y"]].to_numpy() for j in H36M17_JOINTS], axis=1)
    scores = np.stack([values[f"{j}_score"].to_numpy() if f"{j}_score" in values else np.ones(len(values)) for j in H36M17_JOINTS], axis=1)
    if "frame" in values:
        ids = values["frame"].to_numpy()
        if not (np.isfinite(ids).all() and (ids == np.round(ids)).all()) or (np.diff(ids) <= 0).any():
            raise DataError(f"{path}: expected integer frame numbers that increase row by row in column 'frame'")
        xy, scores, frames = _consecutive(ids.astype(np.int64), xy, scores)
    else:
        frames = np.arange(len(values), dtype=np.int64)
    _check_values(path, xy, scores, frames, H36M17_JOINTS, min_score)
    return xy, scores, frames, None


def _read_npy(path: Path, raw: bytes, min_score: float):
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                names = loaded.files
                if "keypoints" not in names and len(names) != 1:
                    raise DataError(f"{path}: expected one array, or one named 'keypoints', found arrays {names}")
                arr = loaded["keypoints" if "keypoints" in names else names[0]]
        else:
            arr = loaded
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: cannot be read as a numpy .npy/.npz file: {exc}") from None
    if arr.ndim != 3 or arr.shape[1] != H36M17.num_joints or arr.shape[2] not in (2, 3) or arr.dtype.kind not in "fiu":
        raise DataError(f"{path}: expected a numeric array (T, 17, 2) or (T, 17, 3) in H36M-17 order, found {arr.dtype} {arr.shape}")
    arr = arr.astype(np.float64)
    xy = arr[..., :2]
    scores = arr[..., 2] if arr.shape[2] == 3 else np.ones(arr.shape[:2])
    frames = np.arange(len(arr), dtype=np.int64)
    _check_values(path, xy, scores, frames, H36M17_JOINTS, min_score)
    return xy, scores, frames, None


# --------------------------------------------------------------------------- gaps


def fill_missing(kp: Keypoints2D, min_score: float) -> tuple[np.ndarray, np.ndarray]:
    """``(joints_2d (T, 17, 2), filled (T, 17) bool)``: joints below ``min_score``
    interpolated linearly over time (nearest detection at the ends)."""
    valid = (kp.scores >= min_score) & np.isfinite(kp.joints_2d).all(-1)
    never = [H36M17_JOINTS[j] for j in np.flatnonzero(~valid.any(axis=0))]
    if never:
        raise DataError(
            f"{kp.path}: joints {never} are never detected with score >= {min_score} in any of its "
            f"{kp.num_frames} frames, so they cannot be filled in (lower predict.min_score or check the detector)"
        )
    return fill_gaps(kp.joints_2d, valid), ~valid
