"""VideoPose3D's temporal convolutional lifter (Pavllo et al., CVPR 2019).

Two forms with the same parameters (a state dict moves between them):

- :class:`TemporalModel` (dilated convolutions) lifts whole sequences:
  ``(B, T, J, 2)`` -> ``(B, T - RF + 1, J, 3)``; pad the input by ``RF // 2`` frames
  on each side to get one prediction per frame.
- :class:`TemporalModelOptimized1f` (strided convolutions) lifts one window of
  exactly ``RF`` frames to its centre frame, ``(B, RF, J, 2)`` -> ``(B, 1, J, 3)``;
  it is what training uses.

``RF = 1 + sum over layers of (w - 1) * dilation``; filter widths ``[3, 3, 3]`` give
27 frames, ``[1]`` (or ``[1, 1, 1]``) a single-frame lifter. Predictions are
root-relative: the root joint is set to zero.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Annotated

import torch
from pydantic import Field, Strict
from pydantic.dataclasses import dataclass as pydantic_dataclass
from torch import nn

from adaptpose_pipeline.core import proportions as P
from adaptpose_pipeline.core.schema import FORBID_EXTRA, PositiveInt, named


@named("pretrain.lifter")
@pydantic_dataclass(frozen=True, config=FORBID_EXTRA)
class LifterConfig:
    """VideoPose3D's sizes (``pretrain.lifter`` in parameters)."""

    # odd widths >= 1 (the window is centred on the predicted frame)
    filter_widths: Annotated[tuple[PositiveInt, ...], Field(min_length=1, strict=False)] = (3, 3, 3)
    channels: PositiveInt = 1024
    dropout: Annotated[float, Strict(), Field(ge=0, lt=1)] = 0.25
    num_joints: PositiveInt = 17

    def __post_init__(self) -> None:
        if any(w % 2 == 0 for w in self.filter_widths):
            raise ValueError(f"pretrain.lifter.filter_widths: expected odd widths >= 1, got {list(self.filter_widths)}")

    @property
    def receptive_field(self) -> int:
        frames, dilation = 0, 1
        for w in self.filter_widths:
            frames += (w - 1) * dilation
            dilation *= w
        return frames + 1

    def to_dict(self) -> dict:
        return {**asdict(self), "filter_widths": list(self.filter_widths)}

    @classmethod
    def from_dict(cls, d: dict) -> LifterConfig:
        return cls(**{**d, "filter_widths": tuple(int(w) for w in d["filter_widths"])})


