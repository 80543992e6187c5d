"""Nodes of the stand-in pipeline: synthesise, summarise, report the gaps."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from adaptpose_pipeline.core.skeleton import H36M17
from adaptpose_pipeline.standin.makers import make_recordings
from adaptpose_pipeline.standin.recording import Recording

GAP_COLUMNS = [
    "cam_height_m", "cam_distance_m", "elevation_deg", "focal_px", "fps",
    "body_height_m", "root_speed_mps", "bbox_height_frac",
]


def generate_standin(standin: dict, seed: int, dataset: str) -> tuple[list[Recording], pd.DataFrame]:
    """Recordings of one stand-in dataset (the catalog writes them natively), and
    their summary for the gap report."""
    recordings = make_recordings(dataset, standin[dataset], float(standin["scale"]), seed)
    return recordings, summarise_recordings(recordings)


def _standing_height(joints: np.ndarray) -> float:
    """Ankle to head top along the bones (m), from the first frame."""
    chain = ["r_knee", "r_hip", "hip", "spine", "thorax", "neck", "head"]
    pts = joints[0, [H36M17.index("r_ankle")] + [H36M17.index(n) for n in chain]]
    return float(np.linalg.norm(np.diff(pts, axis=0), axis=-1).sum())


def summarise_recordings(recordings: list[Recording]) -> pd.DataFrame:
    """One row per recording x camera: the quantities the datasets differ in."""
    rows = []
    hip = H36M17.index("hip")
    for rec in recordings:
        root = rec.joints_world[:, hip]
        ground = rec.joints_world[..., 2].min(axis=1)
        speed = np.linalg.norm(np.diff(root, axis=0), axis=-1).mean() * rec.fps
        for rig in rec.cameras:
            pos = np.broadcast_to(rig.position, root.shape)
            ray = root - pos
            horiz = np.linalg.norm(ray[:, :2], axis=-1)
            px = rig.project(rig.to_camera(rec.joints_world))
            rows.append(
                {
                    "dataset": rec.dataset,
                    "split": rec.split,
                    "subject": rec.subject,
                    "sequence": rec.sequence,
                    "camera": rig.name,
                    "frames": rec.num_frames,
                    "fps": float(rec.fps),
                    "focal_px": float(np.mean(rig.f)),
                    "image_w": int(rig.image_size[0]),
                    "image_h": int(rig.image_size[1]),
                    "cam_height_m": float(np.mean(pos[:, 2] - ground)),
                    "cam_distance_m": float(np.linalg.norm(ray, axis=-1).mean()),
                    "elevation_deg": float(np.degrees(np.arctan2(-ray[:, 2], horiz)).mean()),
                    "body_height_m": _standing_height(rec.joints_world),
                    "root_speed_mps": float(speed),
                    "bbox_height_frac": float(((px[..., 1].max(1) - px[..., 1].min(1)) / rig.image_size[1]).mean()),
                }
            )
    return pd.DataFrame(rows)


def report_domain_gaps(*summaries: pd.DataFrame) -> tuple[pd.DataFrame, str, plt.Figure]:
    """Per dataset: mean and spread of each gap quantity; a markdown table; a figure."""
    table = pd.concat(summaries, ignore_index=True)
    agg = table.groupby("dataset", sort=False)[GAP_COLUMNS].agg(["mean", "std", "min", "max"]).round(3)
    agg.columns = [f"{c}_{s}" for c, s in agg.columns]
    counts = table.groupby("dataset", sort=False).agg(
        recordings=("sequence", "nunique"), subjects=("subject", "nunique"), cameras=("camera", "nunique")
    )
    gaps = counts.join(agg).reset_index()
    lines = ["| dataset | " + " | ".join(GAP_COLUMNS) + " |", "|---" * (len(GAP_COLUMNS) + 1) + "|"]
    for _, row in gaps.iterrows():
        cells = [f"{row[f'{c}_mean']:.2f} ± {row[f'{c}_std']:.2f}" for c in GAP_COLUMNS]
        lines.append(f"| {row['dataset']} | " + " | ".join(cells) + " |")
    markdown = "# Domain gaps between the stand-in datasets\n\nMean ± std over recording x camera.\n\n" + "\n".join(lines) + "\n"
    fig, axes = plt.subplots(2, 4, figsize=(16, 7))
    datasets = list(table["dataset"].unique())
    for ax, col in zip(axes.ravel(), GAP_COLUMNS):
        ax.boxplot([table.loc[table["dataset"] == d, col] for d in datasets], tick_labels=datasets)
        ax.set_title(col)
    fig.suptitle("Stand-in domain gaps (one point per recording x camera)")
    fig.tight_layout()
    return gaps, markdown, fig
