"""MPI-INF-3DHP: joint tables, write -> read round trips, and errors on bad files."""

from __future__ import annotations

import logging
import re

import h5py
import numpy as np
import pytest
import scipy.io

from adaptpose_pipeline.core.skeleton import H36M17_JOINTS
from adaptpose_pipeline.datasets import registry
from adaptpose_pipeline.datasets.common import DataError
from adaptpose_pipeline.datasets.mpi_inf_3dhp import (
    H36M_FROM_MPI,
    MPI_TEST_JOINTS,
    MPI_TRAIN_JOINTS,
    TEST_TO_H36M,
    TRAIN_TO_H36M,
    TS_INTRINSICS,
    TS_NAMES,
    TsIntrinsics,
    read_3dhp,
    read_3dhp_test,
    read_3dhp_train,
)
from adaptpose_pipeline.standin.mpi_inf_3dhp import FILLED_JOINTS, write_3dhp_test, write_3dhp_train
from adaptpose_pipeline.standin.recording import CameraRig, Recording, look_at
from adaptpose_pipeline.datasets.tables import select, sequences_to_table
from tests.standin.ground_truth import to_pose_sequences

# H36M-17 rest pose, metres, z up, facing -y.
REST = np.array(
    [
        [0.00, 0.00, 0.95],  # hip
        [-0.13, 0.00, 0.93],  # r_hip
        [-0.14, 0.02, 0.50],  # r_knee
        [-0.15, 0.00, 0.08],  # r_ankle
        [0.13, 0.00, 0.93],  # l_hip
        [0.14, 0.02, 0.50],  # l_knee
        [0.15, 0.00, 0.08],  # l_ankle
        [0.00, 0.00, 1.18],  # spine
        [0.00, 0.00, 1.45],  # thorax
        [0.00, -0.03, 1.55],  # neck
        [0.00, 0.00, 1.70],  # head
        [0.18, 0.00, 1.43],  # l_shoulder
        [0.22, 0.00, 1.15],  # l_elbow
        [0.24, -0.05, 0.90],  # l_wrist
        [-0.18, 0.00, 1.43],  # r_shoulder
        [-0.22, 0.00, 1.15],  # r_elbow
        [-0.24, -0.05, 0.90],  # r_wrist
    ]
)
T = 10


