import math

import pytest
import torch

from adaptpose_pipeline.core.discriminators import (
    Discriminator3D,
    DomainDiscriminator2D,
    HistoryPool,
    kcs_features,
    perturb_bones,
)
from adaptpose_pipeline.core.losses import lsgan_d_loss
from adaptpose_pipeline.core.skeleton import bone_directions, bone_lengths, bones_to_joints, joints_to_bones


def _poses(n: int, gen: torch.Generator) -> torch.Tensor:
    """Random root-relative ``(n, 17, 3)`` poses with bones of 0.1-0.4 m."""
    dirs = torch.nn.functional.normalize(torch.randn(n, 16, 3, generator=gen), dim=-1)
    lengths = 0.1 + 0.3 * torch.rand(n, 16, 1, generator=gen)
    return bones_to_joints(dirs * lengths)


def _angles_deg(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    cos = (bone_directions(a) * bone_directions(b)).sum(-1).clamp(-1.0, 1.0)
    return torch.rad2deg(torch.acos(cos.double()))


@pytest.mark.parametrize("frames", [1, 27])
@pytest.mark.parametrize("use_kcs", [True, False])
def test_2d_discriminator_shapes(frames, use_kcs, gen):
    d = DomainDiscriminator2D(frames, hidden=32, blocks=2, use_kcs=use_kcs)
    assert d(torch.randn(5, frames, 17, 2, generator=gen)).shape == (5,)
    assert (d.kcs_branch is not None) == use_kcs
    with pytest.raises(ValueError, match=rf"expected \(B, {frames}, 17, 2\)"):
        d(torch.randn(5, frames + 1, 17, 2))


def test_3d_discriminator_shape_and_branches(gen):
    d = Discriminator3D(hidden=32)
    assert d(_poses(5, gen)).shape == (5,)
    assert set(d.part_branches) == {"torso", "left_arm", "right_arm", "left_leg", "right_leg"}
    with pytest.raises(ValueError, match=r"expected \(B, 17, 3\)"):
        d(torch.zeros(5, 17, 2))


def test_kcs_features_hand_values_and_dependence_on_bones(gen):
    x = torch.randn(4, 17, 2, generator=gen)
    f = kcs_features(x)
    assert f.shape == (4, 16 * 17 // 2)
    b = joints_to_bones(x)
    # First entries of the upper triangle: |b0|^2, b0.b1, b0.b2, ...
    assert torch.allclose(f[:, 0], (b[:, 0] ** 2).sum(-1))
    assert torch.allclose(f[:, 1], (b[:, 0] * b[:, 1]).sum(-1))
    # Quadratic in the bones: scaling the pose by 2 scales the features by 4 ...
    assert torch.allclose(kcs_features(2 * x), 4 * f, atol=1e-5)
    # ... and a translation, which moves no bone, leaves them as they are.
    assert torch.allclose(kcs_features(x + torch.tensor([0.3, -0.7])), f, atol=1e-5)
    part = kcs_features(x, bones=(10, 11, 12))
    assert part.shape == (4, 6) and torch.allclose(part[:, 0], (b[:, 10] ** 2).sum(-1))


def test_2d_input_is_not_root_normalised(gen):
    # The keypoint branch sees absolute positions: moving the whole pose changes the score.
    d = DomainDiscriminator2D(1, hidden=32, use_kcs=False)
    x = torch.randn(3, 1, 17, 2, generator=gen)
    assert not torch.allclose(d(x), d(x + 0.5))
    # The KCS branch sees the bones only: a translation leaves its features unchanged,
    # a scaling changes them.
    dk = DomainDiscriminator2D(1, hidden=32, use_kcs=True)
    feats = lambda p: dk.kcs_branch(kcs_features(p).reshape(len(p), -1))  # noqa: E731
    assert torch.allclose(feats(x), feats(x + 0.5), atol=1e-5)
    assert not torch.allclose(feats(x), feats(1.5 * x))


def test_gradients_reach_inputs_and_kcs_branches(gen):
    d2 = DomainDiscriminator2D(27, hidden=32)
    x2 = torch.randn(4, 27, 17, 2, generator=gen, requires_grad=True)
    d2(x2).sum().backward()
    assert x2.grad is not None and x2.grad.abs().sum() > 0
    assert d2.kcs_branch[0].weight.grad.abs().sum() > 0
    assert d2.keypoint_branch[0].weight.grad.abs().sum() > 0

    d3 = Discriminator3D(hidden=32)
    x3 = _poses(4, gen).requires_grad_(True)
    d3(x3).sum().backward()
    assert x3.grad is not None and x3.grad.abs().sum() > 0
    assert d3.kcs_branch[0].weight.grad.abs().sum() > 0
    for branch in d3.part_branches.values():
        assert branch[0].weight.grad.abs().sum() > 0


def test_perturb_bones_keeps_lengths_and_root_and_bounds_angles(gen):
    x = _poses(2000, gen) + torch.randn(2000, 1, 3, generator=gen)  # roots away from 0
    y = perturb_bones(x, max_deg=10.0, generator=torch.Generator().manual_seed(1))
    assert y.shape == x.shape
    bx, by = joints_to_bones(x), joints_to_bones(y)
    assert torch.allclose(bone_lengths(by), bone_lengths(bx), atol=1e-5)
    assert torch.allclose(y[:, 0], x[:, 0])
    ang = _angles_deg(bx, by)
    assert ang.max() < 10.0
    # Uniform in [0, 10): the top is reached, and few bones barely move.
    assert ang.max() > 0.8 * 10.0
    assert (ang > 1.0).float().mean() > 0.85
    assert 4.5 < ang.mean() < 5.5
    # Bones move independently: not one rigid rotation of the whole pose.
    assert ang.std(dim=-1).mean() > 1.0


def test_perturb_bones_is_seeded_and_zero_is_identity(gen):
    x = _poses(8, gen)
    a = perturb_bones(x, 10.0, torch.Generator().manual_seed(3))
    b = perturb_bones(x, 10.0, torch.Generator().manual_seed(3))
    c = perturb_bones(x, 10.0, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert torch.allclose(perturb_bones(x, 0.0, gen), x, atol=1e-6)
    # Any leading dims: a window of poses.
    assert perturb_bones(x.reshape(2, 4, 17, 3), 5.0, gen).shape == (2, 4, 17, 3)


def test_history_pool_fills_mixes_and_stays_bounded():
    g = torch.Generator().manual_seed(0)
    pool = HistoryPool(size=10)
    first = torch.full((4, 3), 1.0, requires_grad=True)
    out = pool.push_and_sample(first * 1.0, g)
    assert torch.equal(out, first.detach()) and not out.requires_grad
    assert len(pool) == 4
    seen_old = False
    for step in range(2, 12):
        fakes = torch.full((4, 3), float(step), requires_grad=True) * 1.0
        out = pool.push_and_sample(fakes, g)
        assert out.shape == (4, 3) and not out.requires_grad and out.grad_fn is None
        assert len(pool) <= 10
        rows = out[:, 0]
        # Half current (B - B//2 = 2 rows), half from earlier pushes.
        assert (rows == step).sum() == 2
        assert ((rows < step) & (rows >= 1)).sum() == 2
        seen_old |= bool((rows < step - 1).any())
    assert len(pool) == 10 and seen_old
    # Once full, old entries are replaced: the first push is not all still there.
    assert (pool._store[:, 0] == 1.0).sum() < 4
    with pytest.raises(ValueError, match=r"holds samples of shape \(3,\)"):
        pool.push_and_sample(torch.zeros(4, 5), g)


def test_history_pool_batch_larger_than_pool():
    pool = HistoryPool(size=3)
    pool.push_and_sample(torch.arange(8.0)[:, None])
    assert len(pool) == 3 and pool._store.shape == (3, 1)
    out = pool.push_and_sample(torch.full((8, 1), -1.0))
    assert out.shape == (8, 1) and (out == -1).sum() == 4
    assert torch.equal(pool._store, torch.full((3, 1), -1.0))


def test_2d_discriminator_learns_to_separate_scales(gen):
    torch.manual_seed(0)
    base = _poses(1, gen)[..., :2]

    def batch(scale: float, n: int = 64) -> torch.Tensor:
        return scale * (base + 0.03 * torch.randn(n, 17, 2, generator=gen))[:, None]

    d = DomainDiscriminator2D(1, hidden=64, blocks=1)
    opt = torch.optim.Adam(d.parameters(), lr=1e-3)
    for _ in range(100):
        loss = lsgan_d_loss(d(batch(1.0)), d(batch(2.0)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        real, fake = d(batch(1.0, 256)).mean(), d(batch(2.0, 256)).mean()
    assert real > 0.7 and fake < 0.3


@pytest.mark.cuda
def test_discriminators_and_perturbation_run_on_cuda(gen):
    dev = torch.device("cuda")
    x3 = _poses(8, gen).to(dev)
    y3 = perturb_bones(x3, 10.0, torch.Generator().manual_seed(0))
    assert y3.device.type == "cuda"
    assert torch.allclose(bone_lengths(joints_to_bones(y3)), bone_lengths(joints_to_bones(x3)), atol=1e-5)
    assert Discriminator3D(hidden=32).to(dev)(y3).device.type == "cuda"
    x2 = torch.randn(8, 27, 17, 2, generator=gen).to(dev)
    d2 = DomainDiscriminator2D(27, hidden=32).to(dev)
    score = d2(x2)
    assert score.shape == (8,) and score.device.type == "cuda"
    pool = HistoryPool(16)
    pool.push_and_sample(x2)
    assert pool.push_and_sample(x2 + 1).device.type == "cuda"
    assert math.isfinite(lsgan_d_loss(score, score).item())


def test_history_pool_checkpoint_holds_no_uninitialised_rows():
    # the unfilled rows of a pool go into epoch checkpoints: they must be zeros, not
    # whatever the memory held (which made checkpoint bytes, and NaN comparisons, vary)
    pool = HistoryPool(8)
    pool.push_and_sample(torch.ones(3, 2), torch.Generator().manual_seed(0))
    state = pool.state_dict()
    assert state["count"] == 3
    assert torch.equal(state["store"][:3], torch.ones(3, 2))
    assert torch.equal(state["store"][3:], torch.zeros(5, 2))
