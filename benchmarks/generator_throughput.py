"""Synthetic samples per second of one adaptation step, batched vs one sample at a time.

The step is the pipeline's own: ``core.adapt.generator_step``, what ``core.adapt.adapt``
runs per batch before the lifter's own update: generation (the motion generator,
projection of ``X_fake`` and ``X_b``), the critics' LSGAN step every ``d_every`` steps
(2D and 3D critics on real and pooled fakes, backward, clipped Adam step) and feedback
(the lifter on source, fakes and bone-only fakes, difficulty ratios, hard-ratio,
adversarial, look-ahead reprojection, range and lambda losses, backward, generator step,
selection mask), at the first epoch with the feedback losses on. Consecutive steps are
timed as the loop runs them, so the critics' step counts once every ``d_every`` steps.

The reference runs the very same step function with every network (generator, critics,
lifter) and the per-sample geometry (projection, bone perturbation) wrapped to be called
once per sample (batch 1) and the results stacked; losses, history pools and optimiser
steps stay batch-level. The reference times ``d_every`` steps on ``--ref-samples``
samples (the look-ahead on the same share of them as the batched step) and its rate is
extrapolated. BatchNorm cannot train on one sample, so the reference's generator runs in
eval mode.

Before timing, both paths run on the same inputs in float64 with fixed noise (generator in
eval mode, no bone perturbation, fresh pools) and their outputs, losses and gradients must
agree: the two paths compute the same numbers.

``python -m benchmarks.generator_throughput [--device cpu|cuda|all] [--env paper] [--quick]``
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from adaptpose_pipeline.core.adapt import AdaptConfig, AdaptNets, StepContext, generator_step, project_normalise
from adaptpose_pipeline.core.generator import GeneratorConfig, GeneratorOutput, HumanMotionGenerator
from adaptpose_pipeline.core.lifter import LifterCheckpoint, LifterConfig, TemporalModel, filter_widths_for
from adaptpose_pipeline.standin.motion import sample_bone_lengths, synthesise
from adaptpose_pipeline.core.runtime import seed_everything
from adaptpose_pipeline.core.windows import window_indices
from adaptpose_pipeline.pipelines.adapt.nodes import adapt_config, generator_params
from adaptpose_pipeline.pipelines.config import resolve_targets
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
    src["pose_3d_gen"] = src["pose_3d"]  # the generator's input: the source's own proportions
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


# --------------------------------------------------------------------------- the step: core.adapt's own


class Context(StepContext):
    """``core.adapt.StepContext`` that records the gradients each optimiser applies
    (``probe``) and times the step's phases (``clock``): a phase ends at the critics'
    update, the generator's update and the end of the step."""

    def __init__(self, *args, probe: dict | None = None, clock: Callable[[str], None] | None = None):
        super().__init__(*args)
        self.probe, self.clock = probe, clock

    def update(self, name: str, optimiser: torch.optim.Optimizer, params) -> None:
        params = list(params)
        if self.probe is not None:
            self.probe[f"{name}_grads"] = [p.grad.clone() for p in params]
        super().update(name, optimiser, params)
        if self.clock is not None:
            self.clock(PHASE_END[name])


class PerSampleContext(Context):
    """The same context with the per-sample geometry: projection and bone perturbation
    called once per sample."""

    def project(self, pose_cam: torch.Tensor, src: dict) -> torch.Tensor:
        return _rows(super().project, pose_cam, src)

    def perturb(self, poses: torch.Tensor) -> torch.Tensor:
        return _rows(super().perturb, poses)


PHASE_END = {"critics": "generation + critics", "generator": "feedback + generator update"}
PHASES = (*PHASE_END.values(), "selection")


