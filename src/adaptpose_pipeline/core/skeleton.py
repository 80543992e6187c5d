"""The working skeleton: joint tables named once, and joints <-> bones.

Every dataset is mapped to Human3.6M-17 order on reading; this module is the one
place that order, its parents, its left/right pairs and its body parts are written.

A *bone* is indexed by its child joint: bone ``k`` of a skeleton with ``J`` joints
goes from ``parents[c]`` to ``c`` where ``c = children[k]`` (all joints but the
root, in table order). Tables are topologically sorted (a parent comes before its
children), so joints can be rebuilt from bones in one pass.

Shapes: joints ``(..., J, D)``, bones ``(..., J - 1, D)`` with ``D`` 2 or 3.
Functions accept torch tensors and are differentiable.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

H36M17_JOINTS: tuple[str, ...] = (
    "hip",
    "r_hip",
    "r_knee",
    "r_ankle",
    "l_hip",
    "l_knee",
    "l_ankle",
    "spine",
    "thorax",
    "neck",
    "head",
    "l_shoulder",
    "l_elbow",
    "l_wrist",
    "r_shoulder",
    "r_elbow",
    "r_wrist",
)
H36M17_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)

# Body parts for part-wise KCS, as bones named by their child joint. Together they
# cover every bone of H36M-17 exactly once; a part keeps only the bones a skeleton has.
BODY_PARTS: dict[str, tuple[str, ...]] = {
    "torso": ("spine", "thorax", "neck", "head"),
    "left_arm": ("l_shoulder", "l_elbow", "l_wrist"),
    "right_arm": ("r_shoulder", "r_elbow", "r_wrist"),
    "left_leg": ("l_hip", "l_knee", "l_ankle"),
    "right_leg": ("r_hip", "r_knee", "r_ankle"),
}


@dataclass(frozen=True)
class Skeleton:
    """A joint table: names and parent indices (``-1`` for the root)."""

    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.joints) != len(self.parents):
            raise ValueError(
                f"skeleton {self.name!r}: {len(self.joints)} joint names but "
                f"{len(self.parents)} parents"
            )
        if self.parents[0] != -1 or any(p == -1 for p in self.parents[1:]):
            raise ValueError(f"skeleton {self.name!r}: joint 0 must be the only root")
        for child, parent in enumerate(self.parents[1:], start=1):
            if not 0 <= parent < child:
                raise ValueError(
                    f"skeleton {self.name!r}: parent of {self.joints[child]!r} is {parent}; "
                    "parents must come before their children"
                )

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @property
    def num_bones(self) -> int:
        return len(self.joints) - 1

    @cached_property
    def children(self) -> tuple[int, ...]:
        """Child joint index of each bone, in bone order."""
        return tuple(range(1, self.num_joints))

    @cached_property
    def bone_parents(self) -> tuple[int, ...]:
        """Parent joint index of each bone, in bone order."""
        return self.parents[1:]

    def index(self, joint: str) -> int:
        try:
            return self.joints.index(joint)
        except ValueError:
            raise KeyError(f"skeleton {self.name!r} has no joint {joint!r}") from None

    def bone_index(self, child_joint: str) -> int:
        """Index of the bone that ends at ``child_joint``."""
        j = self.index(child_joint)
        if j == 0:
            raise KeyError(f"the root {child_joint!r} ends no bone")
        return j - 1

    @cached_property
    def left_right_pairs(self) -> tuple[tuple[int, int], ...]:
        """(left, right) joint indices, paired by name (``l_x`` with ``r_x``)."""
        pairs = []
        for i, name in enumerate(self.joints):
            if name.startswith("l_"):
                pairs.append((i, self.index("r_" + name[2:])))
        return tuple(pairs)

    @cached_property
    def flip_permutation(self) -> tuple[int, ...]:
        """Joint order after swapping left and right."""
        perm = list(range(self.num_joints))
        for left, right in self.left_right_pairs:
            perm[left], perm[right] = right, left
        return tuple(perm)

    @cached_property
    def parts(self) -> dict[str, tuple[int, ...]]:
        """Bone indices of each body part present in this skeleton."""
        return {
            part: tuple(self.bone_index(b) for b in bones if b in self.joints)
            for part, bones in BODY_PARTS.items()
        }

    def subset(self, name: str, keep: tuple[str, ...]) -> Skeleton:
        """A skeleton of the kept joints; a dropped joint's children attach to its parent."""
        missing = [k for k in keep if k not in self.joints]
        if missing:
            raise KeyError(f"skeleton {self.name!r} has no joints {missing}")
        kept = [j for j in self.joints if j in keep]
        parents = []
        for joint in kept:
            p = self.parents[self.index(joint)]
            while p != -1 and self.joints[p] not in keep:
                p = self.parents[p]
            parents.append(-1 if p == -1 else kept.index(self.joints[p]))
        return Skeleton(name, tuple(kept), tuple(parents))

    def indices(self, names: tuple[str, ...]) -> tuple[int, ...]:
        return tuple(self.index(n) for n in names)


