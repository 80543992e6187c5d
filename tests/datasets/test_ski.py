import h5py
import numpy as np
import pytest

from adaptpose_pipeline.core.camera import project
from adaptpose_pipeline.core.skeleton import H36M17, H36M17_JOINTS
from adaptpose_pipeline.datasets import ski
from adaptpose_pipeline.datasets.common import DataError
from adaptpose_pipeline.standin import ski as ski_standin
from adaptpose_pipeline.standin.recording import CameraRig, Recording, look_at
from tests.standin.ground_truth import to_pose_sequences

T = 10
FPS = 30.0
# A skier in a slight crouch facing +x (their right is -y), metres, z up.
REST = {
    "hip": (0.0, 0.0, 0.85),
    "r_hip": (0.0, -0.12, 0.85),
    "r_knee": (0.2, -0.14, 0.5),
    "r_ankle": (0.0, -0.14, 0.1),
    "l_hip": (0.0, 0.12, 0.85),
    "l_knee": (0.2, 0.14, 0.5),
    "l_ankle": (0.0, 0.14, 0.1),
    "spine": (0.08, 0.0, 1.08),
    "thorax": (0.15, 0.0, 1.32),
    "neck": (0.22, 0.0, 1.42),
    "head": (0.2, 0.0, 1.54),
    "l_shoulder": (0.15, 0.17, 1.3),
    "l_elbow": (0.3, 0.22, 1.08),
    "l_wrist": (0.45, 0.24, 0.95),
    "r_shoulder": (0.15, -0.17, 1.3),
    "r_elbow": (0.3, -0.22, 1.08),
    "r_wrist": (0.45, -0.24, 0.95),
}


def _pose() -> np.ndarray:
    """``(T, 17, 3)``: the skier going down a 20 % slope at 10 m/s, swaying sideways."""
    rest = np.array([REST[j] for j in H36M17_JOINTS])
    s = np.arange(T) / FPS
    x = np.repeat(rest[None], T, 0)
    x[..., 0] += 10.0 * s[:, None]
    x[..., 1] += 0.3 * np.sin(2 * np.pi * s)[:, None]
    x[..., 2] -= 2.0 * s[:, None]
    x[:, H36M17.index("l_wrist"), 2] += 0.1 * np.sin(4 * np.pi * s)
    return x


def _rig(name: str, position, joints: np.ndarray) -> CameraRig:
    """A pan-tilt-zoom camera 40 m away that turns to keep the hip centred."""
    target = joints[:, H36M17.index("hip")]
    R, t = look_at(np.broadcast_to(position, target.shape), target)
    return CameraRig(name, R, t, np.array([5000.0, 5010.0]), np.array([960.0, 540.0]), (1920, 1080))


def _recording(subject="3", sequence="seq_007", split="train") -> Recording:
    x = _pose()
    return Recording(
        dataset="ski",
        subject=subject,
        sequence=sequence,
        split=split,
        fps=FPS,
        joints_world=x,
        cameras=[_rig("cam_00", (20.0, 35.0, 8.0), x), _rig("cam_04", (-25.0, -30.0, 12.0), x)],
        valid=np.ones(T, dtype=bool),
    )


@pytest.fixture
def recordings():
    return [_recording("3", "seq_007", "train"), _recording("5", "seq_012", "test")]


@pytest.fixture
def written(tmp_path, recordings):
    boxes = ski_standin.write_ski(tmp_path, recordings)
    return tmp_path, boxes


def _labels(root, split="train"):
    return root / split / "labels.h5"


def _replace(path, key, value):
    with h5py.File(path, "r+") as fh:
        del fh[key]
        fh.create_dataset(key, data=value)


# --- joint table ---------------------------------------------------------------------


def test_ski_to_h36m_table_by_name():
    table = ski.H36M_FROM_SKI
    assert set(table) == set(ski.SKI_JOINTS)
    assert sorted(table.values()) == sorted(H36M17_JOINTS)
    assert table["neck"] == "thorax"
    assert table["head"] == "neck"
    assert table["head_top"] == "head"
    assert table["hip"] == "hip" and table["spine"] == "spine"
    for side, h in (("left", "l"), ("right", "r")):
        for part in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist"):
            assert table[f"{side}_{part}"] == f"{h}_{part}"


def test_default_order_index():
    idx = ski.native_to_h36m_index()
    for j, name in enumerate(H36M17_JOINTS):
        assert ski.H36M_FROM_SKI[ski.SKI_JOINTS[idx[j]]] == name
    with pytest.raises(ValueError, match="joint_names"):
        ski.native_to_h36m_index(ski.SKI_JOINTS[:-1] + ("nose",))


