"""The AdaptPose adversarial loop: generate, discriminate, feed back, select, fine-tune.

One call of :func:`adapt` runs the whole thing on the given device:

1. draw source windows (random stride, as in pretraining) and target 2D windows; with
   ``proportions: estimate`` the source windows the generator and the 3D critic see are
   first re-proportioned to the target's skeleton, estimated once from the two domains'
   2D (``core.proportions``), and the fakes' labels carry those proportions (or go back
   to the source's with ``proportion_labels: source``); with ``proportions: retarget``
   the target's 2D is instead redrawn with the source's proportions
   (``proportions.retarget_2d``) for the whole loop, so the generator, the critics and
   the lifter work in the source's skeleton, and the adapted lifter applies the
   estimate at inference (``lifter.Retargeted``);
2. the generator makes a new motion ``X_b`` and camera ``(R, T)``; ``X_fake = R X_b + T``
   is projected with the *source* intrinsics and normalised like the target's 2D;
3. every ``d_every`` generator steps the discriminators take an LSGAN step: the 2D
   domain discriminator on target (real) vs generated (fake) 2D windows (source 2D
   instead when ``domain_discriminator`` is off), the 3D discriminator on source poses
   perturbed by bone rotations below ``beta_deg`` (real) vs ``X_b`` (fake); fakes come
   through history pools;
4. the generator steps on ``L_G = w2d*adv2D + w3d*adv3D + hard-ratio (bone and camera
   stages) + w_proj*reprojection (through a look-ahead lifter step) + w_range*range + w_lam*lambda``;
5. after ``warmup_epochs``, the lifter steps on source pairs plus the *selected*
   generated pairs (Eq. 14; Eq. 23).

``schedule`` says when step 5 happens:

- ``interleaved``: one lifter step after every generator step, on that step's selected
  fakes (the released code);
- ``generate_then_finetune``: each epoch first runs all its generator steps, buffering
  the selected fakes (up to ``samples_per_epoch``), then the same number of lifter steps
  on source batches plus batches drawn from the buffer (the paper's §5: "in each epoch
  we generate 1.5 million synthetic samples followed by fine-tuning").

The feedback losses (hard ratio, reprojection) switch on after
``feedback_warmup_epochs``, so the critics and the generator first settle on the
target's 2D without the lifter pulling at them.

``control=True`` runs the same lifter steps (same count, learning rates, source batches
and seed) on source batches alone, with no generator: the fair control that says how
much of a gain is generation and how much is simply more training.

Every epoch also records label-free domain measures (:func:`domain_measures`): the
Fréchet distance between generated and target 2D, the 2D critic's accuracy on a
held-apart batch, and the generated cameras' elevation and distance.

Learning rates decay linearly, ``1 - epoch / (epochs + 1)``; gradients are clipped to
``grad_clip``. Everything is batched on the device; no per-sample Python loops.

Several processes (``torchrun``, ``core.distributed``): the networks start identical on
every rank; each rank draws ``batch_size / world`` source and target windows per step
and its own generator noise, from streams seeded with ``(seed, rank)``; the gradients
of the generator, the critics and the lifter are averaged in :meth:`StepContext.update`
(its docstring says why not ``DistributedDataParallel``); BatchNorm running statistics
are averaged at the end of each epoch, and the epoch's record over the ranks
(``core.loop``).
"""

from __future__ import annotations

import copy
import logging
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import torch
from pydantic import Field, Strict
from pydantic.dataclasses import dataclass as pydantic_dataclass
from tqdm.auto import tqdm

from adaptpose_pipeline.core import distributed
from adaptpose_pipeline.core import losses as L
from adaptpose_pipeline.core import proportions as P
from adaptpose_pipeline.core.camera import normalise_pixels, project
from adaptpose_pipeline.core.discriminators import (
    Discriminator3D,
    DomainDiscriminator2D,
    HistoryPool,
    perturb_bones,
)
from adaptpose_pipeline.core.generator import GeneratorConfig, GeneratorOutput, HumanMotionGenerator
from adaptpose_pipeline.core.guard import MAX_TARGET_FRAMES, target_reprojection
from adaptpose_pipeline.core.lifter import LifterCheckpoint, Retargeted, TemporalModelOptimized1f
from adaptpose_pipeline.core.loop import cpu_state, run_epochs
from adaptpose_pipeline.core.losses import lsgan_d_loss, lsgan_g_loss, mpjpe_loss
from adaptpose_pipeline.core.runtime import rng_states, set_rng_states
from adaptpose_pipeline.core.schema import FORBID_EXTRA, Bool, Float, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, named
from adaptpose_pipeline.core.skeleton import H36M17, bones_to_joints, joints_to_bones
from adaptpose_pipeline.core.training import predict_sequences
from adaptpose_pipeline.core.windows import Windows


log = logging.getLogger(__name__)
SCHEDULES: tuple[str, ...] = ("interleaved", "generate_then_finetune")
PROPORTIONS: tuple[str, ...] = ("off", "estimate", "retarget")
PROPORTION_FRAMES = 200_000  # frames per domain the proportion estimate reads (every k-th sequence beyond)


def _subsample_sequences(arrays: dict, max_frames: int) -> dict:
    """``pose_2d``, ``valid`` and the sequence table of every k-th sequence of
    ``arrays``, the smallest k that keeps at most ``max_frames`` frames (all of them
    when they fit). Deterministic, so a run and its resume estimate the same."""
    lengths = np.asarray(arrays["seq_length"])
    starts = np.asarray(arrays["seq_start"])
    step = max(1, math.ceil(int(lengths.sum()) / max_frames))
    if step == 1:
        return arrays
    starts, lengths = starts[::step], lengths[::step]
    idx = np.concatenate([np.arange(s, s + n) for s, n in zip(starts.tolist(), lengths.tolist())])
    return {
        "pose_2d": np.asarray(arrays["pose_2d"])[idx],
        "valid": np.asarray(arrays["valid"])[idx],
        "seq_start": np.concatenate([[0], np.cumsum(lengths)[:-1]]),
        "seq_length": lengths,
    }


@named("adapt.hard_ratio")
@pydantic_dataclass(frozen=True, config=FORBID_EXTRA)
class HardRatio:
    c_start: Float
    c_end: Float
    d: Float
    weight: Float

    def c(self, epoch: int, epochs: int) -> float:
        return self.c_start + (self.c_end - self.c_start) * epoch / max(epochs - 1, 1)


