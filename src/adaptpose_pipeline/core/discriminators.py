"""AdaptPose's critics (§4.3, §5): a 2D domain discriminator and a 3D discriminator.

- :class:`DomainDiscriminator2D` judges 2D windows ``(B, T, 17, 2)``: real = target 2D,
  fake = generated 2D. A keypoint branch sees the window as given (not root-normalised:
  that would hide position and scale, which the camera generator must learn to match) and
  a 2D-KCS branch sees each frame's KCS matrix, whose diagonal carries the image-plane
  bone lengths and the rest the angles between bones.
- :class:`Discriminator3D` judges one root-relative pose ``(B, 17, 3)``: real = source
  3D put through :func:`perturb_bones` (so D is not tied to the exact source poses),
  fake = generated 3D. A whole-body KCS branch and one KCS branch per body part
  (PoseAug's part-aware KCS). KCS is invariant to a global rotation, so this critic
  judges the pose itself, not the viewpoint.
- :class:`HistoryPool` mixes older fakes into D's batches.

Their LSGAN losses (Eqs. 15-17) are in ``losses``.

KCS matrices are symmetric; a branch takes the upper triangle (diagonal included),
which holds all of it, flattened. Both critics output one unbounded score per sample.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from adaptpose_pipeline.core.kcs import kcs_from_bones
from adaptpose_pipeline.core.layers import LEAKY_SLOPE, ResidualBlock
from adaptpose_pipeline.core.rotations import rodrigues_rotate
from adaptpose_pipeline.core.skeleton import H36M17, Skeleton, bones_to_joints, joints_to_bones

def kcs_features(joints: torch.Tensor, skeleton: Skeleton = H36M17, bones: tuple[int, ...] | None = None) -> torch.Tensor:
    """Upper triangle of the KCS matrix of ``(..., J, D)`` joints -> ``(..., nb (nb + 1) / 2)``.

    ``bones`` picks a subset of bone indices (a body part); all bones when omitted.
    """
    b = joints_to_bones(joints, skeleton)
    if bones is not None:
        b = b[..., list(bones), :]
    nb = b.shape[-2]
    rows, cols = torch.triu_indices(nb, nb, device=joints.device)
    return kcs_from_bones(b)[..., rows, cols]


def _branch(in_features: int, hidden: int, blocks: int) -> nn.Sequential:
    """``(B, in_features)`` -> ``(B, hidden)`` features: Linear-LeakyReLU, then residual blocks."""
    return nn.Sequential(
        nn.Linear(in_features, hidden), nn.LeakyReLU(LEAKY_SLOPE), *(ResidualBlock(hidden, batch_norm=False) for _ in range(blocks))
    )


def _check_sizes(hidden: int, blocks: int, what: str) -> None:
    if hidden < 1:
        raise ValueError(f"{what}.hidden: expected a positive integer, got {hidden}")
    if blocks < 0:
        raise ValueError(f"{what}.blocks: expected >= 0, got {blocks}")


class DomainDiscriminator2D(nn.Module):
    """LSGAN critic of 2D windows: target (real) vs generated (fake) 2D keypoints.

    A keypoint branch on the flattened ``(T, 17, 2)`` window and (``use_kcs``) a 2D-KCS
    branch on the per-frame KCS upper triangles over the window; their features are
    concatenated before a linear output. The 2D is fed as given, not root-normalised.
    ``use_kcs=False`` keeps the keypoint branch only (an ablation, and the released code).
    """

    def __init__(self, frames: int, hidden: int = 256, blocks: int = 2, use_kcs: bool = True):
        super().__init__()
        if frames < 1:
            raise ValueError(f"discriminator_2d.frames: expected >= 1, got {frames}")
        _check_sizes(hidden, blocks, "discriminator_2d")
        self.frames = frames
        J, nb = H36M17.num_joints, H36M17.num_bones
        self.keypoint_branch = _branch(frames * J * 2, hidden, blocks)
        self.kcs_branch = _branch(frames * nb * (nb + 1) // 2, hidden, blocks) if use_kcs else None
        self.out = nn.Linear(hidden * (2 if use_kcs else 1), 1)

    @property
    def use_kcs(self) -> bool:
        return self.kcs_branch is not None

    def forward(self, pose_2d: torch.Tensor) -> torch.Tensor:
        """``(B, T, 17, 2)`` -> ``(B,)`` scores."""
        if pose_2d.ndim != 4 or pose_2d.shape[1:] != (self.frames, H36M17.num_joints, 2):
            raise ValueError(
                f"2D discriminator input: expected (B, {self.frames}, {H36M17.num_joints}, 2), "
                f"got {tuple(pose_2d.shape)}"
            )
        B = pose_2d.shape[0]
        feats = [self.keypoint_branch(pose_2d.reshape(B, -1))]
        if self.kcs_branch is not None:
            feats.append(self.kcs_branch(kcs_features(pose_2d).reshape(B, -1)))
        return self.out(torch.cat(feats, dim=-1)).squeeze(-1)


class Discriminator3D(nn.Module):
    """LSGAN critic of single-frame root-relative 3D poses.

    A whole-body KCS branch and one KCS branch per body part of ``H36M17.parts``
    (torso, arms, legs); their features are concatenated before a linear output.
    """

    def __init__(self, hidden: int = 256, blocks: int = 2):
        super().__init__()
        _check_sizes(hidden, blocks, "discriminator_3d")
        nb = H36M17.num_bones
        self.parts = {name: idx for name, idx in H36M17.parts.items() if idx}
        self.kcs_branch = _branch(nb * (nb + 1) // 2, hidden, blocks)
        self.part_branches = nn.ModuleDict(
            {name: _branch(len(idx) * (len(idx) + 1) // 2, hidden, blocks) for name, idx in self.parts.items()}
        )
        self.out = nn.Linear(hidden * (1 + len(self.parts)), 1)

    def forward(self, pose_3d: torch.Tensor) -> torch.Tensor:
        """``(B, 17, 3)`` -> ``(B,)`` scores."""
        if pose_3d.ndim != 3 or pose_3d.shape[1:] != (H36M17.num_joints, 3):
            raise ValueError(
                f"3D discriminator input: expected (B, {H36M17.num_joints}, 3), got {tuple(pose_3d.shape)}"
            )
        feats = [self.kcs_branch(kcs_features(pose_3d))]
        for name, idx in self.parts.items():
            feats.append(self.part_branches[name](kcs_features(pose_3d, bones=idx)))
        return self.out(torch.cat(feats, dim=-1)).squeeze(-1)


def perturb_bones(
    pose_3d: torch.Tensor, max_deg: float = 10.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Rotate every bone of ``(..., 17, 3)`` poses by a small random angle; same shape back.

    Each bone turns by an angle uniform in ``[0, max_deg)`` degrees about a random axis
    perpendicular to it, so the angle between its old and new direction is exactly the
    drawn one; lengths are kept and joints are rebuilt from the root, which stays put.
    Random numbers are drawn on ``generator``'s device (CPU by default), then moved.
    """
    if pose_3d.ndim < 2 or pose_3d.shape[-2:] != (H36M17.num_joints, 3):
        raise ValueError(f"perturb_bones: expected (..., {H36M17.num_joints}, 3), got {tuple(pose_3d.shape)}")
    if not 0.0 <= max_deg <= 180.0:
        raise ValueError(f"perturb_bones.max_deg: expected a value in [0, 180], got {max_deg}")
    bones = joints_to_bones(pose_3d)
    draw_on = generator.device if generator is not None else torch.device("cpu")
    kw = dict(generator=generator, device=draw_on, dtype=pose_3d.dtype)
    angle = torch.rand(bones.shape[:-1], **kw).to(pose_3d.device) * math.radians(max_deg)
    v = torch.randn(bones.shape, **kw).to(pose_3d.device)
    # A random vector minus its component along the bone: a random perpendicular axis.
    # (rodrigues_rotate normalises it; a zero-length bone stays zero whatever the axis.)
    d = bones / torch.linalg.vector_norm(bones, dim=-1, keepdim=True).clamp_min(1e-8)
    axis = v - (v * d).sum(-1, keepdim=True) * d
    return bones_to_joints(rodrigues_rotate(bones, axis, angle), root=pose_3d[..., 0, :])


