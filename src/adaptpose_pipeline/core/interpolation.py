"""Filling missing keypoints over time.

A detector loses a joint for a few frames (occlusion, motion blur) far more often
than it loses it for good; a temporal lifter needs a value in every frame, so gaps
are bridged by linear interpolation of each joint's track.
"""

from __future__ import annotations

import numpy as np


def fill_gaps(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Each joint's invalid frames linearly interpolated from its valid ones.

    ``x (T, J, D)``, ``valid (T, J)`` bool; frames are taken as evenly spaced. Before a
    joint's first valid frame and after its last, the nearest valid value repeats.
    Returns a float64 copy; valid entries are unchanged (invalid ones may hold NaN).
    Raises ``ValueError`` naming the joint indices that are never valid.
    """
    x = np.asarray(x, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool)
    if x.ndim != 3 or valid.shape != x.shape[:2]:
        raise ValueError(f"fill_gaps: expected x (T, J, D) and valid (T, J), got {x.shape} and {valid.shape}")
    never = np.flatnonzero(~valid.any(axis=0))
    if len(never):
        raise ValueError(f"fill_gaps: joints {never.tolist()} are valid in no frame")
    out = x.copy()
    t = np.arange(len(x))
    for j in np.flatnonzero(~valid.all(axis=0)):
        known = valid[:, j]
        for d in range(x.shape[2]):
            out[:, j, d] = np.interp(t, t[known], x[known, j, d])
    return out
