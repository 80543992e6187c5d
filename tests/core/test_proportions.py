"""Target proportions from 2D: hand cases, recovery of a known per-bone scale, rescaling."""

import numpy as np
import pytest
import torch

from adaptpose_pipeline.core import proportions as P
from adaptpose_pipeline.core.skeleton import H36M17, bone_lengths, bones_to_joints, joints_to_bones


def _random_poses(n: int, seed: int) -> np.ndarray:
    """Root-relative poses with bone lengths 0.1..0.5 m and random directions."""
    rng = np.random.default_rng(seed)
    lengths = np.linspace(0.1, 0.5, H36M17.num_bones)
    dirs = rng.normal(size=(n, H36M17.num_bones, 3))
    dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
    bones = torch.as_tensor(dirs * lengths[:, None])
    return bones_to_joints(bones).numpy()


def test_length_quantiles_on_a_hand_case():
    pose = np.zeros((2, 17, 2))
    pose[0, H36M17.children[0]] = [3.0, 4.0]  # first bone: 5 long in frame 0
    pose[1, H36M17.children[0]] = [0.0, 1.0]  # 1 long in frame 1
    q = P.length_quantiles(pose, 100)
    assert q[0] == pytest.approx(5.0)
    assert P.length_quantiles(pose, 50)[0] == pytest.approx(3.0)


def test_known_per_bone_scale_is_recovered_from_orthographic_2d():
    """Target = source with each bone scaled by s; both seen orthographically from
    random directions; the estimate must match s up to the kept total length."""
    src_3d = _random_poses(20000, 0)
    s = np.linspace(0.7, 1.5, H36M17.num_bones)
    tgt_bones = joints_to_bones(torch.as_tensor(_random_poses(20000, 1))) * torch.as_tensor(s)[:, None]
    tgt_3d = bones_to_joints(tgt_bones).numpy()
    est = P.estimate_proportions(src_3d[..., :2], tgt_3d[..., :2], src_3d, quantile=99.5)
    expected = s * (np.linspace(0.1, 0.5, 16).sum() / (s * np.linspace(0.1, 0.5, 16)).sum())
    np.testing.assert_allclose(est, expected, rtol=0.03)
    # the summed source bone length is kept
    mean_len = np.linalg.norm(src_3d[:, H36M17.children] - src_3d[:, H36M17.bone_parents], axis=-1).mean(0)
    assert (est * mean_len).sum() == pytest.approx(mean_len.sum())


def test_same_domain_gives_ones():
    src = _random_poses(5000, 2)
    est = P.estimate_proportions(src[..., :2], src[..., :2] * 3.0, src)  # a global 2D scale cancels
    np.testing.assert_allclose(est, np.ones(16), rtol=1e-9)


def test_rescale_bones_scales_lengths_and_keeps_directions_and_root():
    pose = torch.as_tensor(_random_poses(4, 3), dtype=torch.float32) + torch.tensor([1.0, 2.0, 3.0])
    s = torch.linspace(0.5, 2.0, 16)
    out = P.rescale_bones(pose, s)
    b0, b1 = joints_to_bones(pose), joints_to_bones(out)
    torch.testing.assert_close(bone_lengths(b1), bone_lengths(b0) * s)
    torch.testing.assert_close(b1 / bone_lengths(b1)[..., None], b0 / bone_lengths(b0)[..., None])
    torch.testing.assert_close(out[:, 0], pose[:, 0])
    torch.testing.assert_close(P.rescale_bones(out, 1 / s), pose, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((3, 16, 2)), "expected shape"),
        (np.full((3, 17, 2), np.nan), "NaN"),
        (np.zeros((0, 17, 2)), "no 2D poses"),
    ],
)
def test_bad_input_is_named(bad, match):
    with pytest.raises(ValueError, match=match):
        P.length_quantiles(bad, 99)


def test_bad_quantile_and_degenerate_source():
    with pytest.raises(ValueError, match="quantile"):
        P.length_quantiles(np.ones((2, 17, 2)), 0)
    with pytest.raises(ValueError, match="zero 2D length"):
        P.estimate_proportions(np.zeros((2, 17, 2)), np.ones((2, 17, 2)), np.ones((2, 17, 3)))


