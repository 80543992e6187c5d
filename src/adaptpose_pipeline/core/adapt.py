"""The AdaptPose adversarial loop: generate, discriminate, feed back, select, fine-tune.

One call of :func:`adapt` runs the whole thing on the given device:

1. draw source windows (random stride, as in pretraining) and target 2D windows;
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

Learning rates decay linearly, ``1 - epoch / (epochs + 1)``; gradients are clipped to
``grad_clip``. Everything is batched on the device; no per-sample Python loops.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from adaptpose_pipeline.core import adapt_losses as L
from adaptpose_pipeline.core.camera import normalise_pixels, project
from adaptpose_pipeline.core.discriminators import (
    Discriminator3D,
    DomainDiscriminator2D,
    HistoryPool,
    lsgan_d_loss,
    lsgan_g_loss,
    perturb_bones,
)
from adaptpose_pipeline.core.generator import GeneratorConfig, HumanMotionGenerator
from adaptpose_pipeline.core.lifter import LifterCheckpoint, TemporalModelOptimized1f
from adaptpose_pipeline.core.losses import mpjpe_loss
from adaptpose_pipeline.core.runtime import rng_states, set_rng_states
from adaptpose_pipeline.core.schema import check_types
from adaptpose_pipeline.core.training import cpu_state, check_arrays, frame_bounds, window_indices


@dataclass(frozen=True)
class HardRatio:
    c_start: float
    c_end: float
    d: float
    weight: float

    def __post_init__(self) -> None:
        check_types(self, "adapt.hard_ratio")

    def c(self, epoch: int, epochs: int) -> float:
        return self.c_start + (self.c_end - self.c_start) * epoch / max(epochs - 1, 1)


@dataclass(frozen=True)
class AdaptConfig:
    epochs: int = 50
    warmup_epochs: int = 2
    batch_size: int = 1024
    samples_per_epoch: int = 1_500_000
    lr_generator: float = 1e-4
    lr_discriminator: float = 1e-4
    lr_lifter: float = 1e-4
    d_every: int = 2
    grad_clip: float = 1.0
    pool_size: int = 4096
    beta_deg: float = 10.0
    frames_3d: int = 3
    stride_min: int = 2
    stride_max: int = 5
    domain_discriminator: bool = True
    kcs_2d: bool = True
    w_adv_2d: float = 1.0
    w_adv_3d: float = 6.0
    w_proj: float = 1.0
    w_range: float = 3.0
    w_lambda: float = 1.0
    proj_batch: int = 128
    proj_inner_lr: float = 1e-3
    hard_ratio_bone: HardRatio = HardRatio(3.0, 5.0, 2.0, 0.1)
    hard_ratio_camera: HardRatio = HardRatio(17.0, 17.0, 15.0, 0.01)
    selection: bool = True
    selection_a: float = 17.0
    selection_b: float = 16.0
    selection_bound: float | None = 1.0
    keep_samples: int = 512

    def __post_init__(self) -> None:
        check_types(self, "adapt")
        checks = {
            "epochs": self.epochs >= 1,
            "warmup_epochs": 0 <= self.warmup_epochs < self.epochs,
            "batch_size": self.batch_size >= 2,
            "samples_per_epoch": self.samples_per_epoch >= self.batch_size,
            "d_every": self.d_every >= 1,
            "grad_clip": self.grad_clip > 0,
            "beta_deg": 0 <= self.beta_deg < 90,
            "stride_min": 1 <= self.stride_min <= self.stride_max,
            "selection_b": self.selection_b > 0,
            "lr_generator": self.lr_generator > 0,
            "lr_discriminator": self.lr_discriminator > 0,
            "lr_lifter": self.lr_lifter > 0,
            "proj_batch": self.proj_batch >= 1,
            "pool_size": self.pool_size >= 1,
            "frames_3d": self.frames_3d >= 1,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"adapt: out-of-range values for {bad} (got {[getattr(self, k) for k in bad]})")


@dataclass
class AdaptResult:
    generator: dict
    discriminators: dict
    lifter: dict
    history: list[dict]
    samples: dict[str, np.ndarray] = field(default_factory=dict)


class _Source:
    """Random-stride source windows with their cameras, on the device."""

    def __init__(self, arrays: dict, rf: int, cfg: AdaptConfig, rng: np.random.Generator, device: torch.device):
        check_arrays(arrays, "source_train")
        self.first, self.end = frame_bounds(arrays["seq_start"], arrays["seq_length"])
        self.seq = np.repeat(np.arange(len(arrays["seq_start"])), arrays["seq_length"])
        self.centres = np.flatnonzero(arrays["valid"])
        t = lambda x: torch.as_tensor(np.asarray(x), dtype=torch.float32, device=device)  # noqa: E731
        self.pose_2d, self.pose_3d, self.root = t(arrays["pose_2d"]), t(arrays["pose_3d"]), t(arrays["root_3d"])
        self.f, self.c, self.size = t(arrays["seq_f"]), t(arrays["seq_c"]), t(arrays["seq_image_size"])
        self.rf, self.cfg, self.rng, self.device = rf, cfg, rng, device

    def batch(self, n: int) -> dict[str, torch.Tensor]:
        c = self.centres[self.rng.integers(0, len(self.centres), n)]
        strides = self.rng.integers(self.cfg.stride_min, self.cfg.stride_max + 1, n)
        idx = torch.as_tensor(window_indices(c, self.first[c], self.end[c], self.rf, strides), device=self.device)
        seq = torch.as_tensor(self.seq[c], device=self.device)
        return {
            "pose_2d": self.pose_2d[idx],
            "pose_3d": self.pose_3d[idx],
            "root": self.root[idx],
            "f": self.f[seq],
            "c": self.c[seq],
            "size": self.size[seq],
        }


class _Target:
    """Target 2D windows at the target's own frame rate (stride 1)."""

    def __init__(self, arrays: dict, rf: int, rng: np.random.Generator, device: torch.device):
        check_arrays(arrays, "target_train", need_3d=False)
        self.first, self.end = frame_bounds(arrays["seq_start"], arrays["seq_length"])
        self.centres = np.flatnonzero(arrays["valid"])
        self.pose_2d = torch.as_tensor(arrays["pose_2d"], dtype=torch.float32, device=device)
        self.rf, self.rng, self.device = rf, rng, device

    def batch(self, n: int) -> torch.Tensor:
        c = self.centres[self.rng.integers(0, len(self.centres), n)]
        idx = window_indices(c, self.first[c], self.end[c], self.rf, np.ones(n, dtype=np.int64))
        return self.pose_2d[torch.as_tensor(idx, device=self.device)]


