"""Nodes of the adapt pipeline: thin wrappers around ``core.adapt``."""

from __future__ import annotations

import logging

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd

from adaptpose_pipeline.core.adapt import AdaptConfig, adapt
from adaptpose_pipeline.core.generator import GeneratorConfig
from adaptpose_pipeline.core.guard import choose, label_free_scores
from adaptpose_pipeline.core.lifter import LifterCheckpoint
from adaptpose_pipeline.core.runtime import resolve_device, seed_everything
from adaptpose_pipeline.core.skeleton import H36M17
from adaptpose_pipeline.core.checkpoints import EpochCheckpoints, fingerprint
from adaptpose_pipeline.parameters import Adapt, AdaptGenerator, Guard, Proportions, check
from adaptpose_pipeline.pipelines.ingest.nodes import target_config

log = logging.getLogger(__name__)


def adapt_config(adapt_params: dict) -> AdaptConfig:
    """The loop's configuration from the ``adapt`` parameters (keys named in errors)."""
    return check(Adapt, adapt_params, "adapt").config()


def proportion_params(adapt_params: dict) -> dict:
    """``adapt.proportions`` as :class:`AdaptConfig` keywords (absent: off)."""
    return check(Proportions, adapt_params.get("proportions") or {}, "adapt.proportions").config_keywords()


def generator_params(adapt_params: dict) -> dict:
    """The ``adapt.generator`` block checked, with YAML's ``off`` -> ``False`` turned back
    into ``"off"`` (``--params adapt.generator.bone_generation=off`` parses as a boolean)."""
    return check(AdaptGenerator, adapt_params["generator"], "adapt.generator").model_dump(exclude_none=True)


def _epoch_logger(prefix: str):
    def log_epoch(epoch: int, record: dict) -> None:
        if mlflow.active_run() is not None:
            mlflow.log_metrics({f"{prefix}_{k}": v for k, v in record.items() if k != "epoch"}, step=epoch)

    return log_epoch


_log_epoch = _epoch_logger("adapt")
_log_control_epoch = _epoch_logger("control")


def _loop_setup(params: dict, lifter_baseline: dict, ingest: dict, target: str, seed: int, device: str):
    cfg = adapt_config(params)
    baseline = LifterCheckpoint.from_payload(lifter_baseline)
    gen_cfg = GeneratorConfig(frames=baseline.config.receptive_field, **generator_params(params))
    guard = guard_params(params)
    ingest_cfg = target_config(ingest, target)
    seed_everything(seed)
    return params, cfg, baseline, gen_cfg, guard, ingest_cfg, resolve_device(device)


def guard_params(params: dict) -> dict:
    """``adapt.guard`` (``parameters.Guard``; absent: off)."""
    block = params.get("guard")
    return (Guard.off() if block is None else check(Guard, block, "adapt.guard")).model_dump()


def _checkpointed_loop(
    kind: str, source_train: dict, target_train: dict, checkpoints: dict, target: str, stage: str, seed: int,
    params: dict, cfg, baseline: LifterCheckpoint, gen_cfg: GeneratorConfig, ingest_cfg: dict, dev, log_epoch, score=None,
):
    """``core.adapt.adapt`` (``kind``: ``adapt`` or ``control``) with its epoch checkpoint
    (``<checkpoints.dir>/<target>/<stage>.pt``, resumed with ``checkpoints.resume``) and
    ``log_epoch`` per epoch (a resumed run logs the saved epochs again)."""
    control = kind == "control"
    inputs = {"source": source_train, **({} if control else {"target": target_train})}  # the control never sees the target
    inputs["baseline"] = {k: v.numpy() for k, v in baseline.state_dict.items()}
    stamp = fingerprint({"stage": kind, "params": params, "ingest": ingest_cfg, "seed": seed}, inputs, dev)
    ckpt = EpochCheckpoints(checkpoints, target, stage, stamp)
    resume = ckpt.load()
    for record in (resume or {}).get("history", []):  # this run's MLflow curves start at epoch 0 too
        log_epoch(record["epoch"], record)
    return adapt(
        source_train, target_train, baseline, gen_cfg, cfg,
        ingest_cfg["normalisation"], bool(ingest_cfg.get("pad_to_square", False)), dev, seed,
        on_epoch=log_epoch, resume=resume, on_checkpoint=ckpt.save, control=control, score=score,
    )


