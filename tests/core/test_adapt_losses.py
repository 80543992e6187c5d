import pytest
import torch

from adaptpose_pipeline.core import adapt_losses as L
from adaptpose_pipeline.core.lifter import LifterConfig, TemporalModelOptimized1f


def test_selection_keeps_exactly_the_band():
    ratio = torch.tensor([0.5, 1.0, 1.01, 17.0, 32.99, 33.0, 40.0])
    keep = L.selection_mask(ratio, a=17.0, b=16.0)
    assert keep.tolist() == [False, False, True, True, True, False, False]
    pose = torch.zeros(7, 3, 17, 2)
    pose[3, 1, 5, 0] = 1.2  # a 2D coordinate outside |x| <= 1
    assert L.selection_mask(ratio, 17.0, 16.0, pose, bound=1.0).tolist() == [False, False, True, False, True, False, False]
    assert L.selection_mask(ratio, 17.0, 16.0, pose, bound=None).tolist() == keep.tolist()
    with pytest.raises(ValueError, match="selection.b"):
        L.selection_mask(ratio, 17.0, 0.0)


def test_hard_ratio_hand_values_for_both_semantics():
    ratio = torch.tensor([17.0, 20.0, 40.0, 1.0])
    # f = 0, 9, 529, 256 against d^2 = 225: the first two lie inside the band.
    assert L.hard_ratio_loss(ratio, c=17.0, d=15.0).item() == pytest.approx((0 + 9 + 0 + 0) / 4)
    assert L.hard_ratio_loss(ratio, c=17.0, d=15.0, semantics="printed").item() == pytest.approx(9 / 4)
    # released: only the runaway samples (outside the band) are pulled back.
    assert L.hard_ratio_loss(ratio, c=17.0, d=15.0, semantics="released").item() == pytest.approx((529 + 256) / 4)
    with pytest.raises(ValueError, match="hard_ratio.semantics"):
        L.hard_ratio_loss(ratio, 17.0, 15.0, semantics="inside")


def test_hard_ratio_gradient_sign_per_semantics():
    for semantics, ratio0, moves_to_c in (("printed", 20.0, True), ("released", 40.0, True), ("printed", 40.0, False), ("released", 20.0, False)):
        r = torch.tensor([ratio0], requires_grad=True)
        L.hard_ratio_loss(r, c=17.0, d=15.0, semantics=semantics).backward()
        # gradient descent moves r by -grad: towards c (=17) where the loss acts, not at all elsewhere
        assert (r.grad.item() > 0) is moves_to_c and (r.grad.item() == 0) is (not moves_to_c)


def test_difficulty_ratio_pairs_each_fake_with_its_own_source_sample():
    fake = torch.tensor([2.0, 4.0, 9.0])
    src = torch.tensor([1.0, 4.0, 3.0])
    assert L.difficulty_ratio(fake, src).tolist() == pytest.approx([2.0, 1.0, 3.0])
    with pytest.raises(ValueError, match="pair up"):
        L.difficulty_ratio(fake, src[:2])
    s = src.clone().requires_grad_(True)
    f = fake.clone().requires_grad_(True)
    L.difficulty_ratio(f, s).sum().backward()
    assert s.grad is None and f.grad is not None  # the source errors are constants


def test_per_sample_error_is_euclidean_mean_over_joints():
    pred = torch.zeros(2, 17, 3)
    gt = torch.zeros(2, 17, 3)
    gt[0, 1] = torch.tensor([3.0, 4.0, 0.0])  # one joint 5 away
    gt[1, :, 0] = 2.0  # every joint 2 away
    assert L.per_sample_error(pred, gt).tolist() == pytest.approx([5 / 17, 2.0])
    assert L.per_sample_l2(pred, gt).tolist() == pytest.approx([25 / 17, 4.0])


