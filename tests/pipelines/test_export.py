"""export: generated motions -> named arrays and BVH files, with `kedro run` on a small archive."""

import numpy as np
import pandas as pd
import pytest
from kedro.io.core import Version, generate_timestamp

from adaptpose_pipeline.core import bvh
from adaptpose_pipeline.standin import motion
from adaptpose_pipeline.core.camera import normalise_pixels, project
from adaptpose_pipeline.datasets.kedro_io import NpzDataset
from adaptpose_pipeline.datasets.kedro_io import TextFolderDataset
from tests.bvh_reader import forward_kinematics, parse_bvh
from adaptpose_pipeline.pipelines.export.nodes import check_export_params, motions_to_bvh
from tests.pipelines.conftest import make_project

SELECTED = np.array([True, False, True, True, False, True])
EXPORT = {"bvh_motions": 8, "selected_only": True, "fps": 25.0, "units": "cm", "rotation_order": "ZXY"}


def _generated_motions(T: int = 27) -> dict:
    """What ``core.adapt`` keeps: windows in a (generated) camera frame, z forward."""
    rng = np.random.default_rng(0)
    windows = []
    for family in ("walk", "crouch", "turn", "run", "jump", "reach_wave"):
        world = motion.synthesise(family, T, 25.0, motion.sample_bone_lengths(rng), rng)
        world = world - world[T // 2, 0]
        cam = np.stack([world[..., 1], -world[..., 2], world[..., 0]], axis=-1) + [0.2, -0.1, 5.0]  # y down, 5 m away
        windows.append(cam)
    pose = np.stack(windows)
    f, c = np.full((6, 2), 1145.0), np.full((6, 2), 500.0)
    px = project(pose, f[:, None, None], c[:, None, None])
    return {
        "pose_3d": (pose - pose[:, :, :1]).astype(np.float32),
        "pose_3d_cam": pose.astype(np.float32),
        "pose_2d": normalise_pixels(px, 1000.0, 1000.0, "frobenius")[0].astype(np.float32),
        "rotation": np.broadcast_to(np.eye(3), (6, 3, 3)).astype(np.float32),
        "translation": pose[:, T // 2, 0].astype(np.float32),
        "lam": np.zeros((6, 16), np.float32),
        "selected": SELECTED,
        "source_pose_3d": (pose - pose[:, :, :1]).astype(np.float32),
        "f": f.astype(np.float32),
        "c": c.astype(np.float32),
        "image_size": np.full((6, 2), 1000, np.int64),
    }


def test_export_writes_arrays_and_one_bvh_per_selected_motion(tmp_path):
    proj = make_project(tmp_path)
    motions = _generated_motions()
    NpzDataset(
        filepath=str(proj.path / "data/07_model_output/3dhp/generated_motions.npz"), version=Version(None, generate_timestamp())
    ).save(motions)
    proj.run("--pipeline=export", "--params", "target=3dhp,export.bvh_motions=3")

    (npz,) = proj.path.glob("data/07_model_output/3dhp/export/motions.npz/*/motions.npz")
    out = dict(np.load(npz))
    assert out["pose_3d_cam"].shape == (6, 27, 17, 3) and out["selected"].tolist() == SELECTED.tolist()
    np.testing.assert_allclose(out["pose_2d_px"], project(motions["pose_3d_cam"].astype(np.float64), 1145.0, 500.0), atol=1e-3)
    assert {"rotation", "translation", "f", "c", "image_size", "pose_2d_normalised", "bone_length_ratio"} <= set(out)

    (folder,) = proj.path.glob("data/07_model_output/3dhp/export/bvh/*/bvh")
    index = pd.read_csv(folder / "index.csv")
    assert index["row"].tolist() == [0, 2, 3] and index["selected"].all() and (index["units"] == "cm").all()
    for name, row in zip(index["file"], index["row"]):
        read = parse_bvh((folder / name).read_text(), name)
        assert read.num_frames == 27 and read.frame_time == pytest.approx(0.04)
        truth = bvh.from_camera(motions["pose_3d_cam"][row] - motions["translation"][row])
        err = np.linalg.norm(forward_kinematics(read) / 100 - truth, axis=-1)
        assert err.max() < 0.015, f"{name}: {err.max() * 1000:.1f} mm"
        # y up: the head is above the ankles.
        assert (truth[:, 10, 1] > truth[:, 3, 1]).all()


def test_export_nodes_and_parameters():
    motions = _generated_motions(T=1)  # Ski's single-frame windows
    files = motions_to_bvh(motions, {**EXPORT, "selected_only": False, "bvh_motions": 2, "units": "m"})
    assert sorted(files) == ["index.csv", "motion_0000.bvh", "motion_0001.bvh"]
    assert "Frames: 1" in files["motion_0001.bvh"]
    assert motions_to_bvh({**motions, "selected": np.zeros(6, bool)}, EXPORT) == {"index.csv": "file,row,selected,frames,fps,units\n"}
    with pytest.raises(KeyError, match="missing \\['translation'\\]"):
        motions_to_bvh({k: v for k, v in motions.items() if k != "translation"}, EXPORT)
    for key, value in [("units", "inch"), ("bvh_motions", -1), ("fps", 0), ("rotation_order", "XXY"), ("selected_only", "yes")]:
        with pytest.raises(ValueError, match=f"export.{key}"):
            check_export_params({**EXPORT, key: value})
    with pytest.raises(ValueError, match=r"export\.extra: Extra inputs are not permitted"):
        check_export_params({**EXPORT, "extra": 1})


def test_text_folder_dataset_is_versioned(tmp_path):
    first = TextFolderDataset(filepath=str(tmp_path / "bvh"), version=Version(None, "2024-01-01T00.00.00.000Z"))
    first.save({"a.bvh": "one", "index.csv": "x\n"})
    TextFolderDataset(filepath=str(tmp_path / "bvh"), version=Version(None, "2024-01-02T00.00.00.000Z")).save({"b.bvh": "two"})
    assert TextFolderDataset(filepath=str(tmp_path / "bvh"), version=Version(None, None)).load() == {"b.bvh": "two"}
    assert first.load() == {"a.bvh": "one", "index.csv": "x\n"}
    with pytest.raises(Exception, match="plain file names"):
        TextFolderDataset(filepath=str(tmp_path / "other"), version=Version(None, None)).save({"../x": "no"})
