"""Kinematic chain space (Wandt et al.): ``KCS = B^T B`` for a bone matrix ``B``.

With bones as rows, ``bones (..., nb, D)``, the KCS matrix is ``bones @ bones^T``
``(..., nb, nb)``: its diagonal holds squared bone lengths, the rest the dot
products between bones (angles scaled by lengths). Works for 2D and 3D bones.
"""

from __future__ import annotations

import torch


def kcs_from_bones(bones: torch.Tensor) -> torch.Tensor:
    """``(..., nb, D)`` -> ``(..., nb, nb)``."""
    if bones.ndim < 2 or bones.shape[-1] not in (2, 3):
        raise ValueError(f"bones: expected shape (..., nb, 2|3), got {tuple(bones.shape)}")
    return bones @ bones.transpose(-1, -2)