def project_normalise(pose_cam: torch.Tensor, src: dict, normalisation: str, pad: bool) -> torch.Tensor:
    """Camera-frame windows ``(B, T, 17, 3)`` -> normalised 2D with the source cameras."""
    px = project(pose_cam, src["f"][:, None, None], src["c"][:, None, None])
    w, h = src["size"][:, 0, None], src["size"][:, 1, None]
    return normalise_pixels(px, w, h, normalisation, pad)[0]


def _clip_step(optimiser: torch.optim.Optimizer, params, clip: float) -> None:
    torch.nn.utils.clip_grad_norm_(params, clip)
    optimiser.step()


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
) -> AdaptResult:
    """Run the adversarial adaptation; return the trained states, history and a sample
    of the last epoch's generated motions (see module docstring).

    ``on_checkpoint(state)`` gets the whole loop state after each epoch (networks,
    optimisers, history pools, numpy and torch random states, history); passing it
    back as ``resume`` continues after that epoch and ends where an uninterrupted
    run ends.
    """
    rf = baseline.config.receptive_field
    if gen_cfg.frames != rf:
        raise ValueError(f"adapt.generator: frames {gen_cfg.frames} differ from the lifter's receptive field {rf}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tgen = torch.Generator(device=device).manual_seed(seed)
    source = _Source(source_train, rf, cfg, rng, device)
    target = _Target(target_train, rf, rng, device)

    gen = HumanMotionGenerator(gen_cfg).to(device)
    d2d = DomainDiscriminator2D(rf, use_kcs=cfg.kcs_2d).to(device)
    d3d = Discriminator3D().to(device)
    lifter = TemporalModelOptimized1f(baseline.config).to(device)
    lifter.load_state_dict(baseline.state_dict)
    # With bone and camera generation both off there is nothing to learn: the "fakes"
    # are the source itself (the fine-tuning-only ablation).
    gen_params = list(gen.parameters())
    opt_g = torch.optim.Adam(gen_params or [torch.zeros(1, requires_grad=True)], lr=cfg.lr_generator)
    opt_d = torch.optim.Adam(list(d2d.parameters()) + list(d3d.parameters()), lr=cfg.lr_discriminator)
    opt_n = torch.optim.Adam(lifter.parameters(), lr=cfg.lr_lifter)
    base_lr = {opt_g: cfg.lr_generator, opt_d: cfg.lr_discriminator, opt_n: cfg.lr_lifter}
    pool_2d, pool_3d = HistoryPool(cfg.pool_size), HistoryPool(cfg.pool_size)
    mid = rf // 2
    bones_on = gen_cfg.bone_generation != "off"
    steps = math.ceil(cfg.samples_per_epoch / cfg.batch_size)
    history: list[dict] = []
    samples: dict[str, list] = {}
    nets = {"generator": gen, "d2d": d2d, "d3d": d3d, "lifter": lifter}
    opts = {"opt_g": opt_g, "opt_d": opt_d, "opt_n": opt_n}
    pools = {"pool_2d": pool_2d, "pool_3d": pool_3d}
    start = 0
    if resume is not None:
        resume = copy.deepcopy(resume)  # training updates loaded tensors in place
        for k, m in {**nets, **opts}.items():
            m.load_state_dict(resume[k])
        for k, p in pools.items():
            p.load_state_dict(resume[k], device)
        rng.bit_generator.state = resume["numpy_rng"]
        tgen.set_state(resume["generator_rng"])
        set_rng_states(resume["torch_rng"], device)
        history, start = list(resume["history"]), resume["epoch"] + 1
        samples = {k: [v.numpy()] for k, v in resume["samples"].items()}
    bar = tqdm(range(start, cfg.epochs), desc="adapt", unit="epoch", disable=not progress, initial=start, total=cfg.epochs)
    for epoch in bar:
        sums: dict[str, float] = {}
        kept = generated = 0
        c_bone = cfg.hard_ratio_bone.c(epoch, cfg.epochs)
        for opt, lr in base_lr.items():  # linear decay, 1 - epoch / (epochs + 1)
            for group in opt.param_groups:
                group["lr"] = lr * (1.0 - epoch / (cfg.epochs + 1))
        for step in tqdm(range(steps), desc=f"epoch {epoch}", unit="batch", leave=False, disable=not progress):
            src = source.batch(cfg.batch_size)
            tgt = target.batch(cfg.batch_size)
            out = gen(src["pose_3d"], src["root"], generator=tgen)
            fake_2d = project_normalise(out.pose_3d_cam, src, normalisation, pad)
            bone_cam = out.pose_3d + src["root"][:, :, None, :]
            bone_2d = project_normalise(bone_cam, src, normalisation, pad)
            fake_3d = out.pose_3d_cam[:, mid] - out.pose_3d_cam[:, mid, :1]
            bone_3d = out.pose_3d[:, mid]
            stats: dict[str, float] = {}

            if step % cfg.d_every == 0:
                real_2d = tgt if cfg.domain_discriminator else src["pose_2d"]
                loss_d2d = lsgan_d_loss(d2d(real_2d), d2d(pool_2d.push_and_sample(fake_2d.detach(), tgen)))
                frames = _frames_3d(rf, cfg.frames_3d, tgen, device)
                real_3d = perturb_bones(src["pose_3d"][:, frames].flatten(0, 1), cfg.beta_deg, generator=tgen)
                fake_frames = pool_3d.push_and_sample(out.pose_3d.detach()[:, frames].flatten(0, 1), tgen)
                loss_d3d = lsgan_d_loss(d3d(real_3d), d3d(fake_frames))
                opt_d.zero_grad(set_to_none=True)
                (loss_d2d + loss_d3d).backward()
                _clip_step(opt_d, list(d2d.parameters()) + list(d3d.parameters()), cfg.grad_clip)
                stats.update(d_2d=loss_d2d.item(), d_3d=loss_d3d.item())

            lifter.eval()
            src_loss = L.per_sample_l2(lifter(src["pose_2d"])[:, 0], src["pose_3d"][:, mid]).detach()
            ratio_cam = L.difficulty_ratio(L.per_sample_l2(lifter(fake_2d)[:, 0], fake_3d), src_loss)
            ratio_bone = L.difficulty_ratio(L.per_sample_l2(lifter(bone_2d)[:, 0], bone_3d), src_loss)
            hr = cfg.hard_ratio_bone.weight * L.hard_ratio_loss(ratio_bone, c_bone, cfg.hard_ratio_bone.d)
            hr = hr + cfg.hard_ratio_camera.weight * L.hard_ratio_loss(
                ratio_cam, cfg.hard_ratio_camera.c(epoch, cfg.epochs), cfg.hard_ratio_camera.d
            )
            adv_2d = lsgan_g_loss(d2d(fake_2d))
            adv_3d = lsgan_g_loss(d3d(out.pose_3d[:, _frames_3d(rf, cfg.frames_3d, tgen, device)].flatten(0, 1)))
            n = min(cfg.proj_batch, cfg.batch_size)
            proj = L.lookahead_reprojection_loss(lifter, fake_2d[:n], fake_3d[:n], tgt[:n], cfg.proj_inner_lr)
            rng_loss = L.bone_range_loss(out.bone_cos) if bones_on else fake_2d.new_zeros(())
            lam = L.lambda_penalty(out.lam)
            loss_g = (
                cfg.w_adv_2d * adv_2d + cfg.w_adv_3d * adv_3d + hr + cfg.w_proj * proj
                + cfg.w_range * rng_loss + cfg.w_lambda * lam
            )
            if gen_params:
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                _clip_step(opt_g, gen_params, cfg.grad_clip)

            with torch.no_grad():
                keep = (
                    L.selection_mask(ratio_cam.detach(), cfg.selection_a, cfg.selection_b, fake_2d, cfg.selection_bound)
                    if cfg.selection
                    else torch.ones(len(fake_2d), dtype=torch.bool, device=device)
                )
            kept += int(keep.sum())
            generated += len(keep)
            if epoch >= cfg.warmup_epochs:
                lifter.train()
                # One forward over source and selected fakes together: BatchNorm's running
                # statistics then follow the training mixture instead of swinging between
                # a source batch and a small, differently distributed fake batch.
                n_src = len(src["pose_2d"])
                pred = lifter(torch.cat([src["pose_2d"], fake_2d.detach()[keep]]))[:, 0]
                loss_n = mpjpe_loss(pred[:n_src], src["pose_3d"][:, mid])
                if keep.any():
                    loss_n = loss_n + mpjpe_loss(pred[n_src:], fake_3d.detach()[keep])
                opt_n.zero_grad(set_to_none=True)
                loss_n.backward()
                _clip_step(opt_n, lifter.parameters(), cfg.grad_clip)
                stats["lifter"] = loss_n.item()

            stats.update(_generator_stats(out))
            stats.update(
                g_total=loss_g.item(), g_adv_2d=adv_2d.item(), g_adv_3d=adv_3d.item(), g_hard_ratio=hr.item(),
                g_proj=proj.item(), g_range=rng_loss.item(), g_lambda=lam.item(),
                ratio_camera=ratio_cam.detach().median().item(), ratio_bone=ratio_bone.detach().median().item(),
            )
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + v
                sums[f"_n_{k}"] = sums.get(f"_n_{k}", 0.0) + 1
            if epoch == cfg.epochs - 1 and sum(len(x) for x in samples.get("pose_3d_cam", [])) < cfg.keep_samples:
                _keep_samples(samples, out, fake_2d, keep, src)

        record = {"epoch": epoch, **{k: sums[k] / sums[f"_n_{k}"] for k in sums if not k.startswith("_n_")}}
        record["selection_rate"] = kept / max(generated, 1)
        history.append(record)
        bar.set_postfix(g=f"{record['g_total']:.3f}", sel=f"{record['selection_rate']:.2f}")
        if on_epoch is not None:
            on_epoch(epoch, record)
        if on_checkpoint is not None:
            on_checkpoint({
                "epoch": epoch,
                **{k: cpu_state(m) for k, m in nets.items()},
                **{k: copy.deepcopy(o.state_dict()) for k, o in opts.items()},
                **{k: p.state_dict() for k, p in pools.items()},
                "numpy_rng": rng.bit_generator.state,
                "generator_rng": tgen.get_state(),
                "torch_rng": rng_states(device),
                "history": copy.deepcopy(history),
                "samples": {k: torch.from_numpy(np.concatenate(v)) for k, v in samples.items()},
            })

    kept_samples = {k: np.concatenate(v)[: cfg.keep_samples] for k, v in samples.items()}
    return AdaptResult(
        generator=cpu_state(gen),
        discriminators={"d2d": cpu_state(d2d), "d3d": cpu_state(d3d)},
        lifter=cpu_state(lifter),
        history=history,
        samples=kept_samples,
    )


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
