"""Nodes of the export pipeline: the adaptation's generated motions as files to use elsewhere.

``generated_motions`` (what ``core.adapt`` keeps of its last epoch) -> ``exported_motions``
(named arrays in metres and pixels, cameras, selection mask) and
``exported_motions_bvh`` (one BVH per motion, y up, in ``export.units``).
"""

from __future__ import annotations

import logging

import numpy as np

from adaptpose_pipeline.core import bvh
from adaptpose_pipeline.core.camera import project
from adaptpose_pipeline.core.skeleton import H36M17
from adaptpose_pipeline.parameters import EXPORT_UNITS, Export, check

log = logging.getLogger(__name__)
MOTION_KEYS = ("pose_3d_cam", "pose_2d", "rotation", "translation", "selected", "f", "c", "image_size")


def check_export_params(export: dict) -> dict:
    """The ``export`` block checked (``parameters.Export``), keys named in errors."""
    return check(Export, export, "export").model_dump()


def _check_motions(motions: dict) -> int:
    missing = [k for k in MOTION_KEYS if k not in motions]
    if missing:
        raise KeyError(f"generated_motions: expected arrays {list(MOTION_KEYS)}; missing {missing} (found {sorted(motions)})")
    pose = motions["pose_3d_cam"]
    if pose.ndim != 4 or pose.shape[2:] != (H36M17.num_joints, 3):
        raise ValueError(f"generated_motions: pose_3d_cam must be (N, T, 17, 3), got {pose.shape}")
    N = len(pose)
    wrong = [k for k in MOTION_KEYS if len(motions[k]) != N]
    if wrong:
        raise ValueError(f"generated_motions: {wrong} do not have {N} rows like pose_3d_cam")
    return N


def export_motions(generated_motions: dict) -> dict:
    """The generated windows with their cameras, named and in plain units.

    ``pose_3d_cam (N, T, 17, 3)`` m, camera frame; ``pose_2d_px (N, T, 17, 2)`` their
    projection (px); ``pose_2d_normalised`` what the lifter was trained on;
    ``rotation (N, 3, 3)``, ``translation (N, 3)`` m (the generated camera: the centre
    frame's root position), ``f``, ``c (N, 2)`` px, ``image_size (N, 2)``;
    ``selected (N,)`` kept by the selection rule; ``source_pose_3d`` and
    ``bone_length_ratio`` when the file has them.
    """
    _check_motions(generated_motions)
    m = generated_motions
    f, c = m["f"].astype(np.float64), m["c"].astype(np.float64)
    px = project(m["pose_3d_cam"].astype(np.float64), f[:, None, None], c[:, None, None])
    out = {
        "pose_3d_cam": m["pose_3d_cam"].astype(np.float32),
        "pose_2d_px": px.astype(np.float32),
        "pose_2d_normalised": m["pose_2d"].astype(np.float32),
        "rotation": m["rotation"].astype(np.float32),
        "translation": m["translation"].astype(np.float32),
        "f": f.astype(np.float32),
        "c": c.astype(np.float32),
        "image_size": m["image_size"].astype(np.int64),
        "selected": m["selected"].astype(bool),
    }
    if "source_pose_3d" in m:
        out["source_pose_3d"] = m["source_pose_3d"].astype(np.float32)
    if "lam" in m:
        out["bone_length_ratio"] = m["lam"].astype(np.float32)
    return out


def motions_to_bvh(generated_motions: dict, export: dict) -> dict[str, str]:
    """The first ``export.bvh_motions`` motions (selected ones only, if so set) as BVH
    texts ``motion_<row>.bvh``, each centred on its centre frame's root and turned y up,
    plus ``index.csv`` listing them."""
    params = check_export_params(export)
    N = _check_motions(generated_motions)
    selected = generated_motions["selected"].astype(bool)
    rows = np.flatnonzero(selected) if params["selected_only"] else np.arange(N)
    rows = rows[: params["bvh_motions"]]
    if len(rows) == 0:
        log.warning("export: no generated motion to write as BVH (%d motions, %d selected)", N, int(selected.sum()))
    width = max(4, len(str(N)))
    files, index = {}, ["file,row,selected,frames,fps,units"]
    for r in rows:
        centred = generated_motions["pose_3d_cam"][r] - generated_motions["translation"][r]
        motion = bvh.fit_bvh(bvh.from_camera(centred), H36M17, float(params["fps"]), params["rotation_order"], EXPORT_UNITS[params["units"]])
        name = f"motion_{int(r):0{width}d}.bvh"
        files[name] = bvh.to_text(motion)
        index.append(f"{name},{int(r)},{bool(selected[r])},{motion.num_frames},{params['fps']},{params['units']}")
    files["index.csv"] = "\n".join(index) + "\n"
    log.info("export: %d of %d generated motions written as BVH (%s)", len(rows), N, params["units"])
    return files
