"""Lifter pretraining: random-stride windows, the training loop, sequence prediction.

Data come as model-input arrays (see ``datasets.model_input``): ``pose_2d (N, 17, 2)``,
``pose_3d (N, 17, 3)`` root-relative, ``valid (N,)``, ``seq_start (S,)``,
``seq_length (S,)``. Windows never cross a sequence: frames past either end repeat the
edge frame (replication padding).

Random-stride downsampling (AdaptPose §4): a training window around centre ``t`` takes
frames ``t + r*k`` for ``k = -RF//2 .. RF//2``, with ``r ~ U{stride_min..stride_max}``
drawn per window, so a 50 Hz source also looks like slower or faster targets.
``stride_min = stride_max = 1`` is plain VideoPose3D training.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Annotated

import numpy as np
import torch
from pydantic import Field, Strict
from pydantic.dataclasses import dataclass as pydantic_dataclass
from tqdm.auto import tqdm

from adaptpose_pipeline.core.lifter import LifterConfig, TemporalModel, build_models, lift_sequence
from adaptpose_pipeline.core.losses import mpjpe_loss
from adaptpose_pipeline.core.runtime import rng_states, set_rng_states
from adaptpose_pipeline.core.schema import FORBID_EXTRA, Bool, Float, PositiveFloat, PositiveInt, named
from adaptpose_pipeline.core.skeleton import H36M17, flip_left_right


@named("pretrain.train")
@pydantic_dataclass(frozen=True, config=FORBID_EXTRA)
class TrainConfig:
    """Baseline pretraining (``pretrain.train`` in parameters)."""

    epochs: PositiveInt = 80
    batch_size: PositiveInt = 1024
    lr: PositiveFloat = 1e-3
    lr_decay: Annotated[float, Strict(), Field(gt=0, le=1)] = 0.95  # per epoch
    stride_min: PositiveInt = 2  # <= stride_max
    stride_max: PositiveInt = 5
    flip_augment: Bool = True
    bn_momentum_start: Float = 0.1
    bn_momentum_end: Float = 0.001
    samples_per_epoch: PositiveInt | None = None  # None: every valid frame once

    def __post_init__(self) -> None:
        if not self.stride_min <= self.stride_max:
            raise ValueError(
                f"pretrain.train.stride_min: expected <= stride_max = {self.stride_max}, got {self.stride_min}"
            )


def check_arrays(arrays: dict, name: str, need_3d: bool = True) -> None:
    """Raise if model-input arrays miss keys or disagree in length."""
    keys = ["pose_2d", "valid", "seq_start", "seq_length"] + (["pose_3d"] if need_3d else [])
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise KeyError(f"{name}: model-input arrays lack {missing}")
    N = len(arrays["pose_2d"])
    if arrays["pose_2d"].shape[1:] != (H36M17.num_joints, 2):
        raise ValueError(f"{name}: pose_2d must be (N, 17, 2), got {arrays['pose_2d'].shape}")
    if need_3d and arrays["pose_3d"].shape != (N, H36M17.num_joints, 3):
        raise ValueError(f"{name}: pose_3d must be ({N}, 17, 3), got {arrays['pose_3d'].shape}")
    if int(np.sum(arrays["seq_length"])) != N or len(arrays["valid"]) != N:
        raise ValueError(f"{name}: seq_length sums to {int(np.sum(arrays['seq_length']))} and valid has {len(arrays['valid'])} rows, but pose_2d has {N}")
    if not arrays["valid"].any():
        raise ValueError(f"{name}: no valid frames")


def frame_bounds(seq_start: np.ndarray, seq_length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the first and one-past-last row of its sequence ``(N,)`` each."""
    starts = np.repeat(seq_start, seq_length)
    return starts, starts + np.repeat(seq_length, seq_length)


def window_indices(
    centres: np.ndarray, first: np.ndarray, end: np.ndarray, receptive_field: int, strides: np.ndarray
) -> np.ndarray:
    """Rows of each window ``(B, RF)``: ``centre + stride*k``, clipped into
    ``[first, end - 1]`` of the centre's sequence (edge frames repeat)."""
    half = receptive_field // 2
    offsets = np.arange(-half, half + 1)[None, :] * strides[:, None]
    return np.clip(centres[:, None] + offsets, first[:, None], end[:, None] - 1)


