"""Evaluation figures. Each function returns a ``Figure`` on an Agg canvas and writes
nothing: the catalog saves it (and sets the dpi). Figures are made without pyplot, so
none stay open in a long run."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from adaptpose_pipeline.core.skeleton import Skeleton

TRUE_COLOUR, PRED_COLOUR = "0.15", "tab:red"
# Camera coordinates: x right, y down, z forward. Each view: (horizontal axis, its name, view).
VIEWS = ((0, "x", "front"), (2, "z", "side"))


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _title(metrics: dict) -> str:
    protocol = metrics["protocol"]
    return (
        f"{metrics['target']} test, {metrics['model']} lifter\n"
        f"{protocol['joint_set']}, {protocol.get('coordinates', 'unrecorded')}, {protocol['frames']} valid frames"
    )


def per_joint_errors(metrics: dict) -> Figure:
    """One horizontal bar per joint: its MPJPE (mm), the overall MPJPE as a dashed line."""
    names, values = list(metrics["per_joint"]), list(metrics["per_joint"].values())
    fig = new_figure(6.0, 0.25 * len(names) + 1.4)
    ax = fig.subplots()
    ax.barh(names, values, color="tab:blue")
    ax.axvline(metrics["overall"]["mpjpe"], color="0.3", ls="--", label=f"MPJPE {metrics['overall']['mpjpe']:.1f} mm")
    ax.invert_yaxis()  # table order, root on top
    ax.set_xlabel("MPJPE (mm, root-aligned)")
    ax.legend(loc="lower right", fontsize="small")
    ax.set_title(_title(metrics), fontsize="medium")
    fig.tight_layout()
    return fig


def pck_curve(metrics: dict) -> Figure:
    """PCK against threshold (the AUC is its mean), the PCK threshold marked."""
    curve, overall = metrics["pck_curve"], metrics["overall"]
    threshold = metrics["protocol"]["pck_threshold_mm"]
    pck_key = f"pck{int(threshold)}"
    fig = new_figure(5.0, 3.6)
    ax = fig.subplots()
    ax.plot(curve["thresholds_mm"], curve["pck"], marker=".", label=f"{metrics['model']} (AUC {overall['auc']:.3f})")
    ax.axvline(threshold, color="0.5", ls="--", label=f"PCK@{threshold} mm = {overall[pck_key]:.3f}")
    ax.set_xlabel("threshold (mm)")
    ax.set_ylabel("PCK (share of joints within threshold)")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="best", fontsize="small")
    ax.set_title(_title(metrics), fontsize="medium")
    fig.tight_layout()
    return fig


def style_view_axis(ax, lim: float, axis: str, view: str, first_column: bool) -> None:
    """One panel of a skeleton grid: square limits, y down (camera frame), labels."""
    ax.set_xlim(-lim, lim)
    ax.set_ylim(lim, -lim)  # y points down
    ax.set_aspect("equal")
    ax.tick_params(labelsize="x-small")
    ax.set_xlabel(f"{axis} (m)", fontsize="x-small")
    if first_column:
        ax.set_ylabel(f"{view} ({axis}-y)\ny (m)", fontsize="small")


def draw_skeleton(ax, pose: np.ndarray, skeleton: Skeleton, horizontal: int, colour: str, label: str) -> None:
    for child, parent in enumerate(skeleton.parents):
        if parent >= 0:
            seg = pose[[parent, child]]
            ax.plot(seg[:, horizontal], seg[:, 1], color=colour, lw=1.6, label=label if child == 1 else None)


def skeleton_panel(
    pred: np.ndarray,
    gt: np.ndarray,
    frames: Sequence[int],
    skeleton: Skeleton,
    labels: Sequence[str] | None = None,
) -> Figure:
    """Predicted vs true skeletons of rows ``frames`` of ``pred``/``gt`` ``(N, J, 3)`` (m).

    One column per frame; the top row is the front view (x-y), the bottom the side
    view (z-y), y pointing down as in the camera. ``labels`` title the columns.
    """
    pred, gt, frames = np.asarray(pred), np.asarray(gt), list(frames)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[1:] != (skeleton.num_joints, 3):
        raise ValueError(
            f"skeleton_panel: expected predictions and ground truth (N, {skeleton.num_joints}, 3) for "
            f"{skeleton.name}, got {pred.shape} and {gt.shape}"
        )
    if not frames or min(frames) < 0 or max(frames) >= len(pred):
        raise ValueError(f"skeleton_panel: frames must be rows in [0, {len(pred)}), got {frames}")
    if labels is not None and len(labels) != len(frames):
        raise ValueError(f"skeleton_panel: {len(labels)} labels for {len(frames)} frames")
    # One square extent for every panel, so that sizes compare across frames and views.
    lim = 1.05 * max(np.abs(gt[frames]).max(), np.abs(pred[frames]).max(), 1e-3)

    def draw(ax, col: int, horizontal: int) -> None:
        draw_skeleton(ax, gt[frames[col]], skeleton, horizontal, TRUE_COLOUR, "true")
        draw_skeleton(ax, pred[frames[col]], skeleton, horizontal, PRED_COLOUR, "predicted")

    return view_grid([labels[c] if labels is not None else f"row {f}" for c, f in enumerate(frames)], lim, draw)


def view_grid(titles: Sequence[str], lim: float, draw: Callable[[Axes, int, int], None]) -> Figure:
    """A grid of skeleton panels: one column per title, one row per view (``VIEWS``:
    front x-y, side z-y, y down), every panel ``lim`` metres square around the root.
    ``draw(ax, column, horizontal)`` draws one panel (``horizontal``: the coordinate
    on its x axis); the legend gathers every label drawn."""
    fig = new_figure(2.3 * len(titles) + 0.4, 5.2)
    axes = fig.subplots(len(VIEWS), len(titles), squeeze=False)
    for col, title in enumerate(titles):
        for row, (horizontal, axis, view) in enumerate(VIEWS):
            draw(axes[row, col], col, horizontal)
            style_view_axis(axes[row, col], lim, axis, view, first_column=col == 0)
        axes[0, col].set_title(title, fontsize="x-small")
    handles: dict = {}
    for ax in axes.ravel():
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles), loc="upper right", fontsize="small", ncol=2)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return fig
