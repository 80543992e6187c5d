"""Kinematic chain space (Wandt et al.): ``KCS = B^T B`` for a bone matrix ``B``.

With bones as rows, ``bones (..., nb, D)``, the KCS matrix is ``bones @ bones^T``
``(..., nb, nb)``: its diagonal holds squared bone lengths, the rest the dot
products between bones (angles scaled by lengths). Works for 2D and 3D bones.
"""

from __future__ import annotations

import torch

from adaptpose_pipeline.core.skeleton import H36M17, Skeleton, joints_to_bones


def kcs_from_bones(bones: torch.Tensor) -> torch.Tensor:
    """``(..., nb, D)`` -> ``(..., nb, nb)``."""
    if bones.ndim < 2 or bones.shape[-1] not in (2, 3):
        raise ValueError(f"bones: expected shape (..., nb, 2|3), got {tuple(bones.shape)}")
    return bones @ bones.transpose(-1, -2)


def kcs(joints: torch.Tensor, skeleton: Skeleton = H36M17) -> torch.Tensor:
    """Whole-body KCS of ``(..., J, D)`` joints -> ``(..., J-1, J-1)``."""
    return kcs_from_bones(joints_to_bones(joints, skeleton))


def partwise_kcs(joints: torch.Tensor, skeleton: Skeleton = H36M17) -> dict[str, torch.Tensor]:
    """KCS per body part (``skeleton.parts``): name -> ``(..., nb_part, nb_part)``."""
    bones = joints_to_bones(joints, skeleton)
    return {
        part: kcs_from_bones(bones[..., list(idx), :])
        for part, idx in skeleton.parts.items()
        if idx
    }
