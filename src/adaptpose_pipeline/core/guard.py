"""The label-free guard: never worse than no adaptation, without target 3D.

Adaptation can hurt (a generator that drifts away from the target, or fakes that pull
the lifter off the source). The guard decides, from numbers that need no target 3D,
which lifter to keep: the adapted lifter of one epoch, or the control (the baseline
fine-tuned as long on source alone, see ``core.adapt``).

Scores of a lifter (:func:`label_free_scores`):

- ``source_val_mpjpe_mm``: MPJPE on the source validation split (source labels only);
- ``target_reprojection``: Eqs. 18-19 on the target's own 2D: lift each target frame,
  drop depth, root-centre and scale-normalise both, mean L1 distance per frame. A lifter
  that understands the target's views lifts poses whose orthographic projection agrees
  with the 2D it was given.

The rule (:func:`choose`) uses those and the epoch's domain measures (``core.adapt``):
an adapted epoch is *eligible* when

1. its source validation MPJPE is at most the control's plus ``tolerance_mm``
   (adaptation must not break the source), and
2. the fakes it was fine-tuned on are closer to the target's 2D than the source's own
   2D is (``fd_generated_target < fd_source_target``, Fréchet distances of normalised
   2D): if generation did not move towards the target, there is no reason to expect it
   to help there.

Among eligible epochs the one whose fakes are closest to the target (lowest
``fd_generated_target``) is kept; when none is eligible, the control is kept
(``fallback``). ``target_reprojection`` is recorded for inspection but not used: on
real motion it did not track the target error (it rose on epochs that lowered it).
"""

from __future__ import annotations

import numpy as np
import torch

from adaptpose_pipeline.core.adapt_losses import reprojection_loss
from adaptpose_pipeline.core.training import predict_sequences

# Target frames scored per lifter: enough for a stable mean, small enough to be cheap.
MAX_TARGET_FRAMES = 20_000


def label_free_scores(model: torch.nn.Module, source_validation: dict, target_train: dict, device: torch.device) -> dict[str, float]:
    """``source_val_mpjpe_mm`` and ``target_reprojection`` of ``model`` (see module docstring)."""
    was_training = model.training
    pred = predict_sequences(model, source_validation, device)
    valid = source_validation["valid"]
    src = float(np.linalg.norm(pred[valid] - source_validation["pose_3d"][valid], axis=-1).mean() * 1000.0)
    lifted = predict_sequences(model, target_train, device)
    rows = np.flatnonzero(target_train["valid"])[:MAX_TARGET_FRAMES]
    reproj = reprojection_loss(torch.as_tensor(lifted[rows]), torch.as_tensor(target_train["pose_2d"][rows], dtype=torch.float32))
    model.train(was_training)
    return {"source_val_mpjpe_mm": src, "target_reprojection": float(reproj)}


GUARD_KEYS = ("source_val_mpjpe_mm", "fd_generated_target", "fd_source_target")


def choose(epochs: list[dict], control: dict, tolerance_mm: float) -> dict:
    """Pick an adapted epoch or fall back to the control (see module docstring).

    ``epochs``: per adapted epoch ``{"epoch", "source_val_mpjpe_mm",
    "fd_generated_target", "fd_source_target", ...}`` (epochs without them, e.g.
    warm-up, are skipped); ``control``: the control's scores (``source_val_mpjpe_mm``).
    Returns ``{"selected_epoch": int | None, "fallback": bool, "reason": str,
    "control": {...}, "selected": {...} | None}``.
    """
    if tolerance_mm < 0:
        raise ValueError(f"adapt.guard.tolerance_mm: expected >= 0, got {tolerance_mm}")
    if "source_val_mpjpe_mm" not in control:
        raise KeyError("guard: the control's scores lack 'source_val_mpjpe_mm'")
    scored = [e for e in epochs if all(k in e for k in GUARD_KEYS)]
    base = {"control": dict(control)}
    if not scored:
        return {"selected_epoch": None, "fallback": True, "reason": "no adapted epoch was scored", "selected": None, **base}
    limit = control["source_val_mpjpe_mm"] + tolerance_mm
    within = [e for e in scored if e["source_val_mpjpe_mm"] <= limit]
    closer = [e for e in within if e["fd_generated_target"] < e["fd_source_target"]]
    if not closer:
        why = (
            f"no adapted epoch keeps the source validation MPJPE within {limit:.2f} mm (control + {tolerance_mm} mm)"
            if not within
            else "no adapted epoch's fakes are closer to the target 2D than the source is (Frechet distance)"
        )
        return {"selected_epoch": None, "fallback": True, "reason": why, "selected": None, **base}
    best = min(closer, key=lambda e: e["fd_generated_target"])
    return {
        "selected_epoch": int(best["epoch"]),
        "fallback": False,
        "reason": "fakes closest to the target 2D among epochs within the source tolerance",
        "selected": {k: float(best[k]) for k in GUARD_KEYS + ("target_reprojection",) if k in best},
        **base,
    }
