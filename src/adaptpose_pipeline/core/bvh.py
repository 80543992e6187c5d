"""BVH motion files (Biovision hierarchy): fit joint positions and write them.

Frame. The files written here are y up, and a body in the rest pose faces +z with its
left towards +x (the convention of motion-capture BVH such as CMU's; Blender imports
it upright). :func:`from_camera` turns camera-frame joints (x right, y down,
z forward) into that frame by a half turn about x: ``(x, y, z) -> (x, -y, -z)``.

Hierarchy. The skeleton's joint tree (Human3.6M-17 by default), written depth first:
the root (joint 0) has six channels, ``Xposition Yposition Zposition`` and three
rotations, every other joint three rotations, and each leaf ends in an ``End Site``
(a short stub along its bone, for viewers; it carries no data). OFFSETs are each
bone's mean length over the sequence along a rest direction:

- a bone whose parent has one child: :data:`REST_DIRECTIONS`, an "I-pose" (legs and
  arms straight down, spine and head straight up);
- the children of a joint with several (pelvis: hips and spine; thorax: shoulders and
  neck): their mean direction in a frame the children define (x from the right to
  the left child, y towards the remaining child), so the rest pose keeps the
  sequence's own hip and shoulder geometry.

Rotations. ``order`` names the rotation channels (default ``"ZXY"``: ``Zrotation
Xrotation Yrotation``); a joint's local rotation is ``R_Z(a) @ R_X(b) @ R_Y(c)``
acting on its children's offsets (column vectors), angles in degrees. Per frame a
joint's global rotation is

- one child: the parent's rotation times the smallest local rotation that turns the
  rest bone towards the observed one (no twist about the bone);
- several children: the rotation that best maps all its rest offsets onto the observed
  bones (Kabsch);
- a leaf: its parent's (no local rotation).

A single child's bone is aimed from its parent's *fitted* position at the child's
observed position, so errors do not build up along chains (Kabsch fits the observed
bones). Forward kinematics gives each joint back to within the summed length changes
(from the mean) of the bones above it, exactly for rigid bones, plus the Kabsch
residual where a multi-child joint's children move relative to each other (the spine
against the hips: a few mm on the synthetic motions).

Shapes: joints ``(T, J, 3)``; rotations ``(..., 3, 3)``; Euler angles ``(..., 3)``.
numpy in and out (Kabsch through roma). The tests read the files back
(``tests/bvh_reader.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import roma
import torch

from adaptpose_pipeline.core.skeleton import H36M17, Skeleton

ORDERS: tuple[str, ...] = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")
DEFAULT_ORDER = "ZXY"
_UP, _DOWN = (0.0, 1.0, 0.0), (0.0, -1.0, 0.0)
# Rest direction of each bone (named by its child joint) whose parent has a single child.
REST_DIRECTIONS: dict[str, tuple[float, float, float]] = {
    "r_knee": _DOWN,
    "r_ankle": _DOWN,
    "l_knee": _DOWN,
    "l_ankle": _DOWN,
    "thorax": _UP,
    "head": _UP,
    "l_elbow": _DOWN,
    "l_wrist": _DOWN,
    "r_elbow": _DOWN,
    "r_wrist": _DOWN,
}
END_SITE_FRACTION = 0.25  # an End Site continues its leaf's bone by this share of its length
_CAMERA_TO_BVH = np.array([1.0, -1.0, -1.0])
_EPS = 1e-9


def from_camera(x: np.ndarray) -> np.ndarray:
    """Camera-frame points ``(..., 3)`` (x right, y down, z forward) -> the y-up BVH frame."""
    return np.asarray(x, dtype=np.float64) * _CAMERA_TO_BVH


# --------------------------------------------------------------------------- rotations


def _check_order(order: str) -> tuple[int, int, int]:
    if order not in ORDERS:
        raise ValueError(f"BVH rotation order: expected one of {ORDERS}, got {order!r}")
    return tuple("XYZ".index(a) for a in order)  # type: ignore[return-value]


def matrix_to_euler(R: np.ndarray, order: str = DEFAULT_ORDER) -> np.ndarray:
    """``(..., 3, 3)`` -> ``(..., 3)`` degrees ``(a, b, c)`` in ``order``'s channel order,
    ``R = R_a1(a) @ R_a2(b) @ R_a3(c)``, the middle angle in ``[-90, 90]``. At gimbal
    lock (middle angle +-90) the last is 0.

    Written out rather than scipy's ``Rotation.as_euler``: that one takes the lock
    within about 1e-5 degrees of it (and warns), so near-locked frames would change
    their angles."""
    i, j, k = _check_order(order)
    R = np.asarray(R, dtype=np.float64)
    s = 1.0 if (j - i) % 3 == 1 else -1.0  # +1 for the cyclic orders XYZ, YZX, ZXY
    cos_b = np.hypot(R[..., i, i], R[..., i, j])
    b = np.arctan2(s * R[..., i, k], cos_b)
    locked = cos_b < 1e-9
    a = np.where(locked, np.arctan2(s * R[..., k, j], R[..., j, j]), np.arctan2(-s * R[..., j, k], R[..., k, k]))
    c = np.where(locked, 0.0, np.arctan2(-s * R[..., i, j], R[..., i, i]))
    return np.degrees(np.stack([a, b, c], axis=-1))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), _EPS)


def _skew(v: np.ndarray) -> np.ndarray:
    K = np.zeros(v.shape[:-1] + (3, 3))
    K[..., 0, 1], K[..., 0, 2] = -v[..., 2], v[..., 1]
    K[..., 1, 0], K[..., 1, 2] = v[..., 2], -v[..., 0]
    K[..., 2, 0], K[..., 2, 1] = -v[..., 1], v[..., 0]
    return K


def smallest_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The rotation ``(..., 3, 3)`` of least angle turning direction ``a`` into ``b``
    (``(..., 3)`` each, any length). Opposite directions: a half turn about an axis
    perpendicular to ``a``. (scipy's ``Rotation.align_vectors`` takes one pair per
    call and picks another axis for opposite directions.)"""
    a, b = np.broadcast_arrays(_unit(np.asarray(a, float)), _unit(np.asarray(b, float)))
    v, c = np.cross(a, b), np.sum(a * b, axis=-1)
    K = _skew(v)
    denom = np.where(c > -1 + 1e-12, 1 + c, 1.0)[..., None, None]
    R = np.eye(3) + K + K @ K / denom
    flip = c <= -1 + 1e-12
    if flip.any():
        axis = np.cross(a[flip], np.eye(3)[np.argmin(np.abs(a[flip]), axis=-1)])
        n = _unit(axis)
        R[flip] = 2 * n[..., :, None] * n[..., None, :] - np.eye(3)
    return R


