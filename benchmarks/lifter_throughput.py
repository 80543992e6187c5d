"""Training and inference frames per second of the VideoPose3D lifter (core/lifter.py).

For the 27-frame and the single-frame lifter with the configuration's channels and
dropout (``pretrain.lifter``; ``--env paper``: 1024 channels):

- training: forward + backward + Adam (amsgrad, as pretraining) on batches of
  ``pretrain.train.batch_size`` random windows (the strided form); one frame = one window;
- inference, windows: the strided form in eval mode on the same batches, no gradients;
- inference, sequence: the dilated form over one long sequence with ``lift_sequence``
  (what evaluation does: edge padding, chunks of 4,096 outputs).

``python -m benchmarks.lifter_throughput [--device cpu|cuda|all] [--env paper] [--quick]``
"""

from __future__ import annotations

import time

import torch

from adaptpose_pipeline.core.lifter import LifterConfig, TemporalModel, TemporalModelOptimized1f, filter_widths_for, lift_sequence
from adaptpose_pipeline.core.losses import mpjpe_loss
from adaptpose_pipeline.core.runtime import seed_everything
from benchmarks import common

NAME = "lifter_throughput"
RECEPTIVE_FIELDS = (27, 1)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, steps: int, device: torch.device) -> float:
    """Seconds per call of ``fn`` over ``steps`` calls, after one untimed call."""
    fn()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / steps


def measure(cfg: LifterConfig, batch: int, steps: int, seq_frames: int, lr: float, device: torch.device) -> dict:
    g = torch.Generator().manual_seed(0)
    rf = cfg.receptive_field
    x = (0.3 * torch.randn(batch, rf, 17, 2, generator=g)).to(device)
    y = (0.2 * torch.randn(batch, 17, 3, generator=g)).to(device)
    seq = (0.3 * torch.randn(seq_frames, 17, 2, generator=g)).to(device)
    torch.manual_seed(0)
    model = TemporalModelOptimized1f(cfg).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, amsgrad=True)

    def train_step() -> None:
        loss = mpjpe_loss(model(x)[:, 0], y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model.train()
    train_s = _timed(train_step, steps, device)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    model.eval()
    with torch.no_grad():
        window_s = _timed(lambda: model(x), steps, device)
        seq_model = TemporalModel(cfg).to(device).eval()
        seq_model.load_state_dict(model.state_dict())
        seq_s = _timed(lambda: lift_sequence(seq_model, seq), max(1, steps // 4), device)
    return {
        "receptive_field": rf,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_frames_per_s": batch / train_s,
        "infer_window_frames_per_s": batch / window_s,
        "infer_sequence_frames_per_s": seq_frames / seq_s,
        "train_seconds_per_step": train_s,
        "cuda_train_peak_mb": peak,
    }


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__)
    p.add_argument("--device", choices=["cpu", "cuda", "all"], default="all", help="all: CPU, and CUDA when present")
    p.add_argument("--env", default=None, help="configuration environment (paper: the paper's sizes)")
    p.add_argument("--batch", type=int, default=None, help="default: pretrain.train.batch_size")
    p.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    p.add_argument("--seq-frames", type=int, default=20000, help="frames of the sequence lifted whole")
    args = p.parse_args(argv)
    devices = common.cuda_devices(args.device)
    if devices is None:
        return 0
    seed_everything(0)  # as the pipeline's nodes: deterministic algorithms, which can cost speed on CUDA
    params = common.load_parameters(args.env)["pretrain"]
    batch = args.batch or int(params["train"]["batch_size"])
    steps, seq_frames = args.steps, args.seq_frames
    if args.quick:
        batch, steps, seq_frames = min(batch, 64), 2, 500
    lifter = params["lifter"]
    runs, rows = [], []
    for device in devices:
        for rf in RECEPTIVE_FIELDS:
            cfg = LifterConfig(filter_widths=filter_widths_for(rf), channels=int(lifter["channels"]), dropout=float(lifter["dropout"]))
            print(f"[{device}] {rf}-frame lifter, {cfg.channels} channels, batch {batch}", flush=True)
            run = {"device": device, "channels": cfg.channels, "batch": batch,
                   **measure(cfg, batch, steps, seq_frames, float(params["train"]["lr"]), torch.device(device))}
            runs.append(run)
            rows.append([
                device, rf, cfg.channels, f"{run['parameters'] / 1e6:.2f} M", batch,
                f"{run['train_frames_per_s']:,.0f}", f"{run['infer_window_frames_per_s']:,.0f}",
                f"{run['infer_sequence_frames_per_s']:,.0f}",
                "n/a" if run["cuda_train_peak_mb"] is None else f"{run['cuda_train_peak_mb']:.0f}",
            ])
    rec = common.record(
        NAME, "Lifter throughput" + (f" ({args.env} configuration)" if args.env else ""),
        quick=args.quick, devices=devices,
        settings={"env": args.env or "base", "deterministic_algorithms": True, "batch": batch, "steps": steps, "seq_frames": seq_frames,
                  "channels": int(lifter["channels"]), "dropout": float(lifter["dropout"])},
        results={"runs": runs},
        tables=[{
            "columns": ["device", "frames (RF)", "channels", "parameters", "batch", "train frames/s",
                        "inference frames/s (windows)", "inference frames/s (whole sequence)", "CUDA train peak MB"],
            "rows": rows,
        }],
        notes=[
            "Training frame = one window through forward, backward and an Adam (amsgrad) step; random inputs.",
            "Whole-sequence inference = the dilated model over one sequence with edge padding (as evaluation).",
        ],
    )
    common.save(rec, common.out_dir(args), NAME + (f"-{args.env}" if args.env else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
