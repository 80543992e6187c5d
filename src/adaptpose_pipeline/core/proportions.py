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

The tail estimate is biased low for a bone the target rarely shows side-on to the
camera (a target filmed mostly from one side sees its hips and shoulders
foreshortened in nearly every frame). A second estimate corrects each frame's 2D
length by the foreshortening the baseline lifter sees in it: the lifted bone's
direction gives the factor ``|d_xy| / |d|``, and the median of ``length / factor``
over the frames where the factor is at least ``min_foreshortening`` estimates the
unforeshortened normalised length in each domain. It uses every frame and no tail
assumption, but inherits the lifter's errors on the target. The two fail for
different reasons; ``estimator: both`` takes their geometric mean bone by bone. It
has lower ratio errors than the tail alone, but did not give lower MPJPE on the
development benchmark, so ``tail`` is the default (docs/adaptation.md has both
measurements).

Two uses of the estimate (``adapt.proportions.mode``). ``retarget`` (the default):
:func:`retarget_2d` redraws the target's 2D with the source's proportions, the method
runs in the source's skeleton, and the adapted lifter rescales its answer to the
target's (``lifter.Retargeted``); its network never has to tell two skeletons apart
from 2D, so the source is not unlearnt. ``estimate``: the generator's source motions
are re-proportioned to the target's and the lifter learns both skeletons, at a cost of
4-6 mm on the source's validation split (docs/adaptation.md).

Shapes: poses ``(N, 17, 2|3)`` in the H36M-17 order (:data:`skeleton.H36M17`); a
proportion vector is ``(16,)``, one factor per bone in ``H36M17.children`` order.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from adaptpose_pipeline.core.camera import frobenius_normalise
from adaptpose_pipeline.core.skeleton import H36M17, bone_lengths, bones_to_joints, joints_to_bones

log = logging.getLogger(__name__)
LABELS: tuple[str, ...] = ("target", "source")
ESTIMATORS: tuple[str, ...] = ("tail", "lifted", "both")


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


def lifted_lengths(pose_2d: np.ndarray, lifted_3d: np.ndarray, min_foreshortening: float = 0.5) -> np.ndarray:
    """Per-bone unforeshortened 2D length ``(16,)``: the median over frames of the 2D
    length divided by the foreshortening factor ``|d_xy| / |d|`` of the same bone in
    ``lifted_3d`` (camera coordinates), over the frames where that factor is at least
    ``min_foreshortening`` (NaN for a bone never seen so).

    ``pose_2d``: ``(N, 17, 2)`` normalised; ``lifted_3d``: ``(N, 17, 3)``, the lifter's
    answer for the same frames.
    """
    if not 0 < min_foreshortening < 1:
        raise ValueError(f"proportions.min_foreshortening: expected a value in (0, 1), got {min_foreshortening}")
    lengths = _bone_lengths_np(pose_2d)
    lifted_3d = np.asarray(lifted_3d, dtype=np.float64)
    if lifted_3d.shape[:2] != (len(lengths), H36M17.num_joints) or lifted_3d.shape[-1] != 3:
        raise ValueError(f"proportions: lifted poses {lifted_3d.shape} do not match the 2D poses {pose_2d.shape}")
    if not (np.isfinite(lengths).all() and np.isfinite(lifted_3d).all()):
        raise ValueError("proportions: the 2D or lifted poses hold NaN or infinite values")
    bones = joints_to_bones(torch.from_numpy(lifted_3d)).numpy()
    norm = np.linalg.norm(bones, axis=-1)
    factor = np.linalg.norm(bones[..., :2], axis=-1) / np.maximum(norm, 1e-12)
    seen = factor >= min_foreshortening
    corrected = np.where(seen, lengths / np.maximum(factor, 1e-12), np.nan)
    out = np.full(lengths.shape[1], np.nan)
    some = seen.any(axis=0)
    out[some] = np.nanmedian(corrected[:, some], axis=0)
    return out


