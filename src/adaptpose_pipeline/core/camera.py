"""Cameras: rigid transforms, the Human3.6M projection model and 2D normalisations.

Every function takes numpy arrays or torch tensors (the result has the input's
type) and is differentiable for tensors.

Conventions:

- points: ``(..., 3)``; rotation ``R``: ``(..., 3, 3)``, broadcastable against the
  points' leading dims (for points ``(B, T, J, 3)`` pass ``R[:, None, None]``).
- world -> camera: ``x_cam = R @ x_world + t`` (``R``, ``t`` world-to-camera).
- intrinsics in pixels: focal ``f (..., 2)``, centre ``c (..., 2)``, radial ``k (..., 3)``,
  tangential ``p (..., 2)``; the distortion is Human3.6M's (as in VideoPose3D).
- screen normalisation maps ``[0, w]`` to ``[-1, 1]`` keeping the aspect ratio:
  ``x / w * 2 - [1, h / w]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

Array = Any  # numpy.ndarray or torch.Tensor


def _xp(x: Array):
    return torch if isinstance(x, torch.Tensor) else np


def _like(x: Array, value: Array) -> Array:
    """``value`` as the same array type, dtype and device as ``x``."""
    if isinstance(x, torch.Tensor):
        return torch.as_tensor(value, dtype=x.dtype, device=x.device)
    return np.asarray(value, dtype=x.dtype)


def _check_points(x: Array, dim: int, what: str) -> None:
    if x.ndim < 1 or x.shape[-1] != dim:
        raise ValueError(f"{what}: expected shape (..., {dim}), got {tuple(x.shape)}")


def _matvec(R: Array, x: Array) -> Array:
    return (R @ x[..., None])[..., 0]


def world_to_camera(x: Array, R: Array, t: Array) -> Array:
    """``(..., 3)`` world points -> camera frame, ``R @ x + t``."""
    _check_points(x, 3, "world points")
    return _matvec(_like(x, R), x) + _like(x, t)


def project(
    x_cam: Array,
    f: Array,
    c: Array,
    k: Array | None = None,
    p: Array | None = None,
) -> Array:
    """Perspective projection ``(..., 3)`` camera-frame points -> ``(..., 2)`` pixels.

    With ``k``/``p`` given, applies Human3.6M's radial and tangential distortion to
    the normalised coordinates ``u = (X/Z, Y/Z)``:
    ``u' = u (1 + k1 r^2 + k2 r^4 + k3 r^6 + p . u) + p r^2``.
    Points must lie in front of the camera (``Z > 0``); that is not checked here,
    so that the function stays differentiable and cheap inside training loops.
    """
    _check_points(x_cam, 3, "camera points")
    u = x_cam[..., :2] / x_cam[..., 2:3]
    if k is not None or p is not None:
        r2 = (u * u).sum(-1)[..., None]
        radial = 1.0
        if k is not None:
            k = _like(x_cam, k)
            radial = 1.0 + k[..., 0:1] * r2 + k[..., 1:2] * r2**2 + k[..., 2:3] * r2**3
        if p is not None:
            p = _like(x_cam, p)
            tangential = (p * u).sum(-1)[..., None]
            u = u * (radial + tangential) + p * r2
        else:
            u = u * radial
    return _like(x_cam, f) * u + _like(x_cam, c)


def normalise_screen(x_px: Array, w: Array, h: Array) -> Array:
    """Pixels ``(..., 2)`` -> ``[-1, 1]`` across the width, aspect kept.

    ``w``, ``h``: scalars or arrays broadcastable against ``x_px[..., 0]``.
    """
    _check_points(x_px, 2, "pixels")
    w, h = _like(x_px, w), _like(x_px, h)
    xp = _xp(x_px)
    return xp.stack([x_px[..., 0] / w * 2 - 1, x_px[..., 1] / w * 2 - h / w], -1)


def frobenius_normalise(
    x2d: Array, root: int = 0, eps: float = 1e-8
) -> tuple[Array, Array]:
    """Ski-style 2D normalisation of ``(..., J, 2)``: root-centre, then divide each
    pose by its Frobenius norm. Returns ``(normalised (..., J, 2), scale (...))``;
    ``normalised * scale[..., None, None]`` gives back the root-centred pose.
    """
    if x2d.ndim < 2 or x2d.shape[-1] != 2:
        raise ValueError(f"2D poses: expected shape (..., J, 2), got {tuple(x2d.shape)}")
    centred = x2d - x2d[..., root : root + 1, :]
    scale = (centred * centred).sum((-1, -2)) ** 0.5
    return centred / scale.clip(eps)[..., None, None], scale


NORMALISATIONS = ("screen", "frobenius")


def pad_to_square(x_px: Array, w: Array, h: Array) -> tuple[Array, Array, Array]:
    """Pixels as if the shorter image side were padded symmetrically to a square.

    ``x_px (..., J, 2)``; ``w``, ``h`` broadcastable against ``x_px[..., 0, 0]``.
    Returns ``(shifted x_px, s, s)`` with ``s = max(w, h)``. For landscape frames the
    screen normalisation is unchanged by this; portrait frames (3DPW's 1080 x 1920)
    shift right by ``(h - w) / 2``, as the paper pads their width before normalising.
    """
    xp = _xp(x_px)
    w, h = _like(x_px, w), _like(x_px, h)
    s = xp.maximum(w, h)
    offset = xp.stack([(s - w) / 2, (s - h) / 2], -1)
    return x_px + offset[..., None, :], s, s


def normalise_pixels(x_px: Array, w: Array, h: Array, normalisation: str, pad: bool = False) -> tuple[Array, Array]:
    """The model's 2D input from pixels ``(..., J, 2)``: ``screen`` (optionally padded to
    a square first) or ``frobenius``. Returns ``(normalised, scale (...))``; the scale
    is the Frobenius norm divided out (ones for ``screen``).

    ``w``, ``h``: broadcastable against ``x_px[..., 0, 0]`` (one size per pose).
    """
    if normalisation == "screen":
        if pad:
            x_px, w, h = pad_to_square(x_px, w, h)
        w, h = _like(x_px, w), _like(x_px, h)
        out = normalise_screen(x_px, w[..., None], h[..., None])
        return out, _xp(x_px).ones_like(x_px[..., 0, 0])
    if normalisation == "frobenius":
        return frobenius_normalise(x_px)
    raise ValueError(f"normalisation: expected one of {NORMALISATIONS}, got {normalisation!r}")
