"""The ground truth of a stand-in recording in the common form: what a dataset's
reader must give back from the files its stand-in writer wrote."""

from __future__ import annotations

import numpy as np

from adaptpose_pipeline.datasets.common import PoseSequence
from adaptpose_pipeline.standin.recording import Recording


def to_pose_sequences(rec: Recording) -> list[PoseSequence]:
    """Ground truth of ``rec`` in the common form, one per camera."""
    out = []
    for rig in rec.cameras:
        x_cam = rig.to_camera(rec.joints_world)
        out.append(
            PoseSequence(
                dataset=rec.dataset,
                subject=rec.subject,
                sequence=rec.sequence,
                camera=rig.name,
                split=rec.split,
                fps=float(rec.fps),
                image_size=tuple(int(v) for v in rig.image_size),
                f=np.asarray(rig.f, dtype=np.float64),
                c=np.asarray(rig.c, dtype=np.float64),
                k=None if rig.k is None else np.asarray(rig.k, dtype=np.float64),
                p=None if rig.p is None else np.asarray(rig.p, dtype=np.float64),
                joints_2d=rig.project(x_cam).astype(np.float32),
                joints_3d_cam=x_cam.astype(np.float32),
                valid=np.asarray(rec.valid, dtype=bool),
            )
        )
    return out
