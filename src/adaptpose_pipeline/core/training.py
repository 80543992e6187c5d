"""Lifter pretraining: the training loop and sequence prediction.

Data come as model-input arrays (see ``datasets.model_input``): ``pose_2d (N, 17, 2)``,
``pose_3d (N, 17, 3)`` root-relative, ``valid (N,)``, ``seq_start (S,)``,
``seq_length (S,)``. Training windows are random-stride windows (AdaptPose §4; see
``core.windows``): ``r ~ U{stride_min..stride_max}`` per window, so a 50 Hz source also
looks like slower or faster targets; ``stride_min = stride_max = 1`` is plain
VideoPose3D training. The epoch and checkpoint skeleton is ``core.loop``'s.

Several processes (``torchrun``, ``core.distributed``): the lifter is wrapped in
``DistributedDataParallel``, which averages its gradients during ``backward`` (a plain
forward-backward-step loop, what DDP is made for); each rank draws ``batch_size / world``
windows per step from its own sampler (seeded with ``(seed, rank)``), an epoch's
``samples_per_epoch`` split evenly, so every rank takes the same number of steps.
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

from adaptpose_pipeline.core import distributed
from adaptpose_pipeline.core.lifter import LifterConfig, TemporalModel, build_models, lift_sequence
from adaptpose_pipeline.core.loop import cpu_state, run_epochs
from adaptpose_pipeline.core.metrics import joint_errors
from adaptpose_pipeline.core.losses import mpjpe_loss
from adaptpose_pipeline.core.runtime import rng_states, set_rng_states
from adaptpose_pipeline.core.schema import FORBID_EXTRA, Bool, Float, PositiveFloat, PositiveInt, named
from adaptpose_pipeline.core.skeleton import flip_left_right
from adaptpose_pipeline.core.windows import Windows, check_arrays


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


class WindowSampler:
    """Random-stride training windows, one epoch at a time: every valid centre once per
    ``samples_per_epoch`` (in a random order), left-right flipped at random.

    In a world of ``W`` processes this is one rank's sampler: ``batch_size / W``
    windows per batch, ``samples_per_epoch / W`` (rounded up) per epoch, its own order
    and draws (``seed`` is the rank's); so each rank covers its own random share of the
    centres, and shares of different ranks may overlap."""

    def __init__(self, arrays: dict, receptive_field: int, cfg: TrainConfig, seed: int, world_size: int = 1):
        self.windows = Windows(arrays, receptive_field, (cfg.stride_min, cfg.stride_max), "source_train")
        self.cfg, self.world_size = cfg, world_size
        self.batch = distributed.local_batch(cfg.batch_size, world_size, "pretrain.train.batch_size")
        self.rng = np.random.default_rng(seed)

    def samples_per_epoch(self) -> int:
        """This rank's windows per epoch."""
        return -(-(self.cfg.samples_per_epoch or len(self.windows.centres)) // self.world_size)

    def batches_per_epoch(self) -> int:
        return -(-self.samples_per_epoch() // self.batch)

    def epoch(self):
        """Yield ``(pose_2d (B, RF, 17, 2), pose_3d (B, 17, 3))`` batches for one epoch."""
        w = self.windows
        n = self.samples_per_epoch()
        order = self.rng.permutation(len(w.centres))
        picks = w.centres[np.resize(order, n)]
        for s in range(0, n, self.batch):
            c = picks[s : s + self.batch]
            x2d, x3d = w.pose_2d[w.rows(c, self.rng)], w.pose_3d[torch.as_tensor(c)]
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
    """MPJPE in mm over the valid frames of ``arrays`` (``core.metrics``' MPJPE: the
    lifter's output and the model-input 3D both have their root at zero)."""
    pred = predict_sequences(model, arrays, device)
    valid = arrays["valid"]
    return float(joint_errors(pred[valid], arrays["pose_3d"][valid]).mean() * 1000.0)


class _Pretraining:
    """The loop state of :func:`train_lifter` (see ``core.loop``). ``net`` is the
    training model as it is called: in ``DistributedDataParallel`` in a world of
    several, ``model_train`` itself in a world of one."""

    rank_keys = ("sampler_rng", "torch_rng")

    def __init__(
        self, train: dict, validation: dict, lifter_cfg: LifterConfig, cfg: TrainConfig, device: torch.device, seed: int,
        progress: bool = True,
    ):
        world = distributed.world()
        rank_seed = distributed.rank_seed(seed, world.rank)
        sampler = WindowSampler(train, lifter_cfg.receptive_field, cfg, rank_seed, world.size)  # checks the batch first
        torch.manual_seed(seed)  # the same weights on every rank
        self.model_train, self.model_eval = (m.to(device) for m in build_models(lifter_cfg))
        if world.rank:
            torch.manual_seed(rank_seed)  # the rank's own dropout
        self.net = distributed.wrap(self.model_train, device)
        self.optimiser = torch.optim.Adam(self.model_train.parameters(), lr=cfg.lr, amsgrad=True)
        self.sampler = sampler
        self.validation, self.cfg, self.device, self.progress = validation, cfg, device, progress
        self.best, self.best_err, self.history = None, float("inf"), []

    def epoch(self, epoch: int) -> dict:
        cfg, model = self.cfg, self.model_train
        lr = cfg.lr * cfg.lr_decay**epoch
        for group in self.optimiser.param_groups:
            group["lr"] = lr
        frac = epoch / max(cfg.epochs - 1, 1)
        model.set_bn_momentum(cfg.bn_momentum_start * (cfg.bn_momentum_end / cfg.bn_momentum_start) ** frac)
        model.train()
        total, count = 0.0, 0
        # per-batch progress inside the epoch bar (a paper-size epoch takes minutes),
        # redrawn at most once a second
        batches = tqdm(
            self.sampler.epoch(), desc=f"epoch {epoch}", unit="batch", total=self.sampler.batches_per_epoch(), leave=False,
            disable=not self.progress, mininterval=1.0,
        )
        for x2d, x3d in batches:
            x2d, x3d = x2d.to(self.device), x3d.to(self.device)
            loss = mpjpe_loss(self.net(x2d)[:, 0], x3d)
            self.optimiser.zero_grad(set_to_none=True)
            loss.backward()
            self.optimiser.step()
            total += loss.item() * len(x2d)
            count += len(x2d)
        distributed.broadcast_state(model)  # DDP broadcasts rank 0's BatchNorm statistics before each forward
        self.model_eval.load_state_dict(model.state_dict())
        val = validation_mpjpe_mm(self.model_eval, self.validation, self.device)
        if val < self.best_err:
            self.best_err, self.best = val, cpu_state(model)
        return {"epoch": epoch, "train_loss_mm": total / count * 1000.0, "val_mpjpe_mm": val, "lr": lr}

    def postfix(self, record: dict) -> dict[str, str]:
        return {"train_mm": f"{record['train_loss_mm']:.1f}", "val_mm": f"{record['val_mpjpe_mm']:.1f}"}

    def state_dict(self, epoch: int) -> dict:
        return {
            "epoch": epoch,
            "model": cpu_state(self.model_train),
            "optimiser": copy.deepcopy(self.optimiser.state_dict()),
            "sampler_rng": self.sampler.rng.bit_generator.state,
            "torch_rng": rng_states(self.device),
            "best": self.best,
            "best_err": self.best_err,
            "history": copy.deepcopy(self.history),
        }

    def load_state_dict(self, state: dict) -> None:
        self.model_train.load_state_dict(state["model"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.sampler.rng.bit_generator.state = state["sampler_rng"]
        set_rng_states(state["torch_rng"], self.device)
        self.best, self.best_err, self.history = state["best"], state["best_err"], list(state["history"])


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

    Under ``torchrun`` every process calls this; they train one model data-parallel
    (module docstring), and ``on_checkpoint`` is called on rank 0 only.
    """
    check_arrays(train, "source_train")
    check_arrays(validation, "source_validation")
    device = distributed.init(device)
    progress = progress and distributed.is_main()
    loop = _Pretraining(train, validation, lifter_cfg, cfg, device, seed, progress)
    history = run_epochs(loop, cfg.epochs, "pretrain", progress, resume, on_epoch, on_checkpoint)
    return loop.best, history
