"""Wall time and peak memory of the README's run (``make run``) in a fresh copy.

``kedro run --pipeline=standin``, then ``kedro run --pipeline=chain --params target=T``
for every target, exactly as the Makefile's ``run`` target, in a throw-away copy of the
project (fresh ``data/``, its own MLflow store). Each command's wall time and peak
resident memory (``wait4`` rusage of the process tree) are recorded; on CUDA the GPU
memory in use is sampled with ``nvidia-smi`` (the runs are subprocesses, so torch's own
counters cannot see them).

Goal (issue 9): the whole run within 10 minutes and 4 GB on 2 CPU cores.

``--env paper`` runs the paper configuration on CUDA for one adaptation epoch (1.5M
generated samples): ``adapt.train.epochs=1,adapt.train.warmup_epochs=0`` (warm-up must
be shorter than the run), by default for 3DHP only.

``python -m benchmarks.end_to_end [--targets ...] [--params k=v,...] [--env paper] [--quick]``
"""

from __future__ import annotations

import time

import torch

from adaptpose_pipeline.datasets import registry
from adaptpose_pipeline.repro import TINY
from benchmarks import common

NAME = "end_to_end"
GOAL_SECONDS = 600.0
GOAL_MB = 4096.0
GOAL_CORES = 2
PAPER_ONE_EPOCH = "adapt.train.epochs=1,adapt.train.warmup_epochs=0"


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__)
    p.add_argument("--targets", nargs="+", default=None, choices=list(registry.names()), help="default: all four (paper: 3dhp)")
    p.add_argument("--params", default="", help="extra --params for every kedro run, e.g. seed=1")
    p.add_argument("--env", default=None, help="kedro configuration environment (paper needs CUDA)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="the runs' device parameter")
    common.add_keep(p)
    args = p.parse_args(argv)
    needs_cuda = args.device == "cuda" or args.env == "paper"
    if needs_cuda and common.cuda_devices("cuda") is None:
        return 0
    targets = args.targets or (["3dhp"] if args.env == "paper" else list(registry.names()))
    extra = common.join_params(PAPER_ONE_EPOCH if args.env == "paper" else "", args.params,
                               f"device={args.device}" if args.device != "auto" else "")
    if args.quick:
        targets, extra = ["ski"], common.join_params(TINY, extra)
    env_flag = [f"--env={args.env}"] if args.env else []
    on_gpu = torch.cuda.is_available() and args.device != "cpu"
    print(f"end_to_end: standin + chain for {targets} ({args.env or 'base'} configuration)", flush=True)
    start = time.perf_counter()
    labels = ["standin"] + [f"chain {t}" for t in targets]
    with common.TempProject(keep=args.keep, gpu=on_gpu) as project:
        project.kedro("--pipeline=standin", *env_flag, params=extra)
        for target in targets:
            project.kedro("--pipeline=chain", *env_flag, params=common.join_params(f"target={target}", extra))
        runs = [{"step": label, **r.as_dict()} for label, r in zip(labels, project.records)]
    total = time.perf_counter() - start
    peak_mb = max(r["max_rss_mb"] for r in runs)
    gpu_peaks = [r["gpu_peak_mb"] for r in runs if "gpu_peak_mb" in r]
    cores = common.machine_info()["cpus_usable"]
    on_goal_machine = cores == GOAL_CORES and not on_gpu
    where = "" if on_goal_machine else f" (this machine: {cores} CPUs{', CUDA' if on_gpu else ''}; the goal is stated for 2 CPU cores)"
    goals = [] if args.quick or args.env else [
        {"goal": "make run within 10 min on 2 CPU cores", "met": total <= GOAL_SECONDS, "detail": f"{total / 60:.1f} min{where}"},
        {"goal": "peak memory within 4 GB", "met": peak_mb <= GOAL_MB, "detail": f"{peak_mb / 1024:.2f} GB (largest kedro process)"},
    ]
    rows = [[r["step"], f"{r['seconds']:.1f}", f"{r['max_rss_mb']:.0f}"] + ([f"{r.get('gpu_peak_mb', 0):.0f}"] if gpu_peaks else []) for r in runs]
    rows.append(["**total**", f"{total:.1f}", f"{peak_mb:.0f} (max)"] + ([f"{max(gpu_peaks):.0f} (max)"] if gpu_peaks else []))
    rec = common.record(
        NAME, "End-to-end run" + (f" ({args.env} configuration)" if args.env else " (make run)"),
        quick=args.quick, devices=["cuda" if on_gpu else "cpu"],
        settings={"targets": targets, "env": args.env or "base", "params": extra, "device": args.device},
        results={"total_seconds": total, "peak_rss_mb": peak_mb, "gpu_peak_mb": max(gpu_peaks) if gpu_peaks else None, "runs": runs},
        tables=[{"title": "kedro run per step" + (f" (with --params {extra})" if extra else ""), "columns": ["step", "seconds", "peak RSS MB"] + (["GPU MB (nvidia-smi)"] if gpu_peaks else []), "rows": rows}],
        goals=goals,
        notes=[
            "Peak RSS per command: wait4's ru_maxrss (the largest process of that command's tree); commands run one after another.",
            "GPU memory: nvidia-smi's memory.used sampled every 0.2 s, minus its value at the start (all processes on the GPU)."
            if on_gpu else "CPU run: no GPU memory to sample.",
            "Total includes each command's start-up (kedro, MLflow's SQLite store); timings as the Makefile's run target would take them.",
        ],
    )
    common.save(rec, common.out_dir(args), NAME + (f"-{args.env}" if args.env else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