def _motion(seed: int) -> np.ndarray:
    """``(T, 17, 3)``: the rest pose with small smooth per-joint sway and a slow walk."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, size=(1, 17, 3))
    time = np.arange(T)[:, None, None] / T
    walk = np.array([0.3, 0.1, 0.0]) * time
    return REST + 0.05 * np.sin(2 * np.pi * time + phase) + walk


def _rig(name: str, azimuth: float, distance: float, f=(1500.0, 1498.0), c=(1024.0, 1030.0), size=(2048, 2048)):
    position = np.array([distance * np.cos(azimuth), distance * np.sin(azimuth), 1.2])
    R, t = look_at(position, np.array([0.1, 0.0, 1.0]))
    return CameraRig(name=name, R=R, t=t, f=np.array(f), c=np.array(c), image_size=size)


def _train_rec(subject: str, sequence: str, rigs: list[CameraRig], seed: int) -> Recording:
    return Recording("3dhp", subject, sequence, "train", 25.0, _motion(seed), rigs, np.ones(T, dtype=bool))


def _test_rec(ts: str, rig: CameraRig, valid: np.ndarray, seed: int) -> Recording:
    return Recording("3dhp", ts, ts, "test", TS_INTRINSICS[ts].fps, _motion(seed), [rig], valid)


def _ts_rig(ts: str, **override) -> CameraRig:
    cam = TS_INTRINSICS[ts]
    kw = {"f": cam.f, "c": cam.c, "size": cam.image_size} | override
    return _rig("cam0", 0.7, 4.0, **kw)


def _assert_same(got, want) -> None:
    assert got.key == want.key
    assert (got.split, got.fps, got.image_size) == (want.split, want.fps, want.image_size)
    np.testing.assert_allclose(got.f, want.f, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got.c, want.c, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got.joints_3d_cam, want.joints_3d_cam, rtol=0, atol=1e-5)
    np.testing.assert_allclose(got.joints_2d, want.joints_2d, rtol=0, atol=1e-3)
    np.testing.assert_array_equal(got.valid, want.valid)
    assert got.k is None and got.p is None


@pytest.fixture
def train_root(tmp_path):
    recs = [
        _train_rec("S1", "Seq1", [_rig("cam0", 0.3, 4.0), _rig("cam3", 2.0, 3.0), _rig("cam7", 4.0, 5.0)], 1),
        _train_rec("S2", "Seq2", [_rig("cam2", 1.0, 3.5), _rig("cam13", 5.0, 4.5)], 2),
    ]
    write_3dhp_train(tmp_path, recs)
    return tmp_path, recs


@pytest.fixture
def test_root(tmp_path):
    valid1 = np.ones(T, dtype=bool)
    valid1[[0, 4, 5]] = False
    valid5 = np.ones(T, dtype=bool)
    valid5[-1] = False
    recs = [_test_rec("TS1", _ts_rig("TS1"), valid1, 3), _test_rec("TS5", _ts_rig("TS5"), valid5, 4)]
    write_3dhp_test(tmp_path, recs)
    return tmp_path, recs


# ----------------------------------------------------------------------------- tables


def test_joint_table_by_name_and_known_index_maps():
    assert H36M_FROM_MPI["thorax"] == "neck"
    assert H36M_FROM_MPI["neck"] == "head"
    assert H36M_FROM_MPI["head"] == "head_top"
    assert H36M_FROM_MPI["hip"] == "pelvis"
    assert H36M_FROM_MPI["r_wrist"] == "right_wrist" and H36M_FROM_MPI["l_knee"] == "left_knee"
    assert list(H36M_FROM_MPI) == list(H36M17_JOINTS)
    assert TEST_TO_H36M.tolist() == [14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4]
    test_in_train = [MPI_TRAIN_JOINTS.index(j) for j in MPI_TEST_JOINTS]
    assert test_in_train == [7, 5, 14, 15, 16, 9, 10, 11, 23, 24, 25, 18, 19, 20, 4, 3, 6]
    assert TRAIN_TO_H36M.tolist() == [test_in_train[i] for i in TEST_TO_H36M]
    # The stand-in writer fills exactly the training joints H36M-17 lacks.
    assert sorted(set(H36M_FROM_MPI.values()) | set(FILLED_JOINTS)) == sorted(MPI_TRAIN_JOINTS)
    assert not set(H36M_FROM_MPI.values()) & set(FILLED_JOINTS)


# ----------------------------------------------------------------------------- round trips


def test_train_round_trip(train_root):
    root, recs = train_root
    got = read_3dhp_train(root)
    want = [seq for rec in recs for seq in to_pose_sequences(rec)]
    assert [g.key for g in got] == [
        "3dhp/S1/Seq1/cam0",
        "3dhp/S1/Seq1/cam3",
        "3dhp/S1/Seq1/cam7",
        "3dhp/S2/Seq2/cam2",
        "3dhp/S2/Seq2/cam13",
    ]
    for g, w in zip(got, want):
        _assert_same(g, w)
    rigs = [rig for rec in recs for rig in rec.cameras]
    for g, rig in zip(got, rigs):
        np.testing.assert_allclose(g.meta["R"], rig.R, atol=1e-12)
        np.testing.assert_allclose(g.meta["t"], rig.t, atol=1e-12)
        assert g.meta["frames"].tolist() == list(range(T))


def test_train_filters_and_fps(train_root):
    root, recs = train_root
    got = read_3dhp_train(root, subjects=["S2"], sequences=["Seq2"], cameras=[13], fps=50.0)
    assert [g.key for g in got] == ["3dhp/S2/Seq2/cam13"]
    assert got[0].fps == 50.0
    np.testing.assert_allclose(got[0].joints_3d_cam, to_pose_sequences(recs[1])[1].joints_3d_cam, atol=1e-5)


def test_train_raw_layout(train_root):
    """Interleaved columns, millimetres, filled joints and calibration text, read without the reader."""
    root, recs = train_root
    mat = scipy.io.loadmat(root / "S1" / "Seq1" / "annot.mat")
    assert mat["annot2"].shape == (3, 1) and mat["annot3"][1, 0].shape == (T, 84)
    assert mat["cameras"].tolist() == [[0, 3, 7]]
    want = to_pose_sequences(recs[0])[1]  # cam3
    head_top = MPI_TRAIN_JOINTS.index("head_top")
    head_3d = mat["annot3"][1, 0][:, 3 * head_top : 3 * head_top + 3] / 1000
    head_2d = mat["annot2"][1, 0][:, 2 * head_top : 2 * head_top + 2]
    np.testing.assert_allclose(head_3d, want.joints_3d_cam[:, 10], atol=1e-5)
    np.testing.assert_allclose(head_2d, want.joints_2d[:, 10], atol=1e-3)
    x28 = mat["annot3"][1, 0].reshape(T, 28, 3)
    hand, wrist, elbow = (MPI_TRAIN_JOINTS.index(j) for j in ("left_hand", "left_wrist", "left_elbow"))
    np.testing.assert_allclose(x28[:, hand], x28[:, wrist] + 0.25 * (x28[:, wrist] - x28[:, elbow]), atol=1e-9)

    lines = (root / "S1" / "Seq1" / "camera.calibration").read_text().splitlines()
    assert lines[0] == "Skeletool Camera Calibration File V1.0"
    block = lines[lines.index("name          3") :]
    assert block[2].split() == ["size", "2048", "2048"]
    K = np.array(block[4].split()[1:], dtype=float).reshape(4, 4)
    np.testing.assert_allclose(K[:3, :3], [[1500, 0, 1024], [0, 1498, 1030], [0, 0, 1]])
    E = np.array(block[5].split()[1:], dtype=float).reshape(4, 4)
    np.testing.assert_allclose(E[:3, 3], 1000 * recs[0].cameras[1].t)


def test_train_universal(tmp_path):
    rec = _train_rec("S1", "Seq1", [_rig("cam0", 0.3, 4.0)], 1)
    write_3dhp_train(tmp_path, [rec], universal_scale=0.9)
    got = read_3dhp_train(tmp_path, use_universal=True)[0].joints_3d_cam
    x = to_pose_sequences(rec)[0].joints_3d_cam
    np.testing.assert_allclose(got, x[:, :1] + 0.9 * (x - x[:, :1]), atol=1e-5)


def test_test_round_trip(test_root):
    root, recs = test_root
    got = read_3dhp_test(root, sequences=["TS1", "TS5"])
    want = [to_pose_sequences(rec)[0] for rec in recs]
    assert [g.key for g in got] == ["3dhp/TS1/TS1/cam0", "3dhp/TS5/TS5/cam0"]
    for g, w in zip(got, want):
        _assert_same(g, w)
    assert got[0].valid.tolist() == [False, True, True, True, False, False, True, True, True, True]
    assert (got[1].fps, got[1].image_size) == (50.0, (1920, 1080))

    path = root / "mpi_inf_3dhp_test_set" / "TS1" / "annot_data.mat"
    assert path.read_bytes()[:19] == b"MATLAB 7.3 MAT-file"
    with h5py.File(path, "r") as f:
        assert f["annot2"].shape == (T, 1, 17, 2) and f["valid_frame"].shape == (T, 1)
        # Test order, mm: joint 0 is head top (H36M "head", index 10).
        np.testing.assert_allclose(f["annot3"][:, 0, 0] / 1000, want[0].joints_3d_cam[:, 10], atol=1e-5)


def test_test_intrinsics_override(tmp_path):
    rig = _ts_rig("TS2", f=(1400.0, 1400.0))
    rec = _test_rec("TS2", rig, np.ones(T, dtype=bool), 5)
    write_3dhp_test(tmp_path, [rec])
    got = read_3dhp_test(tmp_path, sequences=["TS2"], intrinsics={"TS2": {"f": (1400.0, 1400.0)}})[0]
    _assert_same(got, to_pose_sequences(rec)[0])
    whole = TsIntrinsics((2048, 2048), (1400.0, 1400.0), TS_INTRINSICS["TS2"].c, 25.0)
    _assert_same(read_3dhp_test(tmp_path, ["TS2"], intrinsics={"TS2": whole})[0], got)


def test_test_reads_squeezed_forms(tmp_path, test_root):
    root, recs = test_root
    src = root / "mpi_inf_3dhp_test_set" / "TS1" / "annot_data.mat"
    dst = tmp_path / "other" / "mpi_inf_3dhp_test_set" / "TS1" / "annot_data.mat"
    dst.parent.mkdir(parents=True)
    with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:  # plain HDF5, no MAT header
        for key in ("annot2", "annot3", "univ_annot3"):
            g[key] = f[key][:, 0]
        g["valid_frame"] = f["valid_frame"][:, 0]
    _assert_same(read_3dhp_test(tmp_path / "other", ["TS1"])[0], to_pose_sequences(recs[0])[0])


# ----------------------------------------------------------------------------- errors


def _edit_mat(path, drop=(), **changes):
    mat = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__") and k not in drop}
    scipy.io.savemat(path, mat | changes)


def _cells(*arrays):
    out = np.empty((len(arrays), 1), dtype=object)
    for i, a in enumerate(arrays):
        out[i, 0] = a
    return out


def _edit_h5(path, drop=(), **changes):
    with h5py.File(path, "a") as f:
        for key in list(drop) + list(changes):
            if key in f:
                del f[key]
        for key, value in changes.items():
            f[key] = value


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_train_errors_name_the_path(tmp_path, train_root):
    root, _ = train_root
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "nowhere"))):
        read_3dhp_train(tmp_path / "nowhere")
    with pytest.raises(DataError, match=re.escape(str(root / "S5")) + ".*does not exist"):
        read_3dhp_train(root, subjects=["S5"])
    with pytest.raises(DataError, match=re.escape(str(root / "S1" / "Seq2"))):
        read_3dhp_train(root, subjects=["S1"], sequences=["Seq2"])
    with pytest.raises(DataError, match=r"annot\.mat: 'cameras': expected camera 5"):
        read_3dhp_train(root, subjects=["S1"], cameras=[5])
    (root / "S2" / "Seq2" / "camera.calibration").unlink()
    with pytest.raises(DataError, match=re.escape(str(root / "S2" / "Seq2" / "camera.calibration"))):
        read_3dhp_train(root)


def _good_annot(root):
    path = root / "S1" / "Seq1" / "annot.mat"
    return path, scipy.io.loadmat(path)


def _per_camera(mat, key, fn):
    """``{key: cells}`` with ``fn`` applied to each camera's array of ``mat[key]``."""
    return {key: _cells(*(fn(cell[0]) for cell in mat[key]))}


