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
seq_k, seq_p        (S, 3), (S, 2) f32 radial / tangential distortion (0: none); the
                                       generator projects source motions with them
seq_name            (S,) str           dataset/subject/sequence/camera
coordinates         (1,) str           native field of the 3D (e.g. 3DHP ``annot3``;
                                       added by the ingest node)
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



def build_arrays(df: pd.DataFrame, normalisation: str, pad: bool, name: str) -> dict[str, np.ndarray]:
    check_table(df, name)
    ordered = pd.concat([frames for _, frames in sequence_groups(df)], ignore_index=True)
    x2d = joints(ordered, "joints_2d")
    x3d = joints(ordered, "joints_3d")
    w, h = ordered["image_w"].to_numpy(), ordered["image_h"].to_numpy()
    pose_2d, scale = camera.normalise_pixels(x2d, w.astype(np.float32), h.astype(np.float32), normalisation, pad)
    root = x3d[:, 0].copy()
    root[ordered["root_relative"].to_numpy()] = 0.0
    starts = ordered.groupby(ID_COLUMNS, sort=False).head(1)
    return {
        "pose_2d": pose_2d.astype(np.float32),
        "pose_3d": (x3d - x3d[:, :1]).astype(np.float32),
        "root_3d": root.astype(np.float32),
        "scale_2d": scale.astype(np.float32),
        "valid": ordered["valid"].to_numpy(bool),
        "frame": ordered["frame"].to_numpy(np.int64),
        "seq_start": starts.index.to_numpy(np.int64),
        "seq_length": ordered.groupby(ID_COLUMNS, sort=False).size().to_numpy(np.int64),
        "seq_fps": starts["fps"].to_numpy(np.float32),
        "seq_image_size": starts[["image_w", "image_h"]].to_numpy(np.int64),
        "seq_f": starts[["fx", "fy"]].to_numpy(np.float32),
        "seq_c": starts[["cx", "cy"]].to_numpy(np.float32),
        "seq_k": starts[["k1", "k2", "k3"]].to_numpy(np.float32),
        "seq_p": starts[["p1", "p2"]].to_numpy(np.float32),
        "seq_name": starts[ID_COLUMNS[:4]].agg("/".join, axis=1).to_numpy(str),
    }
