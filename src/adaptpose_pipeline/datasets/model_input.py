"""Model-input arrays: normalised 2D, root-relative 3D, sequences as index ranges.

``build_arrays`` turns a frame table (see ``tables``) into a dict of arrays, saved
as one ``.npz`` per split:

==================  =================  ================================================
key                 shape              meaning
==================  =================  ================================================
pose_2d             (N, 17, 2) f32     normalised 2D (``normalisation`` below)
pose_3d             (N, 17, 3) f32     root-relative 3D, metres (root joint is zero)
root_3d             (N, 3) f32         camera-frame root, metres (zero if unknown)
scale_2d            (N,) f32           Frobenius norm divided out (1 for ``screen``)
valid               (N,) bool          frame has ground truth / may be used
frame               (N,) i64           frame index within its sequence
seq_start           (S,) i64           first row of each sequence
seq_length          (S,) i64           rows of each sequence
seq_fps             (S,) f32           frame rate
seq_image_size      (S, 2) i64         (w, h) px, before padding
seq_f, seq_c        (S, 2) f32         intrinsics, px
seq_name            (S,) str           dataset/subject/sequence/camera
==================  =================  ================================================

Normalisations (paper §4): ``screen`` maps ``[0, w]`` to ``[-1, 1]`` keeping the
aspect ratio, after padding portrait frames to square when ``pad_to_square``
(the width grows to the height, the image centred); ``frobenius`` root-centres each
2D pose and divides it by its Frobenius norm (Ski, whose 2D comes from crops).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from adaptpose_pipeline.core import camera
from adaptpose_pipeline.datasets.tables import ID_COLUMNS, check_table, joints, sequence_groups

NORMALISATIONS = ("screen", "frobenius")


def pad_to_square(x_px: np.ndarray, w: np.ndarray, h: np.ndarray):
    """Pixels as if the shorter image side were padded symmetrically to a square.

    ``x_px (N, J, 2)``, ``w``, ``h`` ``(N,)``; returns ``(shifted x_px, s, s)`` with
    ``s = max(w, h)``. For landscape frames the screen normalisation is unchanged by
    this; portrait frames (3DPW's 1080 x 1920) are shifted right by ``(h - w) / 2``.
    """
    s = np.maximum(w, h)
    offset = np.stack([(s - w) / 2, (s - h) / 2], -1).astype(x_px.dtype)
    return x_px + offset[:, None, :], s, s


def normalise_2d(
    x_px: np.ndarray, w: np.ndarray, h: np.ndarray, normalisation: str, pad: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels ``(N, 17, 2)`` -> normalised 2D and the divided-out scale ``(N,)``.

    ``pad``: pad each frame to a square first (see :func:`pad_to_square`)."""
    if normalisation == "screen":
        if pad:
            x_px, w, h = pad_to_square(x_px, w, h)
        out = camera.normalise_screen(x_px, w[:, None].astype(np.float32), h[:, None].astype(np.float32))
        return out.astype(np.float32), np.ones(len(x_px), np.float32)
    if normalisation == "frobenius":
        out, scale = camera.frobenius_normalise(x_px)
        return out.astype(np.float32), scale.astype(np.float32)
    raise ValueError(f"normalisation: expected one of {NORMALISATIONS}, got {normalisation!r}")


def build_arrays(df: pd.DataFrame, normalisation: str, pad: bool, name: str) -> dict[str, np.ndarray]:
    check_table(df, name)
    ordered = pd.concat([frames for _, frames in sequence_groups(df)], ignore_index=True)
    x2d = joints(ordered, "joints_2d")
    x3d = joints(ordered, "joints_3d")
    w, h = ordered["image_w"].to_numpy(), ordered["image_h"].to_numpy()
    pose_2d, scale = normalise_2d(x2d, w, h, normalisation, pad)
    root = x3d[:, 0].copy()
    root[ordered["root_relative"].to_numpy()] = 0.0
    starts = ordered.groupby(ID_COLUMNS, sort=False).head(1)
    return {
        "pose_2d": pose_2d,
        "pose_3d": (x3d - x3d[:, :1]).astype(np.float32),
        "root_3d": root.astype(np.float32),
        "scale_2d": scale,
        "valid": ordered["valid"].to_numpy(bool),
        "frame": ordered["frame"].to_numpy(np.int64),
        "seq_start": starts.index.to_numpy(np.int64),
        "seq_length": ordered.groupby(ID_COLUMNS, sort=False).size().to_numpy(np.int64),
        "seq_fps": starts["fps"].to_numpy(np.float32),
        "seq_image_size": starts[["image_w", "image_h"]].to_numpy(np.int64),
        "seq_f": starts[["fx", "fy"]].to_numpy(np.float32),
        "seq_c": starts[["cx", "cy"]].to_numpy(np.float32),
        "seq_name": starts[ID_COLUMNS[:4]].agg("/".join, axis=1).to_numpy(str),
    }
