import numpy as np
import pytest
import torch

from adaptpose_pipeline.core.guard import choose, label_free_scores
from adaptpose_pipeline.core.lifter import LifterConfig, TemporalModel
from adaptpose_pipeline.core.skeleton import H36M17

CONTROL = {"source_val_mpjpe_mm": 70.0, "source_val_pose_mpjpe_mm": 68.0, "target_reprojection": 0.6}


def _epoch(epoch, src_pose, reproj, src=None):
    return {
        "epoch": epoch, "source_val_pose_mpjpe_mm": src_pose, "target_reprojection": reproj,
        "source_val_mpjpe_mm": src_pose + 2 if src is None else src, "fd_generated_target": 0.1, "fd_source_target": 0.1,
    }


def test_keeps_the_epoch_that_reprojects_best_onto_the_target():
    epochs = [_epoch(1, 70.0, 0.55), _epoch(2, 72.5, 0.50), _epoch(3, 71.9, 0.58)]
    out = choose(epochs, CONTROL, tolerance_mm=5.0)
    assert out == {**out, "selected_epoch": 2, "fallback": False}
    assert out["selected"]["target_reprojection"] == 0.50
    assert out["selected"]["source_val_mpjpe_mm"] == 74.5  # reported beside, not used


def test_falls_back_when_adaptation_breaks_the_source_poses():
    # a constructed case where adaptation hurts: the lifted target poses agree better
    # with the target 2D, but the lifter lost the source's poses (beyond control + 5 mm)
    epochs = [_epoch(1, 80.0, 0.5), _epoch(2, 95.0, 0.4)]
    out = choose(epochs, CONTROL, tolerance_mm=5.0)
    assert out["fallback"] is True and out["selected_epoch"] is None and "within 73.00 mm" in out["reason"]
    # the tolerance is inclusive and ignores the other epochs
    assert choose([_epoch(1, 73.0, 0.5), _epoch(2, 73.01, 0.4)], CONTROL, 5.0)["selected_epoch"] == 1


def test_the_plain_source_error_may_rise_with_the_proportions():
    # learning the target's proportions costs plain MPJPE on the source's skeleton;
    # only the pose error (bone lengths from the labels) is held to the tolerance
    out = choose([_epoch(1, 69.0, 0.5, src=90.0)], CONTROL, 5.0)
    assert out["selected_epoch"] == 1


def test_falls_back_when_the_target_2d_is_not_explained_better():
    epochs = [_epoch(1, 68.5, 0.6), _epoch(2, 68.2, 0.7)]  # keeps the source, no better on the target
    out = choose(epochs, CONTROL, tolerance_mm=5.0)
    assert out["fallback"] is True and "better than the control" in out["reason"]


def test_unscored_epochs_and_bad_arguments():
    assert choose([{"epoch": 0}], CONTROL, 2.0)["fallback"] is True
    with pytest.raises(ValueError, match="tolerance_mm"):
        choose([], CONTROL, -1.0)
    with pytest.raises(KeyError, match="source_val_pose_mpjpe_mm"):
        choose([], {"target_reprojection": 1.0}, 1.0)
    with pytest.raises(KeyError, match="target_reprojection"):
        choose([], {"source_val_pose_mpjpe_mm": 1.0}, 1.0)


def _arrays(n, T, seed):
    rng = np.random.default_rng(seed)
    N = n * T
    pose_3d = rng.normal(0, 0.2, (N, 17, 3)).astype(np.float32)
    pose_3d[:, 0] = 0
    return {
        "pose_2d": pose_3d[..., :2] / 5.0, "pose_3d": pose_3d, "valid": np.ones(N, bool),
        "seq_start": np.arange(0, N, T), "seq_length": np.full(n, T),
    }


