import logging
import pickle
import shutil

import numpy as np
import pytest

from adaptpose_pipeline.core.skeleton import H36M17, H36M17_JOINTS
from adaptpose_pipeline.datasets import pw3d
from adaptpose_pipeline.datasets.common import DataError
from adaptpose_pipeline.standin import pw3d as pw3d_standin
from adaptpose_pipeline.standin.recording import CameraRig, Recording, look_at
from tests.standin.ground_truth import to_pose_sequences

T = 10
# A standing person facing +y (their right is +x), metres, z up.
REST = {
    "hip": (0.0, 0.0, 0.95),
    "r_hip": (0.13, 0.0, 0.95),
    "r_knee": (0.14, 0.03, 0.52),
    "r_ankle": (0.14, 0.0, 0.08),
    "l_hip": (-0.13, 0.0, 0.95),
    "l_knee": (-0.14, 0.03, 0.52),
    "l_ankle": (-0.14, 0.0, 0.08),
    "spine": (0.0, 0.0, 1.18),
    "thorax": (0.0, 0.0, 1.45),
    "neck": (0.0, 0.03, 1.565),
    "head": (0.0, 0.01, 1.68),
    "l_shoulder": (-0.17, 0.0, 1.42),
    "l_elbow": (-0.2, 0.02, 1.15),
    "l_wrist": (-0.21, 0.06, 0.9),
    "r_shoulder": (0.17, 0.0, 1.42),
    "r_elbow": (0.2, 0.02, 1.15),
    "r_wrist": (0.21, 0.06, 0.9),
}
# The derived head top lies along thorax -> nose, 0.6 x that bone past the nose, at
# (0, 0.048, 1.634) in the rest pose; the true head top (0, 0.01, 1.68) is 3.8 cm back
# and 4.6 cm up from it: 6.0 cm apart, a fixed factor's error that rigid motion keeps.
HEAD_TOP_TOL_M = 0.07


def _pose(offset_x: float) -> np.ndarray:
    """``(T, 17, 3)``: the rest pose turning slowly, walking along x, arms swinging."""
    rest = np.array([REST[j] for j in H36M17_JOINTS])
    s = np.arange(T) / T
    yaw = 0.2 * np.sin(2 * np.pi * s)
    Rz = np.zeros((T, 3, 3))
    Rz[:, 0, 0] = Rz[:, 1, 1] = np.cos(yaw)
    Rz[:, 0, 1], Rz[:, 1, 0] = -np.sin(yaw), np.sin(yaw)
    Rz[:, 2, 2] = 1.0
    x = rest[None] @ Rz.transpose(0, 2, 1)
    for wrist, sign in (("l_wrist", 1), ("r_wrist", -1)):
        x[:, H36M17.index(wrist), 1] += sign * 0.1 * np.sin(2 * np.pi * s)
    x[..., 0] += offset_x + 0.3 * s[:, None]
    return x


def _rig() -> CameraRig:
    s = np.arange(T) / T
    position = np.stack([0.3 * s, 3.0 + 0.1 * s, np.full(T, 1.3)], -1)
    target = np.stack([0.5 + 0.3 * s, np.zeros(T), np.full(T, 1.0)], -1)
    R, t = look_at(position, target)
    return CameraRig("handheld", R, t, np.array([1960.0, 1955.0]), np.array([540.0, 960.0]), (1080, 1920))


def _recording(sequence: str, person: int, split: str = "test", rig: CameraRig | None = None) -> Recording:
    valid = np.ones(T, dtype=bool)
    valid[3] = False
    return Recording(
        dataset="3dpw",
        subject=f"{sequence}_p{person}",
        sequence=sequence,
        split=split,
        fps=30.0,
        joints_world=_pose(offset_x=1.0 * person),
        cameras=[rig or _rig()],
        valid=valid,
    )


@pytest.fixture
def recordings():
    rig = _rig()
    return [
        _recording("courtyard_basketball_00", 0, "test", rig),
        _recording("courtyard_basketball_00", 1, "test", rig),
        _recording("outdoors_fencing_01", 0, "train"),
        _recording("downtown_walking_00", 0, "validation"),
    ]


@pytest.fixture
def written(tmp_path, recordings):
    pw3d_standin.write_3dpw(tmp_path, recordings)
    return tmp_path


def _pickle_path(root, name="courtyard_basketball_00", split="test"):
    return root / "sequenceFiles" / split / f"{name}.pkl"


def _edit(path, change):
    with open(path, "rb") as fh:
        data = pickle.load(fh, encoding="latin1")
    change(data)
    with open(path, "wb") as fh:
        pickle.dump(data, fh, protocol=2)


# --- joint tables --------------------------------------------------------------------