@named("adapt")
@pydantic_dataclass(frozen=True, config=FORBID_EXTRA)
class AdaptConfig:
    """The adaptation loop's settings (``adapt`` in parameters; the YAML blocks are
    flattened by ``parameters.Adapt.config``). Types, choices and bounds
    are declared on the fields; :meth:`__post_init__` checks the relations between
    fields."""

    epochs: PositiveInt = 50
    warmup_epochs: NonNegativeInt = 2  # < epochs
    batch_size: Annotated[int, Strict(), Field(ge=2)] = 1024
    samples_per_epoch: PositiveInt = 1_500_000  # >= batch_size
    lr_generator: PositiveFloat = 1e-4
    lr_discriminator: PositiveFloat = 1e-4
    lr_lifter: PositiveFloat = 1e-4
    d_every: PositiveInt = 2
    grad_clip: PositiveFloat = 1.0
    pool_size: PositiveInt = 4096
    beta_deg: Annotated[float, Strict(), Field(ge=0, lt=90)] = 10.0
    frames_3d: PositiveInt = 3
    stride_min: PositiveInt = 2  # <= stride_max
    stride_max: PositiveInt = 5
    domain_discriminator: Bool = True
    kcs_2d: Bool = True
    w_adv_2d: Float = 1.0
    w_adv_3d: Float = 6.0
    w_proj: Float = 1.0
    w_range: Float = 3.0
    w_lambda: Float = 1.0
    w_match: Float = 0.0
    w_fake: NonNegativeFloat = 1.0
    lr_lengths: PositiveFloat | None = None
    proj_batch: PositiveInt = 128
    proj_inner_lr: Float = 1e-3
    hard_ratio_bone: HardRatio = HardRatio(3.0, 5.0, 2.0, 0.1)
    hard_ratio_camera: HardRatio = HardRatio(17.0, 17.0, 15.0, 0.01)
    selection: Bool = True
    selection_a: Float = 17.0
    selection_b: PositiveFloat = 16.0
    selection_bound: Float | None = 1.0
    keep_samples: NonNegativeInt = 512
    buffer_memory_mb: PositiveInt | None = None  # generate_then_finetune: fakes held in memory before spilling to disk
    schedule: Literal[SCHEDULES] = "interleaved"
    feedback_warmup_epochs: NonNegativeInt = 0  # < epochs
    hard_ratio_semantics: Literal[L.HARD_RATIO_SEMANTICS] = "printed"
    critic_3d_lengths: Bool = True
    lambda_limit: NonNegativeFloat = 0.1
    proportions: Literal[PROPORTIONS] = "off"
    proportions_quantile: Annotated[float, Strict(), Field(gt=0, le=100)] = 99.0
    proportion_labels: Literal[P.LABELS] = "target"
    proportions_estimator: Literal[P.ESTIMATORS] = "tail"
    proportions_min_foreshortening: Annotated[float, Strict(), Field(gt=0, lt=1)] = 0.5
    proportions_min_change: NonNegativeFloat = 0.0
    proportions_reprojection_tolerance: NonNegativeFloat = 0.02

    def __post_init__(self) -> None:
        relations = {
            "warmup_epochs": (self.warmup_epochs < self.epochs, "< epochs"),
            "feedback_warmup_epochs": (self.feedback_warmup_epochs < self.epochs, "< epochs"),
            "samples_per_epoch": (self.samples_per_epoch >= self.batch_size, ">= batch_size"),
            "stride_min": (self.stride_min <= self.stride_max, "<= stride_max"),
        }
        # all four are keys of the adapt.train block
        bad = [f"adapt.train.{k}: expected {rule}, got {getattr(self, k)}" for k, (ok, rule) in relations.items() if not ok]
        if bad:
            raise ValueError("; ".join(bad))


@dataclass
class AdaptResult:
    generator: dict
    discriminators: dict
    lifter: dict
    history: list[dict]
    samples: dict[str, np.ndarray] = field(default_factory=dict)
    epoch_lifters: dict[int, dict] = field(default_factory=dict)  # epoch -> lifter state (when scored)
    proportions: np.ndarray | None = None  # (16,) target/source bone-length ratios (proportions: estimate|retarget)
    retarget: dict | None = None  # proportions: retarget: LifterCheckpoint info["retarget"] of the adapted lifter
    retarget_check: dict | None = None  # proportions: retarget: the baseline's target reprojection without / with it


