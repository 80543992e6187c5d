"""Temporal windows of model-input arrays: the one window sampler of training and adaptation.

Data come as model-input arrays (see ``datasets.model_input``): ``pose_2d (N, 17, 2)``,
optionally ``pose_3d (N, 17, 3)`` root-relative, ``valid (N,)``, ``seq_start (S,)``,
``seq_length (S,)``. A window around centre frame ``t`` takes frames ``t + r*k`` for
``k = -RF//2 .. RF//2`` (``RF`` the receptive field, ``r`` the window's stride); windows
never cross a sequence: frames past either end repeat the edge frame (replication
padding). Centres are valid frames.

Random-stride downsampling (AdaptPose §4): ``r ~ U{stride_min..stride_max}`` drawn per
window, so a 50 Hz source also looks like slower or faster targets; stride ``None`` is
``r = 1`` without drawing (a target's windows at its own frame rate).
"""

from __future__ import annotations

import numpy as np
import torch

from adaptpose_pipeline.core.skeleton import H36M17


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


class Windows:
    """Windows of one model-input array set, with its poses as float32 tensors on ``device``.

    ``strides``: ``(stride_min, stride_max)`` for random-stride windows, ``None`` for
    stride 1. ``name`` is the dataset named in errors. Random numbers come from the
    caller's ``numpy.random.Generator``, so every loop keeps its own stream.
    """

    def __init__(
        self, arrays: dict, receptive_field: int, strides: tuple[int, int] | None, name: str,
        device: torch.device | str = "cpu", need_3d: bool = True,
    ):
        check_arrays(arrays, name, need_3d=need_3d)
        self.first, self.end = frame_bounds(arrays["seq_start"], arrays["seq_length"])
        self.seq = np.repeat(np.arange(len(arrays["seq_start"])), arrays["seq_length"])
        self.centres = np.flatnonzero(arrays["valid"])
        self.rf, self.strides, self.device = receptive_field, strides, torch.device(device)
        self.pose_2d = torch.as_tensor(np.asarray(arrays["pose_2d"]), dtype=torch.float32, device=self.device)
        self.pose_3d = torch.as_tensor(np.asarray(arrays["pose_3d"]), dtype=torch.float32, device=self.device) if need_3d else None

    def random_centres(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` valid centre frames drawn with replacement ``(n,)``."""
        return self.centres[rng.integers(0, len(self.centres), n)]

    def rows(self, centres: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        """Row indices of the windows around ``centres`` ``(B, RF)`` on the device (draws
        one stride per window unless the stride is fixed)."""
        if self.strides is None:
            strides = np.ones(len(centres), dtype=np.int64)
        else:
            strides = rng.integers(self.strides[0], self.strides[1] + 1, len(centres))
        idx = window_indices(centres, self.first[centres], self.end[centres], self.rf, strides)
        return torch.as_tensor(idx, device=self.device)
