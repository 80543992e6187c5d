"""3D pose metrics in numpy: the evaluation face of the pose errors whose training
face, in torch, is ``losses`` (never mixed in one function).

Poses are ``(N, J, 3)`` (any leading dims work where stated); errors come out in
the poses' unit. Every metric averages over **frames and joints** of what it is
given: the caller decides which frames are valid and says so in the protocol.

The errors are :func:`joint_errors` ``(..., J)`` under an alignment, averaged:

- MPJPE (``"root"``): Euclidean joint error after aligning the roots.
- P-MPJPE (``"procrustes"``): after a similarity Procrustes fit per frame (rotation,
  scale, translation).
- N-MPJPE (``"scale"``): after a least-squares scale per frame (roots aligned).

A collapsed prediction (every joint at one point) is scored, not NaN: its best
similarity fit is scale 0, all joints on the ground truth's centroid, so its P-MPJPE is
the ground truth's mean joint distance to its centroid; its best scale leaves it on the
root, so its N-MPJPE is its MPJPE. A collapsed ground truth gets scale 0 the same way.
- PCK@t: share of joints with error below ``t`` (strict, as the 3DHP evaluation).
- AUC: mean PCK over thresholds ``0, 5, ..., 150`` mm.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ALIGNMENTS = ("root", "procrustes", "scale")
AUC_THRESHOLDS_MM = np.arange(0.0, 150.0 + 1e-9, 5.0)


def _check_pair(pred: np.ndarray, gt: np.ndarray) -> None:
    if pred.shape != gt.shape or pred.ndim < 2 or pred.shape[-1] != 3:
        raise ValueError(
            f"metrics: predictions and ground truth must both be (..., J, 3); got "
            f"{tuple(pred.shape)} and {tuple(gt.shape)}"
        )
    for name, x in (("predictions", pred), ("ground truth", gt)):
        if not np.isfinite(x).all():
            raise ValueError(f"metrics: {name} contain NaN or inf")


def root_align(x: np.ndarray, root: int = 0) -> np.ndarray:
    """Subtract the root joint: ``(..., J, 3)``."""
    return x - x[..., root : root + 1, :]


def _safe(norm: np.ndarray) -> np.ndarray:
    """``norm`` with zeros replaced by 1, to divide by: a zero-size pose stays zero."""
    return np.where(norm > 0, norm, 1.0)


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Similarity transform of each ``pred`` pose ``(..., J, 3)`` onto ``gt``.

    A pose with all joints on one point (``pred`` or ``gt``) gets scale 0: ``pred``
    then lands on ``gt``'s centroid, the best fit there is.
    """
    mu_p = pred.mean(-2, keepdims=True)
    mu_g = gt.mean(-2, keepdims=True)
    p0, g0 = pred - mu_p, gt - mu_g
    norm_p = np.sqrt((p0**2).sum((-2, -1), keepdims=True))
    norm_g = np.sqrt((g0**2).sum((-2, -1), keepdims=True))
    p0, g0 = p0 / _safe(norm_p), g0 / _safe(norm_g)
    H = p0.swapaxes(-1, -2) @ g0
    U, s, Vt = np.linalg.svd(H)
    V = Vt.swapaxes(-1, -2)
    R = V @ U.swapaxes(-1, -2)
    # Reflection: flip the last singular vector so R is a proper rotation.
    sign = np.sign(np.linalg.det(R))
    V = V.copy()
    V[..., :, -1] *= sign[..., None]
    s = s.copy()
    s[..., -1] *= sign
    R = V @ U.swapaxes(-1, -2)
    scale = (s.sum(-1)[..., None, None]) * norm_g / _safe(norm_p)  # 0 when either pose is collapsed
    return scale * (pred - mu_p) @ R.swapaxes(-1, -2) + mu_g