def _nan_at_5(x):
    return np.where(np.arange(x.shape[1]) == 5, np.nan, x)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: {"drop": ["annot3"]}, r"expected key 'annot3', found keys \['annot2'"),
        (
            lambda m: _per_camera(m, "annot3", lambda x: x[:, :81]),
            r"'annot3' cell 0 .*expected shape \(N, 84\), found \(10, 81\)",
        ),
        (lambda m: _per_camera(m, "annot3", _nan_at_5), r"'annot3' cell 0.*NaN"),
        (
            lambda m: _per_camera(m, "annot2", lambda x: x[:0]) | _per_camera(m, "annot3", lambda x: x[:0]),
            r"empty sequence",
        ),
        (
            lambda m: _per_camera(m, "annot3", lambda x: x[:-1]),
            r"camera 0: expected as many frames in 'annot3' as in 'annot2' \(10\), found 9",
        ),
        (lambda m: {"cameras": np.array([[0, 3]])}, r"'annot2': expected a cell array of shape \(2, 1\)"),
    ],
    ids=["missing-key", "27-joints", "nan", "empty", "frame-mismatch", "camera-count"],
)
def test_train_bad_annot(train_root, edit, message):
    root, _ = train_root
    path, mat = _good_annot(root)
    _edit_mat(path, **edit(mat))
    with pytest.raises(DataError, match=re.escape(str(path)) + ".*" + message):
        read_3dhp_train(root, subjects=["S1"])