def test_reprojection_loss_zero_for_consistent_lift_and_scale_invariant():
    pose_3d = torch.randn(4, 17, 3)
    assert L.reprojection_loss(pose_3d, 3.0 * pose_3d[..., :2] + 0.5).item() == pytest.approx(0.0, abs=1e-5)
    assert L.reprojection_loss(pose_3d, torch.randn(4, 17, 2)).item() > 0.1


def test_range_and_lambda_penalties():
    inside = torch.full((2, 3, 16), 1 - 0.2)
    assert L.bone_range_loss(inside).item() == 0.0
    unchanged = torch.ones(2, 3, 16)
    assert L.bone_range_loss(unchanged).item() == pytest.approx(0.205 - 0.165)
    assert L.lambda_penalty(torch.tensor([[0.05, -0.15, 0.2]])).item() == pytest.approx((0 + 0.05 + 0.1) / 3)


def test_lookahead_reprojection_sends_gradients_into_generated_samples():
    torch.manual_seed(0)
    lifter = TemporalModelOptimized1f(LifterConfig(filter_widths=(3,), channels=16, dropout=0.0)).eval()
    fake_2d = torch.randn(8, 3, 17, 2, requires_grad=True)
    fake_3d = torch.randn(8, 17, 3)
    fake_3d[:, 0] = 0  # root-relative, as the lifter predicts: exact at the root
    fake_3d.requires_grad_(True)
    target_2d = torch.randn(8, 3, 17, 2)
    before = {k: v.clone() for k, v in lifter.state_dict().items()}
    loss = L.lookahead_reprojection_loss(lifter, fake_2d, fake_3d, target_2d, inner_lr=0.1)
    loss.backward()
    for x in (fake_2d, fake_3d):
        assert x.grad is not None and x.grad.abs().sum() > 0 and torch.isfinite(x.grad).all()
    # The lifter itself is untouched by the look-ahead.
    assert all(torch.equal(before[k], v) for k, v in lifter.state_dict().items())


def test_feedback_losses_send_gradients_into_the_generator():
    from adaptpose_pipeline.core.adapt import project_normalise
    from adaptpose_pipeline.core.generator import GeneratorConfig, HumanMotionGenerator

    torch.manual_seed(0)
    gen = HumanMotionGenerator(GeneratorConfig(frames=3, hidden=32))
    lifter = TemporalModelOptimized1f(LifterConfig(filter_widths=(3,), channels=16, dropout=0.0)).eval()
    pose = torch.randn(6, 3, 17, 3) * 0.2
    pose[..., 0, :] = 0
    root = torch.tensor([0.0, 0.0, 5.0]).expand(6, 3, 3).clone()
    src = {"f": torch.full((6, 2), 1000.0), "c": torch.full((6, 2), 500.0), "size": torch.full((6, 2), 1000.0)}
    target_2d = torch.randn(6, 3, 17, 2) * 0.2

    def grads(loss_fn):
        gen.zero_grad()
        out = gen(pose, root)
        fake_2d = project_normalise(out.pose_3d_cam, src, "frobenius", False)
        fake_3d = out.pose_3d_cam[:, 1] - out.pose_3d_cam[:, 1, :1]
        loss_fn(fake_2d, fake_3d).backward()
        return [p.grad for p in gen.parameters() if p.grad is not None and p.grad.abs().sum() > 0]

    src_loss = torch.full((6,), 0.01)
    hard = lambda f2, f3: L.hard_ratio_loss(L.difficulty_ratio(L.per_sample_error(lifter(f2)[:, 0], f3), src_loss), c=5.0, d=1e3)  # noqa: E731
    proj = lambda f2, f3: L.lookahead_reprojection_loss(lifter, f2, f3, target_2d, inner_lr=0.1)  # noqa: E731
    for loss_fn in (hard, proj):
        nonzero = grads(loss_fn)
        assert nonzero, "no generator parameter received a gradient"
        assert all(torch.isfinite(g).all() for g in nonzero)
