import json
import logging
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from adaptpose_pipeline.core.camera import project
from adaptpose_pipeline.datasets import h36m, h36m_cameras
from adaptpose_pipeline.datasets.common import DataError

DEVBENCH = Path(os.environ.get("ADAPTPOSE_DEVBENCH", Path(__file__).resolve().parents[3] / "shared" / "devbench"))

# Camera 54138969 and S1's extrinsics, typed from VideoPose3D's common/h36m_dataset.py.
F = np.array([1145.0494384765625, 1143.7811279296875])
C = np.array([512.54150390625, 515.4514770507812])
K = np.array([-0.20709891617298126, 0.24777518212795258, -0.0030751503072679043])
P = np.array([-0.0009756988729350269, -0.00142447161488235])
Q = np.array([0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088])  # w, x, y, z
CENTRE_M = np.array([1841.1070556640625, 4955.28466796875, 1563.4454345703125]) / 1000.0


def _cam_to_world(q):
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip


def _write_npz_pair(root, world_points, subject="S1"):
    """VideoPose3D's two files, nothing else: 32 joints all at ``world_points`` (N, 3) m."""
    x32 = np.repeat(np.asarray(world_points, np.float32)[:, None], 32, axis=1)
    views = [np.zeros((len(x32), 17, 2), np.float32) for _ in range(4)]
    np.savez(root / h36m.FILE_3D, positions_3d={subject: {"Walking": x32}})
    np.savez(root / h36m.FILE_2D, positions_2d={subject: {"Walking": views}}, metadata=h36m.METADATA)


def test_two_npz_files_are_enough_and_builtin_cameras_project_as_by_hand(tmp_path):
    R_c2w = _cam_to_world(Q)
    on_axis = np.array([0.0, 0.0, 5.0])
    off_axis = np.array([0.5, -0.3, 5.0])
    _write_npz_pair(tmp_path, [CENTRE_M + R_c2w @ on_axis, CENTRE_M + R_c2w @ off_axis])
    assert sorted(p.name for p in tmp_path.iterdir()) == [h36m.FILE_2D, h36m.FILE_3D]

    seq = next(s for s in h36m.read_h36m(tmp_path) if s.camera == "54138969")
    assert seq.image_size == (1000, 1002)
    np.testing.assert_allclose(seq.joints_3d_cam[:, 0], [on_axis, off_axis], atol=1e-5)

    # VideoPose3D's distortion, by hand: u' = u (1 + k1 r2 + k2 r2^2 + k3 r2^3 + p.u) + p r2.
    u = off_axis[:2] / off_axis[2]
    r2 = u @ u
    distorted = u * (1 + K[0] * r2 + K[1] * r2**2 + K[2] * r2**3 + P @ u) + P * r2
    expected = np.array([C, F * distorted + C])
    got = project(seq.joints_3d_cam[:, 0].astype(np.float64), seq.f, seq.c, seq.k, seq.p)
    np.testing.assert_allclose(got, expected, atol=2e-3)


def test_builtin_calibration_covers_the_protocol_subjects():
    cams = h36m_cameras.builtin_cameras()
    assert {"S1", "S5", "S6", "S7", "S8", "S9", "S11"} <= set(cams)
    for subject, four in cams.items():
        assert [c.id for c in four] == list(h36m_cameras.CAMERA_IDS)
        for cam in four:
            np.testing.assert_allclose(cam.R @ cam.R.T, np.eye(3), atol=1e-6)
            # every camera stands 3-6 m from the origin and faces it
            centre = -cam.R.T @ cam.t
            assert 3.0 < np.linalg.norm(centre) < 6.0
            assert cam.R[2] @ (-centre / np.linalg.norm(centre)) > 0.8


def _mmpose_layout(cams, millimetres=False, transposed=False):
    """The builtin cameras as mmpose's cameras.pkl stores them."""
    out = {}
    for subject, four in cams.items():
        for cam in four:
            centre = -cam.R.T @ cam.t
            out[(subject, cam.id)] = {
                "R": cam.R if transposed else cam.R.T,
                "T": (centre * (1000.0 if millimetres else 1.0))[:, None],
                "c": cam.c[:, None], "f": cam.f[:, None], "k": cam.k[:, None], "p": cam.p[::-1][:, None],
                "w": cam.image_size[0], "h": cam.image_size[1], "name": "camera", "id": cam.id,
            }  # fmt: skip
    return out


def _assert_same(got, expected):
    assert sorted(got) == sorted(expected)
    for subject in expected:
        for a, b in zip(got[subject], expected[subject]):
            assert (a.id, a.image_size) == (b.id, b.image_size)
            for name in ("f", "c", "k", "p", "R", "t"):
                np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=1e-6, err_msg=f"{subject} {name}")


@pytest.mark.parametrize("millimetres, transposed", [(False, False), (True, False), (False, True)])
def test_mmpose_cameras_pkl_round_trips(tmp_path, millimetres, transposed):
    builtin = h36m_cameras.builtin_cameras()
    path = tmp_path / "cameras.pkl"
    path.write_bytes(pickle.dumps(_mmpose_layout(builtin, millimetres, transposed)))
    _assert_same(h36m_cameras.load_camera_file(path), builtin)