def test_train_truncated_and_bad_calibration(train_root):
    root, _ = train_root
    path = root / "S1" / "Seq1" / "annot.mat"
    _truncate(path)
    with pytest.raises(DataError, match=re.escape(str(path)) + ": expected a MATLAB v5 .mat file"):
        read_3dhp_train(root, subjects=["S1"])

    calib = root / "S2" / "Seq2" / "camera.calibration"
    text = calib.read_text()
    calib.write_text(text.replace("name          13", "name          12"))
    with pytest.raises(DataError, match=re.escape(str(calib)) + r": expected a block 'name 13'"):
        read_3dhp_train(root, subjects=["S2"])
    calib.write_text(text.replace("size        2048 2048", "size        2048 oops", 1))
    with pytest.raises(DataError, match=re.escape(str(calib)) + r" line 4: 'size': expected 2 numbers"):
        read_3dhp_train(root, subjects=["S2"])


@pytest.mark.parametrize(
    "edit, message",
    [
        ({"drop": ["valid_frame"]}, r"expected dataset 'valid_frame', found \['annot2', 'annot3', 'univ_annot3'\]"),
        ({"annot3": np.zeros((T, 1, 16, 3))}, r"'annot3': expected shape \(N, 17, 3\), found \(10, 16, 3\)"),
        ({"annot2": np.full((T, 1, 17, 2), np.nan)}, r"'annot2'.*NaN"),
        (
            {"annot2": np.zeros((0, 1, 17, 2)), "annot3": np.zeros((0, 1, 17, 3)), "valid_frame": np.zeros((0, 1))},
            "empty sequence",
        ),
        ({"valid_frame": np.ones((T - 2, 1))}, r"found 10 and 8"),
        ({"valid_frame": np.full((T, 1), 2.0)}, r"'valid_frame': expected 0/1 values"),
    ],
    ids=["missing-key", "16-joints", "nan", "empty", "frame-mismatch", "valid-values"],
)
def test_test_bad_annot(test_root, edit, message):
    root, _ = test_root
    path = root / "mpi_inf_3dhp_test_set" / "TS5" / "annot_data.mat"
    _edit_h5(path, **edit)
    with pytest.raises(DataError, match=re.escape(str(path)) + ".*" + message):
        read_3dhp_test(root, sequences=["TS5"])


