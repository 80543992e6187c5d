"""AdaptPose's Human Motion Generator (HMG, paper §4): bone generation + camera generation.

Given a source window ``X_src (B, T, 17, 3)`` (root-relative metres, camera frame:
x right, y down, z forward) and its camera-frame root path ``(B, T, 3)``, the HMG

1. **bone stage** (§4.1): changes bone directions and lengths and rebuilds the joints
   from the root, giving the root-relative motion ``X_b``;
2. **camera stage** (§4.2): draws a rotation ``R`` and translation ``T`` and places
   the motion in the camera frame, ``X_fake = R (X_b + root - root[mid]) + T``
   (Eq. 3 with the window's own root motion kept; ``mid = T // 2``), so the centre
   frame's root lands at ``T``. Projection to 2D (Eq. 4) is left to the caller.

Bone modes (:data:`BONE_MODES`); every mode keeps source bone lengths scaled by
``1 + lambda`` with ``lambda = lambda_max * tanh(.)`` per sample and bone:

- ``bg1`` (Eq. 5): a displacement ``dB`` per frame and bone (``bg1_offsets:
  per_frame``), or one ``dB`` per bone for the whole window (``per_window``: Eq. 5 as
  printed has no time index), direction ``normalize(B_src_t + dB_t)``.
- ``bg2`` (Eq. 6): ``dB`` for the first and the last frame, linearly interpolated
  across the window and applied to each frame's own source bones as in ``bg1``.
  (Eq. 6 as printed displaces the first frame's bones only; applying the
  interpolated offset to every frame keeps the source motion, as the issue reads it.)
- ``bg3`` (Eqs. 7-10): per bone an axis ``r`` and an angle ``theta``; frame ``j`` of
  ``n = T - 1`` rotates its source bone by ``j theta / n`` about ``r``. As in the
  paper, the first frame is not rotated.
- ``off``: ``X_b = X_src``.

Along the window the fraction ``j / n`` runs from 0 to 1; a single-frame window
(``T = 1``) uses fraction 1, so its one frame gets the full ``theta`` / the last
offset. The bones in :data:`FIXED_BONES` (hip->spine, spine->thorax) are never
rotated or displaced, only scaled.

Camera modes (:data:`CAMERA_MODES`: one :class:`CameraHead` each in :data:`CAMERA_HEADS`,
plus ``off``); the camera head ``h`` reads the flattened ``X_b`` and noise:

- ``det_axis_angle``: ``R = H(r)``, ``r = h[0:3]`` (angle ``|r|``).
- ``prob_axis_angle`` (Eq. 11): ``mu = h[0:3]``, ``sigma = h[3:6]^2 + eps``,
  ``theta = h[6]``; ``r = mu + sigma * e`` with ``e ~ N(0, 1)`` (reparameterised, so
  ``mu`` and ``sigma`` get gradients), ``R = H(theta r / |r|)``.
- ``prob_quaternion`` (Eq. 13): ``q = normalize(mu + sigma * e)``, (w, x, y, z).
- ``prob_euler`` (Eq. 12): ``(a, b, c) = mu + sigma * e``, ``R = Rz(a) Ry(b) Rx(c)``.
- ``prob_upright``: an upright camera, as every real capture has: ``R = Rx(pitch) Ry(yaw)``
  with ``pitch = max_pitch tanh(mu_p + sigma_p e_p)`` (an elevation change of at most
  ``max_pitch_deg`` about the camera's x axis, horizon kept) and
  ``yaw = pi tanh(mu_y + sigma_y e_y)`` (the person turned about the camera's vertical
  axis, any heading). A critic cannot push it to upside-down or rolled views that no
  dataset has; ``sigma = h^2 + eps`` as above, starting small (``R`` near ``I``).
- ``off``: ``R = I`` and the source's own root: ``X_fake = X_b + root``.

Translation: ``T = (tx, ty, max(depth(tz), min_depth + c))`` with ``depth = min_depth +
softplus(tz)``, or, when ``max_depth`` is set, ``min_depth + (max_depth - min_depth)
sigmoid(tz)`` (a bounded range: real cameras stand a few metres from the person, and
an unbounded depth lets the generator fake the target's 2D proportions with extreme
perspective), where
``c = -min z`` of the rotated window relative to its centre root. The floor only acts
when the head's depth would bring a joint closer than ``min_depth`` to the camera
plane; so every generated joint has ``z >= min_depth > 0``, whatever the rotation or
the window's root motion.

Networks (as PoseAug's): MLPs ``hidden`` wide with ``blocks`` residual blocks
(Linear-BatchNorm1d-LeakyReLU(0.2) twice, plus the skip). Three of them, as in the
released code: a bone-direction net and a bone-length net, each fed the flattened
source window and ``noise_dim`` Gaussian noise, and a camera net fed the flattened
``X_b`` and ``noise_dim + 3`` noise (45 / 45 / 48 with the default). BatchNorm needs
batches of two or more in training mode.

Initialisation: the output layers start with weights scaled by
:data:`INIT_OUTPUT_SCALE` and chosen biases, so that at start the generator is close
to the identity: ``dB``, ``theta`` and ``lambda`` near 0, ``R`` near ``I`` (the source
camera is a valid frontal view) and ``T`` near ``(0, 0, depth_init)``. The bg3 axes
keep PyTorch's default init (their direction is irrelevant while ``theta`` is small
and a non-tiny ``r`` keeps ``r / |r|`` well conditioned); likewise the
prob_axis_angle axis starts isotropic (``mu ~ 0``, ``sigma ~ 1``) with angle near 0.

All noise is drawn with ``torch.randn(..., generator=generator)`` on the input's
device (so a passed ``torch.Generator`` must live on that device): the same seed,
weights and input give the same output.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, Strict
from pydantic.dataclasses import dataclass as pydantic_dataclass
from torch import nn

from adaptpose_pipeline.core.layers import LEAKY_SLOPE, ResidualBlock
from adaptpose_pipeline.core.rotations import (
    axis_angle_to_matrix,
    euler_to_matrix,
    quaternion_to_matrix,
    rodrigues_rotate,
)
from adaptpose_pipeline.core.schema import FORBID_EXTRA, NonNegativeInt, PositiveFloat, PositiveInt, named
from adaptpose_pipeline.core.skeleton import (
    H36M17,
    bone_directions,
    bone_lengths,
    bones_to_joints,
    joints_to_bones,
)

BONE_MODES: tuple[str, ...] = ("bg1", "bg2", "bg3", "off")
BG1_OFFSETS: tuple[str, ...] = ("per_frame", "per_window")
# Bones named by their child joint: hip->spine and spine->thorax keep their direction.
FIXED_BONES: tuple[str, ...] = ("spine", "thorax")

# bg3's largest rotation, reached at the window's last frame: 60 deg lets a bone's
# 1 - cos(angle) reach the released code's range-loss band (0.205 +- 0.165, i.e. up
# to ~51 deg) while keeping single bones within a plausible swing.
BG3_MAX_ANGLE: float = math.pi / 3
# Output-layer weights are multiplied by this at init: heads start near their biases.
INIT_OUTPUT_SCALE: float = 1e-2
# With max_depth set, the root stays within this tangent of the optical axis.
MAX_OFF_AXIS: float = 0.2
# Lower bound of the probabilistic heads' sigma = h^2 + SIGMA_EPS.
SIGMA_EPS: float = 1e-6
# Initial sigma of the quaternion / Euler / upright heads: small, so R starts near I.
SIGMA_INIT_SMALL: float = 1e-2

NUM_JOINTS = H36M17.num_joints
NUM_BONES = H36M17.num_bones
_PARAM_PREFIX = "adapt.generator"

# --------------------------------------------------------------------------- camera heads


def upright_rotation(pitch: torch.Tensor, yaw: torch.Tensor) -> torch.Tensor:
    """``Rx(pitch) @ Ry(yaw)`` for angles ``(B,)`` in radians -> ``(B, 3, 3)``: the scene
    turned by ``yaw`` about the camera's vertical (y) axis, then tilted by ``pitch``
    about its x axis (x right, y down, z forward)."""
    c, s = torch.cos(pitch), torch.sin(pitch)
    o, z = torch.ones_like(pitch), torch.zeros_like(pitch)
    rx = torch.stack([o, z, z, z, c, -s, z, s, c], -1).reshape(-1, 3, 3)
    c, s = torch.cos(yaw), torch.sin(yaw)
    ry = torch.stack([c, z, s, z, o, z, -s, z, c], -1).reshape(-1, 3, 3)
    return rx @ ry


def _sigma(h: torch.Tensor) -> torch.Tensor:
    return h**2 + SIGMA_EPS


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / torch.linalg.vector_norm(v, dim=-1, keepdim=True).clamp_min(1e-8)


def _upright(head: torch.Tensor, eps: torch.Tensor, max_pitch_deg: float) -> tuple[torch.Tensor, dict]:
    mu, sigma = head[:, 0:2], _sigma(head[:, 2:4])
    a = mu + sigma * eps
    pitch = math.radians(max_pitch_deg) * torch.tanh(a[:, 0])
    yaw = math.pi * torch.tanh(a[:, 1])
    return upright_rotation(pitch, yaw), {"mu": mu, "sigma": sigma, "pitch": pitch, "yaw": yaw}


def _det_axis_angle(head: torch.Tensor, eps: None, max_pitch_deg: float) -> tuple[torch.Tensor, dict]:
    return axis_angle_to_matrix(head), {"axis_angle": head}


def _prob_axis_angle(head: torch.Tensor, eps: torch.Tensor, max_pitch_deg: float) -> tuple[torch.Tensor, dict]:
    mu, sigma, angle = head[:, 0:3], _sigma(head[:, 3:6]), head[:, 6]
    axis = mu + sigma * eps
    R = axis_angle_to_matrix(_unit(axis) * angle[:, None])
    return R, {"mu": mu, "sigma": sigma, "angle": angle, "axis": axis}


def _prob_quaternion(head: torch.Tensor, eps: torch.Tensor, max_pitch_deg: float) -> tuple[torch.Tensor, dict]:
    mu, sigma = head[:, 0:4], _sigma(head[:, 4:8])
    q = _unit(mu + sigma * eps)
    return quaternion_to_matrix(q), {"mu": mu, "sigma": sigma, "quaternion": q}


def _prob_euler(head: torch.Tensor, eps: torch.Tensor, max_pitch_deg: float) -> tuple[torch.Tensor, dict]:
    mu, sigma = head[:, 0:3], _sigma(head[:, 3:6])
    angles = mu + sigma * eps
    # Intrinsic Z-Y'-X'' with angles (a, b, c) is Rz(a) @ Ry(b) @ Rx(c) (Eq. 12).
    return euler_to_matrix(angles, "ZYX"), {"mu": mu, "sigma": sigma, "euler": angles}


@dataclass(frozen=True)
class CameraHead:
    """One camera-generation mode: the rotation part of the camera net's output.

    ``size``: outputs before the translation ``(tx, ty, tz)`` that every head appends;
    ``noise``: width of the standard-normal draw it reparameterises (0: none, and
    nothing is drawn); ``bias``: ``(start, stop, value)`` initial biases of its outputs
    (the rest start at 0); ``to_rotation(head (B, size), eps (B, noise) or None,
    max_pitch_deg) -> (R (B, 3, 3), raw outputs)``.
    """

    size: int
    noise: int
    to_rotation: Callable[[torch.Tensor, torch.Tensor | None, float], tuple[torch.Tensor, dict]]
    bias: tuple[tuple[int, int, float], ...] = ()


_SMALL = math.sqrt(SIGMA_INIT_SMALL)
# The camera modes besides "off", in the order the parameter error lists them.
CAMERA_HEADS: dict[str, CameraHead] = {
    "prob_upright": CameraHead(4, 2, _upright, bias=((2, 4, _SMALL),)),
    "det_axis_angle": CameraHead(3, 0, _det_axis_angle),
    # sigma ~ 1: an isotropic axis while the angle h[6] starts near 0
    "prob_axis_angle": CameraHead(7, 3, _prob_axis_angle, bias=((3, 6, 1.0),)),
    # mu ~ the identity quaternion (w = 1)
    "prob_quaternion": CameraHead(8, 4, _prob_quaternion, bias=((0, 1, 1.0), (4, 8, _SMALL))),
    "prob_euler": CameraHead(6, 3, _prob_euler, bias=((3, 6, _SMALL),)),
}
CAMERA_MODES: tuple[str, ...] = (*CAMERA_HEADS, "off")


def camera_head(mode: str) -> CameraHead:
    """The registered head of ``mode``; raises naming the parameter for an unknown one."""
    if mode not in CAMERA_HEADS:
        raise ValueError(f"{_PARAM_PREFIX}.camera_generation: expected one of {list(CAMERA_MODES)}, got {mode!r}")
    return CAMERA_HEADS[mode]


@named("adapt.generator")
@pydantic_dataclass(frozen=True, config=FORBID_EXTRA)
class GeneratorConfig:
    """Hyperparameters of :class:`HumanMotionGenerator` (``adapt.generator`` in parameters)."""

    frames: PositiveInt
    bone_generation: Literal[BONE_MODES] = "bg3"
    camera_generation: Literal[CAMERA_MODES] = "prob_axis_angle"
    hidden: PositiveInt = 256
    blocks: NonNegativeInt = 2
    noise_dim: PositiveInt = 45
    # [0, 1): bones must keep a positive length
    lambda_max: Annotated[float, Strict(), Field(ge=0, lt=1)] = 0.2
    depth_init: PositiveFloat = 5.0  # metres, > min_depth
    min_depth: PositiveFloat = 1.5  # metres
    max_depth: PositiveFloat | None = None  # metres, null or > depth_init
    bg1_offsets: Literal[BG1_OFFSETS] = "per_frame"
    # log-scale bound of the shared bone-length scale; 0: off
    global_length_max: Annotated[float, Strict(), Field(ge=0, lt=1.5)] = 0.0
    max_pitch_deg: Annotated[float, Strict(), Field(gt=0, le=90)] = 45.0

    def __post_init__(self) -> None:
        if not self.depth_init > self.min_depth:
            raise ValueError(
                f"{_PARAM_PREFIX}.depth_init: expected a depth > min_depth = {self.min_depth} (metres), got {self.depth_init}"
            )
        if self.max_depth is not None and not self.max_depth > self.depth_init:
            raise ValueError(
                f"{_PARAM_PREFIX}.max_depth: expected null or a depth > depth_init = {self.depth_init} (metres), "
                f"got {self.max_depth}"
            )


@dataclass
class GeneratorOutput:
    """What one forward pass of the HMG produces (``B`` samples of ``T`` frames)."""

    pose_3d: torch.Tensor  # (B, T, 17, 3) X_b, root-relative, metres
    pose_3d_cam: torch.Tensor  # (B, T, 17, 3) X_fake, camera frame, metres, z > 0
    rotation: torch.Tensor  # (B, 3, 3) R
    translation: torch.Tensor  # (B, 3) T, camera-frame position of the centre frame's root
    lam: torch.Tensor  # (B, 16) bone-length ratios
    bone_cos: torch.Tensor  # (B, T, 16) cos(source, generated bone direction)
    camera: dict = field(default_factory=dict)  # camera head's raw outputs
    bone_params: dict = field(default_factory=dict)  # bone head's raw outputs


# --------------------------------------------------------------------------- networks


class ResidualMLP(nn.Module):
    """``(B, in_dim) -> (B, out_dim)``: input layer, ``blocks`` residual blocks, output layer."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int, blocks: int):
        super().__init__()
        self.inp = nn.Sequential(nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(LEAKY_SLOPE))
        self.blocks = nn.Sequential(*(ResidualBlock(hidden) for _ in range(blocks)))
        self.out = nn.Linear(hidden, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.blocks(self.inp(x)))

    @torch.no_grad()
    def init_output(self, rows: slice, bias: torch.Tensor | float = 0.0, scale: float = INIT_OUTPUT_SCALE) -> None:
        """Scale the output weights of ``rows`` and set their bias."""
        self.out.weight[rows] *= scale
        self.out.bias[rows] = bias


