"""Epoch time of pretraining and adaptation with 1 vs 2 processes (data-parallel, CPU).

The loops are the pipeline's own, ``core.training.train_lifter`` and
``core.adapt.adapt``, with the base configuration's sizes (``pretrain``, ``adapt`` for
3DHP; proportions off, no warm-up so every epoch has its lifter steps; adaptation starts
from the lifter the pretraining just trained), on the source and target model-input arrays of the stand-ins (``kedro run --pipeline=standin`` then
``ingest`` for 3DHP, in a throw-away project copy). Each configuration
runs in fresh processes started as ``torchrun`` starts them
(``core.distributed.run_local``), gloo between them:

- 1 process, 1 thread (the reference);
- 2 processes, 1 thread each (DDP: each takes half the global batch);
- 1 process, 2 threads (the same two cores used by torch's intra-op threads instead).

The time of an epoch is measured from the end of the first epoch to the end of the
second (the first carries set-up: building, first-touch allocation); with the same
global batch, 2 processes take the same number of optimiser steps per epoch.

``python -m benchmarks.ddp_scaling [--env paper] [--quick]``
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch

from adaptpose_pipeline.core import distributed
from adaptpose_pipeline.core.adapt import adapt
from adaptpose_pipeline.core.generator import GeneratorConfig
from adaptpose_pipeline.core.lifter import LifterCheckpoint
from adaptpose_pipeline.core.training import TrainConfig, train_lifter
from adaptpose_pipeline.pipelines.adapt.nodes import adapt_config, generator_params
from adaptpose_pipeline.pipelines.config import resolve_targets
from adaptpose_pipeline.pipelines.pretrain.nodes import pretrain_configs
from benchmarks import common

NAME = "ddp_scaling"
TARGET = "3dhp"
RUNS = (("1 process, 1 thread", 1, 1), ("2 processes, 1 thread each", 2, 1), ("1 process, 2 threads", 1, 2))


def model_inputs(scale: float) -> dict[str, dict]:
    """The 3DHP chain's model-input arrays (``source_train``, ``source_validation``,
    ``target_train``) from stand-ins at ``scale``, made by the pipelines in a throw-away
    project copy."""
    with common.TempProject() as project:
        project.kedro("--pipeline=standin", params=f"standin.scale={scale:g}")
        project.kedro("--pipeline=ingest", params=f"target={TARGET}")
        out = {}
        for role in ("source_train", "source_validation", "target_train"):
            _, path = project.newest(f"data/05_model_input/{TARGET}/{role}.npz")
            with np.load(path) as npz:
                out[role] = {k: npz[k] for k in npz.files}
        return out


def configs(env: str | None, quick: bool) -> dict:
    """The loops' configurations for the benchmark's target (the pipelines' own parsers)."""
    params = resolve_targets({**common.load_parameters(env), "target": TARGET})
    lifter_cfg, train_cfg = pretrain_configs(params["pretrain"])
    cfg = adapt_config(params["adapt"])
    gen = generator_params(params["adapt"])
    train_cfg = dataclasses.replace(train_cfg, epochs=2)
    cfg = dataclasses.replace(cfg, epochs=2, warmup_epochs=0, feedback_warmup_epochs=0, proportions="off")
    if quick:
        lifter_cfg = dataclasses.replace(lifter_cfg, channels=32)
        train_cfg = dataclasses.replace(train_cfg, batch_size=64, samples_per_epoch=512)
        cfg = dataclasses.replace(cfg, batch_size=32, samples_per_epoch=128, pool_size=64, keep_samples=16)
        gen["hidden"] = 32
    return {"lifter": lifter_cfg, "train": train_cfg, "adapt": cfg, "generator": gen,
            "normalisation": params["ingest"]["normalisation"], "scale": 0.25 if quick else 0.5}


def epoch_times(settings: dict, threads: int) -> dict:
    """One rank's part: pretraining, then adaptation; seconds of each epoch (end to end)."""
    torch.set_num_threads(threads)
    cpu = torch.device("cpu")
    norm, arrays = settings["normalisation"], settings["arrays"]
    source, validation, target = arrays["source_train"], arrays["source_validation"], arrays["target_train"]
    lifter_cfg = settings["lifter"]
    out = {}
    for loop in ("pretrain", "adapt"):
        ends = [time.perf_counter()]
        on_epoch = lambda e, r: ends.append(time.perf_counter())  # noqa: E731
        if loop == "pretrain":
            state, _ = train_lifter(source, validation, lifter_cfg, settings["train"], cpu, 0, on_epoch, progress=False)
        else:
            baseline = LifterCheckpoint(lifter_cfg, state)  # adaptation starts from the pretrained lifter, as in the chain
            gen_cfg = GeneratorConfig(frames=lifter_cfg.receptive_field, **settings["generator"])
            adapt(source, target, baseline, gen_cfg, settings["adapt"], norm, False, cpu, 0, on_epoch, progress=False)
        out[loop] = np.diff(ends).tolist()
    return {"world": distributed.world().size, "threads": torch.get_num_threads(), **out}


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__)
    p.add_argument("--env", default=None, help="configuration environment (paper: the paper's sizes)")
    args = p.parse_args(argv)
    settings = configs(args.env, args.quick)
    settings["arrays"] = model_inputs(settings["scale"])
    runs, rows = [], []
    for label, world, threads in RUNS:
        print(f"{label} ...", flush=True)
        rank0 = distributed.run_local(epoch_times, world, settings, threads)[0]
        runs.append({"label": label, "processes": world, **rank0})
    ref = {loop: runs[0][loop][1] for loop in ("pretrain", "adapt")}
    for run in runs:
        run["speedup"] = {loop: ref[loop] / run[loop][1] for loop in ("pretrain", "adapt")}
        rows.append([run["label"], f"{run['pretrain'][1]:.2f}", f"{run['speedup']['pretrain']:.2f}x",
                     f"{run['adapt'][1]:.2f}", f"{run['speedup']['adapt']:.2f}x"])
    train, cfg = settings["train"], settings["adapt"]
    rec = common.record(
        NAME, "Data-parallel scaling (DDP, CPU)" + (f" ({args.env} configuration)" if args.env else ""),
        quick=args.quick, devices=["cpu"],
        settings={
            "env": args.env or "base", "target": TARGET, "backend": "gloo",
            "pretrain": {"channels": settings["lifter"].channels, "receptive_field": settings["lifter"].receptive_field,
                         "batch_size": train.batch_size, "samples_per_epoch": train.samples_per_epoch},
            "adapt": {"batch_size": cfg.batch_size, "samples_per_epoch": cfg.samples_per_epoch, "schedule": cfg.schedule,
                      "d_every": cfg.d_every, "hidden": settings["generator"].get("hidden")},
            "standin_scale": settings["scale"],
            "source_frames": int(settings["arrays"]["source_train"]["valid"].sum()),
            "target_frames": int(settings["arrays"]["target_train"]["valid"].sum()),
        },
        results={"runs": runs},
        tables=[{
            "columns": ["configuration", "pretrain s/epoch", "pretrain speed-up", "adapt s/epoch", "adapt speed-up"],
            "rows": rows,
        }],
        notes=[
            "An epoch's seconds: end of epoch 0 to end of epoch 1 on rank 0 (same global batch and steps in every row).",
            "Processes are started as torchrun starts them (core.distributed.run_local); gradients averaged over gloo.",
            "On a shared 2-core machine the rows are single measurements: other load shifts them by several percent.",
        ],
    )
    common.save(rec, common.out_dir(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
