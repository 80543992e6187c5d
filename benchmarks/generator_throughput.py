"""Synthetic samples per second of one adaptation step, batched vs one sample at a time.

The step is what ``core.adapt.adapt`` does per batch before the lifter's own update:
generation (the motion generator, projection of ``X_fake`` and ``X_b``), discrimination
(2D and 3D critics on real and pooled fakes, LSGAN loss, backward, clipped Adam step) and
feedback (the lifter on source, fakes and bone-only fakes, difficulty ratios, hard-ratio,
adversarial, look-ahead reprojection, range and lambda losses, backward, generator step,
selection mask). The D step is taken every step (``d_every = 1``).

The project's code runs it batched. The reference runs the very same step function with
every network (generator, critics, lifter) and the per-sample geometry (projection, bone
perturbation) wrapped to be called once per sample (batch 1) and the results stacked;
losses, history pools and optimiser steps stay batch-level. The reference times
``--ref-samples`` samples (the look-ahead on the same share of them as the batched step)
and its rate is extrapolated. BatchNorm cannot train on one sample, so the reference's
generator runs in eval mode.

Before timing, both paths run on the same inputs in float64 with fixed noise (generator in
eval mode, no bone perturbation, fresh pools) and their outputs, losses and gradients must
agree: the two paths compute the same numbers.

``python -m benchmarks.generator_throughput [--device cpu|cuda|all] [--env paper] [--quick]``
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from adaptpose_pipeline.core import adapt_losses as L
from adaptpose_pipeline.core.adapt import AdaptConfig, project_normalise
from adaptpose_pipeline.core.discriminators import (
    Discriminator3D,
    DomainDiscriminator2D,
    HistoryPool,
    lsgan_d_loss,
    lsgan_g_loss,
    perturb_bones,
)
from adaptpose_pipeline.core.generator import GeneratorConfig, GeneratorOutput, HumanMotionGenerator
from adaptpose_pipeline.core.lifter import LifterConfig, TemporalModelOptimized1f, filter_widths_for
from adaptpose_pipeline.core.motion import sample_bone_lengths, synthesise
from adaptpose_pipeline.core.runtime import seed_everything
from adaptpose_pipeline.core.training import window_indices
from adaptpose_pipeline.pipelines.adapt.nodes import adapt_config, generator_params
from adaptpose_pipeline.pipelines.config import for_target
from benchmarks import common

NAME = "generator_throughput"
TARGET = "3dhp"  # whose adapt/ingest settings (normalisation) the step uses
GEN_FIELDS = ("pose_3d", "pose_3d_cam", "rotation", "translation", "lam", "bone_cos")


# --------------------------------------------------------------------------- inputs


def synthetic_batch(batch: int, rf: int, normalisation: str, seed: int, device, dtype) -> tuple[dict, torch.Tensor]:
    """Source windows ``src`` (as ``adapt``'s source sampler returns them) and target 2D
    windows ``(B, RF, 17, 2)``, cut from procedural motions seen by a camera 6 m away."""
    rng = np.random.default_rng(seed)
    motions = []
    for family in ("walk", "turn", "crouch", "reach_wave", "sit_stand", "run"):
        joints = synthesise(family, 250, 50.0, sample_bone_lengths(rng), rng)
        joints[..., :2] -= joints[:, :1, :2].mean(0)
        # world (z up) -> camera (x right, y down, z forward), camera at 1 m height, 6 m away
        motions.append(np.stack([joints[..., 0], 1.0 - joints[..., 2], joints[..., 1] + 6.0], -1))
    allj = np.concatenate(motions)
    starts = np.repeat(np.arange(len(motions)) * 250, 250)
    centres = rng.integers(0, len(allj), batch)
    idx = window_indices(centres, starts[centres], starts[centres] + 250, rf, rng.integers(2, 6, batch))
    cam = torch.as_tensor(allj[idx], dtype=dtype, device=device)  # (B, RF, 17, 3)
    root = cam[:, :, 0]
    src = {
        "pose_3d": cam - root[:, :, None],
        "root": root,
        "f": torch.full((batch, 2), 1145.0, dtype=dtype, device=device),
        "c": torch.full((batch, 2), 500.0, dtype=dtype, device=device),
        "size": torch.full((batch, 2), 1000.0, dtype=dtype, device=device),
    }
    src["pose_2d"] = project_normalise(cam, src, normalisation, False)
    # The target sees the same motions from a camera turned 40 degrees about the vertical.
    a = math.radians(40.0)
    R = torch.tensor([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]], dtype=dtype, device=device)
    centre = torch.tensor([0.0, 0.0, 6.0], dtype=dtype, device=device)
    target_cam = (cam - centre) @ R.T + centre
    return src, project_normalise(target_cam, src, normalisation, False)


# --------------------------------------------------------------------------- per-sample wrappers


class PerSample(nn.Module):
    """Calls the wrapped network once per sample (batch 1) and stacks the outputs.

    Its parameters are the wrapped network's (``functional_call`` reaches them as
    ``inner.*``), so optimisers and the look-ahead step work on it unchanged."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.inner(x[i : i + 1]) for i in range(len(x))])


