"""Every training loss, in torch (the numpy metrics for evaluation are in ``metrics``;
the two are never mixed in one function).

- Pose errors: :func:`joint_distances` (the one Euclidean joint error), and from it
  :func:`mpjpe_loss` (the lifter's loss) and :func:`per_sample_error` (per-sample
  MPJPE, for the difficulty ratios); :func:`per_sample_l2`, the smooth squared error
  of the look-ahead step.
- LSGAN (paper Eqs. 15-17): :func:`lsgan_d_loss`, :func:`lsgan_g_loss`.
- AdaptPose's feedback losses and selection (Eqs. 14, 18-21; facts sheet §2): the
  difficulty ratio, hard-ratio loss, selection mask, reprojection (plain and
  look-ahead), moment matching, bone range and the lambda penalty.

Shapes: 2D windows ``(B, T, 17, 2)``, 3D centre frames ``(B, 17, 3)`` root-relative.

The ratio rules (Eqs. 14, 20) compare the lifter's error on each fake with its error on
the source sample that fake was generated from (``ratio_i = L(fake_i) / L(src_i)``).
``L`` is the per-sample Euclidean per-joint error (MPJPE of one sample), as in the
released code, so the band ``a = 17, b = 16`` (ratios 1..33) and ``c = 17, d = 15``
keep their released meaning.

Eq. 21 has two readings (:data:`HARD_RATIO_SEMANTICS`):

- ``printed``: the loss ``f = (ratio - c)^2`` acts where ``f < d^2`` (inside the band)
  and pulls the ratio to ``c``; samples outside the band get no gradient.
- ``released``: the loss acts where ``f >= d^2`` (outside the band), pulling runaway
  samples (far too easy or far too hard) back into it; inside the band it is zero.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

# --------------------------------------------------------------------------- pose errors


def joint_distances(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Euclidean error of each joint: ``(..., J, 3)`` x2 -> ``(..., J)`` (input unit)."""
    return torch.linalg.vector_norm(pred - target, dim=-1)


def mpjpe_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean joint error of ``(..., J, 3)`` poses (same unit as the input)."""
    if pred.shape != target.shape:
        raise ValueError(f"mpjpe_loss: shapes differ, {tuple(pred.shape)} vs {tuple(target.shape)}")
    return joint_distances(pred, target).mean()


def per_sample_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Euclidean per-joint error averaged over joints, per sample: ``(B, J, 3)`` x2 -> ``(B,)``."""
    return joint_distances(pred, target).mean(-1)


