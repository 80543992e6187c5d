"""The interactive (plotly) figures carry the numbers they show."""

import numpy as np
import pandas as pd
import pytest

from adaptpose_pipeline.core.skeleton import H36M17
from adaptpose_pipeline.evaluation import interactive


def test_training_curves_trace_every_numeric_column():
    history = pd.DataFrame({"epoch": [0, 1, 2], "train_loss_mm": [90.0, 80.0, 70.0], "val_mpjpe_mm": [95.0, 85.0, 84.0], "note": ["a", "b", "c"]})
    fig = interactive.training_curves(history, "pretraining")
    assert [t.name for t in fig.data] == ["train_loss_mm", "val_mpjpe_mm"]
    assert list(fig.data[1].y) == [95.0, 85.0, 84.0] and list(fig.data[1].x) == [0, 1, 2]
    with pytest.raises(ValueError, match="pretraining: expected a history table with an 'epoch' column"):
        interactive.training_curves(pd.DataFrame({"loss": [1.0]}), "pretraining")


def test_per_joint_errors_bars_and_overall_line():
    metrics = {"model": "adapted", "target": "3dhp", "overall": {"mpjpe": 60.0}, "per_joint": {"hip": 0.0, "r_hip": 30.0, "head": 90.0}}
    fig = interactive.per_joint_errors(metrics)
    assert list(fig.data[0].y) == ["hip", "r_hip", "head"] and list(fig.data[0].x) == [0.0, 30.0, 90.0]
    assert fig.layout.shapes[0].x0 == 60.0


def test_keypoint_distributions_are_hip_relative_per_domain():
    rng = np.random.default_rng(0)
    src = {"pose_2d": rng.normal(size=(40, 17, 2)), "valid": np.ones(40, bool)}
    tgt = {"pose_2d": rng.normal(size=(30, 17, 2)), "valid": np.r_[np.ones(20, bool), np.zeros(10, bool)]}
    gen = {"pose_2d": rng.normal(size=(5, 3, 17, 2))}
    fig = interactive.keypoint_distributions(src, tgt, gen)
    by = {(t.name, t.xaxis): t for t in fig.data}
    assert len(fig.data) == 3 * len(interactive.JOINTS_2D)
    assert len(by[("target", "x")].x) == 20 and len(by[("generated", "x")].x) == 15  # valid frames; windows flattened
    head, hip = H36M17.index("head"), H36M17.index("hip")
    assert sorted(by[("source", "x")].x) == pytest.approx(sorted(src["pose_2d"][:, head, 0] - src["pose_2d"][:, hip, 0]))


def test_skeleton_viewer_draws_every_bone_per_frame_upright():
    pose = np.zeros((4, 17, 3))
    pose[:, H36M17.index("head"), 1] = -0.5  # camera y down: the head is above the hip
    fig = interactive.skeleton_viewer(pose)
    assert len(fig.frames) == 4 and len(fig.layout.sliders[0].steps) == 4
    z = np.array([v for v in fig.data[0].z if v is not None])
    assert len(z) == 2 * (H36M17.num_joints - 1) and z.max() == pytest.approx(0.5)  # 16 bones, head up
    assert len(interactive.skeleton_viewer(np.zeros((1000, 17, 3)), max_frames=100).frames) == 100
    with pytest.raises(ValueError, match=r"expected poses \(T, 17, 3\)"):
        interactive.skeleton_viewer(np.zeros((4, 16, 3)))