def test_smpl_to_h36m_table_by_name():
    table = pw3d.H36M_FROM_SMPL
    assert set(table) == set(H36M17_JOINTS) - {"head"}
    assert table["hip"] == "pelvis"
    assert table["spine"] == "spine2"
    assert table["thorax"] == "neck"
    assert table["neck"] == "head"
    for side, smpl in (("l", "left"), ("r", "right")):
        for part in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist"):
            assert table[f"{side}_{part}"] == f"{smpl}_{part}"
    assert set(table.values()) <= set(pw3d.SMPL24_JOINTS)


def test_smpl_to_h36m_moves_joints_by_name_and_extrapolates_head_top():
    smpl = np.zeros((24, 3))
    smpl[:, 0] = np.arange(24)  # x codes the SMPL index
    smpl[pw3d.SMPL24_JOINTS.index("neck")] = [0.0, 0.0, 1.5]
    smpl[pw3d.SMPL24_JOINTS.index("head")] = [0.0, 0.1, 1.6]
    h36m = pw3d.smpl24_to_h36m17(smpl)
    for h, s in pw3d.H36M_FROM_SMPL.items():
        assert np.array_equal(h36m[H36M17.index(h)], smpl[pw3d.SMPL24_JOINTS.index(s)])
    assert np.allclose(h36m[H36M17.index("head")], [0.0, 0.16, 1.66])


def test_smpl_inverse_keeps_mapped_joints():
    x = _pose(0.0)
    back = pw3d.smpl24_to_h36m17(pw3d_standin.h36m17_to_smpl24(x))
    mapped = [H36M17.index(j) for j in pw3d.H36M_FROM_SMPL]
    assert np.allclose(back[:, mapped], x[:, mapped], atol=1e-12)


# --- round trip ----------------------------------------------------------------------


def test_round_trip_matches_ground_truth(written, recordings):
    seqs = pw3d.read_3dpw(written)
    assert [(s.split, s.subject) for s in seqs] == [
        ("train", "outdoors_fencing_01_p0"),
        ("validation", "downtown_walking_00_p0"),
        ("test", "courtyard_basketball_00_p0"),
        ("test", "courtyard_basketball_00_p1"),
    ]
    by_subject = {s.subject: s for s in seqs}
    mapped = [H36M17.index(j) for j in pw3d.H36M_FROM_SMPL]
    head, neck, thorax = (H36M17.index(j) for j in ("head", "neck", "thorax"))
    for rec in recordings:
        (truth,) = to_pose_sequences(rec)
        got = by_subject[rec.subject]
        names = (got.dataset, got.sequence, got.camera, got.split)
        assert names == ("3dpw", rec.sequence, "handheld", rec.split)
        assert got.fps == 30.0 and got.image_size == (1080, 1920)
        assert got.meta["pad_to_square"]
        assert np.allclose(got.f, truth.f) and np.allclose(got.c, truth.c)
        assert got.k is None and got.p is None and not got.root_relative
        assert np.array_equal(got.valid, truth.valid)
        assert np.allclose(got.joints_3d_cam[:, mapped], truth.joints_3d_cam[:, mapped], atol=1e-5)
        assert np.allclose(got.joints_2d[:, mapped], truth.joints_2d[:, mapped], atol=1e-3)
        # Head top: exactly the documented extrapolation, and near the true one.
        x = truth.joints_3d_cam.astype(np.float64)
        expected = x[:, neck] + pw3d.HEAD_TOP_FACTOR * (x[:, neck] - x[:, thorax])
        assert np.allclose(got.joints_3d_cam[:, head], expected, atol=1e-5)
        err = np.linalg.norm(got.joints_3d_cam[:, head] - x[:, head], axis=-1)
        assert err.max() < HEAD_TOP_TOL_M


def test_written_pickle_has_native_keys_and_shapes(written):
    with open(_pickle_path(written), "rb") as fh:
        data = pickle.load(fh, encoding="latin1")
    assert set(pw3d.REQUIRED_KEYS) <= set(data)
    assert len(data["jointPositions"]) == 2
    assert data["jointPositions"][0].shape == (T, 72)
    assert data["poses2d"][0].shape == (T, 3, 18)
    assert np.all(data["poses2d"][0][:, 2] == 1.0)
    assert data["cam_poses"].shape == (T, 4, 4) and data["cam_intrinsics"].shape == (3, 3)


def test_reads_only_requested_splits(written):
    seqs = pw3d.read_3dpw(written, splits=("train",), fps=25.0)
    assert [s.subject for s in seqs] == ["outdoors_fencing_01_p0"]
    assert seqs[0].fps == 25.0


def test_landscape_camera_gives_landscape_size(tmp_path):
    rig = _rig()
    rig.c, rig.image_size = np.array([960.0, 540.0]), (1920, 1080)
    pw3d_standin.write_3dpw(tmp_path, [_recording("wide", 0, rig=rig)])
    (seq,) = pw3d.read_3dpw(tmp_path, splits=("test",))
    assert seq.image_size == (1920, 1080)


# --- errors --------------------------------------------------------------------------