# --------------------------------------------------------------------------- bone stage


def window_fractions(frames: int, like: torch.Tensor) -> torch.Tensor:
    """``(T,)`` fractions ``j / n`` of the way through the window; ``[1]`` when ``T == 1``."""
    if frames == 1:
        return torch.ones(1, dtype=like.dtype, device=like.device)
    return torch.linspace(0.0, 1.0, frames, dtype=like.dtype, device=like.device)


def fixed_bone_mask(like: torch.Tensor) -> torch.Tensor:
    """``(16,)`` 1.0 for bones that may move, 0.0 for :data:`FIXED_BONES`."""
    mask = torch.ones(NUM_BONES, dtype=like.dtype, device=like.device)
    mask[[H36M17.bone_index(b) for b in FIXED_BONES]] = 0.0
    return mask


def apply_bg1(bones: torch.Tensor, delta: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Eq. 5 without the length ratio: ``normalize(B + dB) * |B|``, ``(..., 16, 3)``."""
    moved = bones + delta
    norm = bone_lengths(moved).clamp_min(eps).unsqueeze(-1)
    return moved / norm * bone_lengths(bones).unsqueeze(-1)


def interpolate_offsets(first_last: torch.Tensor, frames: int) -> torch.Tensor:
    """bg2's offsets: ``(B, 2, 16, 3)`` first/last -> ``(B, T, 16, 3)``, linear in the frame."""
    s = window_fractions(frames, first_last)[None, :, None, None]
    return (1.0 - s) * first_last[:, :1] + s * first_last[:, 1:]


def apply_bg3(bones: torch.Tensor, axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Eqs. 7-10: rotate frame ``j`` of ``(B, T, 16, 3)`` bones by ``j angle / n`` about ``axis``.

    ``axis (B, 16, 3)`` need not be unit length; ``angle (B, 16)`` radians.
    """
    s = window_fractions(bones.shape[1], bones)[None, :, None]
    return rodrigues_rotate(bones, axis[:, None], angle[:, None] * s)


def scale_bones(bones: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """``(B, T, 16, 3)`` bones times ``1 + lam`` with ``lam (B, 16)``."""
    return bones * (1.0 + lam)[:, None, :, None]


def bone_cosine(source: torch.Tensor, generated: torch.Tensor) -> torch.Tensor:
    """``(..., 16, 3)`` x2 -> ``(..., 16)`` cosine of the angle between bone directions."""
    cos = (bone_directions(source) * bone_directions(generated)).sum(-1)
    return cos.clamp(-1.0, 1.0)


# --------------------------------------------------------------------------- camera stage


def place_in_camera(
    pose: torch.Tensor, root: torch.Tensor, R: torch.Tensor, t_xy: torch.Tensor, depth: torch.Tensor, min_depth: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``X_fake = R (pose + root - root[mid]) + T`` with every joint at ``z >= min_depth``.

    ``pose (B, T, 17, 3)``, ``root (B, T, 3)``, ``R (B, 3, 3)``, ``t_xy (B, 2)``,
    ``depth (B,)`` the head's root depth (``>= min_depth``). Returns ``X_fake`` and ``T (B, 3)``.
    """
    mid = root.shape[1] // 2
    local = pose + (root - root[:, mid : mid + 1])[:, :, None]
    rotated = local @ R[:, None].transpose(-1, -2)
    clearance = -rotated[..., 2].amin(dim=(1, 2))  # >= 0: the centre root is at 0
    depth = torch.maximum(depth, min_depth + clearance)
    T = torch.cat([t_xy, depth[:, None]], dim=-1)
    return rotated + T[:, None, None], T


# --------------------------------------------------------------------------- the module


class HumanMotionGenerator(nn.Module):
    """The HMG: ``(X_src, root, noise) -> (X_b, R, T, X_fake)``; see the module docstring."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.cfg = cfg
        window = cfg.frames * NUM_JOINTS * 3
        T, nb = cfg.frames, NUM_BONES

        self.bone_net: ResidualMLP | None = None
        self.length_net: ResidualMLP | None = None
        if cfg.bone_generation != "off":
            bg1_frames = T if cfg.bg1_offsets == "per_frame" else 1
            out = {"bg1": bg1_frames * nb * 3, "bg2": 2 * nb * 3, "bg3": nb * 3 + nb}[cfg.bone_generation]
            self.bone_net = ResidualMLP(window + cfg.noise_dim, out, cfg.hidden, cfg.blocks)
            if cfg.bone_generation == "bg3":
                self.bone_net.init_output(slice(0, nb * 3), scale=1.0)  # axes: default init
                self.bone_net.init_output(slice(nb * 3, out))  # angles near 0
            else:
                self.bone_net.init_output(slice(0, out))  # offsets near 0
            self.length_net = ResidualMLP(window + cfg.noise_dim, nb, cfg.hidden, cfg.blocks)
            self.length_net.init_output(slice(0, nb))  # lambda near 0

        # One learned length scale per bone for every sample: a dataset's joint
        # conventions (where "head" or "neck" sit) are the same for all of its frames, so
        # they belong in one shared parameter, not in per-sample noise that a camera
        # change could also explain.
        self.global_length = nn.Parameter(torch.zeros(nb)) if cfg.global_length_max > 0 else None

        self.camera_net: ResidualMLP | None = None
        if cfg.camera_generation != "off":
            k = camera_head(cfg.camera_generation).size
            self.camera_net = ResidualMLP(window + cfg.noise_dim + 3, k + 3, cfg.hidden, cfg.blocks)
            self.camera_net.init_output(slice(0, k + 3), bias=self._camera_bias(cfg))

    @staticmethod
    def _camera_bias(cfg: GeneratorConfig) -> torch.Tensor:
        head = camera_head(cfg.camera_generation)
        bias = torch.zeros(head.size + 3)
        for start, stop, value in head.bias:
            bias[start:stop] = value
        # softplus^-1 (or logit) of depth_init's place: the root starts at depth_init.
        if cfg.max_depth is None:
            bias[head.size + 2] = math.log(math.expm1(cfg.depth_init - cfg.min_depth))
        else:
            frac = (cfg.depth_init - cfg.min_depth) / (cfg.max_depth - cfg.min_depth)
            bias[head.size + 2] = math.log(frac / (1.0 - frac))
        return bias

    def _noise(self, batch: int, dim: int, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return torch.randn(batch, dim, generator=generator, device=like.device, dtype=like.dtype)

    def _check_inputs(self, pose_3d: torch.Tensor, root: torch.Tensor) -> None:
        T = self.cfg.frames
        if pose_3d.ndim != 4 or pose_3d.shape[1:] != (T, NUM_JOINTS, 3):
            raise ValueError(f"generator pose_3d: expected (B, {T}, {NUM_JOINTS}, 3), got {tuple(pose_3d.shape)}")
        if root.shape != (pose_3d.shape[0], T, 3):
            raise ValueError(f"generator root: expected ({pose_3d.shape[0]}, {T}, 3), got {tuple(root.shape)}")

    def _bone_stage(
        self, pose_3d: torch.Tensor, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """``(B, T, 17, 3)`` source -> ``X_b``, ``lam (B, 16)``, ``bone_cos (B, T, 16)``, raw outputs."""
        B, T = pose_3d.shape[:2]
        nb = NUM_BONES
        src = joints_to_bones(pose_3d)
        if self.bone_net is None:
            lam = pose_3d.new_zeros(B, nb)
            if self.global_length is None:
                return pose_3d, lam, bone_cosine(src, src), {}
            bones = src * self.global_scale()[None, None, :, None]
            return bones_to_joints(bones), lam, bone_cosine(src, bones), {}

        flat = pose_3d.reshape(B, -1)
        h = self.bone_net(torch.cat([flat, self._noise(B, self.cfg.noise_dim, pose_3d, generator)], dim=-1))
        h_len = self.length_net(torch.cat([flat, self._noise(B, self.cfg.noise_dim, pose_3d, generator)], dim=-1))
        lam = self.cfg.lambda_max * torch.tanh(h_len)
        movable = fixed_bone_mask(pose_3d)

        mode = self.cfg.bone_generation
        if mode == "bg1":
            delta = h.reshape(B, -1, nb, 3).expand(B, T, nb, 3) * movable[:, None]
            moved, params = apply_bg1(src, delta), {"delta": delta}
        elif mode == "bg2":
            first_last = h.reshape(B, 2, nb, 3) * movable[:, None]
            moved = apply_bg1(src, interpolate_offsets(first_last, T))
            params = {"delta": first_last}
        else:
            axis = h[:, : nb * 3].reshape(B, nb, 3)
            angle = BG3_MAX_ANGLE * torch.tanh(h[:, nb * 3 :]) * movable
            moved, params = apply_bg3(src, axis, angle), {"axis": axis, "angle": angle}
        bones = scale_bones(moved, lam)
        if self.global_length is not None:
            bones = bones * self.global_scale()[None, None, :, None]
        return bones_to_joints(bones), lam, bone_cosine(src, bones), params

    def global_scale(self) -> torch.Tensor:
        """``(16,)`` the shared per-bone length scale, ``exp(global_length_max tanh(p))``."""
        return torch.exp(self.cfg.global_length_max * torch.tanh(self.global_length))

    def forward(
        self, pose_3d: torch.Tensor, root: torch.Tensor, generator: torch.Generator | None = None
    ) -> GeneratorOutput:
        """``pose_3d (B, T, 17, 3)`` source window, root-relative metres; ``root (B, T, 3)``
        its camera-frame root positions (kept as the window's root motion, and the camera
        when ``camera_generation == "off"``)."""
        self._check_inputs(pose_3d, root)
        B = pose_3d.shape[0]
        pose_b, lam, cos, bone_params = self._bone_stage(pose_3d, generator)

        if self.camera_net is None:
            R = torch.eye(3, dtype=pose_3d.dtype, device=pose_3d.device).expand(B, 3, 3)
            mid = root.shape[1] // 2
            return GeneratorOutput(
                pose_3d=pose_b,
                pose_3d_cam=pose_b + root[:, :, None],
                rotation=R,
                translation=root[:, mid],
                lam=lam,
                bone_cos=cos,
                bone_params=bone_params,
            )

        head = camera_head(self.cfg.camera_generation)
        k = head.size
        noise = self._noise(B, self.cfg.noise_dim + 3, pose_3d, generator)
        h = self.camera_net(torch.cat([pose_b.reshape(B, -1), noise], dim=-1))
        eps = self._noise(B, head.noise, pose_3d, generator) if head.noise else None
        R, camera = head.to_rotation(h[:, :k], eps, self.cfg.max_pitch_deg)
        if self.cfg.max_depth is None:
            depth = self.cfg.min_depth + F.softplus(h[:, k + 2])
        else:
            depth = self.cfg.min_depth + (self.cfg.max_depth - self.cfg.min_depth) * torch.sigmoid(h[:, k + 2])
        t_xy = h[:, k : k + 2]
        if self.cfg.max_depth is not None:
            # a bounded camera keeps the person near the optical axis too (|x/z|, |y/z| <= 0.2)
            t_xy = MAX_OFF_AXIS * depth[:, None] * torch.tanh(t_xy)
        pose_cam, T = place_in_camera(pose_b, root, R, t_xy, depth, self.cfg.min_depth)
        camera["translation_head"] = h[:, k:]
        return GeneratorOutput(
            pose_3d=pose_b,
            pose_3d_cam=pose_cam,
            rotation=R,
            translation=T,
            lam=lam,
            bone_cos=cos,
            camera=camera,
            bone_params=bone_params,
        )