def scale_align(pred: np.ndarray, gt: np.ndarray, root: int = 0) -> np.ndarray:
    """Root-aligned ``pred`` times its least-squares scale onto root-aligned ``gt``
    (a prediction with every joint on the root stays there)."""
    p, g = root_align(pred, root), root_align(gt, root)
    scale = (p * g).sum((-2, -1), keepdims=True) / _safe((p * p).sum((-2, -1), keepdims=True))
    return scale * p


def joint_errors(pred: np.ndarray, gt: np.ndarray, alignment: str = "root") -> np.ndarray:
    """Per-joint Euclidean errors ``(..., J)`` after ``alignment`` (see ALIGNMENTS)."""
    _check_pair(pred, gt)
    if alignment == "root":
        diff = root_align(pred) - root_align(gt)
    elif alignment == "procrustes":
        diff = procrustes_align(pred, gt) - gt
    elif alignment == "scale":
        diff = scale_align(pred, gt) - root_align(gt)
    else:
        raise ValueError(f"alignment: expected one of {ALIGNMENTS}, got {alignment!r}")
    return np.linalg.norm(diff, axis=-1)


def pck(errors: np.ndarray, threshold: float) -> float:
    """Share of ``errors`` strictly below ``threshold`` (same unit)."""
    return float((np.asarray(errors) < threshold).mean())


def auc(errors_mm: np.ndarray, thresholds_mm: np.ndarray = AUC_THRESHOLDS_MM) -> float:
    """Mean PCK over ``thresholds_mm`` (default 0..150 step 5) of errors in mm."""
    errors_mm = np.asarray(errors_mm)
    return float(np.mean([pck(errors_mm, t) for t in thresholds_mm]))


def pck_curve(errors_mm: np.ndarray, thresholds_mm: np.ndarray = AUC_THRESHOLDS_MM) -> np.ndarray:
    """PCK at each threshold ``(len(thresholds),)``: the curve AUC averages."""
    errors_mm = np.asarray(errors_mm)
    return np.array([pck(errors_mm, t) for t in thresholds_mm])


def per_joint(errors: np.ndarray, joint_names: Sequence[str]) -> dict[str, float]:
    """Mean error of each joint over frames; ``errors (N, J)``."""
    if errors.shape[-1] != len(joint_names):
        raise ValueError(f"per_joint: {errors.shape[-1]} joints but {len(joint_names)} names")
    means = errors.reshape(-1, errors.shape[-1]).mean(0)
    return {name: float(v) for name, v in zip(joint_names, means)}


def per_group(errors: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    """Mean error per frame label (sequence, action, ...); ``errors (N, J)``, ``labels (N,)``."""
    labels = np.asarray(labels)
    if labels.shape != errors.shape[:1]:
        raise ValueError(f"per_group: {len(labels)} labels for {errors.shape[0]} frames")
    return {str(g): float(errors[labels == g].mean()) for g in np.unique(labels)}


def summarise(
    pred_m: np.ndarray,
    gt_m: np.ndarray,
    joint_names: Sequence[str],
    groups: Sequence[str] | None = None,
    pck_threshold_mm: float = 150.0,
) -> dict:
    """All metrics of ``(N, J, 3)`` poses in metres, reported in millimetres.

    Returns ``{"overall": {...}, "per_joint": {...}, "per_sequence": {...}}`` with
    MPJPE-based breakdowns, averaged over frames.
    """
    if pred_m.ndim != 3 or len(pred_m) == 0:
        raise ValueError(f"summarise: expected (N>0, J, 3) poses, got {tuple(pred_m.shape)}")
    err = joint_errors(pred_m, gt_m, "root") * 1000.0
    overall = {
        "mpjpe": float(err.mean()),
        "p_mpjpe": float(joint_errors(pred_m, gt_m, "procrustes").mean() * 1000.0),
        "n_mpjpe": float(joint_errors(pred_m, gt_m, "scale").mean() * 1000.0),
        f"pck{int(pck_threshold_mm)}": pck(err, pck_threshold_mm),
        "auc": auc(err),
    }
    return {
        "overall": overall,
        "per_joint": per_joint(err, joint_names),
        "per_sequence": per_group(err, groups) if groups is not None else {},
    }