def _scorer(config, source_validation: dict, target_train: dict, dev):
    """Label-free scores of a lifter state (the guard's numbers, ``core.guard``)."""
    def score(state: dict, retarget: dict | None) -> dict[str, float]:
        info = {} if retarget is None else {"retarget": retarget}
        return label_free_scores(LifterCheckpoint(config, state, info).model(dev), source_validation, target_train, dev)

    return score


def control_lifter(
    source_train: dict,
    source_validation: dict,
    target_train: dict,
    lifter_baseline: dict,
    adapt_params: dict,
    ingest: dict,
    target: str,
    seed: int,
    device: str,
    checkpoints: dict,
    stage: str = "control",
) -> tuple[dict, pd.DataFrame]:
    """The fair control: the baseline fine-tuned on source batches alone, with the same
    lifter steps, learning rates, source batches and seed as the adapted lifter (see
    ``core.adapt``). Its last epoch carries the guard's label-free scores."""
    params, cfg, baseline, gen_cfg, _, ingest_cfg, dev = _loop_setup(adapt_params, lifter_baseline, ingest, target, seed, device)
    log.info("fine-tuning the control lifter on source alone (%s)", dev)
    result = _checkpointed_loop(
        "control", source_train, target_train, checkpoints, target, stage, seed, params, cfg, baseline, gen_cfg, ingest_cfg, dev,
        _log_control_epoch,
    )
    last = LifterCheckpoint(baseline.config, result.lifter, {}).model(dev)
    scores = label_free_scores(last, source_validation, target_train, dev)
    history = pd.DataFrame(result.history)
    for k, v in scores.items():
        history.loc[history.index[-1], k] = v
    info = {**baseline.info, "control_for": target, "epochs": cfg.epochs, "scores": scores,
            "selection": "last epoch (source batches only, as many lifter steps as the adapted lifter)"}
    return LifterCheckpoint(baseline.config, result.lifter, info).to_payload(), history


def adapt_lifter(
    source_train: dict,
    source_validation: dict,
    target_train: dict,
    lifter_baseline: dict,
    lifter_control: dict,
    adapt_params: dict,
    ingest: dict,
    target: str,
    seed: int,
    device: str,
    checkpoints: dict,
    stage: str = "adapt",
) -> tuple[dict, dict, dict, dict, pd.DataFrame]:
    """Generate motions adversarially, select them, fine-tune the lifter; then the guard
    (``adapt.guard``) keeps the best adapted epoch or falls back to ``lifter_control``
    (``core.guard``). Saves an epoch checkpoint (``<checkpoints.dir>/<target>/<stage>.pt``)
    after every epoch; resumes from it with ``checkpoints.resume``."""
    params, cfg, baseline, gen_cfg, guard, ingest_cfg, dev = _loop_setup(adapt_params, lifter_baseline, ingest, target, seed, device)
    log.info("adapting a %d-frame lifter to %s on %s", gen_cfg.frames, target, dev)
    score = _scorer(baseline.config, source_validation, target_train, dev) if guard["enabled"] else None
    result = _checkpointed_loop(
        "adapt", source_train, target_train, checkpoints, target, stage, seed, params, cfg, baseline, gen_cfg, ingest_cfg, dev,
        _log_epoch, score,
    )
    info = {**baseline.info, "adapted_to": target, "epochs": cfg.epochs}
    if result.proportions is not None:
        info["proportions"] = proportions_by_bone(result.proportions)
        log.info("target proportions estimated from 2D (target/source bone length): %s", info["proportions"])
        if mlflow.active_run() is not None:
            mlflow.log_metrics({f"proportion_{k}": v for k, v in info["proportions"].items()})
    if result.retarget_check is not None:
        info["retarget_check"] = result.retarget_check
        if mlflow.active_run() is not None:
            mlflow.log_metrics({f"retarget_reprojection_{k}": float(v) for k, v in result.retarget_check.items()})
    state = result.lifter
    if guard["enabled"]:
        control = LifterCheckpoint.from_payload(lifter_control)
        scored = [r for r in result.history if r["epoch"] >= cfg.warmup_epochs]
        decision = choose(scored, control.info.get("scores", {}), float(guard["tolerance_mm"]), float(guard["min_reprojection_gain"]))
        state = control.state_dict if decision["fallback"] else result.epoch_lifters[decision["selected_epoch"]]
        info.update(guard=decision, selection="label-free guard (core.guard)")
        log.info("guard: %s (%s)", "fallback to the control" if decision["fallback"] else f"epoch {decision['selected_epoch']}", decision["reason"])
        if mlflow.active_run() is not None:
            mlflow.log_metrics({"guard_fallback": float(decision["fallback"]), "guard_selected_epoch": float(decision["selected_epoch"] if decision["selected_epoch"] is not None else -1)})
    else:
        info.update(guard={"selected_epoch": cfg.epochs - 1, "fallback": False, "reason": "guard off: last epoch"}, selection="last epoch (no test-set selection)")
    if result.retarget is not None and not info["guard"]["fallback"]:
        # the adapted network works in the source's skeleton; the checkpoint carries the
        # estimate, and LifterCheckpoint.model() applies it (core.lifter.Retargeted)
        info["retarget"] = result.retarget
    lifter = LifterCheckpoint(baseline.config, state, info).to_payload()
    generator = {"config": {**gen_cfg.__dict__}, "state_dict": result.generator}
    return generator, result.discriminators, lifter, result.samples, pd.DataFrame(result.history)