class PerSampleGenerator(nn.Module):
    def __init__(self, inner: HumanMotionGenerator):
        super().__init__()
        self.inner = inner

    def forward(self, pose_3d, root, generator=None) -> GeneratorOutput:
        outs = [self.inner(pose_3d[i : i + 1], root[i : i + 1], generator=generator) for i in range(len(pose_3d))]
        return GeneratorOutput(**{f: torch.cat([getattr(o, f) for o in outs]) for f in GEN_FIELDS})


def _rows(fn: Callable, x: torch.Tensor, *per_row: dict) -> torch.Tensor:
    """``fn`` applied to each row of ``x`` (and the same row of each dict's tensors)."""
    return torch.cat([fn(x[i : i + 1], *({k: v[i : i + 1] for k, v in d.items()} for d in per_row)) for i in range(len(x))])


# --------------------------------------------------------------------------- the step


@dataclass
class Nets:
    gen: nn.Module
    d2d: nn.Module
    d3d: nn.Module
    lifter: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    pool_2d: HistoryPool
    pool_3d: HistoryPool
    project: Callable  # (pose_cam (B, T, 17, 3), src) -> normalised 2D
    perturb: Callable  # (poses (N, 17, 3)) -> perturbed poses


def build(cfg: AdaptConfig, gen_cfg: GeneratorConfig, lifter_cfg: LifterConfig, normalisation: str, seed: int, device, dtype, beta_deg: float, tgen) -> Nets:
    torch.manual_seed(seed)
    gen = HumanMotionGenerator(gen_cfg).to(device, dtype)
    d2d = DomainDiscriminator2D(gen_cfg.frames, use_kcs=cfg.kcs_2d).to(device, dtype)
    d3d = Discriminator3D().to(device, dtype)
    lifter = TemporalModelOptimized1f(lifter_cfg).to(device, dtype)
    return Nets(
        gen, d2d, d3d, lifter,
        torch.optim.Adam(list(gen.parameters()) or [torch.zeros(1, requires_grad=True)], lr=cfg.lr_generator),
        torch.optim.Adam(list(d2d.parameters()) + list(d3d.parameters()), lr=cfg.lr_discriminator),
        HistoryPool(cfg.pool_size), HistoryPool(cfg.pool_size),
        lambda pose, src: project_normalise(pose, src, normalisation, False),
        lambda poses: perturb_bones(poses, beta_deg, generator=tgen),
    )


def per_sample(n: Nets) -> Nets:
    """The same networks and state, every call made one sample at a time."""
    project, perturb = n.project, n.perturb
    return Nets(
        PerSampleGenerator(n.gen), PerSample(n.d2d), PerSample(n.d3d), PerSample(n.lifter), n.opt_g, n.opt_d,
        n.pool_2d, n.pool_3d,
        lambda pose, src: _rows(project, pose, src),
        lambda poses: _rows(perturb, poses),
    )