def test_test_missing_truncated_unknown(tmp_path, test_root):
    root, _ = test_root
    folder = root / "mpi_inf_3dhp_test_set"
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "nowhere" / "mpi_inf_3dhp_test_set"))):
        read_3dhp_test(tmp_path / "nowhere")
    with pytest.raises(DataError, match=re.escape(str(folder)) + r": expected a test sequence name .* got 'TS7'"):
        read_3dhp_test(root, sequences=["TS1", "TS7"])
    with pytest.raises(DataError, match=re.escape(str(folder / "TS2" / "annot_data.mat")) + ", which does not exist"):
        read_3dhp_test(root)
    ts1 = folder / "TS1" / "annot_data.mat"
    _truncate(ts1)
    with pytest.raises(DataError, match=re.escape(str(ts1)) + ": expected a MATLAB v7.3"):
        read_3dhp_test(root, sequences=["TS1"])


def test_writers_reject_bad_recordings_before_writing(tmp_path):
    rig = _rig("cam0", 0.3, 4.0)
    front = _train_rec("S2", "Seq1", [_rig("front", 1.0, 4.0)], 2)
    with pytest.raises(DataError, match="expected camera names cam0..cam13, found 'front'"):
        write_3dhp_train(tmp_path, [_train_rec("S1", "Seq1", [rig], 1), front])
    ts9 = Recording("3dhp", "TS9", "TS9", "test", 25.0, _motion(2), [rig], np.ones(T, dtype=bool))
    with pytest.raises(DataError, match=r"expected a test sequence name .* got 'TS9'"):
        write_3dhp_test(tmp_path, [_test_rec("TS1", _ts_rig("TS1"), np.ones(T, dtype=bool), 1), ts9])
    assert not any(tmp_path.iterdir())