def proportions_by_bone(scale) -> dict[str, float]:
    """``(16,)`` bone-length ratios -> ``{child joint name: ratio}`` (H36M-17 bones)."""
    return {H36M17.joints[c]: round(float(v), 4) for c, v in zip(H36M17.children, scale)}


def compare_with_references(metrics: dict, metrics_baseline: dict, metrics_control: dict, lifter_adapted: dict) -> dict:
    """The adapted lifter's metrics file plus its gains against the baseline and the
    control (``gain_vs_baseline`` / ``gain_vs_control``: reference minus adapted, per
    overall metric; positive is better for errors) and the guard's decision
    (``selected_epoch``, ``fallback``)."""
    guard = (lifter_adapted.get("info") or {}).get("guard") or {}
    out = dict(metrics)
    for name, ref in (("baseline", metrics_baseline), ("control", metrics_control)):
        out[f"gain_vs_{name}"] = {k: float(ref["overall"][k] - v) for k, v in metrics["overall"].items() if k in ref["overall"]}
        mpjpe_ref = ref["overall"].get("mpjpe")
        if mpjpe_ref:
            out[f"gain_vs_{name}"]["mpjpe_percent"] = float(100.0 * (mpjpe_ref - metrics["overall"]["mpjpe"]) / mpjpe_ref)
    out["selected_epoch"] = guard.get("selected_epoch")
    out["fallback"] = bool(guard.get("fallback", False))
    out["guard"] = guard
    if mlflow.active_run() is not None:
        mlflow.log_metrics({f"gain_vs_{n}_{k}": v for n in ("baseline", "control") for k, v in out[f"gain_vs_{n}"].items()})
    log.info(
        "adapted MPJPE %.1f mm: %.1f%% below the baseline, %.1f%% below the control%s",
        metrics["overall"]["mpjpe"], out["gain_vs_baseline"].get("mpjpe_percent", float("nan")),
        out["gain_vs_control"].get("mpjpe_percent", float("nan")), " (guard fell back to the control)" if out["fallback"] else "",
    )
    return out


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
    fig, axes = plt.subplots(1, 5, figsize=(25, 4))
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
    # Do the fakes approach the target? Frechet distance of normalised 2D to the target's
    # (generated vs the source's own), and the generated camera elevation.
    for col, label in (("fd_generated_target", "generated vs target"), ("fd_source_target", "source vs target")):
        if col in history:
            axes[3].plot(history["epoch"], history[col], marker="o", label=f"Fréchet distance, {label}")
    axes[3].set_title("distance to the target's 2D")
    if "gen_elevation_deg" in history:
        twin = axes[3].twinx()
        twin.plot(history["epoch"], history["gen_elevation_deg"], color="grey", ls="--", marker=".", label="generated elevation (deg)")
        twin.plot(history["epoch"], history["source_elevation_deg"], color="black", ls=":", marker=".", label="source elevation (deg)")
        twin.set_ylabel("deg")
        twin.legend(fontsize=8, loc="upper right")
    # What the guard reads (core/guard.py): the source pose error and the target 2D reprojection.
    for col, label in (("source_val_pose_mpjpe_mm", "source val, pose only (mm)"), ("source_val_mpjpe_mm", "source val (mm)")):
        if col in history:
            axes[4].plot(history["epoch"], history[col], marker="o", label=label)
    axes[4].set_title("guard scores (no target 3D)")
    if "target_reprojection" in history:
        twin = axes[4].twinx()
        twin.plot(history["epoch"], history["target_reprojection"], color="grey", ls="--", marker=".", label="target 2D reprojection")
        twin.legend(fontsize=8, loc="upper right")
    for ax in axes:
        ax.set_xlabel("epoch")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="upper left" if ax in (axes[3], axes[4]) else "best")
    fig.tight_layout()
    return fig
