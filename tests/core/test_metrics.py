import warnings

import numpy as np
import pytest
from scipy.spatial import procrustes
from scipy.spatial.transform import Rotation

from adaptpose_pipeline.core import metrics
from adaptpose_pipeline.core.skeleton import H36M17_JOINTS


def mpjpe(pred, gt, alignment="root"):
    """The mean of :func:`metrics.joint_errors`, as ``summarise`` reports it (in metres here)."""
    return float(metrics.joint_errors(pred, gt, alignment).mean())


def p_mpjpe(pred, gt):
    return mpjpe(pred, gt, "procrustes")


def n_mpjpe(pred, gt):
    return mpjpe(pred, gt, "scale")


@pytest.fixture
def poses():
    rng = np.random.default_rng(0)
    return rng.normal(scale=0.3, size=(20, 17, 3))


def test_mpjpe_hand_value():
    gt = np.zeros((1, 2, 3))
    pred = np.zeros((1, 2, 3))
    pred[0, 1] = [0.03, 0.04, 0.0]  # 5 cm off on joint 1, root exact
    assert mpjpe(pred, gt) == pytest.approx(0.025)


def test_p_mpjpe_of_similar_copy_is_zero_while_mpjpe_is_not(poses):
    R = Rotation.from_euler("xyz", [30, -50, 110], degrees=True).as_matrix()
    pred = 1.7 * poses @ R.T + np.array([0.4, -1.0, 3.0])
    assert mpjpe(pred, poses) > 0.1
    assert p_mpjpe(pred, poses) == pytest.approx(0.0, abs=1e-9)


def test_p_mpjpe_refuses_reflections(poses):
    mirrored = poses * np.array([-1.0, 1.0, 1.0])
    assert p_mpjpe(mirrored, poses) > 0.01


def test_procrustes_fit_of_a_mirror_image_is_the_best_proper_similarity(poses):
    """A mirrored pose cannot be fitted exactly; the fit must still be the least-squares
    optimum among proper similarities: residuals sum to zero (translation), exert no
    torque about the centroid (rotation), are orthogonal to the fitted pose (scale), and
    the fitted pose keeps the prediction's handedness."""
    mirrored = poses * np.array([-1.0, 1.0, 1.0])
    aligned = metrics.procrustes_align(mirrored, poses)
    arm = aligned - poses.mean(1, keepdims=True)
    residual = aligned - poses
    np.testing.assert_allclose(residual.sum(1), 0, atol=1e-10)
    np.testing.assert_allclose(np.cross(arm, residual).sum(1), 0, atol=1e-10)
    np.testing.assert_allclose((arm * residual).sum((1, 2)), 0, atol=1e-10)

    def handedness(x):
        return np.sign(np.linalg.det(x[:, 1:4] - x[:, :1]))

    np.testing.assert_array_equal(handedness(aligned), handedness(mirrored))


def test_n_mpjpe_removes_scale_only(poses):
    assert n_mpjpe(0.5 * poses, poses) == pytest.approx(0.0, abs=1e-12)
    R = Rotation.from_euler("z", 40, degrees=True).as_matrix()
    assert n_mpjpe(poses @ R.T, poses) > 0.01


def test_p_mpjpe_hand_value_rectangle_onto_square():
    # The best similarity maps the rectangle (1, 3) onto the unit square by symmetry: no
    # rotation, scale s minimising 2(s - 1)^2 + 2(3s - 1)^2, i.e. s = 4/10. The joints
    # land 0.6 (x) and 0.2 (y) away: P-MPJPE 0.4. N-MPJPE (root = joint 0, the scale
    # s = (p . g) / (p . p) = 0.4 too) and plain MPJPE, by hand as well.
    gt = np.array([[[1.0, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0]]])
    pred = np.array([[[1.0, 0, 0], [0, 3, 0], [-1, 0, 0], [0, -3, 0]]]) + [5.0, -2.0, 1.0]
    np.testing.assert_allclose(metrics.joint_errors(pred, gt, "procrustes"), [[0.6, 0.2, 0.6, 0.2]], atol=1e-12)
    assert p_mpjpe(pred, gt) == pytest.approx(0.4)
    # Root-aligned: gt rows (0,0), (-1,1), (-2,0), (-1,-1); pred rows (0,0), (-1,3), (-2,0),
    # (-1,-3); p.g = 0+4+4+4 = 12, p.p = 0+10+4+10 = 24, s = 1/2: errors 0, |(-.5,1.5)-(-1,1)|,
    # |(-1,0)-(-2,0)|, same as the 2nd: 0, sqrt(.5), 1, sqrt(.5).
    assert n_mpjpe(pred, gt) == pytest.approx((2 * np.sqrt(0.5) + 1) / 4)
    assert mpjpe(pred, gt) == pytest.approx((0 + 2 + 0 + 2) / 4)


