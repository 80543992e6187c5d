"""What the stand-in makers hand to each dataset's writer.

A :class:`Recording` is one subject performing one sequence, in world coordinates
(metres, z up), seen by one or more cameras (:class:`CameraRig`). Writers turn
recordings into a dataset's native files, which the dataset's reader reads back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from adaptpose_pipeline.core import camera as cam


@dataclass
class CameraRig:
    """A pinhole camera; static (``R (3, 3)``, ``t (3,)``) or moving (``(T, 3, 3)``, ``(T, 3)``).

    World to camera: ``x_cam = R @ x_world + t`` (metres). Camera axes: x right,
    y down, z forward (OpenCV).
    """

    name: str
    R: np.ndarray
    t: np.ndarray
    f: np.ndarray
    c: np.ndarray
    image_size: tuple[int, int]
    k: np.ndarray | None = None
    p: np.ndarray | None = None

    @property
    def moving(self) -> bool:
        return np.ndim(self.R) == 3

    @property
    def position(self) -> np.ndarray:
        """Camera centre in world coordinates: ``(3,)`` or ``(T, 3)``."""
        R, t = np.asarray(self.R), np.asarray(self.t)
        return -(R.swapaxes(-1, -2) @ t[..., None])[..., 0]

    def to_camera(self, joints_world: np.ndarray) -> np.ndarray:
        """``(T, J, 3)`` world -> camera frame."""
        R, t = np.asarray(self.R), np.asarray(self.t)
        if self.moving:
            R, t = R[:, None], t[:, None]
        return cam.world_to_camera(joints_world, R, t)

    def project(self, joints_cam: np.ndarray) -> np.ndarray:
        """``(T, J, 3)`` camera frame -> ``(T, J, 2)`` pixels (with distortion if set)."""
        return cam.project(joints_cam, self.f, self.c, self.k, self.p)


@dataclass
class Recording:
    dataset: str
    subject: str
    sequence: str
    split: str
    fps: float
    joints_world: np.ndarray  # (T, 17, 3) metres, z up
    cameras: list[CameraRig]
    valid: np.ndarray  # (T,) bool
    meta: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.joints_world.shape[0])


def look_at(position: np.ndarray, target: np.ndarray, up: np.ndarray = np.array([0.0, 0.0, 1.0])):
    """World-to-camera ``(R, t)`` of a camera at ``position`` looking at ``target``.

    Batched over leading dims: ``position``/``target`` ``(..., 3)`` -> ``R (..., 3, 3)``,
    ``t (..., 3)``. The image's y axis points along world ``-up`` (no roll).
    """
    position = np.asarray(position, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    z = target - position
    z = z / np.linalg.norm(z, axis=-1, keepdims=True)
    x = np.cross(z, np.broadcast_to(up, z.shape))
    x = x / np.linalg.norm(x, axis=-1, keepdims=True)
    y = np.cross(z, x)
    R = np.stack([x, y, z], axis=-2)
    t = -(R @ position[..., None])[..., 0]
    return R, t