class _Source(Windows):
    """Random-stride source windows with their cameras, on the device.

    With :meth:`set_proportions`, each batch also carries ``pose_3d_gen``: the windows
    with every bone rescaled to the target's proportions (what the generator and the
    3D critic start from), and ``label_scale`` when the fakes' 3D labels go back to
    the source's lengths.
    """

    def __init__(self, arrays: dict, rf: int, cfg: AdaptConfig, device: torch.device):
        super().__init__(arrays, rf, (cfg.stride_min, cfg.stride_max), "source_train", device)
        t = lambda x: torch.as_tensor(np.asarray(x), dtype=torch.float32, device=device)  # noqa: E731
        self.root = t(arrays["root_3d"])
        self.f, self.c, self.size = t(arrays["seq_f"]), t(arrays["seq_c"]), t(arrays["seq_image_size"])
        n_seq = len(arrays["seq_start"])
        self.k = t(arrays["seq_k"]) if "seq_k" in arrays else torch.zeros(n_seq, 3, device=device)
        self.p = t(arrays["seq_p"]) if "seq_p" in arrays else torch.zeros(n_seq, 2, device=device)
        self.gen_scale: torch.Tensor | None = None
        self.label_scale: torch.Tensor | None = None

    def set_proportions(self, scale: np.ndarray | None, labels: str) -> None:
        """Bone-length ratios ``(16,)`` for the generator's input (None: the source's own)."""
        if scale is None:
            self.gen_scale = self.label_scale = None
            return
        self.gen_scale = torch.as_tensor(scale, dtype=torch.float32, device=self.device)
        self.label_scale = 1.0 / self.gen_scale if labels == "source" else None

    def batch(self, n: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        c = self.random_centres(n, rng)
        idx = self.rows(c, rng)
        seq = torch.as_tensor(self.seq[c], device=self.device)
        pose_3d = self.pose_3d[idx]
        out = {
            "pose_2d": self.pose_2d[idx],
            "pose_3d": pose_3d,
            "pose_3d_gen": pose_3d if self.gen_scale is None else P.rescale_bones(pose_3d, self.gen_scale),
            "root": self.root[idx],
            "f": self.f[seq],
            "c": self.c[seq],
            "k": self.k[seq],
            "p": self.p[seq],
            "size": self.size[seq],
        }
        if self.label_scale is not None:
            out["label_scale"] = self.label_scale
        return out


class _Target(Windows):
    """Target 2D windows at the target's own frame rate (stride 1)."""

    def __init__(self, arrays: dict, rf: int, device: torch.device):
        super().__init__(arrays, rf, None, "target_train", device, need_3d=False)

    def batch(self, n: int, rng: np.random.Generator) -> torch.Tensor:
        return self.pose_2d[self.rows(self.random_centres(n, rng), rng)]


def project_normalise(pose_cam: torch.Tensor, src: dict, normalisation: str, pad: bool) -> torch.Tensor:
    """Camera-frame windows ``(B, T, 17, 3)`` -> normalised 2D with the source cameras,
    lens distortion included where the source has it (``src["k"]``, ``src["p"]``)."""
    k = src["k"][:, None, None] if "k" in src else None
    p = src["p"][:, None, None] if "p" in src else None
    px = project(pose_cam, src["f"][:, None, None], src["c"][:, None, None], k, p)
    w, h = src["size"][:, 0, None], src["size"][:, 1, None]
    return normalise_pixels(px, w, h, normalisation, pad)[0]


class AdaptNets:
    """The networks, optimisers and critics' history pools of one adaptation run."""

    def __init__(self, baseline: LifterCheckpoint, gen_cfg: GeneratorConfig, cfg: AdaptConfig, device: torch.device):
        rf = baseline.config.receptive_field
        self.gen = HumanMotionGenerator(gen_cfg).to(device)
        self.d2d = DomainDiscriminator2D(rf, use_kcs=cfg.kcs_2d).to(device)
        self.d3d = Discriminator3D().to(device)
        self.lifter = TemporalModelOptimized1f(baseline.config).to(device)
        self.lifter.load_state_dict(baseline.state_dict)
        self.bone_generation = self.gen.bone_net is not None
        # With bone and camera generation both off there is nothing to learn: the "fakes"
        # are the source itself (the fine-tuning-only ablation).
        self.gen_params = list(self.gen.parameters())
        self.d_params = list(self.d2d.parameters()) + list(self.d3d.parameters())
        # The shared bone-length scale may learn faster than the networks (lr_lengths): it
        # has 16 numbers to find, and while it lags the camera explains proportions instead.
        shared = [p for n, p in self.gen.named_parameters() if n == "global_length"]
        rest = [p for n, p in self.gen.named_parameters() if n != "global_length"]
        groups = [{"params": rest or [torch.zeros(1, requires_grad=True)], "lr": cfg.lr_generator}]
        if shared:
            groups.append({"params": shared, "lr": cfg.lr_lengths or cfg.lr_generator})
        self.opt_g = torch.optim.Adam(groups, lr=cfg.lr_generator)
        self.opt_d = torch.optim.Adam(self.d_params, lr=cfg.lr_discriminator)
        self.opt_n = torch.optim.Adam(self.lifter.parameters(), lr=cfg.lr_lifter)
        self.base_lr = {self.opt_d: [cfg.lr_discriminator], self.opt_n: [cfg.lr_lifter]}
        self.base_lr[self.opt_g] = [g["lr"] for g in self.opt_g.param_groups]
        self.pool_2d, self.pool_3d = HistoryPool(cfg.pool_size), HistoryPool(cfg.pool_size)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"generator": self.gen, "d2d": self.d2d, "d3d": self.d3d, "lifter": self.lifter}

    def optimisers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_g": self.opt_g, "opt_d": self.opt_d, "opt_n": self.opt_n}

    def pools(self) -> dict[str, HistoryPool]:
        return {"pool_2d": self.pool_2d, "pool_3d": self.pool_3d}

    def set_epoch_lr(self, epoch: int, epochs: int) -> None:
        """Linear decay, ``1 - epoch / (epochs + 1)``."""
        for opt, lrs in self.base_lr.items():
            for group, lr in zip(opt.param_groups, lrs):
                group["lr"] = lr * (1.0 - epoch / (epochs + 1))


@dataclass
class StepContext:
    """What the steps of one run share besides the networks: the settings, how generated
    camera-frame poses become normalised 2D (:meth:`project`), the bone perturbation of
    the 3D critic's real poses (:meth:`perturb`), the random stream of the generator's
    noise, the critics' frames and the history pools (``tgen``), and how an optimiser
    applies its gradients (:meth:`update`, clipped to ``grad_clip``).

    ``benchmarks/generator_throughput.py`` runs these same steps; its per-sample
    reference overrides ``project``/``perturb`` and observes ``update``."""

    cfg: AdaptConfig
    normalisation: str
    pad: bool
    tgen: torch.Generator

    def project(self, pose_cam: torch.Tensor, src: dict) -> torch.Tensor:
        return project_normalise(pose_cam, src, self.normalisation, self.pad)

    def perturb(self, poses: torch.Tensor) -> torch.Tensor:
        return perturb_bones(poses, self.cfg.beta_deg, generator=self.tgen)

    def update(self, name: str, optimiser: torch.optim.Optimizer, params) -> None:
        """Average the gradients of ``params`` over the ranks (several processes), clip
        them and step (``name``: generator, critics, lifter).

        Averaging here rather than by ``DistributedDataParallel``: DDP averages during
        the backward of a forward through its wrapper, one backward per forward. Here the
        generator's loss reaches the lifter through ``torch.func.functional_call`` (the
        look-ahead step, which bypasses a wrapper and back-propagates through a gradient,
        which DDP does not support) and the critics in the same backward, and the lifter
        also runs in eval mode for the feedback. Averaging once, just before the one
        place an optimiser steps, covers all three networks the same way; at one process
        it does nothing."""
        params = list(params)
        distributed.average_gradients(params)
        torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        optimiser.step()


@dataclass
class Fakes:
    """One generated batch (``B`` windows of ``T`` frames) and its 3D labels."""

    out: GeneratorOutput
    pose_2d: torch.Tensor  # (B, T, 17, 2) X_fake = R X_b + T, projected with the source camera, normalised
    bone_2d: torch.Tensor  # (B, T, 17, 2) X_b at the source's root, projected (the bone stage alone)
    pose_3d: torch.Tensor  # (B, 17, 3) root-relative label of pose_2d's centre frame
    bone_3d: torch.Tensor  # (B, 17, 3) label of bone_2d's centre frame


def generate(nets: AdaptNets, ctx: StepContext, src: dict) -> Fakes:
    """Generate from the source windows ``src`` (step 2 of the module docstring)."""
    mid = src["pose_2d"].shape[1] // 2
    out = nets.gen(src["pose_3d_gen"], src["root"], generator=ctx.tgen)
    return Fakes(
        out=out,
        pose_2d=ctx.project(out.pose_3d_cam, src),
        bone_2d=ctx.project(out.pose_3d + src["root"][:, :, None, :], src),
        pose_3d=fake_labels(out.pose_3d_cam[:, mid] - out.pose_3d_cam[:, mid, :1], src),
        bone_3d=fake_labels(out.pose_3d[:, mid], src),
    )