# ----------------------------------------------------------------------------- parts of a root


@pytest.fixture
def test_only_root(tmp_path):
    """All six TS folders and a test_info.json beside them, no S1..S8 (as the devbench holds it)."""
    recs = [_test_rec(ts, _ts_rig(ts), np.ones(T, dtype=bool), i) for i, ts in enumerate(TS_NAMES)]
    write_3dhp_test(tmp_path, recs)
    (tmp_path / "mpi_inf_3dhp_test_set" / "test_info.json").write_text("{}")
    return tmp_path


def test_test_only_root_reads_with_an_empty_train_part(test_only_root, caplog):
    with caplog.at_level(logging.WARNING, logger="adaptpose_pipeline.datasets.mpi_inf_3dhp"):
        seqs = registry.get("3dhp").reader(test_only_root)
    assert [s.sequence for s in seqs] == list(TS_NAMES) and {s.split for s in seqs} == {"test"}
    assert any("no training subject folders" in m and "train split is empty" in m for m in caplog.messages)


def test_train_only_root_reads_with_an_empty_test_part(train_root, caplog):
    root, recs = train_root
    with caplog.at_level(logging.WARNING, logger="adaptpose_pipeline.datasets.mpi_inf_3dhp"):
        seqs = read_3dhp(root)
    assert {s.split for s in seqs} == {"train"} and len(seqs) == 5
    assert any("mpi_inf_3dhp_test_set/ folder; the test split is empty" in m for m in caplog.messages)


def test_root_with_neither_part_is_an_error(tmp_path):
    (tmp_path / "videos").mkdir()
    with pytest.raises(DataError, match=re.escape(str(tmp_path)) + r": expected 3DHP training subject folders .* found neither"):
        read_3dhp(tmp_path)


def test_test_sequences_split_into_subsets_by_name(test_only_root):
    table = sequences_to_table(read_3dhp(test_only_root))
    adapt = select(table, {"dataset": "3dhp", "splits": ["test"], "sequences": ["TS1", "TS2", "TS3"]}, "target_train")
    evaluate = select(table, {"dataset": "3dhp", "splits": ["test"], "sequences": ["TS4", "TS5", "TS6"]}, "target_test")
    assert sorted(adapt["sequence"].unique()) == ["TS1", "TS2", "TS3"] and len(adapt) == 3 * T
    assert sorted(evaluate["sequence"].unique()) == ["TS4", "TS5", "TS6"]
    with pytest.raises(DataError, match=r"target_test\.sequences: expected names that dataset '3dhp', splits \['test'\] holds .*'TS6'.*found unknown \['TS7'\]"):
        select(table, {"dataset": "3dhp", "splits": ["test"], "sequences": ["TS1", "TS7"]}, "target_test")
    with pytest.raises(DataError, match=r"target_train: no frames match \{'dataset': '3dhp', 'splits': \['train'\]\}"):
        select(table, {"dataset": "3dhp", "splits": ["train"]}, "target_train")
