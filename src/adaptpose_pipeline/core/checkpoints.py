"""Epoch checkpoints of long training loops (pretrain, adapt), for resuming.

A checkpoint is the loop's whole state after an epoch (``state_dict`` of the loops that
``core.loop.run_epochs`` runs: ``core.training.train_lifter``, ``core.adapt.adapt``), written atomically to ``<dir>/<target>/<stage>.pt`` after
every epoch. It is stamped with a fingerprint of the configuration, seed and input
arrays, so that ``checkpoints.resume=true`` never continues a run of other settings
or data: that is refused with an error naming the file.

Checkpoints are scratch state, not catalog artifacts: the finished run's weights are
the versioned artifacts; the checkpoint only makes an interrupted run cheaper to redo.

With several processes, rank 0 writes the file (``core.loop.run_epochs`` hands the
state to rank 0 only, with every rank's random states in it) and every rank reads it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import torch

from adaptpose_pipeline.core import distributed
from adaptpose_pipeline.core.runtime import atomic_write

log = logging.getLogger(__name__)
# Bump when the saved state's layout changes: older checkpoints are then refused.
CHECKPOINT_FORMAT = 1


def fingerprint(settings: dict, arrays: dict[str, dict[str, np.ndarray]], device: torch.device) -> str:
    """SHA-256 over JSON ``settings`` (config, seed, ...), the checkpoint format, the
    device type and torch version (random states differ between them), the number of
    processes when more than one (``core.distributed``: a run of N resumes only with N),
    and every input array's bytes."""
    stamp = {**settings, "_format": CHECKPOINT_FORMAT, "_device": device.type, "_torch": torch.__version__}
    processes = distributed.world().size
    if processes > 1:
        stamp["_processes"] = processes
    h = hashlib.sha256(json.dumps(stamp, sort_keys=True, default=str).encode())
    for name in sorted(arrays):
        for key in sorted(arrays[name]):
            a = np.ascontiguousarray(arrays[name][key])
            h.update(f"{name}/{key}:{a.dtype.str}:{a.shape}".encode())
            h.update(a.tobytes())
    return h.hexdigest()


class EpochCheckpoints:
    """Where one stage's checkpoint lives, and whether to resume from it.

    ``params`` is the ``checkpoints`` parameter block: ``dir`` (folder, relative to the
    folder ``kedro run`` runs in, the project root) and ``resume`` (bool).
    ``dir: null`` turns checkpoints off.
    """

    def __init__(self, params: dict, target: str, stage: str, fingerprint: str):
        folder = params.get("dir")
        self.path = None if folder is None else Path(folder) / target / f"{stage}.pt"
        self.resume = bool(params.get("resume", False))
        self.fingerprint = fingerprint
        if self.resume and self.path is None:
            raise ValueError("checkpoints.resume: true needs checkpoints.dir (it is null)")

    def load(self) -> dict | None:
        """The state to resume from, or None (resume off, or no checkpoint yet)."""
        if not self.resume:
            return None
        if not self.path.exists():
            log.warning("checkpoints.resume: no checkpoint at %s yet; starting from the first epoch", self.path)
            return None
        try:
            with open(self.path, "rb") as fh:
                payload = torch.load(fh, map_location="cpu", weights_only=True)
        except Exception as exc:  # a corrupt file can make torch's unpickler raise almost anything
            raise ValueError(
                f"{self.path}: cannot be read as an epoch checkpoint ({type(exc).__name__}: {exc}); "
                "delete it to start afresh"
            ) from exc
        if not isinstance(payload, dict) or payload.get("fingerprint") != self.fingerprint:
            raise ValueError(
                f"{self.path}: written by a run with other parameters, seed, input data, device or torch version "
                f"(fingerprint {str(payload.get('fingerprint'))[:12] if isinstance(payload, dict) else '?'}..., "
                f"this run {self.fingerprint[:12]}...); run with checkpoints.resume=false or delete the file"
            )
        state = payload.get("state")
        if not isinstance(state, dict) or "epoch" not in state:
            raise ValueError(f"{self.path}: expected an epoch checkpoint's state with an 'epoch', found none; delete it to start afresh")
        log.info("resuming from %s after epoch %d", self.path, state["epoch"])
        return state

    def save(self, state: dict) -> None:
        if self.path is not None:
            payload = {"fingerprint": self.fingerprint, "state": state}
            atomic_write(self.path, lambda fh: torch.save(payload, fh))
