"""Figures of the generated motions against the real data they should resemble.

Inputs are the arrays the pipelines save: ``generated`` is the adapt pipeline's
``generated_motions`` (``K`` kept samples of ``T``-frame windows), ``source`` and
``target`` are model-input arrays (``datasets/model_input.py``):

=================  ==================  ===============================================
generated key      shape               meaning
=================  ==================  ===============================================
pose_3d            (K, T, 17, 3)       generated motion, root-relative, source camera
source_pose_3d     (K, T, 17, 3)       the source window it was generated from
pose_2d            (K, T, 17, 2)       its projection, normalised as the target's 2D
rotation           (K, 3, 3)           generated camera rotation R
translation        (K, 3)              camera-frame root of the window's centre frame
selected           (K,) bool           kept by the selection (Eq. 14)
=================  ==================  ===============================================

Camera frame: x right, y down, z forward, as Human3.6M's. Each function returns a
``Figure`` on an Agg canvas and writes nothing; the catalog saves it. Point clouds are
subsampled with a fixed seed, so the same arrays give the same figure.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from adaptpose_pipeline.core.skeleton import H36M17, bone_lengths, joints_to_bones
from adaptpose_pipeline.evaluation.plots import draw_skeleton, new_figure

# Extremities move most and so show a pose-distribution gap first.
SCATTER_JOINTS = ("head", "l_wrist", "r_wrist", "l_ankle", "r_ankle")
MAX_POINTS = 3000
SEED = 0
COLOURS = {"source": "0.6", "target": "tab:blue", "generated": "tab:red", "selected": "tab:orange"}
SKELETON_FRAMES = 5

_HIP, _THORAX = H36M17.index("hip"), H36M17.index("thorax")
_GENERATED_SHAPES = {
    "pose_3d": ("K", "T", H36M17.num_joints, 3),
    "source_pose_3d": ("K", "T", H36M17.num_joints, 3),
    "pose_2d": ("K", "T", H36M17.num_joints, 2),
    "rotation": ("K", 3, 3),
    "translation": ("K", 3),
    "selected": ("K",),
}


# --------------------------------------------------------------------------- inputs


def _check_generated(generated: dict, keys: tuple[str, ...]) -> tuple[int, int]:
    """Raise unless ``generated`` has ``keys`` with the shapes above; return ``(K, T)``."""
    missing = [k for k in keys if k not in generated]
    if missing:
        raise KeyError(f"generated_motions: missing arrays {missing}; has {sorted(generated)}")
    sizes: dict[str, int] = {}
    for key in keys:
        shape, expected = np.shape(generated[key]), _GENERATED_SHAPES[key]
        ok = len(shape) == len(expected)
        for dim, want in zip(shape, expected, strict=False):
            if isinstance(want, str):
                ok = ok and sizes.setdefault(want, dim) == dim
            else:
                ok = ok and dim == want
        if not ok:
            raise ValueError(
                f"generated_motions[{key!r}]: expected shape {expected} with {sizes or 'K, T'} "
                f"consistent across arrays, got {shape}"
            )
    return sizes.get("K", 0), sizes.get("T", 1)


def _real_rows(arrays: dict, key: str, name: str) -> np.ndarray:
    """The valid rows of ``arrays[key]`` whose values are all finite."""
    if key not in arrays or "valid" not in arrays:
        raise KeyError(f"{name}: expected model-input arrays with {key!r} and 'valid', got {sorted(arrays)}")
    x = np.asarray(arrays[key], dtype=np.float64)
    keep = np.asarray(arrays["valid"], bool) & np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    return x[keep]


def _subsample(x: np.ndarray, max_points: int = MAX_POINTS) -> np.ndarray:
    """At most ``max_points`` rows of ``x``, the same ones for the same length."""
    if len(x) <= max_points:
        return x
    rows = np.random.default_rng(SEED).choice(len(x), max_points, replace=False)
    return x[np.sort(rows)]


def _selected(generated: dict) -> np.ndarray:
    return np.asarray(generated["selected"], bool)


# --------------------------------------------------------------------------- quantities


def torso_up(pose: np.ndarray) -> np.ndarray:
    """The body's up direction, the unit vector hip -> thorax: ``(..., 17, 3)`` -> ``(..., 3)``.

    The generator never turns the hip->spine and spine->thorax bones (only scales
    them), so this axis survives the bone stage and only the camera moves it."""
    torso = np.asarray(pose, np.float64)[..., _THORAX, :] - np.asarray(pose, np.float64)[..., _HIP, :]
    return torso / np.maximum(np.linalg.norm(torso, axis=-1, keepdims=True), 1e-9)


def camera_elevation(root: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Degrees the camera sits above the person's horizontal plane: ``(..., 3)`` -> ``(...)``.

    ``root`` is the person's root in the camera frame (the camera is at the origin),
    ``up`` the person's up direction in that frame (:func:`torso_up`). The horizontal
    plane is the one through the root perpendicular to ``up``; the elevation is the
    angle between the root-to-camera ray and that plane, positive when the camera
    looks down on the person. A level Human3.6M camera (y down) with the root straight
    ahead gives 0; one tilted 30 degrees down onto the root gives 30. With ``up`` from
    the torso, a person leaning by some angle towards or away from the camera shifts the
    estimate by up to that angle (skiers, crouches): read the histograms as distributions.
    """
    root, up = np.asarray(root, np.float64), np.asarray(up, np.float64)
    to_camera = -root / np.maximum(np.linalg.norm(root, axis=-1, keepdims=True), 1e-9)
    return np.degrees(np.arcsin(np.clip(np.sum(to_camera * up, axis=-1), -1.0, 1.0)))