def test_crop_helpers_hand_values():
    px = np.array([[[100.0, 200.0], [110.0, 180.0], [95.0, 230.0]]])
    boxes = ski_standin.crop_boxes(px, margin=1.5)
    # Largest distance from the root along an axis: 30 px; half side 45 px.
    assert np.allclose(boxes.origin, [[55.0, 155.0]]) and np.allclose(boxes.side, [90.0])
    assert np.allclose(ski_standin.crop_transform(px[:, :1], boxes, 256), [[[128.0, 128.0]]])
    f, c = ski_standin.crop_intrinsics([900.0, 900.0], [60.0, 160.0], boxes, 256)
    assert np.allclose(f, [[2560.0, 2560.0]]) and np.allclose(c, [[256 / 90 * 5, 256 / 90 * 5]])


# --- round trip ----------------------------------------------------------------------


def test_round_trip_matches_ground_truth(written, recordings):
    root, boxes = written
    seqs = ski.read_ski(root)
    assert [s.key for s in seqs] == [
        "ski/3/seq_007/cam_00",
        "ski/3/seq_007/cam_04",
        "ski/5/seq_012/cam_00",
        "ski/5/seq_012/cam_04",
    ]
    assert [s.split for s in seqs] == ["train", "train", "test", "test"]
    got = {s.key: s for s in seqs}
    hip = H36M17.index("hip")
    for rec in recordings:
        for truth in to_pose_sequences(rec):
            s = got[truth.key]
            assert s.fps == FPS and s.image_size == (256, 256) and s.root_relative
            assert s.valid.all() and s.k is None and s.p is None
            assert np.array_equal(s.meta["frames"], np.arange(T))
            root_cam = truth.joints_3d_cam[:, hip : hip + 1].astype(np.float64)
            assert np.allclose(s.joints_3d_cam, truth.joints_3d_cam - root_cam, atol=1e-5)
            box = boxes[truth.key]
            assert np.allclose(s.joints_2d, ski_standin.crop_transform(truth.joints_2d, box), atol=1e-3)
            # The hip sits at the crop's centre and every joint inside it.
            assert np.allclose(s.joints_2d[:, hip], 128.0, atol=1e-3)
            assert (s.joints_2d >= 0).all() and (s.joints_2d <= 256).all()
            # Perspective: read 3D + true root through each frame's crop intrinsics.
            f_all, c_all = s.meta["f_per_frame"], s.meta["c_per_frame"]
            assert np.allclose(s.f, f_all[0]) and np.allclose(s.c, c_all[0])
            reproj = project(s.joints_3d_cam + root_cam, f_all[:, None], c_all[:, None])
            assert np.allclose(reproj, s.joints_2d, atol=1e-3)
            # Camera pose as stored: R_cam_2_world = R^T, centre = the rig's.
            rig = next(r for r in rec.cameras if r.name == truth.camera)
            assert np.allclose(s.meta["R_cam_2_world"], np.asarray(rig.R).transpose(0, 2, 1))
            assert np.allclose(s.meta["cam_position"], rig.position)


def test_far_ptz_camera_sees_a_small_skier(recordings):
    (truth, _) = to_pose_sequences(recordings[0])
    height = np.ptp(truth.joints_2d[..., 1], axis=1)
    assert (height > 100).all() and (height < 300).all()  # ~1.5 m at ~40 m, f = 5000 px
    assert np.allclose(truth.joints_2d[:, 0], [960.0, 540.0], atol=1e-3)


def test_invalid_frames_are_left_out(tmp_path):
    rec = _recording()
    rec.valid[[2, 5]] = False
    ski_standin.write_ski(tmp_path, [rec])
    seqs = ski.read_ski(tmp_path, splits=("train",))
    assert np.array_equal(seqs[0].meta["frames"], [0, 1, 3, 4, 6, 7, 8, 9])
    (truth, _) = to_pose_sequences(rec)
    hip = truth.joints_3d_cam[:, :1]
    assert np.allclose(seqs[0].joints_3d_cam, (truth.joints_3d_cam - hip)[rec.valid], atol=1e-5)


def test_custom_joint_order_round_trips(tmp_path, written):
    root, _ = written
    order = tuple(reversed(ski.SKI_JOINTS))
    ski_standin.write_ski(tmp_path / "custom", [_recording()], joint_names=order)
    custom = ski.read_ski(tmp_path / "custom", splits=("train",), joint_names=order)
    default = ski.read_ski(root, splits=("train",))
    for a, b in zip(custom, default):
        assert np.allclose(a.joints_3d_cam, b.joints_3d_cam) and np.allclose(a.joints_2d, b.joints_2d)
    misread = ski.read_ski(tmp_path / "custom", splits=("train",))
    assert not np.allclose(misread[0].joints_3d_cam, default[0].joints_3d_cam)