class WindowSampler:
    """Draws random-stride training windows from model-input arrays."""

    def __init__(self, arrays: dict, receptive_field: int, cfg: TrainConfig, seed: int):
        self.pose_2d = torch.as_tensor(arrays["pose_2d"], dtype=torch.float32)
        self.pose_3d = torch.as_tensor(arrays["pose_3d"], dtype=torch.float32)
        self.first, self.end = frame_bounds(arrays["seq_start"], arrays["seq_length"])
        self.centres = np.flatnonzero(arrays["valid"])
        self.rf, self.cfg = receptive_field, cfg
        self.rng = np.random.default_rng(seed)

    def samples_per_epoch(self) -> int:
        return self.cfg.samples_per_epoch or len(self.centres)

    def batches_per_epoch(self) -> int:
        return -(-self.samples_per_epoch() // self.cfg.batch_size)

    def epoch(self):
        """Yield ``(pose_2d (B, RF, 17, 2), pose_3d (B, 17, 3))`` batches for one epoch."""
        n = self.samples_per_epoch()
        order = self.rng.permutation(len(self.centres))
        picks = self.centres[np.resize(order, n)]
        for s in range(0, n, self.cfg.batch_size):
            c = picks[s : s + self.cfg.batch_size]
            strides = self.rng.integers(self.cfg.stride_min, self.cfg.stride_max + 1, len(c))
            idx = window_indices(c, self.first[c], self.end[c], self.rf, strides)
            x2d, x3d = self.pose_2d[torch.as_tensor(idx)], self.pose_3d[torch.as_tensor(c)]
            if self.cfg.flip_augment:
                flip = torch.as_tensor(self.rng.random(len(c)) < 0.5)
                x2d = torch.where(flip[:, None, None, None], flip_left_right(x2d), x2d)
                x3d = torch.where(flip[:, None, None], flip_left_right(x3d), x3d)
            yield x2d, x3d


@torch.no_grad()
def predict_sequences(model: TemporalModel, arrays: dict, device: torch.device) -> np.ndarray:
    """Lift every sequence of ``arrays`` whole: ``(N, 17, 3)`` root-relative."""
    model.eval()
    pose_2d = torch.as_tensor(arrays["pose_2d"], dtype=torch.float32, device=device)
    out = [
        lift_sequence(model, pose_2d[s : s + n])
        for s, n in zip(arrays["seq_start"].tolist(), arrays["seq_length"].tolist())
    ]
    return torch.cat(out).cpu().numpy()


def validation_mpjpe_mm(model: TemporalModel, arrays: dict, device: torch.device) -> float:
    pred = predict_sequences(model, arrays, device)
    valid = arrays["valid"]
    err = np.linalg.norm(pred[valid] - arrays["pose_3d"][valid], axis=-1)
    return float(err.mean() * 1000.0)


def train_lifter(
    train: dict,
    validation: dict,
    lifter_cfg: LifterConfig,
    cfg: TrainConfig,
    device: torch.device,
    seed: int,
    on_epoch: Callable[[int, dict], None] | None = None,
    progress: bool = True,
    resume: dict | None = None,
    on_checkpoint: Callable[[dict], None] | None = None,
) -> tuple[dict, list[dict]]:
    """Train on ``train``; keep the weights with the lowest validation MPJPE.

    Returns ``(best state dict (CPU), history)``; ``history[e]`` holds the epoch's
    ``train_loss_mm``, ``val_mpjpe_mm`` and ``lr``. ``on_epoch(epoch, record)`` is
    called after each epoch (e.g. to log to MLflow).

    ``on_checkpoint(state)`` receives the whole training state after each epoch
    (weights, optimiser, sampler and torch random states, best so far, history);
    passing such a state back as ``resume`` continues after its epoch and ends with
    the same weights and history as an uninterrupted run.
    """
    check_arrays(train, "source_train")
    check_arrays(validation, "source_validation")
    torch.manual_seed(seed)
    model_train, model_eval = build_models(lifter_cfg)
    model_train.to(device)
    model_eval.to(device)
    optimiser = torch.optim.Adam(model_train.parameters(), lr=cfg.lr, amsgrad=True)
    sampler = WindowSampler(train, lifter_cfg.receptive_field, cfg, seed)
    best, best_err, history, start = None, float("inf"), [], 0
    if resume is not None:
        resume = copy.deepcopy(resume)  # training updates loaded tensors in place
        model_train.load_state_dict(resume["model"])
        optimiser.load_state_dict(resume["optimiser"])
        sampler.rng.bit_generator.state = resume["sampler_rng"]
        set_rng_states(resume["torch_rng"], device)
        best, best_err, history = resume["best"], resume["best_err"], list(resume["history"])
        start = resume["epoch"] + 1
    epochs = tqdm(range(start, cfg.epochs), desc="pretrain", unit="epoch", disable=not progress, initial=start, total=cfg.epochs)
    for epoch in epochs:
        lr = cfg.lr * cfg.lr_decay**epoch
        for group in optimiser.param_groups:
            group["lr"] = lr
        frac = epoch / max(cfg.epochs - 1, 1)
        model_train.set_bn_momentum(cfg.bn_momentum_start * (cfg.bn_momentum_end / cfg.bn_momentum_start) ** frac)
        model_train.train()
        total, count = 0.0, 0
        # per-batch progress inside the epoch bar (a paper-size epoch takes minutes),
        # redrawn at most once a second
        batches = tqdm(
            sampler.epoch(), desc=f"epoch {epoch}", unit="batch", total=sampler.batches_per_epoch(), leave=False,
            disable=not progress, mininterval=1.0,
        )
        for x2d, x3d in batches:
            x2d, x3d = x2d.to(device), x3d.to(device)
            loss = mpjpe_loss(model_train(x2d)[:, 0], x3d)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += loss.item() * len(x2d)
            count += len(x2d)
        model_eval.load_state_dict(model_train.state_dict())
        val = validation_mpjpe_mm(model_eval, validation, device)
        record = {"epoch": epoch, "train_loss_mm": total / count * 1000.0, "val_mpjpe_mm": val, "lr": lr}
        history.append(record)
        if val < best_err:
            best_err, best = val, cpu_state(model_train)
        epochs.set_postfix(train_mm=f"{record['train_loss_mm']:.1f}", val_mm=f"{val:.1f}")
        if on_epoch is not None:
            on_epoch(epoch, record)
        if on_checkpoint is not None:
            on_checkpoint({
                "epoch": epoch,
                "model": cpu_state(model_train),
                "optimiser": copy.deepcopy(optimiser.state_dict()),
                "sampler_rng": sampler.rng.bit_generator.state,
                "torch_rng": rng_states(device),
                "best": best,
                "best_err": best_err,
                "history": copy.deepcopy(history),
            })
    return best, history


def cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