def test_n_mpjpe_hand_value_triangle():
    gt = np.array([[[0.0, 0, 0], [1, 0, 0], [0, 2, 0]]])
    pred = np.array([[[0.0, 0, 0], [3, 0, 0], [0, 1, 0]]])
    # s = (3 + 2) / (9 + 1) = 0.5: joints at (1.5, 0) and (0, 0.5), errors 0, 0.5, 1.5.
    assert n_mpjpe(pred, gt) == pytest.approx(2 / 3)
    assert mpjpe(pred, gt) == pytest.approx(1.0)


def test_p_mpjpe_agrees_with_scipy_procrustes(poses):
    """scipy standardises both poses (centred, unit Frobenius norm) and fits the second
    onto the first: our aligned prediction is scipy's fitted one scaled back by the
    ground truth's norm and moved to its centroid, so the per-joint errors are scipy's
    times that norm (and their squares sum to its disparity times the norm squared)."""
    rng = np.random.default_rng(1)
    R = Rotation.from_euler("xyz", [20, -35, 70], degrees=True).as_matrix()
    pred = 0.8 * poses @ R.T + [0.3, 0.1, 4.0] + rng.normal(0, 0.03, poses.shape)
    errors = metrics.joint_errors(pred, poses, "procrustes")
    aligned = metrics.procrustes_align(pred, poses)
    for i in range(len(poses)):
        g0 = poses[i] - poses[i].mean(0)
        norm_g = np.linalg.norm(g0)
        std_gt, fitted, disparity = procrustes(poses[i], pred[i])
        np.testing.assert_allclose(aligned[i], fitted * norm_g + poses[i].mean(0), atol=1e-10)
        np.testing.assert_allclose(errors[i], np.linalg.norm(fitted - std_gt, axis=-1) * norm_g, atol=1e-10)
        assert (errors[i] ** 2).sum() == pytest.approx(disparity * norm_g**2)
    assert p_mpjpe(pred, poses) == pytest.approx(errors.mean())
    assert 0.01 < p_mpjpe(pred, poses) < mpjpe(pred, poses)


def test_collapsed_poses_give_defined_errors_without_warnings(poses):
    collapsed = np.repeat(poses[:, :1], 17, axis=1)  # every joint on the root
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = metrics.joint_errors(collapsed, poses, "procrustes")
        n = metrics.joint_errors(collapsed, poses, "scale")
        g = metrics.joint_errors(poses, collapsed, "procrustes")
        summary = metrics.summarise(collapsed, poses, H36M17_JOINTS)
    # Best similarity fit: scale 0, every joint on the ground truth's centroid.
    np.testing.assert_allclose(p, np.linalg.norm(poses - poses.mean(1, keepdims=True), axis=-1), atol=1e-12)
    # Best scale: any, the prediction stays on the root: its N-MPJPE is its MPJPE.
    np.testing.assert_allclose(n, metrics.joint_errors(collapsed, poses, "root"), atol=1e-12)
    # A collapsed ground truth is matched exactly by scale 0.
    np.testing.assert_allclose(g, 0.0, atol=1e-12)
    assert all(np.isfinite(v) for v in summary["overall"].values())
    # One collapsed frame among good ones leaves the others' errors alone.
    mixed = poses.copy()
    mixed[3] = collapsed[3]
    np.testing.assert_allclose(np.delete(metrics.joint_errors(mixed, poses, "procrustes"), 3, 0), 0, atol=1e-9)
    # Unit-square hand value: every joint 1 from the centroid.
    square = np.array([[[1.0, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0]]])
    assert p_mpjpe(np.zeros_like(square), square) == pytest.approx(1.0)


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
        mpjpe(np.full((2, 17, 3), np.nan), np.zeros((2, 17, 3)))
    with pytest.raises(ValueError, match=r"\(\.\.\., J, 3\)"):
        mpjpe(np.zeros((2, 17, 3)), np.zeros((2, 16, 3)))
    with pytest.raises(ValueError, match="alignment"):
        metrics.joint_errors(np.zeros((1, 2, 3)), np.zeros((1, 2, 3)), "affine")