def _critic_3d_input(pose: torch.Tensor, keep_lengths: bool) -> torch.Tensor:
    """What the 3D critic sees of ``(..., 17, 3)`` poses: as they are, or (``keep_lengths``
    false) with every bone set to unit length, so it judges the joint angles alone and
    the bone lengths are left to the 2D critic (which sees the target's proportions)."""
    if keep_lengths:
        return pose
    bones = joints_to_bones(pose)
    return bones_to_joints(bones / torch.linalg.vector_norm(bones, dim=-1, keepdim=True).clamp_min(1e-8))


def critic_step(nets: AdaptNets, ctx: StepContext, src: dict, tgt: torch.Tensor, fakes: Fakes) -> dict[str, float]:
    """One LSGAN step of both critics (Eqs. 15-16); real 2D is the target's, or the
    source's when ``domain_discriminator`` is off; fakes come through the history pools."""
    cfg = ctx.cfg
    rf, device = fakes.pose_2d.shape[1], fakes.pose_2d.device
    real_2d = tgt if cfg.domain_discriminator else src["pose_2d"]
    loss_d2d = lsgan_d_loss(nets.d2d(real_2d), nets.d2d(nets.pool_2d.push_and_sample(fakes.pose_2d.detach(), ctx.tgen)))
    frames = _frames_3d(rf, cfg.frames_3d, ctx.tgen, device)
    real_3d = ctx.perturb(src["pose_3d_gen"][:, frames].flatten(0, 1))
    fake_frames = nets.pool_3d.push_and_sample(fakes.out.pose_3d.detach()[:, frames].flatten(0, 1), ctx.tgen)
    keep = cfg.critic_3d_lengths
    loss_d3d = lsgan_d_loss(nets.d3d(_critic_3d_input(real_3d, keep)), nets.d3d(_critic_3d_input(fake_frames, keep)))
    nets.opt_d.zero_grad(set_to_none=True)
    (loss_d2d + loss_d3d).backward()
    ctx.update("critics", nets.opt_d, nets.d_params)
    return {"d_2d": loss_d2d.item(), "d_3d": loss_d3d.item()}


