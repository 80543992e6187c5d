"""Nodes of the adapt pipeline: thin wrappers around ``core.adapt``."""

from __future__ import annotations

import logging

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd

from adaptpose_pipeline.core.adapt import AdaptConfig, HardRatio, adapt
from adaptpose_pipeline.core.generator import GeneratorConfig
from adaptpose_pipeline.core.lifter import LifterCheckpoint
from adaptpose_pipeline.core.runtime import resolve_device, seed_everything
from adaptpose_pipeline.datasets.checkpoints import EpochCheckpoints, fingerprint
from adaptpose_pipeline.pipelines.config import for_target
from adaptpose_pipeline.pipelines.ingest.nodes import target_config

log = logging.getLogger(__name__)


def adapt_config(adapt_params: dict) -> AdaptConfig:
    """The loop's configuration from the ``adapt`` parameters (keys named in errors)."""
    train, w, hr, sel, rep = (adapt_params[k] for k in ("train", "weights", "hard_ratio", "selection", "reprojection"))
    try:
        return AdaptConfig(
            **train,
            domain_discriminator=adapt_params["domain_discriminator"],
            kcs_2d=adapt_params["kcs_2d"],
            w_adv_2d=w["adv_2d"], w_adv_3d=w["adv_3d"], w_proj=w["proj"], w_range=w["range"], w_lambda=w["lambda"],
            proj_batch=rep["batch"], proj_inner_lr=rep["inner_lr"],
            hard_ratio_bone=HardRatio(**hr["bone"]), hard_ratio_camera=HardRatio(**hr["camera"]),
            selection=sel["enabled"], selection_a=sel["a"], selection_b=sel["b"], selection_bound=sel["bound"],
            keep_samples=adapt_params["keep_samples"],
        )
    except TypeError as exc:
        raise ValueError(f"adapt: unexpected or missing keys: {exc}") from exc


def generator_params(adapt_params: dict) -> dict:
    """The ``adapt.generator`` block, with YAML's ``off`` -> ``False`` turned back into
    ``"off"`` (``--params adapt.generator.bone_generation=off`` parses as a boolean)."""
    gen = dict(adapt_params["generator"])
    for key in ("bone_generation", "camera_generation"):
        if gen.get(key) is False:
            gen[key] = "off"
    return gen


def _log_epoch(epoch: int, record: dict) -> None:
    if mlflow.active_run() is not None:
        mlflow.log_metrics({f"adapt_{k}": v for k, v in record.items() if k != "epoch"}, step=epoch)


def adapt_lifter(
    source_train: dict,
    target_train: dict,
    lifter_baseline: dict,
    adapt_params: dict,
    ingest: dict,
    target: str,
    seed: int,
    device: str,
    checkpoints: dict,
    stage: str = "adapt",
) -> tuple[dict, dict, dict, dict, pd.DataFrame]:
    """Generate motions adversarially, select them, fine-tune the lifter (one loop).
    Saves an epoch checkpoint (``<checkpoints.dir>/<target>/<stage>.pt``) after every
    epoch; resumes from it with ``checkpoints.resume``."""
    params = for_target(adapt_params, target, "adapt")
    cfg = adapt_config(params)
    baseline = LifterCheckpoint.from_payload(lifter_baseline)
    gen_cfg = GeneratorConfig(frames=baseline.config.receptive_field, **generator_params(params))
    ingest_cfg = target_config(ingest, target)
    seed_everything(seed)
    dev = resolve_device(device)
    stamp = fingerprint(
        {"stage": "adapt", "params": params, "ingest": ingest_cfg, "seed": seed},
        {"source": source_train, "target": target_train, "baseline": {k: v.numpy() for k, v in baseline.state_dict.items()}},
        dev,
    )
    ckpt = EpochCheckpoints(checkpoints, target, stage, stamp)
    resume = ckpt.load()
    for record in (resume or {}).get("history", []):  # this run's MLflow curves start at epoch 0 too
        _log_epoch(record["epoch"], record)
    log.info("adapting a %d-frame lifter to %s on %s", gen_cfg.frames, target, dev)
    result = adapt(
        source_train, target_train, baseline, gen_cfg, cfg,
        ingest_cfg["normalisation"], bool(ingest_cfg.get("pad_to_square", False)), dev, seed,
        on_epoch=_log_epoch, resume=resume, on_checkpoint=ckpt.save,
    )
    info = {**baseline.info, "adapted_to": target, "epochs": cfg.epochs, "selection": "last epoch (no test-set selection)"}
    lifter = LifterCheckpoint(baseline.config, result.lifter, info).to_payload()
    generator = {"config": {**gen_cfg.__dict__}, "state_dict": result.generator}
    return generator, result.discriminators, lifter, result.samples, pd.DataFrame(result.history)


def select_samples(generated: dict) -> dict:
    """The synthetic 2D-3D pairs Eq. 14 kept, from the last epoch's generated motions.

    The loop applies the same mask at every step, where fine-tuning uses the kept pairs
    at once; this artifact is what it kept at the end, e.g. for export or inspection.
    """
    keep = np.asarray(generated["selected"], dtype=bool)
    out = {k: np.asarray(v)[keep] for k, v in generated.items() if k != "selected"}
    log.info("selection kept %d of %d generated motions of the last epoch", int(keep.sum()), len(keep))
    return out


def plot_adapt_curves(history: pd.DataFrame) -> plt.Figure:
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for col in [c for c in history.columns if c.startswith("g_") and c != "g_total"]:
        axes[0].plot(history["epoch"], history[col], marker="o", label=col)
    axes[0].set_title("generator losses")
    for col in ("d_2d", "d_3d", "lifter"):
        if col in history:
            axes[1].plot(history["epoch"], history[col], marker="o", label=col)
    axes[1].set_title("discriminators and lifter")
    axes[2].plot(history["epoch"], history["selection_rate"], marker="o", label="selection rate")
    axes[2].plot(history["epoch"], history["ratio_camera"] / history["ratio_camera"].max(), marker="o", label="median camera ratio (scaled)")
    axes[2].set_ylim(0, 1.05)
    axes[2].set_title("selection")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