def test_lifted_lengths_divide_by_the_foreshortening_of_the_lifted_bone():
    # first bone (hip -> right hip): 2D length 0.5; lifted direction (1, 0, 1) -> factor 1/sqrt(2)
    bones_2d = np.tile([1.0, 0.0], (3, 16, 1))
    bones_2d[:, 0] = [0.5, 0.0]
    bones_3d = np.tile([1.0, 0.0, 0.0], (3, 16, 1))  # every other bone side-on
    bones_3d[0, 0] = [1.0, 0.0, 1.0]
    bones_3d[1, 0] = [0.0, 2.0, 2.0]  # also 1/sqrt(2)
    bones_3d[2, 0] = [0.1, 0.0, 1.0]  # factor ~0.0995: below the threshold, not used
    pose_2d = bones_to_joints(torch.as_tensor(bones_2d)).numpy()
    lifted = bones_to_joints(torch.as_tensor(bones_3d)).numpy()
    out = P.lifted_lengths(pose_2d, lifted, min_foreshortening=0.5)
    assert out[0] == pytest.approx(0.5 * np.sqrt(2))
    unseen = P.lifted_lengths(pose_2d, lifted, min_foreshortening=0.75)  # no frame shows the first bone so
    assert np.isnan(unseen[0]) and np.isfinite(unseen[1:]).all()


def test_a_bone_the_lifter_never_sees_side_on_falls_back(caplog):
    src = _random_poses(2000, 4)
    bones = joints_to_bones(torch.as_tensor(src))
    tgt_2d = bones_to_joints(bones * torch.tensor([2.0] + [1.0] * 15, dtype=bones.dtype)[:, None]).numpy()[..., :2]
    edge_on_bones = bones.clone()
    edge_on_bones[:, 0] = torch.tensor([0.0, 0.0, 0.2], dtype=bones.dtype)  # the lifter sees r_hip along the optical axis
    edge_on = bones_to_joints(edge_on_bones).numpy()
    both = P.estimate_proportions(src[..., :2], tgt_2d, src, 99.0, (src, edge_on), "both")
    tail = P.estimate_proportions(src[..., :2], tgt_2d, src, 99.0)
    np.testing.assert_allclose(both, tail, rtol=1e-9)  # r_hip: the tail alone; elsewhere both agree with it
    lifted = P.estimate_proportions(src[..., :2], tgt_2d, src, 99.0, (src, edge_on), "lifted")
    assert lifted[0] == pytest.approx(lifted[1])  # the source's length (1 before keeping the summed length)
    assert "r_hip" in caplog.text


def _seen_from_the_side(n: int, seed: int, s: np.ndarray) -> np.ndarray:
    """Poses whose first 8 bones (scaled by ``s``) point 45-70 degrees out of the
    image plane: never side-on, so the 2D tail underestimates them by up to 30%
    against the others, which point anywhere."""
    rng = np.random.default_rng(seed)
    lengths = np.linspace(0.1, 0.5, H36M17.num_bones) * s
    tilt = np.deg2rad(rng.uniform(45, 70, size=(n, H36M17.num_bones)))
    tilt[:, 8:] = np.arcsin(rng.uniform(-1, 1, size=(n, H36M17.num_bones - 8)))  # uniform on the sphere
    turn = rng.uniform(0, 2 * np.pi, size=(n, H36M17.num_bones))
    dirs = np.stack([np.cos(tilt) * np.cos(turn), np.cos(tilt) * np.sin(turn), np.sin(tilt)], -1)
    return bones_to_joints(torch.as_tensor(dirs * lengths[:, None])).numpy()