def source_cameras(source: dict) -> tuple[np.ndarray, np.ndarray]:
    """Elevation (deg) and distance (m) of the camera to the root, per valid source frame
    with a known root (``root_3d`` is zero where the dataset has no camera-frame root)."""
    root = _real_rows(source, "root_3d", "source")
    pose = _real_rows(source, "pose_3d", "source")
    known = np.linalg.norm(root, axis=-1) > 0
    return camera_elevation(root[known], torso_up(pose[known])), np.linalg.norm(root[known], axis=-1)


def generated_cameras(generated: dict) -> tuple[np.ndarray, np.ndarray]:
    """Elevation (deg) and distance (m) of each generated camera, from its rotation and
    translation: the centre frame's root sits at ``T`` and the body's up turns with ``R``."""
    _, T = _check_generated(generated, ("pose_3d", "rotation", "translation"))
    rotation = np.asarray(generated["rotation"], np.float64)
    up = np.einsum("kij,kj->ki", rotation, torso_up(generated["pose_3d"][:, T // 2]))
    root = np.asarray(generated["translation"], np.float64)
    return camera_elevation(root, up), np.linalg.norm(root, axis=-1)


def bone_length_table(pose: np.ndarray) -> np.ndarray:
    """Bone lengths ``(N, 17, 3)`` -> ``(N, 16)`` in the units of ``pose``, bone order of H36M-17."""
    return bone_lengths(joints_to_bones(torch.from_numpy(np.asarray(pose, np.float64)))).numpy()


# --------------------------------------------------------------------------- figures


def _constant(ax, values: list[np.ndarray], what: str) -> bool:
    """Say so instead of drawing when ``values`` do not vary (e.g. the hip of
    root-centred 2D, or the scale of Frobenius-normalised 2D)."""
    pooled = np.concatenate([v.reshape(len(v), -1) for v in values])
    if len(pooled) and np.ptp(pooled, axis=0).max() > 1e-6:
        return False
    text = "no poses"
    if len(pooled):
        text = f"{what}: {np.round(pooled[0], 3).tolist()} in every pose\n(fixed by the 2D normalisation)"
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize="x-small", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])
    return True


def _scatter(ax, clouds: dict[str, np.ndarray], title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, fontsize="small")
    if _constant(ax, list(clouds.values()), title):
        return
    for name, xy in clouds.items():
        ax.scatter(xy[:, 0], xy[:, 1], s=2, alpha=0.3, color=COLOURS[name], linewidths=0, label=name)
    ax.set_xlabel(xlabel, fontsize="x-small")
    ax.set_ylabel(ylabel, fontsize="x-small")
    ax.tick_params(labelsize="x-small")


def plot_keypoint_distributions(source: dict, target: dict, generated: dict) -> Figure:
    """2D keypoints of the source, the real target and the generated motions.

    Panels: the hip's image position; the head, wrists and ankles relative to the hip;
    the 2D pose scale (Frobenius norm of the hip-relative pose); and the first two
    principal components of the flattened hip-relative poses, fitted on the target.
    Coordinates are the model input's normalised ones, y pointing down."""
    _check_generated(generated, ("pose_2d",))
    poses = {
        "source": _real_rows(source, "pose_2d", "source"),
        "target": _real_rows(target, "pose_2d", "target"),
        "generated": np.asarray(generated["pose_2d"], np.float64).reshape(-1, H36M17.num_joints, 2),
    }
    poses = {name: _subsample(p) for name, p in poses.items()}
    relative = {name: p - p[:, _HIP : _HIP + 1] for name, p in poses.items()}

    fig = new_figure(13.0, 6.4)
    axes = fig.subplots(2, 4).ravel()
    _scatter(axes[0], {n: p[:, _HIP] for n, p in poses.items()}, "hip (image position)", "x", "y")
    for ax, joint in zip(axes[1:6], SCATTER_JOINTS, strict=True):
        _scatter(ax, {n: p[:, H36M17.index(joint)] for n, p in relative.items()}, joint, "x - hip", "y - hip")
    for ax in axes[:6]:
        ax.invert_yaxis()
        ax.set_aspect("equal", adjustable="datalim")

    scales = {n: np.linalg.norm(p.reshape(len(p), -1), axis=1) for n, p in relative.items()}
    axes[6].set_title("2D pose scale", fontsize="small")
    if not _constant(axes[6], list(scales.values()), "2D pose scale"):
        bins = np.histogram_bin_edges(np.concatenate(list(scales.values())), bins=40)
        for name, s in scales.items():
            if s.size:
                axes[6].hist(s, bins=bins, density=True, histtype="step", lw=1.4, color=COLOURS[name], label=name)
    axes[6].set_xlabel("2D pose scale (Frobenius norm)", fontsize="x-small")
    axes[6].set_ylabel("density", fontsize="x-small")
    axes[6].tick_params(labelsize="x-small")

    flat = {n: p[:, 1:].reshape(len(p), -1) for n, p in relative.items()}  # the hip is 0
    mean = flat["target"].mean(axis=0)
    centred = flat["target"] - mean
    _, var, vt = np.linalg.svd(centred.T @ centred / max(len(centred), 1))
    share = var[:2] / max(var.sum(), 1e-12)
    _scatter(
        axes[7],
        {n: (f - mean) @ vt[:2].T for n, f in flat.items()},
        "PCA of 2D poses (fit on target)",
        f"PC1 ({100 * share[0]:.0f}% of target variance)",
        f"PC2 ({100 * share[1]:.0f}%)",
    )

    labels = [f"{name} ({len(p)} poses)" for name, p in poses.items()]
    handles = [Line2D([], [], ls="", marker="o", color=COLOURS[name]) for name in poses]
    fig.legend(handles, labels, loc="upper center", ncol=3, fontsize="small")
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return fig


def _histograms(ax, series: dict[str, np.ndarray], xlabel: str, unit: str) -> None:
    values = [v[np.isfinite(v)] for v in series.values()]
    pooled = np.concatenate(values)
    bins = np.histogram_bin_edges(pooled, bins=30) if pooled.size else 10
    for (name, _), v in zip(series.items(), values, strict=True):
        if not v.size:
            ax.plot([], [], color=COLOURS[name], label=f"{name} (none)")
            continue
        style = {"histtype": "stepfilled", "alpha": 0.5} if name == "source" else {"histtype": "step", "lw": 1.6}
        label = f"{name} (n={v.size}, median {np.median(v):.1f}{unit})"
        ax.hist(v, bins=bins, density=True, color=COLOURS[name], label=label, **style)
    ax.set_xlabel(xlabel, fontsize="small")
    ax.set_ylabel("density", fontsize="small")
    ax.legend(fontsize="x-small", loc="upper right")


def plot_camera_histograms(source: dict, generated: dict) -> Figure:
    """Camera elevation (:func:`camera_elevation`) and distance to the root: the source's
    cameras against all generated cameras and the selected ones."""
    _check_generated(generated, ("pose_3d", "rotation", "translation", "selected"))
    src_elev, src_dist = source_cameras(source)
    gen_elev, gen_dist = generated_cameras(generated)
    sel = _selected(generated)
    fig = new_figure(10.0, 3.8)
    ax_elev, ax_dist = fig.subplots(1, 2)
    elevations = {"source": src_elev, "generated": gen_elev, "selected": gen_elev[sel]}
    distances = {"source": src_dist, "generated": gen_dist, "selected": gen_dist[sel]}
    _histograms(ax_elev, elevations, "camera elevation (deg)", " deg")
    _histograms(ax_dist, distances, "camera-to-root distance (m)", " m")
    ax_elev.set_title("elevation above the person's horizontal plane", fontsize="small")
    ax_dist.set_title("distance", fontsize="small")
    fig.tight_layout()
    return fig


def plot_bone_lengths(source: dict, generated: dict) -> Figure:
    """Per-bone length distributions (cm), source frames against generated samples (the
    centre frame of each window; lengths do not change along a generated window)."""
    _, T = _check_generated(generated, ("pose_3d",))
    tables = {
        "source": 100 * bone_length_table(_subsample(_real_rows(source, "pose_3d", "source"))),
        "generated": 100 * bone_length_table(np.asarray(generated["pose_3d"])[:, T // 2]),
    }
    fig = new_figure(12.0, 4.2)
    ax = fig.subplots()
    width = 0.38
    for i, (name, table) in enumerate(tables.items()):
        if not len(table):
            continue
        positions = np.arange(H36M17.num_bones) + (i - 0.5) * width
        box = ax.boxplot(table, positions=positions, widths=width * 0.9, patch_artist=True, showfliers=False)
        for patch in box["boxes"]:
            patch.set(facecolor=COLOURS[name], alpha=0.6)
        ax.plot([], [], lw=6, color=COLOURS[name], alpha=0.6, label=f"{name} (n={len(table)})")
    # A bone is named by its child joint (core/skeleton.py).
    bones = [H36M17.joints[c] for c in H36M17.children]
    ax.set_xticks(np.arange(H36M17.num_bones), bones, fontsize="x-small", rotation=45)
    ax.set_xlim(-0.7, H36M17.num_bones - 0.3)
    ax.set_ylabel("bone length (cm)")
    ax.legend(fontsize="small", loc="upper right")
    ax.set_title("bone lengths: source vs generated", fontsize="medium")
    fig.tight_layout()
    return fig


def plot_generated_skeletons(generated: dict, n: int = 4, frames: int = SKELETON_FRAMES) -> Figure:
    """Generated motions (red) beside the source windows they came from (grey), front
    view (x-y, y down). Rows: up to ``n`` samples, selected ones first; columns: up to
    ``frames`` frames spread evenly over the window."""
    K, T = _check_generated(generated, ("pose_3d", "source_pose_3d", "selected"))
    if K == 0:
        raise ValueError("generated_motions: no samples to draw (K = 0)")
    sel = _selected(generated)
    samples = np.concatenate([np.flatnonzero(sel), np.flatnonzero(~sel)])[: max(n, 1)]
    cols = np.unique(np.linspace(0, T - 1, min(frames, T)).round().astype(int))
    gen = np.asarray(generated["pose_3d"], np.float64)[samples][:, cols]
    src = np.asarray(generated["source_pose_3d"], np.float64)[samples][:, cols]
    half = max(np.abs(gen[..., 0]).max(), np.abs(src[..., 0]).max(), 0.05)
    shift = half + 0.05  # source left of x = 0, generated right of it
    top = min(gen[..., 1].min(), src[..., 1].min())
    bottom = max(gen[..., 1].max(), src[..., 1].max())
    pad = 0.05 * (bottom - top + 1e-3)

    width = 2.0  # inches per panel; the height follows the data's aspect
    height = width * (bottom - top + 2 * pad) / (4 * shift) + 0.2
    fig = new_figure(width * len(cols) + 1.0, height * len(samples) + 1.0)
    axes = fig.subplots(len(samples), len(cols), squeeze=False, sharex=True, sharey=True)
    for r, k in enumerate(samples):
        for c, frame in enumerate(cols):
            ax = axes[r, c]
            draw_skeleton(ax, src[r, c] - [shift, 0, 0], H36M17, 0, COLOURS["source"], "source")
            draw_skeleton(ax, gen[r, c] + [shift, 0, 0], H36M17, 0, COLOURS["generated"], "generated")
            ax.set_xlim(-2 * shift, 2 * shift)
            ax.set_ylim(bottom + pad, top - pad)  # y points down
            ax.set_aspect("equal")
            ax.tick_params(labelsize="xx-small")
            if r == 0:
                ax.set_title(f"frame {frame + 1}/{T}", fontsize="x-small")
        axes[r, 0].set_ylabel(f"sample {k}\n{'selected' if sel[k] else 'not selected'}", fontsize="x-small")
    fig.supxlabel(f"x (m; source shifted {-shift:+.2f}, generated {shift:+.2f}), front view, y down", fontsize="small")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="upper right", fontsize="small", ncol=2)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    return fig
