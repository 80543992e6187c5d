"""Nodes of the pretrain pipeline."""

from __future__ import annotations

import logging

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mlflow
import pandas as pd

from adaptpose_pipeline.core.lifter import LifterCheckpoint, LifterConfig
from adaptpose_pipeline.core.runtime import resolve_device, seed_everything
from adaptpose_pipeline.core.training import TrainConfig, train_lifter
from adaptpose_pipeline.core.checkpoints import EpochCheckpoints, fingerprint
from adaptpose_pipeline.parameters import Pretrain, check

log = logging.getLogger(__name__)


def _log_epoch(epoch: int, record: dict) -> None:
    if mlflow.active_run() is not None:
        mlflow.log_metrics({f"pretrain_{k}": v for k, v in record.items() if k != "epoch"}, step=epoch)


def pretrain_configs(params: dict) -> tuple[LifterConfig, TrainConfig]:
    """The lifter and training configurations from the ``pretrain`` block
    (``parameters.Pretrain``): ``lifter.receptive_field`` (1 or 27, 81, ...) picks
    VideoPose3D's filter widths; an explicit ``lifter.filter_widths`` list wins over it."""
    block = check(Pretrain, params, "pretrain")
    return block.lifter.config(), block.train


def pretrain_lifter(
    source_train: dict,
    source_validation: dict,
    pretrain: dict,
    target: str,
    seed: int,
    device: str,
    checkpoints: dict,
    stage: str = "pretrain",
) -> tuple[dict, pd.DataFrame]:
    """Train the baseline lifter on the source; select on the source validation split.
    Saves an epoch checkpoint (``<checkpoints.dir>/<target>/<stage>.pt``) after every
    epoch; resumes from it with ``checkpoints.resume``. ``pretrain``: the block as
    resolved for ``target`` (``pipelines.config``)."""
    lifter_cfg, train_cfg = pretrain_configs(pretrain)
    seed_everything(seed)
    dev = resolve_device(device)
    stamp = fingerprint({"stage": "pretrain", "params": pretrain, "seed": seed}, {"train": source_train, "validation": source_validation}, dev)
    ckpt = EpochCheckpoints(checkpoints, target, stage, stamp)
    resume = ckpt.load()
    for record in (resume or {}).get("history", []):  # this run's MLflow curves start at epoch 0 too
        _log_epoch(record["epoch"], record)
    log.info("pretraining a %d-frame lifter on %d source frames (%s)", lifter_cfg.receptive_field, int(source_train["valid"].sum()), dev)
    state, history = train_lifter(
        source_train, source_validation, lifter_cfg, train_cfg, dev, seed,
        on_epoch=_log_epoch, resume=resume, on_checkpoint=ckpt.save,
    )
    best = min(history, key=lambda r: r["val_mpjpe_mm"])
    info = {
        "target": target,
        "selected_epoch": best["epoch"],
        "val_mpjpe_mm": best["val_mpjpe_mm"],
        "selection": "lowest MPJPE on the source validation split",
        "train": dict(pretrain["train"]),
    }
    if mlflow.active_run() is not None:
        mlflow.log_metric("pretrain_best_val_mpjpe_mm", best["val_mpjpe_mm"])
    return LifterCheckpoint(lifter_cfg, state, info).to_payload(), pd.DataFrame(history)


def plot_pretrain_curves(history: pd.DataFrame) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(history["epoch"], history["train_loss_mm"], marker="o", label="train loss (MPJPE, mm)")
    ax.plot(history["epoch"], history["val_mpjpe_mm"], marker="o", label="source validation MPJPE (mm)")
    best = history.loc[history["val_mpjpe_mm"].idxmin()]
    ax.axvline(best["epoch"], color="grey", ls="--", label=f"selected epoch {int(best['epoch'])}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mm")
    ax.legend()
    ax.set_title("Baseline lifter pretraining")
    fig.tight_layout()
    return fig
