"""Interactive figures (plotly), saved as ``plotly.JSONDataset`` entries that kedro-viz
renders in its preview and MLflow keeps as artifacts; each has a static PNG twin.

- :func:`training_curves`: any history table (pretraining, adaptation): one trace per
  numeric column against the epoch, hover for values, click the legend to hide;
- :func:`per_joint_errors`: per-joint MPJPE bars of a metrics file;
- :func:`keypoint_distributions`: source, target and generated 2D of a few joints
  relative to the hip (normalised model-input coordinates, y down);
- :func:`skeleton_viewer`: lifted 3D poses, one frame at a time under a slider.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from adaptpose_pipeline.core.skeleton import H36M17

COLOURS = {"source": "#1f77b4", "target": "#d62728", "generated": "#2ca02c"}
JOINTS_2D = ("head", "l_wrist", "r_wrist", "l_ankle", "r_ankle")
MAX_POINTS = 1500  # per domain and joint: enough for the shape, small enough for a browser


def training_curves(history: pd.DataFrame, title: str) -> go.Figure:
    """Every numeric column of ``history`` against ``epoch`` (mm and losses share the
    y axis; hide traces from the legend)."""
    if "epoch" not in history or history.empty:
        raise ValueError(f"{title}: expected a history table with an 'epoch' column and at least one row")
    fig = go.Figure()
    for col in history.columns:
        if col == "epoch" or not pd.api.types.is_numeric_dtype(history[col]) or history[col].isna().all():
            continue
        fig.add_trace(go.Scatter(x=history["epoch"], y=history[col], mode="lines+markers", name=col))
    fig.update_layout(title=title, xaxis_title="epoch", hovermode="x unified", template="plotly_white")
    return fig


def per_joint_errors(metrics: dict) -> go.Figure:
    """Per-joint MPJPE (mm) of one model on the target test split, the overall MPJPE dashed."""
    names, values = list(metrics["per_joint"]), [float(v) for v in metrics["per_joint"].values()]
    overall = float(metrics["overall"]["mpjpe"])
    fig = go.Figure(go.Bar(x=values, y=names, orientation="h", name="MPJPE", hovertemplate="%{y}: %{x:.1f} mm<extra></extra>"))
    fig.add_vline(x=overall, line_dash="dash", annotation_text=f"MPJPE {overall:.1f} mm")
    fig.update_layout(
        title=f"{metrics.get('model', '')} lifter on {metrics.get('target', '')}: per-joint error",
        xaxis_title="MPJPE (mm, root-aligned)", yaxis={"autorange": "reversed"}, template="plotly_white",
        height=260 + 18 * len(names),
    )
    return fig


def _rows_2d(arrays: dict, key: str = "pose_2d") -> np.ndarray:
    pose = np.asarray(arrays[key], np.float64).reshape(-1, H36M17.num_joints, 2)
    if "valid" in arrays and len(arrays["valid"]) == len(pose):
        pose = pose[np.asarray(arrays["valid"], bool)]
    return pose


def keypoint_distributions(source: dict, target: dict, generated: dict, seed: int = 0) -> go.Figure:
    """Where a few joints sit relative to the hip in the source, target and generated 2D."""
    rng = np.random.default_rng(seed)
    poses = {"source": _rows_2d(source), "target": _rows_2d(target), "generated": _rows_2d(generated)}
    hip = H36M17.index("hip")
    fig = make_subplots(rows=1, cols=len(JOINTS_2D), subplot_titles=[f"{j} - hip" for j in JOINTS_2D])
    for name, pose in poses.items():
        rows = rng.choice(len(pose), size=min(MAX_POINTS, len(pose)), replace=False) if len(pose) else np.arange(0)
        rel = pose[rows] - pose[rows, hip : hip + 1]
        for col, joint in enumerate(JOINTS_2D, start=1):
            j = H36M17.index(joint)
            fig.add_trace(
                go.Scattergl(
                    x=rel[:, j, 0], y=rel[:, j, 1], mode="markers", name=name, legendgroup=name, showlegend=col == 1,
                    marker={"size": 3, "opacity": 0.35, "color": COLOURS[name]},
                ),
                row=1, col=col,
            )
            fig.update_yaxes(autorange="reversed", row=1, col=col)  # image y points down
    fig.update_layout(title="2D keypoints relative to the hip: source, target, generated", template="plotly_white", height=420)
    return fig


def skeleton_viewer(pose_3d: np.ndarray, title: str = "lifted 3D poses", max_frames: int = 300) -> go.Figure:
    """Root-relative camera-frame poses ``(T, 17, 3)`` (m) as a 3D skeleton with a frame
    slider (every ``ceil(T / max_frames)``-th frame); y up on screen, the camera's z away."""
    pose = np.asarray(pose_3d, np.float64)
    if pose.ndim != 3 or pose.shape[1:] != (H36M17.num_joints, 3) or len(pose) == 0:
        raise ValueError(f"skeleton viewer: expected poses (T, {H36M17.num_joints}, 3), got {pose.shape}")
    step = int(np.ceil(len(pose) / max_frames))
    frames_idx = np.arange(0, len(pose), step)
    # camera frame (x right, y down, z forward) -> plot axes (x, z, -y): upright, depth away
    xyz = np.stack([pose[..., 0], pose[..., 2], -pose[..., 1]], axis=-1)
    bones = [(c, p) for c, p in enumerate(H36M17.parents) if p >= 0]

    def lines(t: int) -> go.Scatter3d:
        xs, ys, zs = [], [], []
        for c, p in bones:
            xs += [xyz[t, p, 0], xyz[t, c, 0], None]
            ys += [xyz[t, p, 1], xyz[t, c, 1], None]
            zs += [xyz[t, p, 2], xyz[t, c, 2], None]
        return go.Scatter3d(x=xs, y=ys, z=zs, mode="lines+markers", line={"width": 5}, marker={"size": 3}, name=f"frame {t}")

    lim = float(np.abs(xyz).max()) or 1.0
    axis = {"range": [-lim, lim]}
    fig = go.Figure(data=[lines(int(frames_idx[0]))], frames=[go.Frame(data=[lines(int(t))], name=str(int(t))) for t in frames_idx])
    fig.update_layout(
        title=title, template="plotly_white", height=560, showlegend=False,
        scene={"xaxis": {**axis, "title": "x (m)"}, "yaxis": {**axis, "title": "depth (m)"}, "zaxis": {**axis, "title": "up (m)"},
               "aspectmode": "cube"},
        sliders=[{"steps": [{"args": [[str(int(t))], {"frame": {"duration": 0}, "mode": "immediate"}], "label": str(int(t)), "method": "animate"}
                            for t in frames_idx], "currentvalue": {"prefix": "frame "}}],
        updatemenus=[{"type": "buttons", "buttons": [{"label": "play", "method": "animate", "args": [None, {"frame": {"duration": 40}}]}]}],
    )
    return fig