def test_the_lifted_estimate_recovers_what_the_tail_cannot_see():
    src_3d = _random_poses(20000, 0)
    s = np.linspace(0.8, 1.3, H36M17.num_bones)
    tgt_3d = _seen_from_the_side(20000, 1, s)
    expected = s * (np.linspace(0.1, 0.5, 16).sum() / (s * np.linspace(0.1, 0.5, 16)).sum())
    lifted = (src_3d, tgt_3d)  # a perfect lifter
    tail = P.estimate_proportions(src_3d[..., :2], tgt_3d[..., :2], src_3d, 99.0)
    est = P.estimate_proportions(src_3d[..., :2], tgt_3d[..., :2], src_3d, 99.0, lifted, "lifted")
    both = P.estimate_proportions(src_3d[..., :2], tgt_3d[..., :2], src_3d, 99.0, lifted, "both")
    np.testing.assert_allclose(est, expected, rtol=0.01)
    assert np.abs(tail / expected - 1).max() > 0.05  # the tail is off by the missing side-on views
    # both: the geometric mean of the two, rescaled to keep the summed length
    geo = np.sqrt(tail * est)
    np.testing.assert_allclose(both / both.sum(), geo / geo.sum(), rtol=1e-9)
    mean_len = np.linalg.norm(src_3d[:, H36M17.children] - src_3d[:, H36M17.bone_parents], axis=-1).mean(0)
    assert (both * mean_len).sum() == pytest.approx(mean_len.sum())