def test_missing_root_and_folders(tmp_path, written):
    with pytest.raises(DataError, match="nowhere"):
        pw3d.read_3dpw(tmp_path / "nowhere")
    with pytest.raises(DataError, match="sequenceFiles"):
        pw3d.read_3dpw(tmp_path / "sequenceFiles" / "test")
    (written / "sequenceFiles" / "validation" / "downtown_walking_00.pkl").unlink()
    with pytest.raises(DataError, match=r"validation: expected 3DPW sequence pickles"):
        pw3d.read_3dpw(written)


@pytest.mark.parametrize("kept", [("test",), ("train",), ("train", "test"), ("validation", "test")])
def test_any_subset_of_split_folders_reads_with_a_warning_per_missing_split(written, kept, caplog):
    for split in set(pw3d.SPLITS) - set(kept):
        shutil.rmtree(written / "sequenceFiles" / split)
    with caplog.at_level(logging.WARNING, logger="adaptpose_pipeline.datasets.pw3d"):
        seqs = pw3d.read_3dpw(written)
    assert {s.split for s in seqs} == set(kept)
    missing = sorted(set(pw3d.SPLITS) - set(kept))
    warned = sorted(split for split in pw3d.SPLITS if any(f"no split folder '{split}'" in m for m in caplog.messages))
    assert warned == missing


def test_no_requested_split_folder_is_an_error(written):
    shutil.rmtree(written / "sequenceFiles" / "train")
    with pytest.raises(DataError, match=r"sequenceFiles: expected split folders among \['train'\], found none"):
        pw3d.read_3dpw(written, splits=("train",))


def test_missing_key(written):
    path = _pickle_path(written)
    _edit(path, lambda d: d.pop("cam_poses"))
    with pytest.raises(DataError, match=r"courtyard_basketball_00\.pkl: expected keys \['cam_poses'\]"):
        pw3d.read_3dpw(written, splits=("test",))


def test_joint_positions_with_69_values(written):
    def cut(d):
        d["jointPositions"][1] = d["jointPositions"][1][:, :69]

    _edit(_pickle_path(written), cut)
    expected = r"courtyard_basketball_00\.pkl: jointPositions\[1\]: expected shape \(10, 72\), found \(10, 69\)"
    with pytest.raises(DataError, match=expected):
        pw3d.read_3dpw(written, splits=("test",))


def test_nan_in_joint_positions(written):
    def spoil(d):
        d["jointPositions"][0][2, 5] = np.nan

    _edit(_pickle_path(written), spoil)
    expected = r"courtyard_basketball_00\.pkl: jointPositions\[0\]: expected finite values, found 1 NaN"
    with pytest.raises(DataError, match=expected):
        pw3d.read_3dpw(written, splits=("test",))


def test_truncated_file(written):
    path = _pickle_path(written)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match=r"courtyard_basketball_00\.pkl: expected a 3DPW sequence pickle"):
        pw3d.read_3dpw(written, splits=("test",))


def test_empty_sequence(written):
    def empty(d):
        d["cam_poses"] = d["cam_poses"][:0]
        for key in ("poses", "trans", "poses2d", "jointPositions", "campose_valid"):
            d[key] = [a[:0] for a in d[key]]
        d["img_frame_ids"] = d["img_frame_ids"][:0]

    _edit(_pickle_path(written), empty)
    with pytest.raises(DataError, match=r"courtyard_basketball_00\.pkl: cam_poses: .*0 frames"):
        pw3d.read_3dpw(written, splits=("test",))


def test_person_count_mismatch(written):
    _edit(_pickle_path(written), lambda d: d["poses2d"].pop())
    expected = r"courtyard_basketball_00\.pkl: expected the same number of people.*'poses2d': 1"
    with pytest.raises(DataError, match=expected):
        pw3d.read_3dpw(written, splits=("test",))


def test_not_a_dict(written):
    path = _pickle_path(written)
    path.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(DataError, match=r"courtyard_basketball_00\.pkl: expected a dict"):
        pw3d.read_3dpw(written, splits=("test",))


def test_writer_rejects_bad_recordings_before_writing(tmp_path):
    good = _recording("seq_a", 0)
    two_cams = _recording("seq_b", 0)
    two_cams.cameras = two_cams.cameras * 2
    with pytest.raises(DataError, match="seq_b.*expected exactly one"):
        pw3d_standin.write_3dpw(tmp_path, [good, two_cams])
    assert not (tmp_path / "sequenceFiles").exists()
    slow = _recording("seq_c", 0)
    slow.fps = 25.0
    with pytest.raises(DataError, match="fps: expected 30.0"):
        pw3d_standin.write_3dpw(tmp_path, [slow])
    other = _recording("seq_a", 1)
    other.cameras = [_rig()]
    other.cameras[0].t = other.cameras[0].t + 0.5
    with pytest.raises(DataError, match="share its camera"):
        pw3d_standin.write_3dpw(tmp_path, [good, other])