def estimate_proportions(
    source_2d: np.ndarray,
    target_2d: np.ndarray,
    source_3d: np.ndarray,
    quantile: float = 99.0,
    lifted: tuple[np.ndarray, np.ndarray] | None = None,
    estimator: str = "tail",
    min_foreshortening: float = 0.5,
    min_change: float = 0.0,
) -> np.ndarray:
    """Per-bone length ratios target/source ``(16,)`` from normalised 2D alone.

    ``source_2d``, ``target_2d``: ``(N, 17, 2)`` in the same normalisation;
    ``source_3d``: ``(M, 17, 3)`` source poses, whose mean bone lengths weight the
    rescaling that keeps the source skeleton's summed bone length. ``estimator``:
    ``tail`` (quantile ratio), ``lifted`` (foreshortening-corrected medians, needs
    ``lifted`` = the baseline lifter's 3D for ``source_2d`` and ``target_2d``) or
    ``both`` (their geometric mean).

    ``min_change`` (log units, see :func:`combine`): a bone keeps the source's length
    unless its estimates say it changes by more than that: a small or uncertain
    difference is more likely the estimates' error, or the particular people of the
    target's adaptation split, than the datasets' skeleton conventions.
    """
    if min_change < 0:
        raise ValueError(f"proportions.min_change: expected a value >= 0 (log units), got {min_change}")
    if estimator not in ESTIMATORS:
        raise ValueError(f"proportions.estimator: expected one of {list(ESTIMATORS)}, got {estimator!r}")
    ratios = []
    if estimator in ("tail", "both"):
        q_src = length_quantiles(source_2d, quantile)
        q_tgt = length_quantiles(target_2d, quantile)
        if (q_src <= 0).any():
            raise ValueError("proportions: a source bone has zero 2D length at the chosen quantile")
        ratios.append(q_tgt / q_src)
    if estimator in ("lifted", "both"):
        if lifted is None:
            raise ValueError(f"proportions.estimator {estimator!r} needs the lifted source and target poses")
        l_src = lifted_lengths(source_2d, lifted[0], min_foreshortening)
        l_tgt = lifted_lengths(target_2d, lifted[1], min_foreshortening)
        if (l_src <= 0).any():
            raise ValueError("proportions: a source bone has zero lifted 2D length")
        ratio = l_tgt / l_src
        unseen = ~np.isfinite(ratio)
        if unseen.any():  # the other estimate alone, or the source's length
            names = [H36M17.joints[H36M17.children[i]] for i in np.flatnonzero(unseen)]
            log.warning("proportions: the lifter never sees bones %s at foreshortening >= %s; %s", names,
                        min_foreshortening, "the tail estimate alone is used" if ratios else "they keep the source's length")
            ratio[unseen] = ratios[0][unseen] if ratios else 1.0
        ratios.append(ratio)
    return combine(np.stack(ratios), _bone_lengths_np(source_3d).mean(0), min_change)


def combine(ratios: np.ndarray, mean_lengths: np.ndarray, min_change: float = 0.0) -> np.ndarray:
    """One ratio per bone ``(16,)`` from ``K`` estimates ``(K, 16)``: their geometric mean,
    rescaled so that the source's summed bone length (``mean_lengths (16,)``) is kept.

    With ``min_change > 0`` a bone keeps the source's length unless its change
    ``c = log mean - median over bones of log mean`` satisfies
    ``|c| > min_change + |log r_1 - log r_K| / 2``; for two estimates that is: unless
    both say the bone changes, in the same direction, by more than ``min_change``."""

    def keep_sum(r: np.ndarray) -> np.ndarray:
        return r * (mean_lengths.sum() / (r * mean_lengths).sum())

    ratios = np.asarray(ratios, dtype=np.float64)
    logs = np.log(ratios)
    mean = logs.mean(axis=0)
    if min_change > 0:
        # changes are measured from the median bone (the estimates share an overall
        # scale that normalised 2D cannot fix), so unchanged bones sit at 0
        change = mean - np.median(mean)
        uncertainty = np.abs(logs[0] - logs[-1]) / 2  # 0 with one estimate
        return keep_sum(np.exp(np.where(np.abs(change) > min_change + uncertainty, change, 0.0)))
    # one estimate is used as it is (no exp(log()) round trip)
    return keep_sum(ratios[0] if len(ratios) == 1 else np.exp(mean))


def retarget_2d(pose_2d: torch.Tensor, ratios: torch.Tensor, normalisation: str) -> torch.Tensor:
    """Normalised 2D poses ``(..., 17, 2)`` of the target, redrawn with the source's
    proportions: every 2D bone divided by its ratio ``ratios (16,)`` (target/source),
    keeping its direction and the root joint, then (``frobenius``) normalised again.

    A bone's 2D vector is its 3D vector projected; scaling the 3D bone scales its
    projection by the same factor (exactly under weak perspective, to first order under
    full perspective, a bone being short against the camera distance), so this is the
    2D the same motion would have with the source's skeleton. ``screen`` coordinates
    are a uniform scaling of pixels and need no renormalisation."""
    if normalisation not in ("screen", "frobenius"):
        raise ValueError(f"retarget_2d: normalisation expected 'screen' or 'frobenius', got {normalisation!r}")
    out = rescale_bones(pose_2d, 1.0 / ratios)
    if normalisation == "frobenius":
        out = frobenius_normalise(out)[0]
    return out


def rescale_bones(pose: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Scale every bone of root-relative poses ``(..., 17, 3)`` by ``scale (16,)``,
    keeping its direction and the root joint."""
    bones = joints_to_bones(pose)
    return bones_to_joints(bones * scale.to(bones)[:, None], root=pose[..., 0, :])