def test_unflattened_and_float_id_forms_are_read(written):
    root, _ = written
    before = ski.read_ski(root, splits=("train",))
    path = _labels(root)
    with h5py.File(path, "r") as fh:
        data = {k: fh[k][()] for k in fh}
    n = len(data["frame"])
    _replace(path, "3D", data["3D"].reshape(n, 17, 3))
    _replace(path, "2D", data["2D"].reshape(n, 17, 2))
    _replace(path, "cam_intrinsic", data["cam_intrinsic"].reshape(n, 3, 3))
    _replace(path, "R_cam_2_world", data["R_cam_2_world"].reshape(n, 3, 3))
    _replace(path, "seq", data["seq"].astype(np.float64).reshape(n, 1))
    after = ski.read_ski(root, splits=("train",))
    for a, b in zip(before, after):
        assert a.key == b.key
        assert np.array_equal(a.joints_3d_cam, b.joints_3d_cam) and np.array_equal(a.joints_2d, b.joints_2d)


# --- errors --------------------------------------------------------------------------


def test_missing_root_split_and_file(tmp_path, written):
    root, _ = written
    with pytest.raises(DataError, match="nowhere"):
        ski.read_ski(tmp_path / "nowhere")
    _labels(root, "test").unlink()
    with pytest.raises(DataError, match=r"expected file .*test/labels\.h5"):
        ski.read_ski(root)
    (root / "test").rmdir()
    with pytest.raises(DataError, match=r"split 'test': expected folder .*test"):
        ski.read_ski(root)


def test_missing_key(written):
    root, _ = written
    with h5py.File(_labels(root), "r+") as fh:
        del fh["R_cam_2_world"]
    with pytest.raises(DataError, match=r"train/labels\.h5: expected datasets \['R_cam_2_world'\]"):
        ski.read_ski(root)


def test_3d_with_16_joints(written):
    root, _ = written
    n = 2 * T
    _replace(_labels(root), "3D", np.zeros((n, 48)))
    expected = rf"train/labels\.h5: 3D: expected shape \({n}, 17, 3\) or \({n}, 51\).*found \({n}, 48\)"
    with pytest.raises(DataError, match=expected):
        ski.read_ski(root)


def test_row_count_mismatch(written):
    root, _ = written
    _replace(_labels(root), "cam_position", np.zeros((3, 3)))
    with pytest.raises(DataError, match=r"train/labels\.h5: cam_position: expected shape .*found \(3, 3\)"):
        ski.read_ski(root)


def test_nan_in_3d(written):
    root, _ = written
    with h5py.File(_labels(root), "r+") as fh:
        fh["3D"][4, 7] = np.nan
    with pytest.raises(DataError, match=r"train/labels\.h5: 3D: expected finite values, found 1 NaN"):
        ski.read_ski(root)


def test_non_integer_ids(written):
    root, _ = written
    with h5py.File(_labels(root), "r") as fh:
        frames = fh["frame"][()].astype(np.float64)
    _replace(_labels(root), "frame", frames + 0.5)
    with pytest.raises(DataError, match=r"train/labels\.h5: frame: expected integer ids"):
        ski.read_ski(root)


def test_duplicate_frame(written):
    root, _ = written
    with h5py.File(_labels(root), "r+") as fh:
        fh["frame"][1] = fh["frame"][0]
    with pytest.raises(DataError, match=r"train/labels\.h5: subj 3, seq 7, cam 0: expected one row per frame"):
        ski.read_ski(root)


def test_truncated_file(written):
    root, _ = written
    path = _labels(root)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match=r"train/labels\.h5: expected an HDF5 labels file"):
        ski.read_ski(root)


def test_empty_file(written):
    root, _ = written
    with h5py.File(_labels(root), "w") as fh:
        for key, row in ski.ROW_SHAPES.items():
            fh.create_dataset(key, shape=(0, *((int(np.prod(row)),) if row else ())), dtype="f8")
    with pytest.raises(DataError, match=r"train/labels\.h5: frame: expected at least one sample.*0 rows"):
        ski.read_ski(root)


def test_writer_rejects_bad_recordings_before_writing(tmp_path):
    bad_seq = _recording(sequence="slalom")
    with pytest.raises(DataError, match=r"slalom.*expected 'seq_<id>'"):
        ski_standin.write_ski(tmp_path, [_recording("4"), bad_seq])
    assert not (tmp_path / "train").exists()
    bad_cam = _recording()
    bad_cam.cameras[1].name = "left"
    with pytest.raises(DataError, match=r"camera name: expected 'cam_<id>'.*'left'"):
        ski_standin.write_ski(tmp_path, [bad_cam])
    bad_subject = _recording(subject="S3")
    with pytest.raises(DataError, match="subject: expected an integer id"):
        ski_standin.write_ski(tmp_path, [bad_subject])
    with pytest.raises(DataError, match="expected one recording per ski/3/seq_007/cam_00"):
        ski_standin.write_ski(tmp_path, [_recording(), _recording()])
