"""Write tests/data/coco_walk.json: a synthetic walk as a detector's COCO-17 keypoints.

    .venv/bin/python tests/data/make_coco_fixture.py

The motion comes from the project's own synthesiser (``standin.motion``), seen by one
camera; H36M-17 joints become COCO-17 keypoints by ``datasets.keypoints.h36m17_to_coco17``
(eyes and ears placed from the head joints) and are projected to pixels. Like a real
detector's output, scores vary, a few joints are lost (score 0.05) and two frames have
no detection at all. ``build()`` also returns the camera-frame 3D that tests score
predictions against.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from adaptpose_pipeline.core.camera import project
from adaptpose_pipeline.datasets.keypoints import COCO17_JOINTS, h36m17_to_coco17
from adaptpose_pipeline.standin import motion
from adaptpose_pipeline.standin.recording import look_at

OUT = Path(__file__).with_name("coco_walk.json")
IMAGE_SIZE = (1280, 720)
FOCAL = 1000.0
FRAMES, FPS, SEED = 48, 25.0, 7
LOST_JOINTS = {5: "l_wrist", 6: "l_wrist", 7: "l_wrist", 20: "r_ankle", 33: "nose"}  # frame -> joint
EMPTY_FRAMES = (12, 40)


def synthesise_clip(
    family: str, frames: int, fps: float, seed: int, image_size=IMAGE_SIZE, focal: float = FOCAL,
    distance: float = 4.5, height: float = 1.3, azimuth: float | None = None,
) -> dict:
    """One motion seen by one static camera: ``joints_cam (T, 17, 3)`` m, ``px (T, 17, 2)``,
    ``coco_px (T, 17, 2)`` (COCO-17 order), ``f``, ``c``, ``image_size``."""
    rng = np.random.default_rng(seed)
    joints = motion.synthesise(family, frames, fps, motion.sample_bone_lengths(rng), rng, speed=None if family != "walk" else 1.0)
    centre = joints[:, 0].mean(0)
    azimuth = rng.uniform(0, 2 * np.pi) if azimuth is None else azimuth
    position = centre + np.array([distance * np.cos(azimuth), distance * np.sin(azimuth), 0.0])
    position[2] = height
    R, t = look_at(position, centre + np.array([0.0, 0.0, 0.1]))
    joints_cam = joints @ R.T + t
    f = np.array([focal, focal])
    c = np.array(image_size, dtype=np.float64) / 2
    return {
        "joints_cam": joints_cam,
        "px": project(joints_cam, f, c),
        "coco_px": project(h36m17_to_coco17(joints_cam), f, c),
        "f": f,
        "c": c,
        "image_size": tuple(image_size),
    }


def build() -> tuple[dict, dict]:
    """The COCO document (dict form, with ``images``) and the clip it shows."""
    clip = synthesise_clip("walk", FRAMES, FPS, SEED, azimuth=2.2)
    rng = np.random.default_rng(SEED + 1)
    scores = np.round(rng.uniform(0.55, 0.98, (FRAMES, len(COCO17_JOINTS))), 3)
    for frame, joint in LOST_JOINTS.items():
        scores[frame, COCO17_JOINTS.index(joint)] = 0.05
    w, h = clip["image_size"]
    images = [{"id": i, "file_name": f"frame_{i:04d}.jpg", "width": w, "height": h} for i in range(FRAMES)]
    annotations = []
    for i in range(FRAMES):
        if i in EMPTY_FRAMES:
            continue
        kp = np.concatenate([np.round(clip["coco_px"][i], 2), scores[i, :, None]], axis=1)
        annotations.append(
            {"id": len(annotations) + 1, "image_id": i, "category_id": 1, "keypoints": kp.ravel().tolist(),
             "score": round(float(scores[i].mean()), 3)}
        )
    doc = {
        "info": {"description": "synthetic walk (adaptpose_pipeline standin.motion), tests/data/make_coco_fixture.py"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "keypoints": list(COCO17_JOINTS)}],
    }
    return doc, clip


def to_text(doc: dict) -> str:
    """JSON with one record per line (small, and readable in a diff)."""
    parts = [f'"{key}": [\n' + ",\n".join(json.dumps(x) for x in value) + "\n]" if isinstance(value, list) else f'"{key}": {json.dumps(value)}' for key, value in doc.items()]
    return "{\n" + ",\n".join(parts) + "\n}\n"


if __name__ == "__main__":
    document, _ = build()
    OUT.write_text(to_text(document))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