def per_sample_l2(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared joint error per sample: ``(B, J, 3)`` x2 -> ``(B,)`` (smooth; for look-ahead steps)."""
    return ((pred - target) ** 2).sum(-1).mean(-1)


# --------------------------------------------------------------------------- LSGAN


def lsgan_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Eqs. 15/16: ``0.5 E[(D(real) - 1)^2] + 0.5 E[D(fake)^2]`` of critic scores."""
    return 0.5 * ((real - 1.0) ** 2).mean() + 0.5 * (fake**2).mean()


def lsgan_g_loss(fake: torch.Tensor) -> torch.Tensor:
    """Eq. 17: ``0.5 E[(D(fake) - 1)^2]`` of critic scores on generated samples."""
    return 0.5 * ((fake - 1.0) ** 2).mean()


# --------------------------------------------------------------------------- feedback and selection


HARD_RATIO_SEMANTICS: tuple[str, ...] = ("printed", "released")


def difficulty_ratio(loss_fake: torch.Tensor, loss_src: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``L(N(fake_i)) / L(N(src_i))``: each fake against the source sample it was made
    from, ``(B,)`` x2 -> ``(B,)``. The source errors are constants (no gradient)."""
    if loss_fake.shape != loss_src.shape:
        raise ValueError(f"difficulty_ratio: fake and source errors must pair up, got {tuple(loss_fake.shape)} and {tuple(loss_src.shape)}")
    return loss_fake / (loss_src.detach() + eps)


def hard_ratio_loss(ratio: torch.Tensor, c: float, d: float, semantics: str = "printed") -> torch.Tensor:
    """Eqs. 20-21: ``f = (ratio - c)^2`` where it acts (inside the band ``f < d^2`` when
    ``printed``, outside it when ``released``; see the module docstring), zero
    elsewhere; mean over samples."""
    if semantics not in HARD_RATIO_SEMANTICS:
        raise ValueError(f"adapt.hard_ratio.semantics: expected one of {list(HARD_RATIO_SEMANTICS)}, got {semantics!r}")
    f = (ratio - c) ** 2
    acts = f < d * d if semantics == "printed" else f >= d * d
    return torch.where(acts, f, torch.zeros_like(f)).mean()


def selection_mask(ratio: torch.Tensor, a: float, b: float, pose_2d: torch.Tensor | None = None, bound: float | None = 1.0) -> torch.Tensor:
    """Eq. 14: keep a fake sample where ``(ratio - a)^2 < b^2``, and (when ``bound`` is
    set) all of its 2D coordinates lie within ``|x| <= bound``. ``(B,)`` bool."""
    if b <= 0:
        raise ValueError(f"adapt.selection.b: expected > 0, got {b}")
    keep = (ratio - a) ** 2 < b * b
    if pose_2d is not None and bound is not None:
        keep &= (pose_2d.abs() <= bound).flatten(1).all(1)
    return keep


def moment_matching_loss(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Distance between the first two moments of two batches of flattened 2D poses
    ``(B, D)`` and ``(B', D)``: ``|mu_f - mu_r|^2 + |S_f - S_r|_F^2``.

    A non-adversarial pull of the generated 2D towards the target's distribution: it
    cannot be won outright (as a critic can, on cues such as a dataset's joint
    conventions that no camera or bone change can fix), so it keeps pointing towards
    the target while the critic saturates. The real batch's moments are constants."""
    real = real.detach()
    mu_f, mu_r = fake.mean(0), real.mean(0)
    cf, cr = fake - mu_f, real - mu_r
    s_f = cf.T @ cf / max(len(fake) - 1, 1)
    s_r = cr.T @ cr / max(len(real) - 1, 1)
    return ((mu_f - mu_r) ** 2).sum() + ((s_f - s_r) ** 2).sum()


def reprojection_loss(pred_3d: torch.Tensor, pose_2d: torch.Tensor) -> torch.Tensor:
    """Eqs. 18-19: L1 distance between the scale-normalised orthographic projection
    ``[I2 | 0] N(x)`` of lifted poses ``(B, J, 3)`` and the 2D they were lifted from
    ``(B, J, 2)``, both root-centred and divided by their Frobenius norm."""

    def unit(x: torch.Tensor) -> torch.Tensor:
        x = x - x[:, :1]
        return x / torch.linalg.vector_norm(x.flatten(1), dim=1).clamp_min(1e-8)[:, None, None]

    return (unit(pred_3d[..., :2]) - unit(pose_2d)).abs().sum((-1, -2)).mean()


def lookahead_reprojection_loss(
    lifter: nn.Module,
    fake_2d: torch.Tensor,
    fake_3d: torch.Tensor,
    target_2d: torch.Tensor,
    inner_lr: float,
) -> torch.Tensor:
    """The reprojection feedback with a real gradient path into the generator.

    The lifter takes one differentiable SGD step (squared error) on the generated pairs, and the
    stepped lifter's reprojection loss on the *target* 2D (Eqs. 18-19) is returned:
    its gradient reaches the generator through that step, telling it which samples
    make the lifter more consistent on the target. (The released code computes this
    loss on detached tensors, so the generator never feels it.)

    ``fake_2d (B, RF, 17, 2)``, ``fake_3d (B, 17, 3)`` root-relative centre frames,
    ``target_2d (Bt, RF, 17, 2)``. The lifter should be in eval mode (BatchNorm running
    statistics are used and not updated); its own parameters are not changed.
    """
    params = {k: p for k, p in lifter.named_parameters()}
    buffers = {k: b for k, b in lifter.named_buffers()}
    # The inner step uses the squared error: smooth everywhere, whereas the Euclidean
    # MPJPE has no second derivative at zero error (the root joint is always exact).
    loss_fake = per_sample_l2(functional_call(lifter, (params, buffers), (fake_2d,))[:, 0], fake_3d).mean()
    grads = torch.autograd.grad(loss_fake, list(params.values()), create_graph=True)
    stepped = {k: p - inner_lr * g for (k, p), g in zip(params.items(), grads)}
    pred = functional_call(lifter, (stepped, buffers), (target_2d,))[:, 0]
    centre = target_2d.shape[1] // 2
    return reprojection_loss(pred, target_2d[:, centre])


def bone_range_loss(bone_cos: torch.Tensor, centre: float = 0.205, half_width: float = 0.165) -> torch.Tensor:
    """Keep each sample's mean ``1 - cos`` between source and generated bone
    directions ``(B, T, nb)`` inside ``centre ± half_width``; zero inside the band."""
    change = (1.0 - bone_cos).flatten(1).mean(1)
    return torch.relu((change - centre).abs() - half_width).mean()


def lambda_penalty(lam: torch.Tensor, limit: float = 0.1) -> torch.Tensor:
    """Penalise bone-length ratios beyond ``|lambda| > limit``: ``(B, nb)`` -> scalar."""
    return torch.relu(lam.abs() - limit).mean()