def adaptation_step(n: Nets, cfg: AdaptConfig, src: dict, tgt: torch.Tensor, frames: torch.Tensor, proj_n: int, tgen, clock: Callable[[str], None] = lambda phase: None, probe: dict | None = None) -> dict:
    """One generation + discrimination + feedback step, as in ``core.adapt.adapt``
    (epoch 0); ``clock(phase)`` is called at the end of each phase; ``probe`` collects
    gradients (before the optimiser steps) for the agreement check."""
    rf = src["pose_3d"].shape[1]
    mid = rf // 2
    out = n.gen(src["pose_3d"], src["root"], generator=tgen)
    fake_2d = n.project(out.pose_3d_cam, src)
    bone_2d = n.project(out.pose_3d + src["root"][:, :, None, :], src)
    fake_3d = out.pose_3d_cam[:, mid] - out.pose_3d_cam[:, mid, :1]
    bone_3d = out.pose_3d[:, mid]
    clock("generation")

    real_2d = tgt if cfg.domain_discriminator else src["pose_2d"]
    loss_d2d = lsgan_d_loss(n.d2d(real_2d), n.d2d(n.pool_2d.push_and_sample(fake_2d.detach(), tgen)))
    real_3d = n.perturb(src["pose_3d"][:, frames].flatten(0, 1))
    fake_frames = n.pool_3d.push_and_sample(out.pose_3d.detach()[:, frames].flatten(0, 1), tgen)
    loss_d3d = lsgan_d_loss(n.d3d(real_3d), n.d3d(fake_frames))
    d_params = list(n.d2d.parameters()) + list(n.d3d.parameters())
    n.opt_d.zero_grad(set_to_none=True)
    (loss_d2d + loss_d3d).backward()
    if probe is not None:
        probe["d_grads"] = [p.grad.clone() for p in d_params]
    torch.nn.utils.clip_grad_norm_(d_params, cfg.grad_clip)
    n.opt_d.step()
    clock("discrimination")

    n.lifter.eval()
    src_loss = L.per_sample_l2(n.lifter(src["pose_2d"])[:, 0], src["pose_3d"][:, mid]).detach()
    ratio_cam = L.difficulty_ratio(L.per_sample_l2(n.lifter(fake_2d)[:, 0], fake_3d), src_loss)
    ratio_bone = L.difficulty_ratio(L.per_sample_l2(n.lifter(bone_2d)[:, 0], bone_3d), src_loss)
    hr = cfg.hard_ratio_bone.weight * L.hard_ratio_loss(ratio_bone, cfg.hard_ratio_bone.c(0, cfg.epochs), cfg.hard_ratio_bone.d)
    hr = hr + cfg.hard_ratio_camera.weight * L.hard_ratio_loss(ratio_cam, cfg.hard_ratio_camera.c(0, cfg.epochs), cfg.hard_ratio_camera.d)
    adv_2d = lsgan_g_loss(n.d2d(fake_2d))
    adv_3d = lsgan_g_loss(n.d3d(out.pose_3d[:, frames].flatten(0, 1)))
    proj = L.lookahead_reprojection_loss(n.lifter, fake_2d[:proj_n], fake_3d[:proj_n], tgt[:proj_n], cfg.proj_inner_lr)
    rng_loss = L.bone_range_loss(out.bone_cos)
    lam = L.lambda_penalty(out.lam)
    loss_g = cfg.w_adv_2d * adv_2d + cfg.w_adv_3d * adv_3d + hr + cfg.w_proj * proj + cfg.w_range * rng_loss + cfg.w_lambda * lam
    g_params = list(n.gen.parameters())
    n.opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    if probe is not None:
        probe["g_grads"] = [p.grad.clone() for p in g_params]
    torch.nn.utils.clip_grad_norm_(g_params, cfg.grad_clip)
    n.opt_g.step()
    with torch.no_grad():
        keep = L.selection_mask(ratio_cam.detach(), cfg.selection_a, cfg.selection_b, fake_2d, cfg.selection_bound)
    clock("feedback")
    return {
        **{f"gen_{f}": getattr(out, f).detach() for f in GEN_FIELDS},
        "fake_2d": fake_2d.detach(), "bone_2d": bone_2d.detach(), "ratio_cam": ratio_cam.detach(),
        "ratio_bone": ratio_bone.detach(), "loss_d": (loss_d2d + loss_d3d).detach(), "loss_g": loss_g.detach(),
        "proj": proj.detach(), "keep": keep,
    }


# --------------------------------------------------------------------------- agreement check


class FixedNoise:
    """Replaces the generator's noise draws: the k-th draw of a forward pass returns rows
    of one fixed table, so a batch and its samples one at a time get the same noise."""

    def __init__(self, rows: int, seed: int):
        self.rows, self.tables, self.g = rows, {}, torch.Generator().manual_seed(seed)
        self.next_row = self.row = self.k = 0

    def begin(self, module, args) -> None:  # forward pre-hook
        self.row, self.k = self.next_row, 0
        self.next_row += args[0].shape[0]

    def __call__(self, batch, dim, like, generator):
        key = (self.k, dim)
        if key not in self.tables:
            self.tables[key] = torch.randn(self.rows, dim, generator=self.g, dtype=torch.float64)
        self.k += 1
        return self.tables[key][self.row : self.row + batch].to(like)