class HistoryPool:
    """A pool of past fakes (default 4,096), as in the released code.

    D sees a mix of current fakes and older ones, which steadies the adversarial game.
    Entries are stored detached, on the device of the first batch pushed.
    """

    def __init__(self, size: int = 4096):
        if size < 1:
            raise ValueError(f"history_pool.size: expected a positive integer, got {size}")
        self.size = size
        self._store: torch.Tensor | None = None
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def push_and_sample(self, fakes: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Store detached ``fakes (B, ...)`` and return a detached batch of the same shape.

        The batch is a random half of the current fakes (``B - B // 2`` rows) followed by
        ``B // 2`` rows drawn with replacement from the pool as it was before this push;
        all current fakes while the pool is empty. Once full, new rows replace random
        old entries.
        """
        fakes = fakes.detach()
        if fakes.ndim < 1 or fakes.shape[0] < 1:
            raise ValueError(f"history pool: expected a non-empty batch (B, ...), got {tuple(fakes.shape)}")
        if self._store is not None and fakes.shape[1:] != self._store.shape[1:]:
            raise ValueError(
                f"history pool: holds samples of shape {tuple(self._store.shape[1:])}, "
                f"got a batch of {tuple(fakes.shape[1:])}"
            )
        B = fakes.shape[0]
        draw_on = generator.device if generator is not None else torch.device("cpu")
        if self._count == 0:
            out = fakes.clone()
        else:
            n_old = B // 2
            keep = torch.randperm(B, generator=generator, device=draw_on)[: B - n_old].to(fakes.device)
            old = torch.randint(self._count, (n_old,), generator=generator, device=draw_on)
            out = torch.cat([fakes[keep], self._store[old.to(self._store.device)].to(fakes.device)])
        self._push(fakes, generator, draw_on)
        return out

    def state_dict(self) -> dict:
        """The pool's contents (on the CPU), for epoch checkpoints."""
        store = None if self._store is None else self._store.detach().cpu().clone()
        return {"size": self.size, "count": self._count, "store": store}

    def load_state_dict(self, state: dict, device: torch.device | None = None) -> None:
        if state["size"] != self.size:
            raise ValueError(f"history pool: checkpoint holds a pool of {state['size']}, this one has {self.size}")
        store = state["store"]
        self._store = None if store is None else store.to(device or store.device)
        self._count = int(state["count"])

    def _push(self, fakes: torch.Tensor, generator: torch.Generator | None, draw_on: torch.device) -> None:
        if self._store is None:
            # zeros, not new_empty: the unfilled rows go into epoch checkpoints, whose
            # bytes must not depend on what the memory held before
            self._store = fakes.new_zeros((self.size, *fakes.shape[1:]))
        fakes = fakes.to(self._store.device)
        n_new = min(fakes.shape[0], self.size - self._count)
        self._store[self._count : self._count + n_new] = fakes[:n_new]
        self._count += n_new
        rest = fakes[n_new:][-self.size :]
        if len(rest):
            slots = torch.randperm(self.size, generator=generator, device=draw_on)[: len(rest)]
            self._store[slots.to(self._store.device)] = rest
