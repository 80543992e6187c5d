import json
import zipfile

import numpy as np
import pytest

from adaptpose_pipeline.core.skeleton import H36M17
from adaptpose_pipeline.datasets import h36m
from adaptpose_pipeline.datasets.common import DataError
from adaptpose_pipeline.standin import h36m as h36m_standin
from adaptpose_pipeline.standin.recording import CameraRig, Recording, look_at
from tests.standin.ground_truth import to_pose_sequences

REST = np.array([
    [0, 0, 0.95], [-0.13, 0, 0.95], [-0.13, 0, 0.5], [-0.13, 0, 0.07], [0.13, 0, 0.95], [0.13, 0, 0.5],
    [0.13, 0, 0.07], [0, 0, 1.18], [0, 0, 1.43], [0, -0.02, 1.54], [0, 0, 1.66], [0.16, 0, 1.42],
    [0.18, 0, 1.14], [0.19, 0, 0.89], [-0.16, 0, 1.42], [-0.18, 0, 1.14], [-0.19, 0, 0.89],
])


def _recording(subject, action, rigs, T=12, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(T)[:, None, None] / 50.0
    joints = REST[None] + 0.05 * np.sin(2 * np.pi * t + rng.uniform(0, 6, (1, 17, 3)))
    return Recording("h36m", subject, action, h36m.SPLITS[subject], 50.0, joints, rigs, np.ones(T, bool))


def _rigs(seed=0):
    rng = np.random.default_rng(0)  # intrinsics: the same cameras for every subject
    rigs = []
    for i, name in enumerate(h36m.CAMERA_IDS):
        az = i * np.pi / 2 + 0.3 + seed
        R, t = look_at(np.array([5 * np.cos(az), 5 * np.sin(az), 1.6]), np.array([0, 0, 1.0]))
        rigs.append(CameraRig(name, R, t, np.array([1145.0, 1144.0]), np.array([512.0, 515.0]), (1000, 1002),
                              k=rng.normal(0, 0.1, 3), p=rng.normal(0, 0.002, 2)))
    return rigs


@pytest.fixture
def written(tmp_path):
    recs = [_recording("S1", "Walking", _rigs(0), seed=1), _recording("S1", "Sitting 1", _rigs(0), T=9, seed=2),
            _recording("S9", "Walking", _rigs(3), seed=3)]
    h36m_standin.write_h36m(tmp_path, recs)
    return tmp_path, recs


def test_round_trip_equals_ground_truth(written):
    root, recs = written
    got = {s.key: s for s in h36m.read_h36m(root)}
    truth = [s for r in recs for s in to_pose_sequences(r)]
    assert len(got) == len(truth) == 12
    for exp in truth:
        s = got[exp.key]
        assert s.split == exp.split and s.fps == 50.0 and s.image_size == (1000, 1002)
        np.testing.assert_allclose(s.joints_3d_cam, exp.joints_3d_cam, atol=1e-5)
        np.testing.assert_allclose(s.joints_2d, exp.joints_2d, atol=1e-3)
        np.testing.assert_allclose(s.f, exp.f)
        np.testing.assert_allclose(s.k, exp.k)
        np.testing.assert_allclose(s.p, exp.p)
    assert got["h36m/S9/Walking/54138969"].split == "test"


def test_native_layout(written):
    root, recs = written
    with np.load(root / h36m.FILE_3D, allow_pickle=True) as npz:
        pos = npz["positions_3d"].item()
    world = pos["S1"]["Walking"]
    assert world.shape == (12, 32, 3)
    # VideoPose3D's 32-joint rows, written out rather than taken from H36M32_KEEP:
    # 0 hip, 1-3 right leg, 6-8 left leg, 17-19 left arm, 25-27 right arm.
    truth = recs[0].joints_world
    for row, name in [(0, "hip"), (1, "r_hip"), (3, "r_ankle"), (6, "l_hip"), (8, "l_ankle"), (15, "head"),
                      (17, "l_shoulder"), (19, "l_wrist"), (25, "r_shoulder"), (27, "r_wrist")]:
        np.testing.assert_allclose(world[:, row], truth[:, H36M17.index(name)], atol=1e-6, err_msg=name)
    with np.load(root / h36m.FILE_2D, allow_pickle=True) as npz:
        assert npz["metadata"].item()["num_joints"] == 17
        assert len(npz["positions_2d"].item()["S9"]["Walking"]) == 4
    cams = json.loads((root / h36m.FILE_CAMERAS).read_text())
    q = np.array(cams["extrinsics"]["S1"][0]["orientation"])
    assert abs(np.linalg.norm(q) - 1) < 1e-9
    # Translation in millimetres, about 5 m from the origin.
    assert 4900 < np.linalg.norm(cams["extrinsics"]["S1"][0]["translation"][:2]) < 5100


def test_subject_filter_and_2d_longer_than_3d(written):
    root, _ = written
    with np.load(root / h36m.FILE_2D, allow_pickle=True) as npz:
        pos2d, meta = npz["positions_2d"].item(), npz["metadata"].item()
    pos2d["S1"]["Walking"] = [np.concatenate([v, v[:3]]) for v in pos2d["S1"]["Walking"]]
    np.savez(root / h36m.FILE_2D, positions_2d=pos2d, metadata=meta)
    seqs = h36m.read_h36m(root, subjects=["S1"])
    assert {s.subject for s in seqs} == {"S1"}
    assert all(s.num_frames == 12 for s in seqs if s.sequence == "Walking")


def _rewrite(root, name, key, mutate):
    with np.load(root / name, allow_pickle=True) as npz:
        data = {k: npz[k].item() for k in npz.files}
    mutate(data[key])
    np.savez(root / name, **data)


@pytest.mark.parametrize(
    "case, match",
    [
        ("missing_folder", r"Human3\.6M root: expected folder .*nowhere"),
        ("missing_key", r"data_3d_h36m\.npz: expected key 'positions_3d'"),
        ("wrong_joints", r"positions_3d\['S1'\]\['Walking'\]: expected shape \(N, 32, 3\), found \(12, 17, 3\)"),
        ("nan", r"positions_2d\['S1'\]\['Walking'\]\[0\]: expected finite values"),
        ("empty", r"expected at least one frame"),
        ("truncated", r"data_2d_h36m_gt\.npz: cannot be read"),
        ("short_2d", r"expected at least 12 frames"),
        ("bad_cameras", r"h36m_cameras\.json: not valid JSON"),
        ("missing_subject", r"expected subject 'S5'"),
    ],
)
def test_bad_inputs_name_the_file(written, case, match):
    root, _ = written
    subjects = None
    if case == "missing_folder":
        root = root / "nowhere"
    elif case == "missing_key":
        np.savez(root / h36m.FILE_3D, positions=np.zeros(3))
    elif case == "wrong_joints":
        _rewrite(root, h36m.FILE_3D, "positions_3d", lambda d: d["S1"].update(Walking=d["S1"]["Walking"][:, :17]))
    elif case == "nan":
        def poison(d):
            d["S1"]["Walking"][0][2, 3] = np.nan
        _rewrite(root, h36m.FILE_2D, "positions_2d", poison)
    elif case == "empty":
        _rewrite(root, h36m.FILE_3D, "positions_3d", lambda d: d["S1"].update(Walking=d["S1"]["Walking"][:0]))
    elif case == "truncated":
        data = (root / h36m.FILE_2D).read_bytes()
        (root / h36m.FILE_2D).write_bytes(data[: len(data) // 2])
    elif case == "short_2d":
        _rewrite(root, h36m.FILE_2D, "positions_2d", lambda d: d["S1"].update(Walking=[v[:5] for v in d["S1"]["Walking"]]))
    elif case == "bad_cameras":
        (root / h36m.FILE_CAMERAS).write_text('{"intrinsics": [')
    elif case == "missing_subject":
        subjects = ["S5"]
    with pytest.raises(DataError, match=match):
        h36m.read_h36m(root, subjects=subjects)


def test_writer_refuses_cameras_that_change_intrinsics(tmp_path):
    other = _rigs(0)
    other[2].f = other[2].f + 10
    with pytest.raises(ValueError, match="one set of intrinsics"):
        h36m_standin.write_h36m(tmp_path, [_recording("S1", "Walking", _rigs(0)), _recording("S5", "Walking", other)])


def test_symmetry_metadata_pairs_left_with_right():
    left, right = h36m.METADATA["keypoints_symmetry"]
    for l, r in zip(left, right):
        assert H36M17.joints[l].replace("l_", "") == H36M17.joints[r].replace("r_", "")