def test_label_free_scores_match_hand_computation():
    cfg = LifterConfig(filter_widths=(1,), channels=8, dropout=0.0)
    torch.manual_seed(0)
    model = TemporalModel(cfg).eval()
    src, tgt = _arrays(2, 6, 0), _arrays(2, 5, 1)
    scores = label_free_scores(model, src, tgt, torch.device("cpu"))
    with torch.no_grad():
        pred_src = model(torch.as_tensor(src["pose_2d"])[:, None])[:, 0].numpy()
        pred_tgt = model(torch.as_tensor(tgt["pose_2d"])[:, None])[:, 0].numpy()
    assert scores["source_val_mpjpe_mm"] == pytest.approx(np.linalg.norm(pred_src - src["pose_3d"], axis=-1).mean() * 1000, rel=1e-5)
    # the pose error: each predicted bone keeps its direction and takes the label's length
    bones = pred_src[:, H36M17.children] - pred_src[:, H36M17.bone_parents]
    gt_len = np.linalg.norm(src["pose_3d"][:, H36M17.children] - src["pose_3d"][:, H36M17.bone_parents], axis=-1)
    bones = bones / np.linalg.norm(bones, axis=-1, keepdims=True) * gt_len[..., None]
    rebuilt = np.zeros_like(pred_src)
    rebuilt[:, 0] = pred_src[:, 0]
    for k, c in enumerate(H36M17.children):
        rebuilt[:, c] = rebuilt[:, H36M17.parents[c]] + bones[:, k]
    expected_pose = np.linalg.norm(rebuilt - src["pose_3d"], axis=-1).mean() * 1000
    assert scores["source_val_pose_mpjpe_mm"] == pytest.approx(expected_pose, rel=1e-5)
    assert scores["source_val_pose_mpjpe_mm"] != pytest.approx(scores["source_val_mpjpe_mm"], rel=1e-3)

    def unit(x):
        x = x - x[:, :1]
        return x / np.linalg.norm(x.reshape(len(x), -1), axis=1)[:, None, None]

    expected = np.abs(unit(pred_tgt[..., :2]) - unit(tgt["pose_2d"])).sum((1, 2)).mean()
    assert scores["target_reprojection"] == pytest.approx(expected, rel=1e-5)


def test_a_reprojection_gain_below_the_margin_is_no_reason():
    epochs = [_epoch(1, 68.5, 0.595), _epoch(2, 68.6, 0.585)]  # 0.8% and 2.5% below the control's 0.6
    assert choose(epochs, CONTROL, 5.0, min_gain=0.02)["selected_epoch"] == 2
    out = choose(epochs[:1], CONTROL, 5.0, min_gain=0.02)
    assert out["fallback"] is True and "at least 2% better" in out["reason"]
    assert choose(epochs[:1], CONTROL, 5.0)["selected_epoch"] == 1  # no margin by default
    with pytest.raises(ValueError, match="min_reprojection_gain"):
        choose(epochs, CONTROL, 5.0, min_gain=1.0)


def test_guard_parameters_are_checked():
    from adaptpose_pipeline.pipelines.adapt.nodes import guard_params

    assert guard_params({"guard": {"enabled": True, "tolerance_mm": 7.5}})["min_reprojection_gain"] == 0.0
    assert guard_params({"guard": {"enabled": True, "tolerance_mm": 7.5, "min_reprojection_gain": 0.02}})["min_reprojection_gain"] == 0.02
    for bad in (-0.1, 1.0, True, "2%"):
        with pytest.raises(ValueError, match="min_reprojection_gain"):
            guard_params({"guard": {"enabled": True, "tolerance_mm": 7.5, "min_reprojection_gain": bad}})
    with pytest.raises(ValueError, match=r"adapt\.guard\.margin: Extra inputs are not permitted"):
        guard_params({"guard": {"enabled": True, "tolerance_mm": 7.5, "margin": 0.1}})


def test_a_retargeted_lifter_is_scored_on_the_source_by_its_network_alone():
    from adaptpose_pipeline.core.lifter import Retargeted

    cfg = LifterConfig(filter_widths=(1,), channels=8, dropout=0.0)
    torch.manual_seed(0)
    net = TemporalModel(cfg).eval()
    src, tgt = _arrays(2, 6, 0), _arrays(2, 5, 1)
    wrapped = Retargeted(net, torch.linspace(0.7, 1.4, 16), "frobenius")
    plain, retargeted = label_free_scores(net, src, tgt, torch.device("cpu")), label_free_scores(wrapped, src, tgt, torch.device("cpu"))
    for key in ("source_val_mpjpe_mm", "source_val_pose_mpjpe_mm"):  # the source's ratios are 1
        assert retargeted[key] == pytest.approx(plain[key], rel=1e-6)
    # the target is lifted as the wrapped lifter answers it
    assert retargeted["target_reprojection"] != pytest.approx(plain["target_reprojection"], rel=1e-3)
