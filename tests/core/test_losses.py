import pytest
import torch

from adaptpose_pipeline.core import losses as L
from adaptpose_pipeline.core import metrics
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


# Tests below kill mutants that survived `make mutate` (benchmarks/results/mutation.json).


def test_selection_default_bound_and_its_edge():
    ratio = torch.full((3,), 17.0)
    pose = torch.zeros(3, 3, 17, 2)
    pose[1, 0, 2, 1] = 1.0  # on the bound: kept
    pose[2, 2, 4, 0] = -1.2  # beyond the default bound of 1
    assert L.selection_mask(ratio, 17.0, 16.0, pose).tolist() == [True, True, False]


def test_hard_ratio_band_edge_belongs_to_the_outside():
    ratio = torch.tensor([32.0, 2.0])  # f = d^2 = 225 exactly
    assert L.hard_ratio_loss(ratio, c=17.0, d=15.0, semantics="printed").item() == 0.0
    assert L.hard_ratio_loss(ratio, c=17.0, d=15.0, semantics="released").item() == pytest.approx(225.0)


def test_difficulty_ratio_of_an_exact_source_sample_is_large_and_positive():
    ratio = L.difficulty_ratio(torch.tensor([0.5]), torch.tensor([0.0]))
    assert torch.isfinite(ratio).all() and ratio.item() > 1e6


def test_errors_are_of_the_difference():
    pred = torch.zeros(1, 2, 3)
    pred[0, 1] = torch.tensor([1.0, 1.0, 0.0])
    gt = pred.clone()
    gt[0, 1, 0] = 4.0  # joint 1 three away in x
    assert L.per_sample_error(pred, gt).tolist() == pytest.approx([1.5])
    assert L.per_sample_l2(pred, gt).tolist() == pytest.approx([4.5])


def test_reprojection_loss_hand_values():
    """Root-centred, divided by the Frobenius norm of the whole pose, L1 summed over
    joints and coordinates, mean over samples."""
    pred = torch.tensor([[[0.0, 0, 3], [1, 0, 4]]])
    two_d = torch.tensor([[[0.0, 0], [0, 1]]])
    assert L.reprojection_loss(pred, two_d).item() == pytest.approx(2.0)
    assert L.reprojection_loss(pred.repeat(2, 1, 1), two_d.repeat(2, 1, 1)).item() == pytest.approx(2.0)
    # (1, 1) / sqrt(2) against (1, 2) / sqrt(5): a stretch along y is not a scale.
    pred = torch.tensor([[[0.0, 0, 3], [1, 1, 4]]])
    stretched = torch.tensor([[[0.0, 0], [1, 2]]])
    expected = abs(1 / 2**0.5 - 1 / 5**0.5) + abs(1 / 2**0.5 - 2 / 5**0.5)
    assert L.reprojection_loss(pred, stretched).item() == pytest.approx(expected)
    # Scale-invariant for small poses too (norms below 1).
    pose_3d = torch.randn(4, 17, 3)
    assert L.reprojection_loss(pose_3d, 0.02 * pose_3d[..., :2]).item() == pytest.approx(0.0, abs=1e-5)


def test_bone_range_penalises_each_samples_mean_change():
    cos = torch.ones(2, 3, 4)  # sample 0 unchanged: 0.04 outside the band
    cos[1] = 1 - 0.2  # sample 1 inside
    assert L.bone_range_loss(cos).item() == pytest.approx((0.205 - 0.165) / 2)
    # Half the bones unchanged, half turned by 1 - cos = 0.41: mean 0.205, the centre.
    mixed = torch.ones(1, 3, 4)
    mixed[..., 2:] = 1 - 0.41
    assert L.bone_range_loss(mixed).item() == pytest.approx(0.0, abs=1e-7)