def kabsch(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Rotations ``(T, 3, 3)`` minimising ``sum_k |R a_k - b_k|^2`` for ``A (K, 3)``,
    ``B (T, K, 3)`` (no translation, no scale)."""
    A_t, B_t = torch.as_tensor(A, dtype=torch.float64), torch.as_tensor(B, dtype=torch.float64)
    return roma.rigid_vectors_registration(A_t.expand(B_t.shape), B_t).numpy()


# --------------------------------------------------------------------------- fitting


def _children(parents: tuple[int, ...]) -> list[list[int]]:
    kids: list[list[int]] = [[] for _ in parents]
    for child, parent in enumerate(parents):
        if parent >= 0:
            kids[parent].append(child)
    return kids


def _left_right(skeleton: Skeleton, kids: list[int]) -> tuple[int, int, list[int]]:
    names = [skeleton.joints[k] for k in kids]
    for k, name in zip(kids, names):
        if name.startswith("l_") and "r_" + name[2:] in names and len(kids) > 2:
            right = kids[names.index("r_" + name[2:])]
            return k, right, [o for o in kids if o not in (k, right)]
    raise ValueError(
        f"BVH rest pose: joint with children {names} needs a left/right pair (l_x, r_x) and "
        "at least one other child to define its frame"
    )


def rest_offsets(joints: np.ndarray, skeleton: Skeleton = H36M17) -> np.ndarray:
    """Rest OFFSET of each joint ``(J, 3)`` (the root's is zero) in the joints' units:
    mean bone length along the rest direction (see the module docstring)."""
    parents = skeleton.parents
    offsets = np.zeros((skeleton.num_joints, 3))
    for p, kids in enumerate(_children(parents)):
        vectors = {c: joints[:, c] - joints[:, p] for c in kids}
        if len(kids) == 1:
            name = skeleton.joints[kids[0]]
            if name not in REST_DIRECTIONS:
                raise ValueError(f"BVH rest pose: no rest direction for bone {name!r} (REST_DIRECTIONS)")
            directions = {kids[0]: np.asarray(REST_DIRECTIONS[name])}
        elif kids:
            left, right, others = _left_right(skeleton, kids)
            x = _unit(vectors[left] - vectors[right])
            u = np.mean([vectors[o] for o in others], axis=0)
            y = _unit(u - np.sum(u * x, axis=-1, keepdims=True) * x)
            frame = np.stack([x, y, np.cross(x, y)], axis=-1)  # (T, 3, 3), columns x, y, z
            directions = {c: _unit(_unit(np.einsum("tji,tj->ti", frame, v)).mean(axis=0)) for c, v in vectors.items()}
        for c in kids:
            offsets[c] = directions[c] * np.linalg.norm(vectors[c], axis=-1).mean()
    return offsets


def fit_rotations(joints: np.ndarray, offsets: np.ndarray, parents: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Local rotations ``(T, J, 3, 3)`` that pose ``offsets (J, 3)`` like ``joints
    (T, J, 3)``, and the fitted joint positions ``(T, J, 3)`` (forward kinematics)."""
    T, J = joints.shape[:2]
    kids = _children(parents)
    glob, local = np.empty((T, J, 3, 3)), np.empty((T, J, 3, 3))
    fitted = np.empty((T, J, 3))
    for j in range(J):
        p = parents[j]
        parent_rot = glob[:, p] if p >= 0 else np.broadcast_to(np.eye(3), (T, 3, 3))
        fitted[:, j] = joints[:, j] if p < 0 else fitted[:, p] + glob[:, p] @ offsets[j]
        if not kids[j]:
            rot = parent_rot
        elif len(kids[j]) == 1:
            c = kids[j][0]
            seen = np.einsum("tji,tj->ti", parent_rot, joints[:, c] - fitted[:, j])  # in the parent's frame
            rot = parent_rot @ smallest_rotation(offsets[c], seen)
        else:
            # Observed bones from the observed joint: their shape, not the drift of the fit, sets the turn.
            rot = kabsch(offsets[kids[j]], joints[:, kids[j]] - joints[:, j, None])
        glob[:, j] = rot
        local[:, j] = parent_rot.swapaxes(-1, -2) @ rot
    return local, fitted


def depth_first(parents: tuple[int, ...]) -> list[int]:
    """Joint indices in depth-first order from the root (the order a BVH lists them)."""
    kids, order, stack = _children(parents), [], [0]
    while stack:
        j = stack.pop()
        order.append(j)
        stack.extend(reversed(kids[j]))
    return order


# --------------------------------------------------------------------------- the file


@dataclass
class Bvh:
    """A BVH file's content, joints in file (depth-first) order.

    ``offsets (J, 3)`` and position channels in file units; rotation channels in
    degrees; ``motion (F, C)`` holds every frame's channel values in file order;
    ``end_sites`` maps a joint index to its End Site offset.
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    end_sites: dict[int, np.ndarray]
    frame_time: float
    motion: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])


def fit_bvh(
    joints: np.ndarray,
    skeleton: Skeleton = H36M17,
    fps: float = 25.0,
    order: str = DEFAULT_ORDER,
    scale: float = 1.0,
) -> Bvh:
    """A BVH of joint positions ``(T, J, 3)`` already in the BVH frame (y up, see
    :func:`from_camera`); lengths are multiplied by ``scale`` (100: metres -> cm)."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (skeleton.num_joints, 3) or len(joints) == 0:
        raise ValueError(f"fit_bvh: expected joints (T, {skeleton.num_joints}, 3) with T >= 1, got {joints.shape}")
    if not np.isfinite(joints).all():
        raise ValueError("fit_bvh: joints hold NaN or inf")
    if not (fps > 0 and scale > 0):
        raise ValueError(f"fit_bvh: expected fps > 0 and scale > 0, got {fps} and {scale}")
    _check_order(order)
    offsets = rest_offsets(joints, skeleton)
    local, _ = fit_rotations(joints, offsets, skeleton.parents)
    angles = matrix_to_euler(local, order)  # (T, J, 3)
    kids = _children(skeleton.parents)
    file_order = depth_first(skeleton.parents)
    new_index = {j: i for i, j in enumerate(file_order)}
    rotations = tuple(f"{a}rotation" for a in order)
    columns, channels, end_sites = [], [], {}
    for j in file_order:
        if j == 0:
            columns.append(joints[:, 0] * scale)
            channels.append(("Xposition", "Yposition", "Zposition") + rotations)
        else:
            channels.append(rotations)
        columns.append(angles[:, j])
        if not kids[j]:
            end_sites[new_index[j]] = offsets[j] * END_SITE_FRACTION * scale
    return Bvh(
        names=tuple(skeleton.joints[j] for j in file_order),
        parents=tuple(-1 if j == 0 else new_index[skeleton.parents[j]] for j in file_order),
        offsets=offsets[file_order] * scale,
        channels=tuple(channels),
        end_sites=end_sites,
        frame_time=1.0 / fps,
        motion=np.concatenate(columns, axis=1),
    )


def _fmt(values) -> str:
    # "+ 0.0" turns -0.0 into 0.0, and rounding first catches what prints as zero: the
    # text does not depend on the sign of rounding noise (1e-15 from an SVD).
    return " ".join(f"{round(float(v), 6) + 0.0:.6f}" for v in values)


def to_text(bvh: Bvh) -> str:
    """The BVH file as text (tabs for indentation, six decimals)."""
    kids = _children(bvh.parents)
    lines = ["HIERARCHY"]

    def joint(j: int, depth: int) -> None:
        pad = "\t" * depth
        lines.append(f"{pad}{'ROOT' if j == 0 else 'JOINT'} {bvh.names[j]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}\tOFFSET {_fmt(bvh.offsets[j])}")
        lines.append(f"{pad}\tCHANNELS {len(bvh.channels[j])} {' '.join(bvh.channels[j])}")
        for c in kids[j]:
            joint(c, depth + 1)
        if j in bvh.end_sites:
            lines.extend([f"{pad}\tEnd Site", f"{pad}\t{{", f"{pad}\t\tOFFSET {_fmt(bvh.end_sites[j])}", f"{pad}\t}}"])
        lines.append(f"{pad}}}")

    joint(0, 0)
    lines += ["MOTION", f"Frames: {bvh.num_frames}", f"Frame Time: {bvh.frame_time:.6f}"]
    lines += [_fmt(row) for row in bvh.motion]
    return "\n".join(lines) + "\n"
