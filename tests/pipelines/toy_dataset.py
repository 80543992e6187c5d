"""A fifth dataset, ``toy``, registered at run time, and kedro's command line after it.

``python tests/pipelines/toy_dataset.py run --pipelines=...`` (from a project folder)
registers ``toy`` with :mod:`adaptpose_pipeline.datasets.registry` (reader, folder,
splits, 3D field) and gives it a stand-in (maker and writer), then runs kedro as
``kedro`` would: what docs/extending.md describes, with no file of the package edited.

Native layout: ``<root>/<split>.npz`` with ``joints_2d (N, T, 17, 2)`` px,
``joints_3d (N, T, 17, 3)`` m in the camera frame, ``f``, ``c`` ``(N, 2)`` px and
``subjects (N,)``; 25 Hz, 1000 x 1000 images, H36M-17 order.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from adaptpose_pipeline.datasets import registry
from adaptpose_pipeline.datasets.common import PoseSequence, check_array, require_dir, require_file

NAME = "toy"
SPLITS = ("train", "test")
IMAGE_SIZE = (1000, 1000)


def read_toy(root: str | Path, fps: float = 25.0) -> list[PoseSequence]:
    root = require_dir(Path(root), "toy root")
    out = []
    for split in SPLITS:
        path = require_file(root / f"{split}.npz", f"toy {split} poses")
        with np.load(path) as npz:
            x2d = check_array(npz["joints_2d"], (None, None, 17, 2), f"{path}: joints_2d")
            x3d = check_array(npz["joints_3d"], x2d.shape[:2] + (17, 3), f"{path}: joints_3d")
            for i, subject in enumerate(npz["subjects"]):
                seq = PoseSequence(
                    dataset=NAME, subject=str(subject), sequence="walk", camera="cam0", split=split, fps=fps,
                    image_size=IMAGE_SIZE, f=npz["f"][i], c=npz["c"][i], joints_2d=x2d[i], joints_3d_cam=x3d[i],
                    valid=np.ones(x2d.shape[1], bool),
                )
                out.append(seq.validate(path))
    return out


def make_toy(spec: dict, scale: float, rng: np.random.Generator) -> list:
    """One walk per subject, seen by one fixed camera (the stand-in makers' helpers)."""
    from adaptpose_pipeline.standin import makers
    from adaptpose_pipeline.standin.recording import Recording

    out = []
    for split, subjects in spec["subjects"].items():
        for subject in subjects:
            take = makers.Take(subject, "walk", split, "walk", spec["seconds"], 25.0)
            joints = makers._perform(take, makers._subject_bones(spec["body"], rng), scale, rng, max_travel=2.0)
            rig = makers.static_ring(spec["camera"], rng, ["cam0"], IMAGE_SIZE)[0]
            rig = makers.frame_subject(rig, joints, min_depth=2.0)
            out.append(Recording(NAME, subject, "walk", split, 25.0, joints, [rig], np.ones(len(joints), bool)))
    return out


def write_toy(root: Path, recordings: list) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        recs = [r for r in recordings if r.split == split]
        x3d = [r.cameras[0].to_camera(r.joints_world) for r in recs]
        np.savez(
            root / f"{split}.npz",
            joints_2d=np.stack([r.cameras[0].project(x) for r, x in zip(recs, x3d)]),
            joints_3d=np.stack(x3d),
            f=np.stack([r.cameras[0].f for r in recs]),
            c=np.stack([r.cameras[0].c for r in recs]),
            subjects=np.array([r.subject for r in recs]),
        )


def register() -> None:
    registry.register(registry.Dataset(NAME, read_toy, folder="toy", splits=SPLITS, coordinates={"joints_3d": {}}))
    registry.register_standin(NAME, make_toy, write_toy)


if __name__ == "__main__":
    from kedro.framework.cli import main

    register()
    sys.exit(main())