def test_lookahead_equals_one_explicit_sgd_step_then_the_centre_frames_reprojection():
    import copy

    torch.manual_seed(0)
    lifter = TemporalModelOptimized1f(LifterConfig(filter_widths=(3, 3), channels=16, dropout=0.0)).eval()
    fake_2d, fake_3d, target_2d = torch.randn(8, 9, 17, 2), torch.randn(8, 17, 3), torch.randn(5, 9, 17, 2)
    loss = L.lookahead_reprojection_loss(lifter, fake_2d, fake_3d, target_2d, inner_lr=0.5)
    stepped = copy.deepcopy(lifter)
    opt = torch.optim.SGD(stepped.parameters(), lr=0.5)
    L.per_sample_l2(stepped(fake_2d)[:, 0], fake_3d).mean().backward()
    opt.step()
    with torch.no_grad():
        expected = L.reprojection_loss(stepped(target_2d)[:, 0], target_2d[:, 4])
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_moment_matching_hand_value_and_gradient_into_the_fakes_only():
    """``|mu_f - mu_r|^2 + |S_f - S_r|_F^2`` with unbiased covariances."""
    fake = torch.tensor([[0.0, 0.0], [2.0, 0.0], [4.0, 3.0]], requires_grad=True)  # mean (2, 1)
    real = torch.tensor([[1.0, 1.0], [3.0, 1.0]], requires_grad=True)  # mean (2, 1), S = [[2, 0], [0, 0]]
    # fake: centred rows (-2, -1), (0, -1), (2, 2); S_f = [[8, 6], [6, 6]] / 2 = [[4, 3], [3, 3]].
    loss = L.moment_matching_loss(fake, real)
    assert loss.item() == pytest.approx(0 + (2**2 + 3**2 + 3**2 + 3**2))
    loss.backward()
    assert real.grad is None and fake.grad.abs().sum() > 0
    same = torch.randn(6, 4)
    assert L.moment_matching_loss(same, same.flip(0)).item() == pytest.approx(0.0, abs=1e-5)
    shifted = L.moment_matching_loss(same + torch.tensor([1.0, 0, 0, 2.0]), same).item()
    assert shifted == pytest.approx(5.0, rel=1e-5)  # means differ by (1, 0, 0, 2); covariances equal
    pair = L.moment_matching_loss(torch.tensor([[0.0, 0.0], [2.0, 0.0]]), torch.tensor([[1.0, 1.0], [1.0, -1.0]]))
    assert pair.item() == pytest.approx(4.0 + 4.0)  # S_f = [[2, 0], [0, 0]], S_r = [[0, 0], [0, 2]] (n - 1 = 1)
    one = torch.tensor([[1.0, 2.0]])
    assert L.moment_matching_loss(one, one).item() == 0.0  # one sample: divisor clamped to 1, no NaN


def test_lsgan_losses_hand_values():
    one, zero = torch.ones(6), torch.zeros(6)
    assert L.lsgan_d_loss(one, zero).item() == 0.0
    assert L.lsgan_d_loss(zero, one).item() == pytest.approx(1.0)
    assert L.lsgan_g_loss(zero).item() == pytest.approx(0.5)
    assert L.lsgan_g_loss(one).item() == 0.0
    # 0.5 * mean([0.25, 0]) + 0.5 * mean([0.04, 0.16])
    got = L.lsgan_d_loss(torch.tensor([0.5, 1.0]), torch.tensor([0.2, -0.4]))
    assert got.item() == pytest.approx(0.5 * 0.125 + 0.5 * 0.1)


def test_mpjpe_faces_agree():
    """The torch loss, the per-sample error and the numpy metric are one MPJPE."""
    pred, target = torch.zeros(2, 17, 3, dtype=torch.float64), torch.zeros(2, 17, 3, dtype=torch.float64)
    pred[0, 1] = torch.tensor([3.0, 4.0, 0.0])  # one joint 5 away in sample 0
    assert L.per_sample_error(pred, target).tolist() == pytest.approx([5.0 / 17, 0.0])
    assert L.mpjpe_loss(pred, target).item() == pytest.approx(5.0 / 34)
    gen = torch.Generator().manual_seed(0)
    pred, target = torch.randn(8, 17, 3, generator=gen), torch.randn(8, 17, 3, generator=gen)
    pred[:, 0], target[:, 0] = 0.0, 0.0  # root-relative, as the lifter predicts
    assert L.mpjpe_loss(pred, target).item() == pytest.approx(float(metrics.joint_errors(pred.numpy(), target.numpy()).mean()), rel=1e-6)
    with pytest.raises(ValueError, match="mpjpe_loss: shapes differ"):
        L.mpjpe_loss(pred, target[:, :16])
