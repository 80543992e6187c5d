"""Figures of lifted poses without ground truth (a user's video): no kedro, no pyplot."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from adaptpose_pipeline.core.skeleton import Skeleton
from adaptpose_pipeline.evaluation.plots import PRED_COLOUR, draw_skeleton, view_grid


def pick_rows(num_frames: int, count: int) -> list[int]:
    """``count`` evenly spaced rows of ``num_frames`` (all of them when fewer)."""
    return sorted({int(round(r)) for r in np.linspace(0, num_frames - 1, min(count, num_frames))})


def predicted_skeletons(
    poses: np.ndarray,
    rows: Sequence[int],
    skeleton: Skeleton,
    labels: Sequence[str],
    filled: np.ndarray | None = None,
) -> Figure:
    """Rows ``rows`` of ``poses (T, J, 3)`` (m, camera frame): front (x-y) and side
    (z-y) views per column, y down as in the image. Joints marked in ``filled (T, J)``
    (interpolated, not detected) are drawn as open circles."""
    poses, rows = np.asarray(poses), list(rows)
    if poses.ndim != 3 or poses.shape[1:] != (skeleton.num_joints, 3):
        raise ValueError(f"predicted_skeletons: expected poses (T, {skeleton.num_joints}, 3), got {poses.shape}")
    if not rows or min(rows) < 0 or max(rows) >= len(poses) or len(labels) != len(rows):
        raise ValueError(f"predicted_skeletons: rows must be in [0, {len(poses)}) with one label each, got {rows}, {len(labels)} labels")
    lim = 1.05 * max(np.abs(poses[rows]).max(), 1e-3)

    def draw(ax, col: int, horizontal: int) -> None:
        row = rows[col]
        draw_skeleton(ax, poses[row], skeleton, horizontal, PRED_COLOUR, "predicted")
        if filled is not None and filled[row].any():
            pts = poses[row][filled[row]]
            ax.scatter(pts[:, horizontal], pts[:, 1], s=22, facecolors="none", edgecolors="k", lw=0.8, label="filled in", zorder=3)

    return view_grid(list(labels), lim, draw)
