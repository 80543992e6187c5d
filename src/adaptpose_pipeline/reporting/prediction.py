"""Figures of lifted poses without ground truth (a user's video): no kedro, no pyplot."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from adaptpose_pipeline.core.skeleton import Skeleton
from adaptpose_pipeline.reporting.plots import PRED_COLOUR, VIEWS, draw_skeleton, new_figure, style_view_axis


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
    fig = new_figure(2.3 * len(rows) + 0.4, 5.2)
    axes = fig.subplots(len(VIEWS), len(rows), squeeze=False)
    for col, row in enumerate(rows):
        for view_row, (horizontal, axis, view) in enumerate(VIEWS):
            ax = axes[view_row, col]
            draw_skeleton(ax, poses[row], skeleton, horizontal, PRED_COLOUR, "predicted")
            if filled is not None and filled[row].any():
                pts = poses[row][filled[row]]
                ax.scatter(pts[:, horizontal], pts[:, 1], s=22, facecolors="none", edgecolors="k", lw=0.8, label="filled in", zorder=3)
            style_view_axis(ax, lim, axis, view, first_column=col == 0)
        axes[0, col].set_title(labels[col], fontsize="x-small")
    handles = {}
    for ax in axes.ravel():
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles), loc="upper right", fontsize="small", ncol=2)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return fig
