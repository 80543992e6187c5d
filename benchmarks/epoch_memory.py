"""Peak memory of one paper-size adaptation epoch (1.5M generated samples), buffered in
memory vs spilled to disk.

``generate_then_finetune`` (the paper's §5) generates a whole epoch, then fine-tunes on
the selected fakes; ``core.adapt`` buffers them. Held in memory, the buffer grows with
``samples_per_epoch``; with ``adapt.train.buffer_memory_mb`` it holds at most that many MB
and spills the rest to temporary files, read back as drawn. This runs ``core.adapt.adapt``
itself for one epoch on synthetic source and target arrays, each configuration in its own
process, and reports the process's peak resident memory (``ru_maxrss``) and wall time:
spilled at a tenth of the samples and at all of them (bounded: the peak must not grow
by more than the buffer's memory), and held in memory at a tenth (``--held-full``: at
all of them too).
Networks are narrow (``--hidden``, ``--channels``) so that an epoch fits in minutes on a
CPU; the buffer's size does not depend on the widths, only on the samples, the window
(``--frames``) and the joints. Selection is off, so every generated sample is buffered.

``python -m benchmarks.epoch_memory [--samples 1500000] [--frames 9] [--memory-mb 256] [--held-full] [--quick]``
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch

from adaptpose_pipeline.core.adapt import AdaptConfig, adapt
from adaptpose_pipeline.core.generator import GeneratorConfig
from adaptpose_pipeline.core.lifter import LifterCheckpoint, LifterConfig, TemporalModel, filter_widths_for
from benchmarks import common

NAME = "epoch_memory"


def _arrays(n_seq: int, length: int, seed: int, with_3d: bool = True) -> dict:
    """Model-input arrays of random poses seen by a camera 5 m away."""
    rng = np.random.default_rng(seed)
    n = n_seq * length
    pose_3d = rng.normal(0, 0.15, (n, 17, 3)).astype(np.float32)
    pose_3d[:, 0] = 0
    root = np.tile(np.array([0.0, 0.0, 5.0], np.float32), (n, 1))
    px = (pose_3d[..., :2] + root[:, None, :2]) / (pose_3d[..., 2:] + 5.0) * 1000 + 500
    out = {"pose_2d": (px / 1000 * 2 - 1).astype(np.float32), "valid": np.ones(n, bool),
           "seq_start": np.arange(0, n, length, dtype=np.int64), "seq_length": np.full(n_seq, length, np.int64)}
    if with_3d:
        out.update(pose_3d=pose_3d, root_3d=root, seq_f=np.full((n_seq, 2), 1000, np.float32),
                   seq_c=np.full((n_seq, 2), 500, np.float32), seq_image_size=np.full((n_seq, 2), 1000, np.int64))
    return out


def one_epoch(samples: int, frames: int, batch: int, hidden: int, channels: int, memory_mb: int | None) -> dict:
    """One ``generate_then_finetune`` epoch of ``adapt`` in this process: its wall time and
    this process's peak resident memory (MB)."""
    torch.manual_seed(0)
    lifter_cfg = LifterConfig(filter_widths=filter_widths_for(frames), channels=channels, dropout=0.0)
    baseline = LifterCheckpoint(lifter_cfg, TemporalModel(lifter_cfg).state_dict())
    cfg = AdaptConfig(
        epochs=1, warmup_epochs=0, batch_size=batch, samples_per_epoch=samples, schedule="generate_then_finetune",
        selection=False, pool_size=batch, proj_batch=64, keep_samples=0, buffer_memory_mb=memory_mb,
    )
    source, target = _arrays(20, 500, 0), _arrays(20, 500, 1, with_3d=False)
    before = _peak_mb()
    start = time.perf_counter()
    adapt(source, target, baseline, GeneratorConfig(frames=frames, hidden=hidden, blocks=1), cfg, "screen", False,
          torch.device("cpu"), seed=0, progress=False)
    return {"seconds": time.perf_counter() - start, "peak_rss_mb": _peak_mb(), "peak_rss_mb_before_epoch": before}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KB on Linux