def test_estimator_choices_and_missing_lifted_poses_are_named():
    src = _random_poses(100, 2)
    with pytest.raises(ValueError, match="proportions.estimator: expected one of"):
        P.estimate_proportions(src[..., :2], src[..., :2], src, estimator="mean")
    with pytest.raises(ValueError, match="needs the lifted"):
        P.estimate_proportions(src[..., :2], src[..., :2], src, estimator="both")
    with pytest.raises(ValueError, match="do not match"):
        P.estimate_proportions(src[..., :2], src[..., :2], src, lifted=(src[:50], src), estimator="lifted")
    with pytest.raises(ValueError, match="min_foreshortening"):
        P.lifted_lengths(src[..., :2], src, min_foreshortening=1.0)
    bad = src.copy()
    bad[0, 3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        P.lifted_lengths(src[..., :2], bad)


def test_small_or_uncertain_changes_keep_the_source_length():
    src = _random_poses(20000, 5)
    bones = joints_to_bones(torch.as_tensor(src))
    scale = torch.ones(16, dtype=bones.dtype)
    scale[0], scale[1] = 1.02, 1.5  # r_hip 2% longer (noise-sized), r_knee 50% longer
    tgt = bones_to_joints(bones * scale[:, None]).numpy()
    plain = P.estimate_proportions(src[..., :2], tgt[..., :2], src, 100.0)
    gated = P.estimate_proportions(src[..., :2], tgt[..., :2], src, 100.0, min_change=0.03)
    assert plain[0] / plain[2] == pytest.approx(1.02, rel=5e-3) and plain[1] / plain[2] == pytest.approx(1.5, rel=5e-3)
    # r_hip's 2% is under the threshold: it moves with the unchanged bones; r_knee keeps its 50%
    assert gated[0] / gated[2] == pytest.approx(1.0) and gated[1] / gated[2] == pytest.approx(1.5, rel=0.02)
    with pytest.raises(ValueError, match="min_change"):
        P.estimate_proportions(src[..., :2], tgt[..., :2], src, min_change=-0.1)


def test_combine_keeps_a_change_only_where_both_estimates_agree_beyond_the_threshold():
    ratios = np.ones((2, 16))
    ratios[:, 0] = [1.10, 1.00]  # one says +10%, the other nothing: kept at the source's length
    ratios[:, 1] = [1.50, 1.60]  # both say +50..60%: the geometric mean
    ratios[:, 2] = [1.10, 0.95]  # opposite directions: kept
    ratios[:, 3] = [0.80, 0.96]  # both shorter, one by only 4%: sqrt(0.768) = 0.876, |log| 0.132 > 0.03 + 0.091
    lengths = np.ones(16)
    out = P.combine(ratios, lengths, min_change=0.03)
    expected = np.ones(16)
    expected[1], expected[3] = np.sqrt(1.5 * 1.6), np.sqrt(0.8 * 0.96)
    expected *= 16 / expected.sum()  # the summed length is kept
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    ratios[:, 3] = [0.80, 0.98]  # now the nearer estimate (2%) is under the threshold: kept
    assert P.combine(ratios, lengths, min_change=0.03)[3] == pytest.approx(P.combine(ratios, lengths, 0.03)[4])
    plain = P.combine(ratios, lengths)  # no threshold: the geometric mean everywhere
    np.testing.assert_allclose(plain / plain[4], np.sqrt(ratios[0] * ratios[1]), rtol=1e-12)


# ---- retargeting: the target's 2D in the source's proportions ------------------------


def test_retarget_2d_on_a_hand_case():
    pose = torch.zeros(1, 17, 2)
    pose[0, [1, 2, 3]] = torch.tensor([3.0, 4.0])  # the right hip 5 from the root; knee and ankle on it
    ratios = torch.ones(16)
    ratios[0] = 2.0  # the target's hip bone is twice the source's
    out = P.retarget_2d(pose, ratios, "screen")
    torch.testing.assert_close(out[0, [1, 2, 3]], torch.tensor([[1.5, 2.0]] * 3))  # the leg follows the hip
    torch.testing.assert_close(out[0, 4:], torch.zeros(13, 2))
    # frobenius: that pose divided by its norm, sqrt(3 * 2.5^2)
    torch.testing.assert_close(P.retarget_2d(pose, ratios, "frobenius")[0, 1], torch.tensor([1.5, 2.0]) / (3 ** 0.5 * 2.5))


def test_retarget_2d_divides_each_2d_bone_by_its_ratio_and_keeps_the_root():
    pose = torch.as_tensor(_random_poses(6, 4)[..., :2], dtype=torch.float32) + torch.tensor([0.3, -0.2])
    ratios = torch.linspace(0.6, 1.6, 16)
    out = P.retarget_2d(pose, ratios, "screen")
    torch.testing.assert_close(joints_to_bones(out), joints_to_bones(pose) / ratios[:, None])
    torch.testing.assert_close(out[:, 0], pose[:, 0])
    fro = P.retarget_2d(pose, ratios, "frobenius")
    centred = out - out[:, :1]
    torch.testing.assert_close(fro, centred / centred.flatten(1).norm(dim=1)[:, None, None])
    torch.testing.assert_close(P.retarget_2d(pose, torch.ones(16), "screen"), pose)


def test_retargeting_the_2d_of_a_rescaled_skeleton_gives_the_source_skeletons_2d():
    """Orthographic views of the same motion in two skeletons: the target's 2D, retargeted
    with the true ratios, is the source's 2D (exactly, in screen units)."""
    src_3d = torch.as_tensor(_random_poses(50, 5), dtype=torch.float32)
    s = torch.linspace(0.7, 1.5, 16)
    tgt_3d = P.rescale_bones(src_3d, s)
    torch.testing.assert_close(P.retarget_2d(tgt_3d[..., :2], s, "screen"), src_3d[..., :2], atol=1e-5, rtol=1e-5)
    # under perspective (root 5 m away) only to first order in bone length / distance
    def persp(p):
        return p[..., :2] / (5.0 + p[..., 2:])

    err = (P.retarget_2d(persp(tgt_3d), s, "screen") - persp(src_3d)).norm(dim=-1)
    size = persp(src_3d).norm(dim=-1).max(dim=-1).values
    assert float((err.mean(-1) / size).mean()) < 0.01  # 0.45% measured; 10% and more without retargeting
    no_retarget = (persp(tgt_3d) - persp(src_3d)).norm(dim=-1)
    assert float((no_retarget.mean(-1) / size).mean()) > 0.05


def test_retarget_2d_names_a_bad_normalisation():
    with pytest.raises(ValueError, match="normalisation expected 'screen' or 'frobenius'"):
        P.retarget_2d(torch.zeros(1, 17, 2), torch.ones(16), "pixels")