def feedback_losses(
    nets: AdaptNets, ctx: StepContext, src: dict, tgt: torch.Tensor, fakes: Fakes, epoch: int
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """The lifter's feedback to the generator (§3.3): the hard-ratio losses of the bone and
    camera stages and the look-ahead reprojection loss (both zero before
    ``feedback_warmup_epochs``). Returns ``({"hard_ratio", "proj"}, ratio_camera (B,),
    ratio_bone (B,))``, each ratio a fake's lifter error over its source sample's."""
    cfg, lifter = ctx.cfg, nets.lifter
    mid = src["pose_2d"].shape[1] // 2
    lifter.eval()
    src_err = L.per_sample_error(lifter(src["pose_2d"])[:, 0], src["pose_3d"][:, mid]).detach()
    ratio_cam = L.difficulty_ratio(L.per_sample_error(lifter(fakes.pose_2d)[:, 0], fakes.pose_3d), src_err)
    ratio_bone = L.difficulty_ratio(L.per_sample_error(lifter(fakes.bone_2d)[:, 0], fakes.bone_3d), src_err)
    hr = proj = fakes.pose_2d.new_zeros(())
    if epoch >= cfg.feedback_warmup_epochs:
        hb, hc = cfg.hard_ratio_bone, cfg.hard_ratio_camera
        hr = hb.weight * L.hard_ratio_loss(ratio_bone, hb.c(epoch, cfg.epochs), hb.d, cfg.hard_ratio_semantics)
        hr = hr + hc.weight * L.hard_ratio_loss(ratio_cam, hc.c(epoch, cfg.epochs), hc.d, cfg.hard_ratio_semantics)
        if cfg.w_proj > 0:
            n = min(cfg.proj_batch, len(fakes.pose_2d))
            proj = L.lookahead_reprojection_loss(lifter, fakes.pose_2d[:n], fakes.pose_3d[:n], tgt[:n], cfg.proj_inner_lr)
    return {"hard_ratio": hr, "proj": proj}, ratio_cam, ratio_bone


def adversarial_losses(nets: AdaptNets, ctx: StepContext, tgt: torch.Tensor, fakes: Fakes) -> dict[str, torch.Tensor]:
    """The generator's losses from the critics and its own regularisers: ``adv_2d``,
    ``adv_3d`` (LSGAN), ``range`` (bone directions), ``lambda`` (length changes) and
    ``match`` (first two moments of the centre frames against the target's)."""
    cfg, fake_2d, out = ctx.cfg, fakes.pose_2d, fakes.out
    mid = fake_2d.shape[1] // 2
    zero = fake_2d.new_zeros(())
    adv_2d = lsgan_g_loss(nets.d2d(fake_2d))
    match = L.moment_matching_loss(fake_2d[:, mid].flatten(1), tgt[:, mid].flatten(1)) if cfg.w_match > 0 else zero
    frames = _frames_3d(fake_2d.shape[1], cfg.frames_3d, ctx.tgen, fake_2d.device)
    adv_3d = lsgan_g_loss(nets.d3d(_critic_3d_input(out.pose_3d[:, frames].flatten(0, 1), cfg.critic_3d_lengths)))
    rng_loss = L.bone_range_loss(out.bone_cos) if nets.bone_generation else zero
    lam = L.lambda_penalty(out.lam, cfg.lambda_limit)
    return {"adv_2d": adv_2d, "adv_3d": adv_3d, "range": rng_loss, "lambda": lam, "match": match}


def generator_step(
    nets: AdaptNets, ctx: StepContext, src: dict, tgt: torch.Tensor, epoch: int, step: int
) -> tuple[Fakes, torch.Tensor, dict[str, float]]:
    """Generate from ``src``, step the critics (every ``d_every`` steps) and the generator.

    Returns the fakes, the selection mask ``(B,)`` (Eq. 14 on each fake's ratio to its
    own source sample) and the step's statistics."""
    cfg = ctx.cfg
    fakes = generate(nets, ctx, src)
    stats: dict[str, float] = {}
    if step % cfg.d_every == 0:
        stats.update(critic_step(nets, ctx, src, tgt, fakes))
    fb, ratio_cam, ratio_bone = feedback_losses(nets, ctx, src, tgt, fakes, epoch)
    adv = adversarial_losses(nets, ctx, tgt, fakes)
    loss_g = (
        cfg.w_adv_2d * adv["adv_2d"] + cfg.w_adv_3d * adv["adv_3d"] + fb["hard_ratio"] + cfg.w_proj * fb["proj"]
        + cfg.w_range * adv["range"] + cfg.w_lambda * adv["lambda"] + cfg.w_match * adv["match"]
    )
    if nets.gen_params:
        nets.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        ctx.update("generator", nets.opt_g, nets.gen_params)
    with torch.no_grad():
        if cfg.selection:
            keep = L.selection_mask(ratio_cam.detach(), cfg.selection_a, cfg.selection_b, fakes.pose_2d, cfg.selection_bound)
        else:
            keep = torch.ones(len(fakes.pose_2d), dtype=torch.bool, device=fakes.pose_2d.device)
    stats.update(_generator_stats(fakes.out))
    stats.update(
        g_total=loss_g.item(), g_adv_2d=adv["adv_2d"].item(), g_adv_3d=adv["adv_3d"].item(), g_hard_ratio=fb["hard_ratio"].item(),
        g_proj=fb["proj"].item(), g_range=adv["range"].item(), g_lambda=adv["lambda"].item(), g_match=adv["match"].item(),
        ratio_camera=ratio_cam.detach().median().item(), ratio_bone=ratio_bone.detach().median().item(),
    )
    return fakes, keep, stats


def check_retargeting(
    baseline: LifterCheckpoint, target_train: dict, ratios: np.ndarray, normalisation: str, tolerance: float, device: torch.device
) -> dict:
    """Whether the estimated proportions explain the target's own 2D: the baseline lifter's
    target reprojection (``guard.target_reprojection``, on whole sequences of about
    ``guard.MAX_TARGET_FRAMES`` frames) as it is and retargeted with ``ratios``.
    Retargeting is ``used`` unless it makes the reprojection worse by more than
    ``tolerance`` (relative): an estimate that makes the lifted poses disagree with the
    target's 2D is a wrong estimate (e.g. a bone the target never shows side-on), and
    the loop then runs on the target's 2D as it is.

    Returns ``{"plain", "retargeted", "used"}``."""
    sub = _subsample_sequences(target_train, MAX_TARGET_FRAMES)
    with torch.random.fork_rng(devices=[]):  # building the lifter draws from torch's stream: leave it as it was
        lifter = baseline.model(device)
    plain = target_reprojection(lifter, sub, device)
    retargeted = target_reprojection(Retargeted(lifter, ratios, normalisation), sub, device)
    used = retargeted <= plain * (1.0 + tolerance)
    if not used:
        log.warning("proportions: retargeting makes the baseline's target reprojection %.4f, against %.4f without; "
                    "more than %.0f%% worse, so the loop uses the target's 2D as it is", retargeted, plain, 100 * tolerance)
    return {"plain": plain, "retargeted": retargeted, "used": bool(used)}


def fake_labels(pose: torch.Tensor, src: dict) -> torch.Tensor:
    """The 3D label of generated root-relative poses ``(B, 17, 3)``: as generated, or with
    the bones taken back to the source's lengths (``src["label_scale"]``; proportion
    labels ``source``, for a target whose 3D is rescaled to the source's skeleton)."""
    return pose if "label_scale" not in src else P.rescale_bones(pose, src["label_scale"])


def lifter_step(nets: AdaptNets, ctx: StepContext, src: dict, fake_2d: torch.Tensor | None, fake_3d: torch.Tensor | None) -> float:
    """One fine-tuning step (Eq. 23) on a source batch plus the given fakes (none: source only)."""
    lifter = nets.lifter
    lifter.train()
    mid = src["pose_2d"].shape[1] // 2
    n_src = len(src["pose_2d"])
    has_fakes = fake_2d is not None and len(fake_2d) > 0
    # One forward over source and fakes together: BatchNorm's running statistics then
    # follow the training mixture instead of swinging between a source batch and a
    # small, differently distributed fake batch.
    pred = lifter(torch.cat([src["pose_2d"], fake_2d]) if has_fakes else src["pose_2d"])[:, 0]
    loss = mpjpe_loss(pred[:n_src], src["pose_3d"][:, mid])
    if has_fakes:
        loss = loss + ctx.cfg.w_fake * mpjpe_loss(pred[n_src:], fake_3d)
    nets.opt_n.zero_grad(set_to_none=True)
    loss.backward()
    ctx.update("lifter", nets.opt_n, lifter.parameters())
    return loss.item()


class _Buffer:
    """Selected fakes of one epoch (``generate_then_finetune``), at most ``capacity``.

    With ``memory_mb`` the buffer holds at most that much in memory: each time its
    in-memory rows reach it they go to a temporary file (a chunk, under the system's
    temporary folder, ``TMPDIR``), and draws read their rows back from the chunks, so one
    epoch's peak memory stays bounded whatever ``samples_per_epoch`` is. The draws and
    the rows they return are the same with and without spilling."""

    def __init__(self, capacity: int, memory_mb: int | None = None):
        self.capacity, self.parts_2d, self.parts_3d, self.size = capacity, [], [], 0
        self.memory_bytes = None if memory_mb is None else memory_mb * 2**20
        self.chunks: list[tuple[int, int, Path]] = []  # (first row, rows, file stem) on disk
        self._dir: tempfile.TemporaryDirectory | None = None
        self._held = self._held_bytes = 0  # rows and bytes in memory

    def add(self, pose_2d: torch.Tensor, pose_3d: torch.Tensor) -> None:
        room = self.capacity - self.size
        if room > 0 and len(pose_2d):
            self.parts_2d.append(pose_2d[:room])
            self.parts_3d.append(pose_3d[:room])
            taken = min(room, len(pose_2d))
            self.size += taken
            self._held += taken
            self._held_bytes += taken * (pose_2d[0].numel() + pose_3d[0].numel()) * pose_2d.element_size()
            if self.memory_bytes is not None and self._held_bytes >= self.memory_bytes:
                self._spill()

    def _spill(self) -> None:
        """Write the in-memory rows to a chunk file and let them go."""
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="adaptpose-buffer-")
        path = Path(self._dir.name) / f"chunk{len(self.chunks)}"
        np.save(path.with_suffix(".2d.npy"), torch.cat(self.parts_2d).cpu().numpy())
        np.save(path.with_suffix(".3d.npy"), torch.cat(self.parts_3d).cpu().numpy())
        self.chunks.append((self.size - self._held, self._held, path))
        self.parts_2d, self.parts_3d, self._held, self._held_bytes = [], [], 0, 0

    def batches(self, steps: int, n: int, rng: np.random.Generator):
        """``steps`` batches of ``n`` fakes drawn with replacement (``(None, None)`` when empty)."""
        if self.size == 0:
            for _ in range(steps):
                yield None, None
            return
        if not self.chunks:
            pose_2d, pose_3d = torch.cat(self.parts_2d), torch.cat(self.parts_3d)
            for _ in range(steps):
                idx = torch.as_tensor(rng.integers(0, self.size, n), device=pose_2d.device)
                yield pose_2d[idx], pose_3d[idx]
            return
        for _ in range(steps):
            yield self._gather(rng.integers(0, self.size, n))

    def _gather(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows ``idx`` from the chunks on disk and the rows still in memory, in order."""
        device = self.parts_2d[0].device if self.parts_2d else torch.device("cpu")
        out_2d = out_3d = None
        pieces = [*self.chunks, (self.size - self._held, self._held, None)]
        for first, rows, path in pieces:
            hit = np.flatnonzero((idx >= first) & (idx < first + rows))
            if not len(hit):
                continue
            if path is None:
                local = torch.as_tensor(idx[hit] - first, device=device)
                got_2d, got_3d = torch.cat(self.parts_2d)[local], torch.cat(self.parts_3d)[local]
            else:  # memory-mapped: only the rows drawn are read
                rows_drawn = idx[hit] - first
                got_2d = torch.from_numpy(np.load(path.with_suffix(".2d.npy"), mmap_mode="r")[rows_drawn]).to(device)
                got_3d = torch.from_numpy(np.load(path.with_suffix(".3d.npy"), mmap_mode="r")[rows_drawn]).to(device)
            if out_2d is None:
                out_2d = got_2d.new_empty((len(idx), *got_2d.shape[1:]))
                out_3d = got_3d.new_empty((len(idx), *got_3d.shape[1:]))
            where = torch.as_tensor(hit, device=device)
            out_2d[where], out_3d[where] = got_2d, got_3d
        return out_2d, out_3d

    def close(self) -> None:
        """Delete the chunk files (also done when the buffer is collected)."""
        if self._dir is not None:
            self._dir.cleanup()
            self._dir, self.chunks = None, []


class _Adaptation:
    """The loop state of :func:`adapt` (see ``core.loop``): networks, optimisers and pools
    (``nets``), the random streams, the history, the kept samples and the scored lifters.

    Random streams: ``numpy_rng`` draws the source and target windows of generation and
    the buffer's draws, ``lifter_rng`` the lifter's source batches (the same for the
    control), ``measure_rng`` the held-apart batches of the domain measures, ``ctx.tgen``
    the generator's noise, critics' frames and pools; torch's own stream the lifter's
    dropout. ``seed`` is the rank's (``distributed.rank_seed``), ``batch`` its share of
    the global batch; the streams, pools and kept samples are the rank's own
    (``rank_keys``)."""

    rank_keys = ("numpy_rng", "lifter_rng", "measure_rng", "generator_rng", "torch_rng", "pool_2d", "pool_3d", "samples")

    def __init__(
        self, nets: AdaptNets, ctx: StepContext, source: _Source, target: _Target, seed: int, device: torch.device, batch: int,
        *, control: bool = False, progress: bool = True,
        score: Callable[[dict, dict | None], dict[str, float]] | None = None, retarget: dict | None = None,
    ):
        self.nets, self.ctx, self.source, self.target, self.device, self.batch = nets, ctx, source, target, device, batch
        self.control, self.progress, self.score, self.retarget = control, progress, score, retarget
        self.rngs = {
            "numpy_rng": np.random.default_rng(seed),
            "lifter_rng": np.random.default_rng([seed, 1]),
            "measure_rng": np.random.default_rng([seed, 2]),
        }
        self.steps = math.ceil(ctx.cfg.samples_per_epoch / ctx.cfg.batch_size)
        self.history: list[dict] = []
        self.samples: dict[str, list] = {}
        self.epoch_lifters: dict[int, dict] = {}

    def epoch(self, epoch: int) -> dict:
        cfg, nets = self.ctx.cfg, self.nets
        nets.set_epoch_lr(epoch, cfg.epochs)
        finetune = epoch >= cfg.warmup_epochs
        sums: dict[str, list[float]] = {}
        buffer = _Buffer(-(-cfg.samples_per_epoch // distributed.world().size), cfg.buffer_memory_mb)
        try:
            kept, generated = self._batches(epoch, finetune, sums, buffer)
            if finetune and cfg.schedule != "interleaved":
                for fb_2d, fb_3d in buffer.batches(self.steps, self.batch, self.rngs["numpy_rng"]):
                    src = self.source.batch(self.batch, self.rngs["lifter_rng"])
                    sums.setdefault("lifter", []).append(lifter_step(nets, self.ctx, src, None if self.control else fb_2d, fb_3d))
        finally:
            buffer.close()
        record = {"epoch": epoch, **{k: float(np.mean(v)) for k, v in sums.items()}}
        if not self.control:
            record["selection_rate"] = kept / max(generated, 1)
            record.update(domain_measures(nets, self.ctx, self.source, self.target, self.rngs["measure_rng"]))
        for module in nets.modules().values():  # every rank scores and saves the same networks
            distributed.average_buffers(module)
        if self.score is not None and finetune:  # warm-up epochs leave the lifter as it was
            self.epoch_lifters[epoch] = cpu_state(nets.lifter)
            record.update(self.score(self.epoch_lifters[epoch], self.retarget))
        return record

    def _batches(self, epoch: int, finetune: bool, sums: dict[str, list[float]], buffer: _Buffer) -> tuple[int, int]:
        """The epoch's generator steps, each followed by a lifter step (``interleaved``) or
        with its selected fakes buffered; returns (selected, generated) counts."""
        cfg, rng = self.ctx.cfg, self.rngs["numpy_rng"]
        interleaved = cfg.schedule == "interleaved"
        kept = generated = 0
        for step in tqdm(range(self.steps), desc=f"epoch {epoch}", unit="batch", leave=False, disable=not self.progress):
            stats: dict[str, float] = {}
            fake_2d = fake_3d = None
            if not self.control:
                src = self.source.batch(self.batch, rng)
                tgt = self.target.batch(self.batch, rng)
                fakes, keep, stats = generator_step(self.nets, self.ctx, src, tgt, epoch, step)
                kept += int(keep.sum())
                generated += len(keep)
                if epoch == cfg.epochs - 1 and sum(len(x) for x in self.samples.get("pose_3d_cam", [])) < cfg.keep_samples:
                    _keep_samples(self.samples, fakes.out, fakes.pose_2d.detach(), keep, src)
                fake_2d, fake_3d = fakes.pose_2d.detach()[keep], fakes.pose_3d.detach()[keep]
                if not interleaved:
                    buffer.add(fake_2d, fake_3d)
            if finetune and interleaved:
                stats["lifter"] = lifter_step(self.nets, self.ctx, self.source.batch(self.batch, self.rngs["lifter_rng"]), fake_2d, fake_3d)
            for k, v in stats.items():
                sums.setdefault(k, []).append(v)
        return kept, generated

    def postfix(self, record: dict) -> dict[str, str]:
        return {k: f"{record[k]:.3f}" for k in ("g_total", "lifter") if k in record}

    def state_dict(self, epoch: int) -> dict:
        nets = self.nets
        return {
            "epoch": epoch,
            **{k: cpu_state(m) for k, m in nets.modules().items()},
            **{k: copy.deepcopy(o.state_dict()) for k, o in nets.optimisers().items()},
            **{k: p.state_dict() for k, p in nets.pools().items()},
            **{k: r.bit_generator.state for k, r in self.rngs.items()},
            "generator_rng": self.ctx.tgen.get_state(),
            "torch_rng": rng_states(self.device),
            "history": copy.deepcopy(self.history),
            "samples": {k: torch.from_numpy(np.concatenate(v)) for k, v in self.samples.items()},
            "epoch_lifters": {str(e): v for e, v in self.epoch_lifters.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        for k, m in {**self.nets.modules(), **self.nets.optimisers()}.items():
            m.load_state_dict(state[k])
        for k, p in self.nets.pools().items():
            p.load_state_dict(state[k], self.device)
        for k, r in self.rngs.items():
            r.bit_generator.state = state[k]
        self.ctx.tgen.set_state(state["generator_rng"])
        set_rng_states(state["torch_rng"], self.device)
        self.history = list(state["history"])
        self.samples = {k: [v.numpy()] for k, v in state["samples"].items()}
        self.epoch_lifters = {int(e): v for e, v in state.get("epoch_lifters", {}).items()}

    def result(self, **domains) -> AdaptResult:
        nets, keep = self.nets, self.ctx.cfg.keep_samples
        return AdaptResult(
            generator=cpu_state(nets.gen),
            discriminators={"d2d": cpu_state(nets.d2d), "d3d": cpu_state(nets.d3d)},
            lifter=cpu_state(nets.lifter),
            history=self.history,
            samples={k: np.concatenate(v)[:keep] for k, v in self.samples.items()},
            epoch_lifters=self.epoch_lifters,
            **domains,
        )


def _estimate_proportions(source_train: dict, target_train: dict, baseline: LifterCheckpoint, cfg: AdaptConfig, device: torch.device) -> np.ndarray:
    """Target/source bone-length ratios ``(16,)`` from the two domains' 2D
    (``proportions.estimate_proportions``), on at most ``PROPORTION_FRAMES`` frames each."""
    src_sub = _subsample_sequences(source_train, PROPORTION_FRAMES)
    tgt_sub = _subsample_sequences(target_train, PROPORTION_FRAMES)
    src_valid = np.asarray(src_sub["valid"], dtype=bool)
    tgt_valid = np.asarray(tgt_sub["valid"], dtype=bool)
    lifted = None
    if cfg.proportions_estimator != "tail":
        model = baseline.model().to(device)
        lifted = (predict_sequences(model, src_sub, device)[src_valid], predict_sequences(model, tgt_sub, device)[tgt_valid])
    return P.estimate_proportions(
        src_sub["pose_2d"][src_valid], tgt_sub["pose_2d"][tgt_valid], source_train["pose_3d"],
        cfg.proportions_quantile, lifted, cfg.proportions_estimator, cfg.proportions_min_foreshortening,
        cfg.proportions_min_change,
    )


def _set_proportions(
    source: _Source, target: _Target, source_train: dict, target_train: dict, baseline: LifterCheckpoint,
    cfg: AdaptConfig, normalisation: str, device: torch.device,
) -> tuple[_Target, dict]:
    """Step 1 of the module docstring with ``proportions`` on: estimate the target's
    proportions, then re-proportion the source windows (``estimate``) or redraw the
    target's 2D in the source's proportions (``retarget``, when :func:`check_retargeting`
    accepts it). Returns the target windows to use and ``{"proportions", "retarget",
    "retarget_check"}`` for :class:`AdaptResult`."""
    proportions = _estimate_proportions(source_train, target_train, baseline, cfg, device)
    domains = {"proportions": proportions, "retarget": None, "retarget_check": None}
    if cfg.proportions == "estimate":
        source.set_proportions(proportions, cfg.proportion_labels)
        return target, domains
    check = check_retargeting(baseline, target_train, proportions, normalisation, cfg.proportions_reprojection_tolerance, device)
    domains["retarget_check"] = check
    if check["used"]:
        domains["retarget"] = {"ratios": [float(r) for r in proportions], "normalisation": normalisation,
                               "rescale_output": cfg.proportion_labels == "target"}
        pose_2d = P.retarget_2d(torch.as_tensor(target_train["pose_2d"], dtype=torch.float32),
                                torch.as_tensor(proportions, dtype=torch.float32), normalisation)
        target = _Target({**target_train, "pose_2d": pose_2d.numpy()}, target.rf, device)
    return target, domains


def adapt(
    source_train: dict,
    target_train: dict,
    baseline: LifterCheckpoint,
    gen_cfg: GeneratorConfig,
    cfg: AdaptConfig,
    normalisation: str,
    pad: bool,
    device: torch.device,
    seed: int,
    on_epoch: Callable[[int, dict], None] | None = None,
    progress: bool = True,
    resume: dict | None = None,
    on_checkpoint: Callable[[dict], None] | None = None,
    control: bool = False,
    score: Callable[[dict, dict | None], dict[str, float]] | None = None,
) -> AdaptResult:
    """Run the adversarial adaptation (or, with ``control``, the same lifter steps on
    source batches alone); return the trained states, history and a sample of the last
    epoch's generated motions (see module docstring).

    ``score(lifter_state, retarget)`` (optional) is called with the lifter's state dict
    (CPU) and the adapted lifter's ``info["retarget"]`` (None unless ``proportions:
    retarget``) after every epoch's lifter steps; its label-free numbers go into the
    history, and the lifter of every epoch is kept in :attr:`AdaptResult.epoch_lifters`
    so that a guard can pick one.

    ``on_checkpoint(state)`` gets the whole loop state after each epoch; passing it back
    as ``resume`` continues after that epoch and ends where an uninterrupted run ends.
    Under ``torchrun`` every process calls this, and ``on_checkpoint`` is called on rank
    0 only (module docstring).
    """
    rf = baseline.config.receptive_field
    if gen_cfg.frames != rf:
        raise ValueError(f"adapt.generator: frames {gen_cfg.frames} differ from the lifter's receptive field {rf}")
    world = distributed.world()
    batch = distributed.local_batch(cfg.batch_size, world.size, "adapt.train.batch_size")
    device = distributed.init(device)
    rank_seed = distributed.rank_seed(seed, world.rank)
    progress = progress and world.main
    torch.manual_seed(seed)
    source, target = _Source(source_train, rf, cfg, device), _Target(target_train, rf, device)
    domains = {"proportions": None, "retarget": None, "retarget_check": None}
    if cfg.proportions != "off" and not control:
        target, domains = _set_proportions(source, target, source_train, target_train, baseline, cfg, normalisation, device)
    nets = AdaptNets(baseline, gen_cfg, cfg, device)
    for module in nets.modules().values():  # built from the same seed; made sure
        distributed.broadcast_state(module)
    # Building the generator and critics draws from torch's stream, as many numbers as
    # their sizes need; the loop's stream (the lifter's dropout, the generator's noise)
    # starts afresh from the seed, so that the control, which never uses the generator,
    # is the same for every generator configuration (ablation rows share one control).
    torch.manual_seed(int(np.random.SeedSequence([rank_seed, 3]).generate_state(1)[0]))
    ctx = StepContext(cfg, normalisation, pad, torch.Generator(device=device).manual_seed(rank_seed))
    loop = _Adaptation(nets, ctx, source, target, rank_seed, device, batch,
                       control=control, progress=progress, score=score, retarget=domains["retarget"])
    run_epochs(loop, cfg.epochs, "control" if control else "adapt", progress, resume, on_epoch, on_checkpoint)
    return loop.result(**domains)


MEASURE_BATCH = 1024


@torch.no_grad()
def domain_measures(
    nets: AdaptNets, ctx: StepContext, source: _Source, target: _Target, rng: np.random.Generator
) -> dict[str, float]:
    """Whether the fakes approach the target, on a held-apart batch (no gradient steps):

    - ``fd_generated_target`` / ``fd_source_target``: Fréchet distance between the
      centre-frame normalised 2D of generated (resp. source) and target windows;
    - ``critic_2d_accuracy``: the 2D critic's accuracy (target > 0.5 > generated);
    - ``gen_elevation_deg`` / ``source_elevation_deg`` and ``gen_distance_m``: camera
      elevation estimated from the pelvis->thorax direction (taken as the world's up;
      see :func:`elevation_from_pose`) and root distance of generated and source windows.
    """
    n = min(MEASURE_BATCH, max(ctx.cfg.batch_size, 2))
    src = source.batch(n, rng)
    tgt = target.batch(n, rng)
    out = nets.gen(src["pose_3d_gen"], src["root"], generator=ctx.tgen)
    fake = ctx.project(out.pose_3d_cam, src)
    mid = fake.shape[1] // 2
    flat = lambda x: x[:, mid].flatten(1).double().cpu().numpy()  # noqa: E731
    real_score, fake_score = nets.d2d(tgt), nets.d2d(fake)
    accuracy = 0.5 * ((real_score > 0.5).float().mean() + (fake_score < 0.5).float().mean())
    src_cam = src["pose_3d"][:, mid] + src["root"][:, mid, None]
    return {
        "fd_generated_target": frechet_distance(flat(fake), flat(tgt)),
        "fd_source_target": frechet_distance(flat(src["pose_2d"]), flat(tgt)),
        "critic_2d_accuracy": accuracy.item(),
        "gen_elevation_deg": float(elevation_from_pose(out.pose_3d_cam[:, mid]).mean()),
        "source_elevation_deg": float(elevation_from_pose(src_cam).mean()),
        "gen_distance_m": out.pose_3d_cam[:, mid, 0].norm(dim=-1).mean().item(),
    }


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to ``a (N, D)`` and ``b (M, D)``:
    ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # tr((S_a S_b)^(1/2)) = tr((A S_b A)^(1/2)) with A = S_a^(1/2): symmetric, so eigh is
    # stable even where a coordinate never varies (the root after root-centring).
    A = _psd_sqrt(s_a)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(A @ s_b @ A), 0.0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2.0 * cross)


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def elevation_from_pose(pose_cam: torch.Tensor) -> torch.Tensor:
    """Camera elevation in degrees from camera-frame poses ``(B, 17, 3)`` (y down, z
    forward), taking the pelvis->thorax direction as the world's up: a camera looking down
    at an upright person sees that direction tilted away (``up_z = -sin(elevation)``).
    Exact for an upright torso; a proxy for bent ones."""
    up = pose_cam[:, H36M17.index("thorax")] - pose_cam[:, H36M17.index("hip")]
    up = up / up.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    return torch.rad2deg(torch.asin((-up[:, 2]).clamp(-1, 1)))


def _frames_3d(rf: int, n: int, tgen: torch.Generator, device: torch.device) -> torch.Tensor:
    """The window frames the 3D discriminator judges: the centre and ``n - 1`` random others."""
    others = torch.randperm(rf, generator=tgen, device=tgen.device)[: max(n - 1, 0)].to(device)
    return torch.unique(torch.cat([torch.tensor([rf // 2], device=device), others]))


@torch.no_grad()
def _generator_stats(out) -> dict[str, float]:
    """What the generator is doing, to spot collapse or drift: mean camera rotation
    angle, mean bone direction change, mean depth and |lambda| of this batch."""
    trace = out.rotation.diagonal(dim1=-2, dim2=-1).sum(-1)
    angle = torch.rad2deg(torch.arccos(((trace - 1) / 2).clamp(-1, 1))).mean()
    bone = torch.rad2deg(torch.arccos(out.bone_cos.clamp(-1, 1))).mean()
    return {
        "gen_camera_angle_deg": angle.item(),
        "gen_bone_change_deg": bone.item(),
        "gen_depth_m": out.translation[:, 2].mean().item(),
        "gen_abs_lambda": out.lam.abs().mean().item(),
    }


def _keep_samples(samples: dict, out, fake_2d: torch.Tensor, keep: torch.Tensor, src: dict) -> None:
    """Append this batch's generated motions (CPU numpy) to ``samples``."""
    parts = {
        "pose_3d": out.pose_3d,
        "pose_3d_cam": out.pose_3d_cam,
        "pose_2d": fake_2d,
        "rotation": out.rotation,
        "translation": out.translation,
        "lam": out.lam,
        "selected": keep,
        "source_pose_3d": src["pose_3d"],
        "f": src["f"],
        "c": src["c"],
        "image_size": src["size"],
    }
    for k, v in parts.items():
        samples.setdefault(k, []).append(v.detach().cpu().numpy())