def test_a_camera_file_in_the_root_wins_over_the_builtin(tmp_path):
    cams = _mmpose_layout(h36m_cameras.builtin_cameras())
    for key in cams:
        cams[key]["f"] = cams[key]["f"] + 10.0
    (tmp_path / "my_calibration.pkl").write_bytes(pickle.dumps(cams))
    _write_npz_pair(tmp_path, [CENTRE_M + _cam_to_world(Q) @ [0, 0, 5.0]])
    seq = next(s for s in h36m.read_h36m(tmp_path) if s.camera == "54138969")
    np.testing.assert_allclose(seq.f, F + 10.0)


def test_per_subject_json_layout_is_recognised(tmp_path):
    builtin = h36m_cameras.builtin_cameras()
    doc = json.loads((Path(h36m_cameras.__file__).parent / h36m_cameras.BUILTIN).read_text())
    per_subject = {s: [{**i, **e, "extra": 1} for i, e in zip(doc["intrinsics"], ext)] for s, ext in doc["extrinsics"].items()}
    (tmp_path / "cameras.json").write_text(json.dumps(per_subject))
    cams, source = h36m_cameras.cameras_for_root(tmp_path)
    assert source.endswith("cameras.json")
    _assert_same(cams, builtin)


def test_unrelated_json_is_ignored_with_a_warning_and_two_camera_files_are_an_error(tmp_path, caplog):
    (tmp_path / "notes.json").write_text('{"author": "me"}')
    with caplog.at_level(logging.WARNING, logger="adaptpose_pipeline.datasets.h36m_cameras"):
        _, source = h36m_cameras.cameras_for_root(tmp_path)
    assert source.startswith("built-in") and any("notes.json" in m for m in caplog.messages)
    builtin = h36m_cameras.builtin_cameras()
    (tmp_path / "a.pkl").write_bytes(pickle.dumps(_mmpose_layout(builtin)))
    (tmp_path / "b.pkl").write_bytes(pickle.dumps(_mmpose_layout(builtin)))
    with pytest.raises(DataError, match=r"expected at most one Human3\.6M camera file, found 2: \['a\.pkl', 'b\.pkl'\]"):
        h36m_cameras.cameras_for_root(tmp_path)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda c: c[("S1", "54138969")].pop("R"), r"\('S1', '54138969'\)\]: expected key 'R'"),
        (lambda c: c.pop(("S1", "55011271")), r"subject 'S1': expected cameras .* missing \['55011271'\]"),
        (lambda c: c[("S1", "54138969")].update(R=-np.eye(3)), r"54138969'\)\]\.R: expected a rotation matrix"),
        (lambda c: c[("S1", "54138969")].update(R=np.diag([1.0, -1.0, -1.0])), r"\.R: expected a level camera aimed at the capture area"),
        (lambda c: c[("S1", "54138969")].update(w=0), r"54138969'\)\]\.w: expected a positive integer, found 0"),
    ],
)
def test_bad_mmpose_file_names_file_key_and_value(tmp_path, change, match):
    cams = _mmpose_layout(h36m_cameras.builtin_cameras())
    change(cams)
    path = tmp_path / "cameras.pkl"
    path.write_bytes(pickle.dumps(cams))
    with pytest.raises(DataError, match=r"cameras\.pkl: .*" + match):
        h36m_cameras.load_camera_file(path)


def test_subject_without_cameras_is_named(tmp_path):
    _write_npz_pair(tmp_path, [[0.0, 0.0, 1.0]], subject="S2")
    with pytest.raises(DataError, match=r"built-in .*h36m_cameras\.json: expected cameras of subject 'S2'"):
        h36m.read_h36m(tmp_path)


@pytest.mark.skipif(not (DEVBENCH / "h36m" / "cameras.json").is_file(), reason="devbench not present")
def test_devbench_cameras_agree_with_the_builtin():
    devbench = h36m_cameras.load_camera_file(DEVBENCH / "h36m" / "cameras.json")
    builtin = h36m_cameras.builtin_cameras()
    _assert_same({s: devbench[s] for s in builtin}, builtin)
    # The file's own R (world -> camera), T (m) and mmpose-ordered p say the same.
    raw = json.loads((DEVBENCH / "h36m" / "cameras.json").read_text())
    for subject in builtin:
        for cam, entry in zip(builtin[subject], raw[subject]):
            np.testing.assert_allclose(cam.R, entry["R"], atol=1e-6)
            np.testing.assert_allclose(-cam.R.T @ cam.t, entry["T"], atol=1e-6)
            np.testing.assert_allclose(cam.p, entry["p"][::-1], atol=1e-9)


@pytest.mark.skipif(not (DEVBENCH / "h36m" / h36m.FILE_3D).is_file(), reason="devbench not present")
def test_builtin_cameras_reproject_real_2d(tmp_path):
    for name in (h36m.FILE_3D, h36m.FILE_2D):
        shutil.copy(DEVBENCH / "h36m" / name, tmp_path / name)
    seqs = h36m.read_h36m(tmp_path, subjects=["S1", "S11"])
    for seq in seqs:
        reprojected = project(seq.joints_3d_cam.astype(np.float64), seq.f, seq.c, seq.k, seq.p)
        assert np.abs(reprojected - seq.joints_2d).max() < 0.05, seq.key
