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
