import numpy as np
import pytest
import torch

from adaptpose_pipeline.core.guard import choose, label_free_scores
from adaptpose_pipeline.core.lifter import LifterConfig, TemporalModel

CONTROL = {"source_val_mpjpe_mm": 70.0, "target_reprojection": 0.6}


def _epoch(epoch, src, fd_gen, fd_src=0.1):
    return {"epoch": epoch, "source_val_mpjpe_mm": src, "fd_generated_target": fd_gen, "fd_source_target": fd_src, "target_reprojection": 0.7}


def test_keeps_the_epoch_whose_fakes_are_closest_to_the_target():
    epochs = [_epoch(1, 71.0, 0.08), _epoch(2, 71.5, 0.05), _epoch(3, 71.9, 0.09)]
    out = choose(epochs, CONTROL, tolerance_mm=2.0)
    assert out == {**out, "selected_epoch": 2, "fallback": False}
    assert out["selected"]["fd_generated_target"] == 0.05


def test_falls_back_when_adaptation_breaks_the_source():
    # a constructed case where adaptation hurts: fakes look like the target, but the
    # lifter lost the source (every epoch beyond control + 2 mm)
    epochs = [_epoch(1, 80.0, 0.05), _epoch(2, 95.0, 0.04)]
    out = choose(epochs, CONTROL, tolerance_mm=2.0)
    assert out["fallback"] is True and out["selected_epoch"] is None and "within 72.00 mm" in out["reason"]
    # the tolerance is inclusive and ignores the other epochs
    assert choose([_epoch(1, 72.0, 0.05), _epoch(2, 72.01, 0.01)], CONTROL, 2.0)["selected_epoch"] == 1


def test_falls_back_when_the_fakes_moved_away_from_the_target():
    epochs = [_epoch(1, 70.5, 0.2), _epoch(2, 70.2, 1.3)]  # runaway generator: further than the source's own 2D
    out = choose(epochs, CONTROL, tolerance_mm=2.0)
    assert out["fallback"] is True and "closer to the target" in out["reason"]


def test_unscored_epochs_and_bad_arguments():
    assert choose([{"epoch": 0}], CONTROL, 2.0)["fallback"] is True
    with pytest.raises(ValueError, match="tolerance_mm"):
        choose([], CONTROL, -1.0)
    with pytest.raises(KeyError, match="source_val_mpjpe_mm"):
        choose([], {"target_reprojection": 1.0}, 1.0)


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

    def unit(x):
        x = x - x[:, :1]
        return x / np.linalg.norm(x.reshape(len(x), -1), axis=1)[:, None, None]

    expected = np.abs(unit(pred_tgt[..., :2]) - unit(tgt["pose_2d"])).sum((1, 2)).mean()
    assert scores["target_reprojection"] == pytest.approx(expected, rel=1e-5)
