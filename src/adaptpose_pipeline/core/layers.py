"""Building blocks shared by the generator and the critics."""

from __future__ import annotations

import torch
from torch import nn

LEAKY_SLOPE = 0.2


class ResidualBlock(nn.Module):
    """``(B, width) -> (B, width)``: ``x + body(x)``, the body Linear(-BatchNorm1d)-LeakyReLU
    twice (PoseAug's block; ``batch_norm=False`` for the critics).

    Parameter names (``body.0``, ``body.1``, ...) are those of saved checkpoints: the
    body's layers must keep their order.
    """

    def __init__(self, width: int, batch_norm: bool = True, slope: float = LEAKY_SLOPE):
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(2):
            layers.append(nn.Linear(width, width))
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(nn.LeakyReLU(slope))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)