class _Base(nn.Module):
    def __init__(self, cfg: LifterConfig):
        super().__init__()
        self.cfg = cfg
        J, C = cfg.num_joints, cfg.channels
        self.drop = nn.Dropout(cfg.dropout)
        self.relu = nn.ReLU(inplace=True)
        self.expand_bn = nn.BatchNorm1d(C, momentum=0.1)
        self.layers_bn = nn.ModuleList(nn.BatchNorm1d(C, momentum=0.1) for _ in range(2 * (len(cfg.filter_widths) - 1)))
        self.shrink = nn.Conv1d(C, J * 3, 1)

    @property
    def receptive_field(self) -> int:
        return self.cfg.receptive_field

    def set_bn_momentum(self, momentum: float) -> None:
        self.expand_bn.momentum = momentum
        for bn in self.layers_bn:
            bn.momentum = momentum

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, J, 2)`` -> ``(B, T_out, J, 3)``, root joint zero."""
        if x.ndim != 4 or x.shape[-2:] != (self.cfg.num_joints, 2):
            raise ValueError(f"lifter input: expected (B, T, {self.cfg.num_joints}, 2), got {tuple(x.shape)}")
        if x.shape[1] < self.receptive_field:
            raise ValueError(f"lifter input: {x.shape[1]} frames, fewer than the receptive field {self.receptive_field}")
        B, T, J, _ = x.shape
        y = self._blocks(x.reshape(B, T, J * 2).transpose(1, 2))
        y = y.transpose(1, 2).reshape(B, -1, J, 3)
        return torch.cat([torch.zeros_like(y[:, :, :1]), y[:, :, 1:]], dim=2)


class TemporalModel(_Base):
    """Dilated form, for whole sequences."""

    def __init__(self, cfg: LifterConfig):
        super().__init__(cfg)
        J, C, widths = cfg.num_joints, cfg.channels, cfg.filter_widths
        self.expand_conv = nn.Conv1d(J * 2, C, widths[0], bias=False)
        convs, self.pads = [], []
        dilation = widths[0]
        for w in widths[1:]:
            self.pads.append((w - 1) * dilation // 2)
            convs += [nn.Conv1d(C, C, w, dilation=dilation, bias=False), nn.Conv1d(C, C, 1, bias=False)]
            dilation *= w
        self.layers_conv = nn.ModuleList(convs)

    def _blocks(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.relu(self.expand_bn(self.expand_conv(x))))
        for i, pad in enumerate(self.pads):
            res = x[:, :, pad : x.shape[2] - pad]
            x = self.drop(self.relu(self.layers_bn[2 * i](self.layers_conv[2 * i](x))))
            x = res + self.drop(self.relu(self.layers_bn[2 * i + 1](self.layers_conv[2 * i + 1](x))))
        return self.shrink(x)


class TemporalModelOptimized1f(_Base):
    """Strided form: one ``RF``-frame window -> its centre frame (training)."""

    def __init__(self, cfg: LifterConfig):
        super().__init__(cfg)
        J, C, widths = cfg.num_joints, cfg.channels, cfg.filter_widths
        self.expand_conv = nn.Conv1d(J * 2, C, widths[0], stride=widths[0], bias=False)
        convs = []
        for w in widths[1:]:
            convs += [nn.Conv1d(C, C, w, stride=w, bias=False), nn.Conv1d(C, C, 1, bias=False)]
        self.layers_conv = nn.ModuleList(convs)

    def _blocks(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.relu(self.expand_bn(self.expand_conv(x))))
        for i, w in enumerate(self.cfg.filter_widths[1:]):
            res = x[:, :, w // 2 :: w]
            x = self.drop(self.relu(self.layers_bn[2 * i](self.layers_conv[2 * i](x))))
            x = res + self.drop(self.relu(self.layers_bn[2 * i + 1](self.layers_conv[2 * i + 1](x))))
        return self.shrink(x)


def filter_widths_for(receptive_field: int) -> tuple[int, ...]:
    """VideoPose3D's widths for a receptive field: 1 -> (1, 1, 1) (single frame, still
    with residual blocks), 3^k -> (3,) * k (27 -> (3, 3, 3), 243 -> (3, 3, 3, 3, 3))."""
    if receptive_field == 1:
        return (1, 1, 1)
    k = round(math.log(receptive_field, 3)) if receptive_field > 1 else 0
    if k < 1 or 3**k != receptive_field:
        raise ValueError(f"pretrain.lifter.receptive_field: expected 1 or a power of 3 (27, 81, 243), got {receptive_field}")
    return (3,) * k


class Retargeted(nn.Module):
    """A lifter trained in the source's skeleton, used on a target with other proportions.

    ``(B, T, J, 2)`` target 2D -> ``(B, T_out, J, 3)``: each frame's 2D is redrawn with
    the source's proportions (:func:`proportions.retarget_2d`), lifted by ``lifter``,
    and every lifted bone is scaled by its target/source ratio (``ratios (16,)``), so the
    answer is in the target's proportions. The network itself never sees a skeleton it
    was not trained on, so nothing of the source is unlearnt (``adapt.proportions.mode:
    retarget``, docs/adaptation.md). On the source's own data the ratios are 1 and the
    lifter is used alone (``lifter``). ``rescale_output=False`` leaves the answer in the
    source's proportions (for a target whose 3D labels are rescaled to the source's
    skeleton, ``adapt.proportions.labels: source``).
    """

    def __init__(self, lifter: _Base, ratios, normalisation: str, rescale_output: bool = True):
        super().__init__()
        ratios = torch.as_tensor(ratios, dtype=torch.float32)
        if ratios.shape != (lifter.cfg.num_joints - 1,) or not bool(torch.isfinite(ratios).all()) or bool((ratios <= 0).any()):
            raise ValueError(f"retarget ratios: expected {lifter.cfg.num_joints - 1} positive finite numbers, got {ratios.tolist()}")
        self.lifter = lifter
        self.normalisation = normalisation
        self.rescale_output = bool(rescale_output)
        self.register_buffer("ratios", ratios)

    @property
    def cfg(self) -> LifterConfig:
        return self.lifter.cfg

    @property
    def receptive_field(self) -> int:
        return self.lifter.receptive_field

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[-2:] != (self.cfg.num_joints, 2):
            raise ValueError(f"lifter input: expected (B, T, {self.cfg.num_joints}, 2), got {tuple(x.shape)}")
        pose = self.lifter(P.retarget_2d(x, self.ratios, self.normalisation))
        return P.rescale_bones(pose, self.ratios) if self.rescale_output else pose


def lift_sequence(model: TemporalModel, pose_2d: torch.Tensor, batch_frames: int = 4096) -> torch.Tensor:
    """Lift one whole sequence ``(T, J, 2)`` -> ``(T, J, 3)``, edges padded by
    replicating the first/last frame, in chunks of ``batch_frames`` outputs."""
    pad = model.receptive_field // 2
    T = pose_2d.shape[0]
    padded = torch.cat([pose_2d[:1].expand(pad, -1, -1), pose_2d, pose_2d[-1:].expand(pad, -1, -1)])
    out = [
        model(padded[None, s : min(s + batch_frames, T) + 2 * pad])[0]
        for s in range(0, T, batch_frames)
    ]
    return torch.cat(out)


class SequenceLifter(nn.Module):
    """A lifter as a served model: whole sequences in, whole sequences out.

    ``(B, T, 17, 2)`` normalised 2D (as the target's model inputs are normalised) ->
    ``(B, T, 17, 3)`` root-relative camera-frame poses in metres, each sequence lifted
    by :func:`lift_sequence` (edges padded by replicating the first/last frame), exactly
    as the ``predict`` pipeline lifts a file. This is what goes to MLflow
    (``mlflow.pytorch``): ``mlflow.pyfunc.load_model(...).predict(array)`` gives the
    same numbers as ``kedro run --pipeline=predict``.
    """

    def __init__(self, model: TemporalModel):
        super().__init__()
        self.model = model.eval()

    @property
    def receptive_field(self) -> int:
        return self.model.receptive_field

    def forward(self, pose_2d: torch.Tensor) -> torch.Tensor:
        if pose_2d.ndim != 4 or pose_2d.shape[-2:] != (self.model.cfg.num_joints, 2):
            raise ValueError(f"lifter input: expected (B, T, {self.model.cfg.num_joints}, 2), got {tuple(pose_2d.shape)}")
        self.model.eval()
        with torch.no_grad():
            return torch.stack([lift_sequence(self.model, seq.float()) for seq in pose_2d])

    def input_example(self) -> torch.Tensor:
        """One sequence of ``receptive_field`` frames of a plausible normalised pose."""
        g = torch.Generator().manual_seed(0)
        return 0.1 * torch.randn(1, self.receptive_field, self.model.cfg.num_joints, 2, generator=g)


def build_models(cfg: LifterConfig) -> tuple[TemporalModelOptimized1f, TemporalModel]:
    """The training and the sequence form, sharing nothing but able to share weights."""
    return TemporalModelOptimized1f(cfg), TemporalModel(cfg)


@dataclass
class LifterCheckpoint:
    """What a saved lifter holds: its architecture, weights and provenance."""

    config: LifterConfig
    state_dict: dict
    info: dict = field(default_factory=dict)

    def model(self, device: torch.device | str = "cpu") -> TemporalModel | Retargeted:
        """The sequence lifter; wrapped in :class:`Retargeted` when ``info["retarget"]``
        (``{"ratios": (16,), "normalisation": str, "rescale_output": bool}``) says it
        was adapted that way."""
        m = TemporalModel(self.config)
        m.load_state_dict(self.state_dict)
        retarget = self.info.get("retarget")
        if retarget is not None:
            m = Retargeted(m, retarget["ratios"], retarget["normalisation"], retarget.get("rescale_output", True))
        return m.to(device).eval()

    def sequence_model(self) -> SequenceLifter:
        """The lifter for serving (see :class:`SequenceLifter`), on the CPU."""
        return SequenceLifter(self.model("cpu"))

    def to_payload(self) -> dict:
        return {"config": self.config.to_dict(), "state_dict": self.state_dict, "info": self.info}

    @classmethod
    def from_payload(cls, payload: dict) -> LifterCheckpoint:
        return cls(LifterConfig.from_dict(payload["config"]), payload["state_dict"], payload.get("info", {}))