# Tests below kill mutants that survived `make mutate` (benchmarks/results/mutation.json).


def test_any_leading_dims_and_a_single_pose(poses):
    """Batched as (B, T, J, 3) or a single (J, 3) pose: the same per-joint errors."""
    rng = np.random.default_rng(2)
    pred = poses + rng.normal(0, 0.05, poses.shape)
    for alignment in metrics.ALIGNMENTS:
        flat = metrics.joint_errors(pred, poses, alignment)
        nested = metrics.joint_errors(pred.reshape(4, 5, 17, 3), poses.reshape(4, 5, 17, 3), alignment)
        np.testing.assert_allclose(nested.reshape(20, 17), flat, atol=1e-12)
        np.testing.assert_allclose(metrics.joint_errors(pred[7], poses[7], alignment), flat[7], atol=1e-12)
    np.testing.assert_array_equal(metrics.joint_errors(pred, poses), metrics.joint_errors(pred, poses, "root"))


def test_scale_align_about_another_root(poses):
    # A scaled, shifted copy lands exactly on the ground truth rooted at joint 1.
    np.testing.assert_allclose(metrics.scale_align(0.5 * poses + 2.0, poses, root=1), metrics.root_align(poses, 1), atol=1e-12)


def test_summarise_reports_every_metric_in_millimetres(poses):
    rng = np.random.default_rng(3)
    pred = 1.1 * poses + rng.normal(0, 0.02, poses.shape)
    overall = metrics.summarise(pred, poses, H36M17_JOINTS)["overall"]
    err_mm = 1000.0 * metrics.joint_errors(pred, poses, "root")
    assert overall["mpjpe"] == pytest.approx(1000.0 * mpjpe(pred, poses))
    assert overall["p_mpjpe"] == pytest.approx(1000.0 * p_mpjpe(pred, poses))
    assert overall["n_mpjpe"] == pytest.approx(1000.0 * n_mpjpe(pred, poses))
    assert overall["auc"] == pytest.approx(metrics.auc(err_mm))
    assert len({round(overall[k], 3) for k in ("mpjpe", "p_mpjpe", "n_mpjpe")}) == 3
    assert metrics.summarise(pred[:1], poses[:1], H36M17_JOINTS)["overall"]["mpjpe"] > 0  # one frame is enough


def test_breakdowns_of_uneven_groups_and_nested_frames():
    errors = np.array([[1.0, 3.0], [5.0, 7.0], [9.0, 11.0]])
    assert metrics.per_group(errors, ["s1", "s2", "s2"]) == {"s1": 2.0, "s2": 8.0}
    nested = np.arange(12.0).reshape(2, 3, 2)  # (B, T, J)
    assert metrics.per_joint(nested, ["a", "b"]) == {"a": 5.0, "b": 6.0}


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="ground truth contain NaN"):
        mpjpe(np.zeros((2, 17, 3)), np.full((2, 17, 3), np.inf))
    with pytest.raises(ValueError, match="predictions contain NaN"):
        mpjpe(np.full((2, 17, 3), np.nan), np.zeros((2, 17, 3)))
    with pytest.raises(ValueError, match=r"\(\.\.\., J, 3\)"):
        mpjpe(np.zeros((2, 17, 2)), np.zeros((2, 17, 2)))
    with pytest.raises(ValueError, match=r"got \(2, 5, 17, 3\)"):
        metrics.summarise(np.zeros((2, 5, 17, 3)), np.zeros((2, 5, 17, 3)), H36M17_JOINTS)
    with pytest.raises(ValueError, match=r"got \(0, 17, 3\)"):
        metrics.summarise(np.zeros((0, 17, 3)), np.zeros((0, 17, 3)), H36M17_JOINTS)
    with pytest.raises(ValueError, match="3 joints but 2 names"):
        metrics.per_joint(np.zeros((4, 3)), ["a", "b"])
    with pytest.raises(ValueError, match="3 joints but 2 names"):
        metrics.per_joint(np.zeros((2, 4, 3)), ["a", "b"])  # (B, T, J)
    with pytest.raises(ValueError, match="2 labels for 3 frames"):
        metrics.per_group(np.zeros((3, 4)), ["a", "b"])
