"""Batched, differentiable rotations in torch: the project's one door to them (over roma).

Conventions (all functions, all shapes batched over leading dims ``...``):

- axis-angle: ``(..., 3)`` rotation vector, direction = axis, norm = angle (rad).
- quaternion: ``(..., 4)`` **scalar first** ``(w, x, y, z)``, as Human3.6M's
  camera files and VideoPose3D store them. (roma, used underneath, is scalar last.)
- rotation matrix: ``(..., 3, 3)``, acting on column vectors: ``v' = R @ v``.
- Euler: ``(..., 3)`` angles in radians for a convention string such as ``"XYZ"``
  (upper case: intrinsic, lower case: extrinsic; roma's meaning).

The conversions are stable near the zero angle (roma uses series expansions there).
:func:`rodrigues_rotate` is written out: it turns each vector about its own axis by its
own angle without building matrices, and the generator's numbers depend on its exact
float32 arithmetic.
"""

from __future__ import annotations

import roma
import torch


def _check_last(x: torch.Tensor, size: int, what: str) -> None:
    if x.shape[-1] != size:
        raise ValueError(f"{what}: expected shape (..., {size}), got {tuple(x.shape)}")


def _check_matrix(R: torch.Tensor) -> None:
    if R.ndim < 2 or R.shape[-2:] != (3, 3):
        raise ValueError(f"rotation matrix: expected shape (..., 3, 3), got {tuple(R.shape)}")


def axis_angle_to_matrix(rotvec: torch.Tensor) -> torch.Tensor:
    """``(..., 3)`` -> ``(..., 3, 3)``."""
    _check_last(rotvec, 3, "axis-angle")
    return roma.rotvec_to_rotmat(rotvec)


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """``(..., 4)`` (w, x, y, z), normalised first -> ``(..., 3, 3)``."""
    _check_last(q, 4, "quaternion")
    q = q / torch.linalg.vector_norm(q, dim=-1, keepdim=True)
    return roma.unitquat_to_rotmat(roma.quat_wxyz_to_xyzw(q))


def matrix_to_quaternion(R: torch.Tensor) -> torch.Tensor:
    """``(..., 3, 3)`` -> unit ``(..., 4)`` (w, x, y, z) with ``w >= 0``."""
    _check_matrix(R)
    q = roma.quat_xyzw_to_wxyz(roma.rotmat_to_unitquat(R))
    return torch.where(q[..., :1] < 0, -q, q)


def euler_to_matrix(angles: torch.Tensor, convention: str = "XYZ") -> torch.Tensor:
    """``(..., 3)`` radians -> ``(..., 3, 3)``."""
    _check_last(angles, 3, "Euler angles")
    return roma.euler_to_rotmat(convention, angles)


def rodrigues_rotate(
    v: torch.Tensor, axis: torch.Tensor, angle: torch.Tensor, eps: float = 1e-8
) -> torch.Tensor:
    """Rotate vectors ``v (..., 3)`` about ``axis (..., 3)`` by ``angle (...)`` radians.

    ``v cos a + (k x v) sin a + k (k . v)(1 - cos a)`` with ``k`` the unit axis.
    The axis need not be unit length; a zero axis leaves ``v`` unchanged.
    """
    _check_last(v, 3, "vectors")
    _check_last(axis, 3, "axis")
    k = axis / torch.linalg.vector_norm(axis, dim=-1, keepdim=True).clamp_min(eps)
    k, v = torch.broadcast_tensors(k, v)
    a = angle.unsqueeze(-1)
    cos, sin = torch.cos(a), torch.sin(a)
    k_dot_v = (k * v).sum(-1, keepdim=True)
    return v * cos + torch.linalg.cross(k, v, dim=-1) * sin + k * k_dot_v * (1.0 - cos)