def _child(args, samples: int, memory_mb: int | None) -> dict:
    """``one_epoch`` in a fresh process, so that each peak is its own."""
    argv = [sys.executable, "-m", "benchmarks.epoch_memory", "--child", "--samples", str(samples), "--frames", str(args.frames),
            "--batch", str(args.batch), "--hidden", str(args.hidden), "--channels", str(args.channels)]
    if memory_mb is not None:
        argv += ["--memory-mb", str(memory_mb)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__)
    p.add_argument("--samples", type=int, default=1_500_000, help="generated samples in the epoch (the paper: 1.5M)")
    p.add_argument("--frames", type=int, default=9, help="window length (receptive field)")
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--hidden", type=int, default=16, help="generator width (narrow: the buffer does not depend on it)")
    p.add_argument("--channels", type=int, default=16, help="lifter width")
    p.add_argument("--memory-mb", type=int, default=256, help="buffer_memory_mb of the spilled run")
    p.add_argument("--held-full", action="store_true", help="also run the full size with the buffer in memory")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(one_epoch(args.samples, args.frames, args.batch, args.hidden, args.channels, args.memory_mb)))
        return 0
    if args.quick:
        args.samples, args.batch, args.memory_mb = 40_000, 1024, 1
    row_mb = (args.frames * 17 * 2 + 17 * 3) * 4 / 2**20
    small = args.samples // 10
    plan = [("in memory", small, None), ("in memory", args.samples, None)] if args.held_full else [("in memory", small, None)]
    plan += [(f"spilled beyond {args.memory_mb} MB", small, args.memory_mb), (f"spilled beyond {args.memory_mb} MB", args.samples, args.memory_mb)]
    runs = []
    for label, samples, memory_mb in plan:
        print(f"{label}: one epoch of {samples:,} samples ...", flush=True)
        run = {"buffer": label, "samples": samples, "buffer_memory_mb": memory_mb, **_child(args, samples, memory_mb)}
        print(f"  {run['seconds']:.0f} s, peak {run['peak_rss_mb']:.0f} MB", flush=True)
        runs.append(run)
    spilled_small, spilled_full = runs[-2], runs[-1]
    growth = spilled_full["peak_rss_mb"] - spilled_small["peak_rss_mb"]
    rec = common.record(
        NAME, "Peak memory of one adaptation epoch (generate_then_finetune)", quick=args.quick, devices=["cpu"],
        settings={"samples": args.samples, "frames": args.frames, "batch": args.batch, "hidden": args.hidden,
                  "channels": args.channels, "buffer_memory_mb": args.memory_mb, "selection": False},
        results={"runs": runs, "buffer_mb_held_at_full_size": args.samples * row_mb},
        tables=[{
            "columns": ["buffer", "samples", "fakes buffered (MB)", "peak RSS (MB)", "epoch (s)"],
            "rows": [[r["buffer"], f"{r['samples']:,}", f"{r['samples'] * row_mb:.0f}", f"{r['peak_rss_mb']:.0f}", f"{r['seconds']:.0f}"]
                     for r in runs],
        }],
        goals=[{
            "goal": f"spilled: 10x the samples raises the peak by at most buffer_memory_mb + 10% ({1.1 * args.memory_mb:.0f} MB)",
            "met": growth <= 1.1 * args.memory_mb,
            "detail": f"{small:,} -> {args.samples:,} samples: {growth:+.0f} MB (held in memory the buffer alone would be "
                      f"{args.samples * row_mb:.0f} MB)",
        }],
        notes=["Each configuration runs in its own process; peak = ru_maxrss of that process (the run's fixed part, "
               "networks, arrays and torch's allocator, is the same in every row).",
               "Spilled chunks go to the system's temporary folder (TMPDIR) and are deleted after the epoch.",
               "--held-full also runs the full size held in memory."],
    )
    common.save(rec, common.out_dir(args), NAME)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
