import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from adaptpose_pipeline.core import metrics
from adaptpose_pipeline.core.skeleton import H36M17_JOINTS


@pytest.fixture
def poses():
    rng = np.random.default_rng(0)
    return rng.normal(scale=0.3, size=(20, 17, 3))


def test_mpjpe_hand_value():
    gt = np.zeros((1, 2, 3))
    pred = np.zeros((1, 2, 3))
    pred[0, 1] = [0.03, 0.04, 0.0]  # 5 cm off on joint 1, root exact
    assert metrics.mpjpe(pred, gt) == pytest.approx(0.025)


def test_p_mpjpe_of_similar_copy_is_zero_while_mpjpe_is_not(poses):
    R = Rotation.from_euler("xyz", [30, -50, 110], degrees=True).as_matrix()
    pred = 1.7 * poses @ R.T + np.array([0.4, -1.0, 3.0])
    assert metrics.mpjpe(pred, poses) > 0.1
    assert metrics.p_mpjpe(pred, poses) == pytest.approx(0.0, abs=1e-9)


def test_p_mpjpe_refuses_reflections(poses):
    mirrored = poses * np.array([-1.0, 1.0, 1.0])
    assert metrics.p_mpjpe(mirrored, poses) > 0.01


def test_n_mpjpe_removes_scale_only(poses):
    assert metrics.n_mpjpe(0.5 * poses, poses) == pytest.approx(0.0, abs=1e-12)
    R = Rotation.from_euler("z", 40, degrees=True).as_matrix()
    assert metrics.n_mpjpe(poses @ R.T, poses) > 0.01


def test_pck_and_auc_on_hand_made_errors():
    errors = np.array([[0.0, 10.0, 100.0, 149.0, 150.0, 200.0]])
    assert metrics.pck(errors, 150.0) == pytest.approx(4 / 6)
    thresholds = metrics.AUC_THRESHOLDS_MM
    assert len(thresholds) == 31 and thresholds[-1] == 150.0
    # Each error e counts for the thresholds t > e: 0 -> 30, 10 -> 28, 100 -> 10, 149 -> 1.
    assert metrics.auc(errors) == pytest.approx((30 + 28 + 10 + 1) / (6 * 31))
    assert np.allclose(metrics.pck_curve(errors)[[0, -1]], [0.0, 4 / 6])


def test_breakdowns():
    errors = np.array([[1.0, 3.0], [5.0, 7.0], [9.0, 11.0]])
    assert metrics.per_joint(errors, ["a", "b"]) == {"a": 5.0, "b": 7.0}
    assert metrics.per_group(errors, ["s1", "s2", "s1"]) == {"s1": 6.0, "s2": 6.0}


def test_summarise_in_millimetres(poses):
    pred = poses.copy()
    pred[:, 5] += [0.0, 0.0, 0.017]  # 17 mm on l_knee only
    out = metrics.summarise(pred, poses, H36M17_JOINTS, groups=["a"] * 10 + ["b"] * 10)
    assert out["overall"]["mpjpe"] == pytest.approx(1.0)
    assert out["per_joint"]["l_knee"] == pytest.approx(17.0)
    assert out["overall"]["pck150"] == 1.0
    assert set(out["per_sequence"]) == {"a", "b"}


def test_bad_inputs():
    with pytest.raises(ValueError, match="NaN"):
        metrics.mpjpe(np.full((2, 17, 3), np.nan), np.zeros((2, 17, 3)))
    with pytest.raises(ValueError, match=r"\(\.\.\., J, 3\)"):
        metrics.mpjpe(np.zeros((2, 17, 3)), np.zeros((2, 16, 3)))
    with pytest.raises(ValueError, match="alignment"):
        metrics.joint_errors(np.zeros((1, 2, 3)), np.zeros((1, 2, 3)), "affine")