def agreement(cfg, gen_cfg, lifter_cfg, normalisation, batch: int, proj_n: int, device) -> dict:
    """Largest relative difference between the batched and the per-sample step (float64,
    fixed noise, generator in eval mode, no bone perturbation, fresh pools)."""
    src, tgt = synthetic_batch(batch, gen_cfg.frames, normalisation, 1, device, torch.float64)
    frames = _frames(gen_cfg.frames, cfg.frames_3d, torch.Generator().manual_seed(0), device)
    results, probes = [], []
    for wrap in (False, True):
        tgen = torch.Generator(device=device).manual_seed(0)
        nets = build(cfg, gen_cfg, lifter_cfg, normalisation, 0, device, torch.float64, 0.0, tgen)
        noise = FixedNoise(batch, 0)
        nets.gen._noise = noise
        nets.gen.register_forward_pre_hook(noise.begin)
        nets.gen.eval()
        probe: dict = {}
        results.append(adaptation_step(per_sample(nets) if wrap else nets, cfg, src, tgt, frames, proj_n, tgen, probe=probe))
        probes.append(probe)
    worst: dict[str, float] = {}
    for key, a in results[0].items():
        b = results[1][key]
        worst[key] = 0.0 if a.dtype == torch.bool and torch.equal(a, b) else _rel(a, b)
    for key in ("d_grads", "g_grads"):
        worst[key] = max(_rel(a, b) for a, b in zip(probes[0][key], probes[1][key]))
    return worst


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def _frames(rf: int, n: int, g: torch.Generator, device) -> torch.Tensor:
    """The window frames the 3D critic judges: the centre and ``n - 1`` others (as ``adapt``)."""
    others = torch.randperm(rf, generator=g)[: max(n - 1, 0)]
    return torch.unique(torch.cat([torch.tensor([rf // 2]), others])).to(device)


# --------------------------------------------------------------------------- timing


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(nets: Nets, cfg, src, tgt, frames, proj_n, tgen, steps: int, device) -> dict:
    """Seconds per step and per phase, averaged over ``steps`` steps (after one untimed)."""
    phases: dict[str, float] = {}
    last = [0.0]

    def clock(phase: str) -> None:
        _sync(device)
        now = time.perf_counter()
        phases[phase] = phases.get(phase, 0.0) + now - last[0]
        last[0] = now

    adaptation_step(nets, cfg, src, tgt, frames, proj_n, tgen)  # warm-up (allocations, kernels)
    phases.clear()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        last[0] = time.perf_counter()
        adaptation_step(nets, cfg, src, tgt, frames, proj_n, tgen, clock=clock)
    _sync(device)
    total = (time.perf_counter() - start) / steps
    return {"seconds_per_step": total, "phase_seconds": {k: v / steps for k, v in phases.items()}}


def measure(device: str, cfg, gen_cfg, lifter_cfg, normalisation, batch: int, steps: int, ref_samples: int, ref_steps: int) -> dict:
    dev = torch.device(device)
    rf = gen_cfg.frames
    tgen = torch.Generator(device=dev).manual_seed(0)
    frames = _frames(rf, cfg.frames_3d, torch.Generator().manual_seed(0), dev)
    nets = build(cfg, gen_cfg, lifter_cfg, normalisation, 0, dev, torch.float32, cfg.beta_deg, tgen)
    proj_n = min(cfg.proj_batch, batch)
    src, tgt = synthetic_batch(batch, rf, normalisation, 0, dev, torch.float32)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    nets.gen.train()
    batched = time_steps(nets, cfg, src, tgt, frames, proj_n, tgen, steps, dev)
    peak = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None

    # The reference looks ahead on the batched step's share of its samples.
    ref_proj = max(1, round(ref_samples * proj_n / batch))
    nets.gen.eval()
    ref = per_sample(nets)
    src_r, tgt_r = ({k: v[:ref_samples] for k, v in src.items()}, tgt[:ref_samples])
    reference = time_steps(ref, cfg, src_r, tgt_r, frames, ref_proj, tgen, ref_steps, dev)
    rate = batch / batched["seconds_per_step"]
    ref_rate = ref_samples / reference["seconds_per_step"]
    return {
        "device": device,
        "batch": batch,
        "steps": steps,
        "samples_per_s": rate,
        "batched": batched,
        "lookahead_samples": proj_n,
        "reference_samples": ref_samples,
        "reference_lookahead_samples": ref_proj,
        "reference": reference,
        "reference_samples_per_s": ref_rate,
        "speedup": rate / ref_rate,
        "seconds_per_1_5M_samples": 1.5e6 / rate,
        "cuda_peak_mb": peak,
    }


def configs(env: str | None) -> tuple[AdaptConfig, GeneratorConfig, LifterConfig, str]:
    params = common.load_parameters(env)
    ad = for_target(params["adapt"], TARGET, "adapt")
    pre = for_target(params["pretrain"], TARGET, "pretrain")
    rf = int(pre["lifter"]["receptive_field"])
    lifter_cfg = LifterConfig(filter_widths=filter_widths_for(rf), channels=int(pre["lifter"]["channels"]), dropout=float(pre["lifter"]["dropout"]))
    normalisation = for_target(params["ingest"], TARGET, "ingest")["normalisation"]
    return adapt_config(ad), GeneratorConfig(frames=rf, **generator_params(ad)), lifter_cfg, normalisation


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__)
    p.add_argument("--device", choices=["cpu", "cuda", "all"], default="all", help="all: CPU, and CUDA when present")
    p.add_argument("--env", default=None, help="configuration environment (paper: the paper's sizes)")
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--steps", type=int, default=10, help="timed batched steps")
    p.add_argument("--ref-samples", type=int, default=64, help="samples the per-sample reference is timed on")
    p.add_argument("--check-batch", type=int, default=16, help="samples in the batched vs per-sample agreement check")
    args = p.parse_args(argv)
    if args.quick:
        args.batch, args.steps, args.ref_samples, args.check_batch = 64, 2, 8, 4
    devices = common.cuda_devices(args.device)
    if devices is None:
        return 0
    seed_everything(0)  # as the pipeline's nodes: deterministic algorithms, which can cost speed on CUDA
    cfg, gen_cfg, lifter_cfg, normalisation = configs(args.env)
    check_proj = max(1, min(cfg.proj_batch, args.check_batch) // 2)
    rows, runs, goals = [], [], []
    for device in devices:
        print(f"[{device}] agreement check: batched vs per-sample on {args.check_batch} samples (float64, fixed noise)", flush=True)
        worst = agreement(cfg, gen_cfg, lifter_cfg, normalisation, args.check_batch, check_proj, torch.device(device))
        agree = max(worst.values())
        print(f"[{device}] timing: batch {args.batch} x {args.steps} steps; reference {args.ref_samples} samples one by one", flush=True)
        run = measure(device, cfg, gen_cfg, lifter_cfg, normalisation, args.batch, args.steps, args.ref_samples, 1)
        run["agreement_max_rel_diff"], run["agreement"] = agree, worst
        runs.append(run)
        ph = run["batched"]["phase_seconds"]
        rows.append([
            device, args.batch, f"{run['samples_per_s']:,.0f}", f"{run['reference_samples_per_s']:,.0f}",
            f"{run['speedup']:.1f}x",
            " / ".join(f"{1000 * ph[k]:.0f}" for k in ("generation", "discrimination", "feedback")),
            f"{run['seconds_per_1_5M_samples'] / 60:.1f} min", f"{agree:.1e}",
            "n/a" if run["cuda_peak_mb"] is None else f"{run['cuda_peak_mb']:.0f}",
        ])
        goals.append({"goal": f"batched and per-sample steps agree ({device}, max rel. diff < 1e-9)", "met": agree < 1e-9, "detail": f"{agree:.1e}"})
    rec = common.record(
        NAME, "Generator step throughput" + (f" ({args.env} configuration)" if args.env else ""),
        quick=args.quick, devices=devices,
        settings={
            "env": args.env or "base", "deterministic_algorithms": True, "batch": args.batch, "steps": args.steps, "reference_samples": args.ref_samples,
            "check_batch": args.check_batch, "frames": gen_cfg.frames, "generator": gen_cfg.__dict__,
            "lifter": lifter_cfg.to_dict(), "normalisation": normalisation, "d_every_timed": 1,
            "frames_3d": cfg.frames_3d, "proj_batch": cfg.proj_batch,
        },
        results={"runs": runs},
        tables=[{
            "columns": ["device", "batch", "batched samples/s", "per-sample samples/s", "speedup",
                        "gen / disc / feedback ms per step", "1.5M samples (gen + disc + feedback)", "agreement (max rel. diff)", "CUDA peak MB"],
            "rows": rows,
        }],
        goals=goals,
        notes=[
            "Step = generation + discrimination (D step every step) + feedback with the generator's update, as core/adapt.py per batch; "
            "the lifter's own fine-tuning step and batch sampling are not included.",
            f"Reference: the same step code with networks, projection and bone perturbation called once per sample; timed on {args.ref_samples} samples and extrapolated; "
            "its generator runs in eval mode (BatchNorm cannot train on one sample).",
            "Agreement: both paths on the same inputs in float64 with fixed noise; outputs, losses and gradients compared.",
        ],
    )
    common.save(rec, common.out_dir(args), NAME + (f"-{args.env}" if args.env else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
