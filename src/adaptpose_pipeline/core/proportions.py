"""The target's skeleton proportions, estimated from its 2D alone.

Datasets disagree on where joints sit (CMU-derived or SMPL-regressed joints against
Human3.6M's markers: on the devbench the head segment is 1.6x the source's, the spine
and forearm 0.75x, the shoulders 1.3x). No camera explains such a gap, so a 2D critic
separates the domains by it, and a lifter trained on the source's proportions is
wrong by it on every target frame.

A bone's 2D length is its 3D length times a foreshortening factor of at most 1 (under
a scale-normalised weak perspective). Over many frames and views a high quantile of
the normalised 2D length is therefore close to the 3D length relative to the body's
2D size, in either domain, and the ratio of the two domains' quantiles estimates the
per-bone length ratio target/source without any target 3D. The ratios are then
rescaled so that the summed bone length of the source skeleton is kept: absolute
size is not observable from normalised 2D.

Shapes: poses ``(N, 17, 2|3)`` in the H36M-17 order (:data:`skeleton.H36M17`); a
proportion vector is ``(16,)``, one factor per bone in ``H36M17.children`` order.
"""

from __future__ import annotations

import numpy as np
import torch

from adaptpose_pipeline.core.skeleton import H36M17, bone_lengths, bones_to_joints, joints_to_bones

LABELS: tuple[str, ...] = ("target", "source")


def _bone_lengths_np(poses: np.ndarray) -> np.ndarray:
    """``(N, 17, D)`` -> ``(N, 16)``."""
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1] != H36M17.num_joints or poses.shape[2] not in (2, 3):
        raise ValueError(f"poses: expected shape (N, {H36M17.num_joints}, 2|3), got {poses.shape}")
    return bone_lengths(joints_to_bones(torch.from_numpy(poses))).numpy()


def length_quantiles(pose_2d: np.ndarray, quantile: float) -> np.ndarray:
    """Per-bone ``quantile`` (percent) of the 2D bone lengths ``(N, 17, 2)`` -> ``(16,)``."""
    if not 0 < quantile <= 100:
        raise ValueError(f"proportions.quantile: expected a percentage in (0, 100], got {quantile}")
    lengths = _bone_lengths_np(pose_2d)
    if len(lengths) == 0:
        raise ValueError("proportions: no 2D poses to estimate bone lengths from")
    if not np.isfinite(lengths).all():
        raise ValueError("proportions: the 2D poses hold NaN or infinite values")
    return np.percentile(lengths, quantile, axis=0)


def estimate_proportions(
    source_2d: np.ndarray, target_2d: np.ndarray, source_3d: np.ndarray, quantile: float = 99.0
) -> np.ndarray:
    """Per-bone length ratios target/source ``(16,)`` from normalised 2D alone.

    ``source_2d``, ``target_2d``: ``(N, 17, 2)`` in the same normalisation;
    ``source_3d``: ``(M, 17, 3)`` source poses, whose mean bone lengths weight the
    rescaling that keeps the source skeleton's summed bone length.
    """
    q_src = length_quantiles(source_2d, quantile)
    q_tgt = length_quantiles(target_2d, quantile)
    if (q_src <= 0).any():
        raise ValueError("proportions: a source bone has zero 2D length at the chosen quantile")
    ratio = q_tgt / q_src
    mean_3d = _bone_lengths_np(source_3d).mean(0)
    return ratio * (mean_3d.sum() / (ratio * mean_3d).sum())


def rescale_bones(pose: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Scale every bone of root-relative poses ``(..., 17, 3)`` by ``scale (16,)``,
    keeping its direction and the root joint."""
    bones = joints_to_bones(pose)
    return bones_to_joints(bones * scale.to(bones)[:, None], root=pose[..., 0, :])