def build(cfg: AdaptConfig, gen_cfg: GeneratorConfig, lifter_cfg: LifterConfig, seed: int, device, dtype) -> AdaptNets:
    """The pipeline's networks, optimisers and pools (``core.adapt.AdaptNets``) around a
    freshly initialised lifter."""
    torch.manual_seed(seed)
    baseline = LifterCheckpoint(lifter_cfg, TemporalModel(lifter_cfg).state_dict())
    nets = AdaptNets(baseline, gen_cfg, cfg, torch.device(device))
    for m in nets.modules().values():
        m.to(dtype)
    return nets


def per_sample(nets: AdaptNets) -> AdaptNets:
    """The same networks, optimisers and pools, every network called one sample at a time."""
    ref = copy.copy(nets)
    ref.gen, ref.d2d, ref.d3d, ref.lifter = PerSampleGenerator(nets.gen), PerSample(nets.d2d), PerSample(nets.d3d), PerSample(nets.lifter)
    return ref


def adaptation_step(nets: AdaptNets, ctx: Context, src: dict, tgt: torch.Tensor, epoch: int, step: int) -> dict:
    """One step of ``core.adapt``'s loop before the lifter's own update:
    ``core.adapt.generator_step`` (generation, the critics' step every ``d_every`` steps,
    feedback, the generator's update, selection). Returns its outputs as tensors."""
    fakes, keep, stats = generator_step(nets, ctx, src, tgt, epoch, step)
    if ctx.clock is not None:
        ctx.clock("selection")
    return {
        **{f"gen_{f}": getattr(fakes.out, f).detach() for f in GEN_FIELDS},
        "fake_2d": fakes.pose_2d.detach(), "bone_2d": fakes.bone_2d.detach(), "fake_3d": fakes.pose_3d.detach(),
        "keep": keep, **{k: torch.tensor(v, dtype=torch.float64) for k, v in stats.items()},
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
    fixed noise, generator in eval mode, no bone perturbation, fresh pools; the first
    step of the first epoch with feedback, so the critics step too)."""
    cfg = dataclasses.replace(cfg, beta_deg=0.0, proj_batch=proj_n)
    src, tgt = synthetic_batch(batch, gen_cfg.frames, normalisation, 1, device, torch.float64)
    results, probes = [], []
    for context in (Context, PerSampleContext):
        nets = build(cfg, gen_cfg, lifter_cfg, 0, device, torch.float64)
        noise = FixedNoise(batch, 0)
        nets.gen._noise = noise
        nets.gen.register_forward_pre_hook(noise.begin)
        nets.gen.eval()
        probe: dict = {}
        ctx = context(cfg, normalisation, False, torch.Generator(device=device).manual_seed(0), probe=probe)
        results.append(adaptation_step(nets if context is Context else per_sample(nets), ctx, src, tgt, feedback_epoch(cfg), 0))
        probes.append(probe)
    worst: dict[str, float] = {}
    for key, a in results[0].items():
        b = results[1][key]
        worst[key] = 0.0 if a.dtype == torch.bool and torch.equal(a, b) else _rel(a, b)
    for key in ("critics_grads", "generator_grads"):
        worst[key] = max(_rel(a, b) for a, b in zip(probes[0][key], probes[1][key]))
    return worst


def feedback_epoch(cfg: AdaptConfig) -> int:
    """The first epoch whose steps have every part: the feedback losses are on."""
    return min(cfg.feedback_warmup_epochs, cfg.epochs - 1)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


# --------------------------------------------------------------------------- timing


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(nets: AdaptNets, context: type[Context], cfg, normalisation, src, tgt, steps: int, device) -> dict:
    """Seconds per step and per phase, averaged over ``steps`` consecutive steps of one
    epoch (after one untimed), as the loop runs them (critics every ``d_every``)."""
    phases: dict[str, float] = {}
    last = [0.0]

    def clock(phase: str) -> None:
        _sync(device)
        now = time.perf_counter()
        phases[phase] = phases.get(phase, 0.0) + now - last[0]
        last[0] = now

    ctx = context(cfg, normalisation, False, torch.Generator(device=device).manual_seed(0))
    epoch = feedback_epoch(cfg)
    adaptation_step(nets, ctx, src, tgt, epoch, 0)  # warm-up (allocations, kernels)
    ctx.clock = clock
    _sync(device)
    start = time.perf_counter()
    for step in range(steps):
        last[0] = time.perf_counter()
        adaptation_step(nets, ctx, src, tgt, epoch, step)
    _sync(device)
    total = (time.perf_counter() - start) / steps
    return {"seconds_per_step": total, "phase_seconds": {k: phases.get(k, 0.0) / steps for k in PHASES}}


def measure(device: str, cfg, gen_cfg, lifter_cfg, normalisation, batch: int, steps: int, ref_samples: int, ref_steps: int) -> dict:
    dev = torch.device(device)
    rf = gen_cfg.frames
    proj_n = min(cfg.proj_batch, batch)
    nets = build(cfg, gen_cfg, lifter_cfg, 0, dev, torch.float32)
    src, tgt = synthetic_batch(batch, rf, normalisation, 0, dev, torch.float32)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    nets.gen.train()
    batched = time_steps(nets, Context, cfg, normalisation, src, tgt, steps, dev)
    peak = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None

    # The reference looks ahead on the batched step's share of its samples.
    ref_proj = max(1, round(ref_samples * proj_n / batch))
    nets.gen.eval()
    src_r, tgt_r = ({k: v[:ref_samples] for k, v in src.items()}, tgt[:ref_samples])
    ref_cfg = dataclasses.replace(cfg, proj_batch=ref_proj)
    reference = time_steps(per_sample(nets), PerSampleContext, ref_cfg, normalisation, src_r, tgt_r, ref_steps, dev)
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
    params = resolve_targets({**common.load_parameters(env), "target": TARGET})
    ad, pre = params["adapt"], params["pretrain"]
    rf = int(pre["lifter"]["receptive_field"])
    lifter_cfg = LifterConfig(filter_widths=filter_widths_for(rf), channels=int(pre["lifter"]["channels"]), dropout=float(pre["lifter"]["dropout"]))
    normalisation = params["ingest"]["normalisation"]
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
        run = measure(device, cfg, gen_cfg, lifter_cfg, normalisation, args.batch, args.steps, args.ref_samples, cfg.d_every)
        run["agreement_max_rel_diff"], run["agreement"] = agree, worst
        runs.append(run)
        ph = run["batched"]["phase_seconds"]
        rows.append([
            device, args.batch, f"{run['samples_per_s']:,.0f}", f"{run['reference_samples_per_s']:,.0f}",
            f"{run['speedup']:.1f}x",
            " / ".join(f"{1000 * ph[k]:.0f}" for k in PHASES),
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
            "lifter": lifter_cfg.to_dict(), "normalisation": normalisation, "d_every": cfg.d_every,
            "epoch_timed": feedback_epoch(cfg),
            "frames_3d": cfg.frames_3d, "proj_batch": cfg.proj_batch,
        },
        results={"runs": runs},
        tables=[{
            "columns": ["device", "batch", "batched samples/s", "per-sample samples/s", "speedup",
                        "generation + critics / feedback + G update / selection ms per step", "1.5M samples (steps only)", "agreement (max rel. diff)", "CUDA peak MB"],
            "rows": rows,
        }],
        goals=goals,
        notes=[
            "Step = core.adapt.generator_step, the pipeline's own step function: generation, the critics' step every d_every steps, "
            "feedback and the generator's update, selection; the lifter's own fine-tuning step and batch sampling are not included.",
            f"Reference: the same step code with networks, projection and bone perturbation called once per sample; timed on {args.ref_samples} samples and extrapolated; "
            "its generator runs in eval mode (BatchNorm cannot train on one sample).",
            "Agreement: both paths on the same inputs in float64 with fixed noise; outputs, losses and gradients compared.",
        ],
    )
    common.save(rec, common.out_dir(args), NAME + (f"-{args.env}" if args.env else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