H36M17 = Skeleton("h36m17", H36M17_JOINTS, H36M17_PARENTS)
# The released AdaptPose/PoseAug code drops the neck/nose joint: head hangs off thorax.
H36M16 = H36M17.subset("h36m16", tuple(j for j in H36M17_JOINTS if j != "neck"))

SKELETONS: dict[str, Skeleton] = {"h36m17": H36M17, "h36m16": H36M16}


def get_skeleton(name: str) -> Skeleton:
    try:
        return SKELETONS[name]
    except KeyError:
        raise KeyError(f"unknown skeleton {name!r}; expected one of {sorted(SKELETONS)}") from None


def check_joints(x: torch.Tensor, skeleton: Skeleton, what: str = "joints") -> None:
    """Raise if ``x`` is not ``(..., J, 2|3)`` for ``skeleton``."""
    if x.ndim < 2 or x.shape[-2] != skeleton.num_joints or x.shape[-1] not in (2, 3):
        raise ValueError(
            f"{what}: expected shape (..., {skeleton.num_joints}, 2|3) for "
            f"{skeleton.name}, got {tuple(x.shape)}"
        )


def joints_to_bones(joints: torch.Tensor, skeleton: Skeleton = H36M17) -> torch.Tensor:
    """Bone vectors child - parent: ``(..., J, D)`` -> ``(..., J-1, D)``."""
    check_joints(joints, skeleton)
    return joints[..., skeleton.children, :] - joints[..., skeleton.bone_parents, :]


def bones_to_joints(
    bones: torch.Tensor, skeleton: Skeleton = H36M17, root: torch.Tensor | None = None
) -> torch.Tensor:
    """Rebuild joints along the tree: ``(..., J-1, D)`` -> ``(..., J, D)``.

    ``root`` is ``(..., D)`` (zeros when omitted, i.e. root-relative joints).
    """
    if bones.ndim < 2 or bones.shape[-2] != skeleton.num_bones:
        raise ValueError(
            f"bones: expected shape (..., {skeleton.num_bones}, D) for {skeleton.name}, "
            f"got {tuple(bones.shape)}"
        )
    if root is None:
        root = torch.zeros_like(bones[..., 0, :])
    joints = [root]
    for k, child in enumerate(skeleton.children):
        joints.append(joints[skeleton.parents[child]] + bones[..., k, :])
    return torch.stack(joints, dim=-2)


def bone_lengths(bones: torch.Tensor) -> torch.Tensor:
    """``(..., B, D)`` -> ``(..., B)``."""
    return torch.linalg.vector_norm(bones, dim=-1)


def bone_directions(bones: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Unit bone vectors ``(..., B, D)``; zero-length bones stay zero."""
    return bones / bone_lengths(bones).clamp_min(eps).unsqueeze(-1)


def flip_left_right(joints: torch.Tensor, skeleton: Skeleton = H36M17) -> torch.Tensor:
    """Mirror ``(..., J, D)`` joints in x and swap left/right joints."""
    check_joints(joints, skeleton)
    flipped = joints[..., skeleton.flip_permutation, :].clone()
    flipped[..., 0] = -flipped[..., 0]
    return flipped
