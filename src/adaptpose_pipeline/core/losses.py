"""Training losses in torch (metrics for reporting live in ``metrics``, in numpy)."""

from __future__ import annotations

import torch


def mpjpe_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean joint error of ``(..., J, 3)`` poses (same unit as the input)."""
    if pred.shape != target.shape:
        raise ValueError(f"mpjpe_loss: shapes differ, {tuple(pred.shape)} vs {tuple(target.shape)}")
    return torch.linalg.vector_norm(pred - target, dim=-1).mean()
