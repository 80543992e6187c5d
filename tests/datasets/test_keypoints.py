"""Reading a user's 2D keypoints: the COCO-17 -> H36M-17 rule, the three formats, bad files."""

import json

import numpy as np
import pandas as pd
import pytest

from adaptpose_pipeline.core.skeleton import H36M17_JOINTS
from adaptpose_pipeline.datasets.common import DataError
from adaptpose_pipeline.datasets.keypoints import (
    COCO17_JOINTS,
    HEAD_TOP_SCALE,
    coco17_to_h36m17,
    fill_missing,
    h36m17_to_coco17,
    read_keypoints,
)
from adaptpose_pipeline.standin import motion

H = H36M17_JOINTS.index
# A person facing the camera, pixels (y down).
HAND = {
    "nose": (10, 0), "l_eye": (12, -2), "r_eye": (8, -2), "l_ear": (14, -1), "r_ear": (6, -1),
    "l_shoulder": (20, 10), "r_shoulder": (0, 10), "l_elbow": (24, 20), "r_elbow": (-4, 20),
    "l_wrist": (26, 30), "r_wrist": (-6, 30), "l_hip": (16, 40), "r_hip": (4, 40),
    "l_knee": (17, 60), "r_knee": (3, 60), "l_ankle": (18, 80), "r_ankle": (2, 80),
}  # fmt: skip


def _hand(scores: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    xy = np.array([HAND[n] for n in COCO17_JOINTS], dtype=float)
    s = np.array([(scores or {}).get(n, 0.9) for n in COCO17_JOINTS])
    return xy, s


def test_coco_to_h36m_on_hand_values():
    xy, s = _hand({"l_hip": 0.8, "r_hip": 0.6, "l_shoulder": 0.7})
    out, score = coco17_to_h36m17(xy, s, min_score=0.3)
    np.testing.assert_allclose(out[H("hip")], [10, 40])
    np.testing.assert_allclose(out[H("thorax")], [10, 10])
    np.testing.assert_allclose(out[H("spine")], [10, 25])
    np.testing.assert_allclose(out[H("neck")], [10, 0])  # the nose
    # face centre (10, -1.5): head = thorax + 1.6 * (face - thorax) = (10, 10 - 1.6 * 11.5)
    np.testing.assert_allclose(out[H("head")], [10, 10 - HEAD_TOP_SCALE * 11.5])
    np.testing.assert_allclose(out[H("l_wrist")], [26, 30])
    np.testing.assert_allclose(out[H("r_ankle")], [2, 80])
    assert score[H("hip")] == 0.6 and score[H("thorax")] == 0.7 and score[H("spine")] == 0.6
    assert score[H("head")] == 0.7  # min(thorax, face points)


def test_missing_face_points_are_left_out_and_no_face_means_no_head():
    xy, s = _hand({"r_ear": 0.1})
    out, score = coco17_to_h36m17(xy, s, min_score=0.3)
    face = np.array([(12 + 8 + 14) / 3, (-2 - 2 - 1) / 3])
    np.testing.assert_allclose(out[H("head")], [10, 10] + HEAD_TOP_SCALE * (face - [10, 10]))
    assert score[H("head")] == 0.9
    xy, s = _hand({name: 0.0 for name in ("l_eye", "r_eye", "l_ear", "r_ear")})
    out, score = coco17_to_h36m17(xy, s, min_score=0.3)
    assert np.isnan(out[H("head")]).all() and score[H("head")] == 0.0


def test_inverse_rule_round_trips_the_head_and_limbs():
    rng = np.random.default_rng(0)
    joints = motion.synthesise("reach_wave", 20, 25.0, motion.sample_bone_lengths(rng), rng)
    coco = h36m17_to_coco17(joints)
    back, _ = coco17_to_h36m17(coco, np.ones(coco.shape[:-1]), 0.3)  # the rule is linear: works in 3D too
    for name in ("head", "neck", "thorax", "l_wrist", "r_knee", "l_shoulder"):
        np.testing.assert_allclose(back[:, H(name)], joints[:, H(name)], atol=1e-9, err_msg=name)
    # The pelvis is the mid-hip point: the synthesiser puts it within 3 cm of that.
    assert np.linalg.norm(back[:, H("hip")] - joints[:, H("hip")], axis=-1).max() < 0.03


def _record(frame, xy, scores, score=0.9, key="image_id", **extra):
    return {key: frame, "category_id": 1, "keypoints": np.c_[xy, scores].ravel().tolist(), "score": score, **extra}


def test_coco_list_picks_the_best_person_and_fills_absent_frames(tmp_path):
    xy, s = _hand()
    records = [
        _record(3, xy, s, key="frame_id"),
        _record(3, xy + 100, s, score=0.5, key="frame_id"),  # a weaker second person
        _record(5, xy + 1, s, key="frame_id"),
        _record(5, xy + 500, s, score=0.99, key="frame_id", category_id=2),  # not a person
    ]
    path = tmp_path / "video.json"
    path.write_text(json.dumps(records))
    kp = read_keypoints(path)
    assert kp.format == "coco_json" and kp.frames.tolist() == [3, 4, 5] and kp.image_size is None
    np.testing.assert_allclose(kp.joints_2d[0, H("l_wrist")], HAND["l_wrist"])
    np.testing.assert_allclose(kp.joints_2d[2, H("l_wrist")], np.add(HAND["l_wrist"], 1))
    assert (kp.scores[1] == 0).all()  # frame 4 had no detection
    joints, filled = fill_missing(kp, 0.3)
    assert filled[1].all() and not filled[[0, 2]].any()
    np.testing.assert_allclose(joints[1, H("l_wrist")], np.add(HAND["l_wrist"], 0.5))


def test_coco_dict_gives_image_size_and_every_image(tmp_path):
    xy, s = _hand()
    doc = {
        "images": [{"id": i, "width": 1920, "height": 1080} for i in range(4)],
        "annotations": [_record(1, xy, s), _record(2, xy, s)],
    }
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(doc))
    kp = read_keypoints(path)
    assert kp.image_size == (1920, 1080) and kp.frames.tolist() == [0, 1, 2, 3]
    _, filled = fill_missing(kp, 0.3)
    assert filled[[0, 3]].all() and not filled[[1, 2]].any()  # the ends take the nearest detection

    doc["images"][2]["width"] = 1280
    path.write_text(json.dumps(doc))
    with pytest.raises(DataError, match="one image size"):
        read_keypoints(path)


def _csv_frame(T=4, scores=True) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    cols = {"frame": np.arange(10, 10 + T)}
    for name in H36M17_JOINTS:
        cols[f"{name}_x"], cols[f"{name}_y"] = rng.uniform(0, 500, T), rng.uniform(0, 500, T)
        if scores:
            cols[f"{name}_score"] = np.full(T, 0.8)
    return pd.DataFrame(cols)


def test_csv_and_numpy_layouts(tmp_path):
    df = _csv_frame()
    df.to_csv(tmp_path / "kp.csv", index=False)
    kp = read_keypoints(tmp_path / "kp.csv")
    assert kp.frames.tolist() == [10, 11, 12, 13]
    np.testing.assert_allclose(kp.joints_2d[2, H("head")], df.loc[2, ["head_x", "head_y"]].to_numpy(float))
    np.testing.assert_allclose(kp.scores, 0.8)

    df = _csv_frame(scores=False).drop(columns="frame")
    df.loc[1, "l_knee_x"] = np.nan
    df["l_knee_score"] = [1.0, 0.0, 1.0, 1.0]  # an undetected joint may have no coordinates
    df.to_csv(tmp_path / "kp.txt", index=False)
    kp = read_keypoints(tmp_path / "kp.txt", fmt="csv")
    assert kp.frames.tolist() == [0, 1, 2, 3] and kp.scores[1, H("l_knee")] == 0 and kp.scores[1, H("r_knee")] == 1

    arr = np.random.default_rng(2).uniform(0, 100, (5, 17, 3))
    np.save(tmp_path / "kp.npy", arr)
    np.savez(tmp_path / "kp.npz", keypoints=arr[..., :2], other=np.zeros(3))
    kp = read_keypoints(tmp_path / "kp.npy")
    np.testing.assert_allclose(kp.scores, arr[..., 2])
    kp = read_keypoints(tmp_path / "kp.npz")
    np.testing.assert_allclose(kp.joints_2d, arr[..., :2])
    assert (kp.scores == 1).all()


def _write(tmp_path, name: str, content) -> str:
    path = tmp_path / name
    if isinstance(content, np.ndarray):
        np.save(path, content)
    elif isinstance(content, pd.DataFrame):
        content.to_csv(path, index=False)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def _csv_with(**cells) -> pd.DataFrame:
    """The CSV fixture with ``column=(row, value)`` cells changed."""
    df = _csv_frame()
    for column, (row, value) in cells.items():
        df.loc[row, column] = value
    return df


_XY, _S = _hand()
_NAN_XY = _XY.copy()
_NAN_XY[COCO17_JOINTS.index("l_ear")] = np.nan


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("a.json", "[{\"image_id\": 0, \"keypoints\": [1, 2", "cannot be parsed as JSON"),
        ("a.json", [], "no person keypoint records"),
        ("a.json", {"people": []}, "expected a list of keypoint records or a dict with 'annotations'"),
        ("a.json", [{"image_id": 0, "keypoints": [1.0] * 54}], "expected 51 keypoint values .* found 54"),
        ("a.json", [{"keypoints": [1.0] * 51}], "expected 'frame_id' or 'image_id'"),
        ("a.json", [{"image_id": 0.5, "keypoints": [1.0] * 51}], "integer frame/image id"),
        ("a.json", [_record(0, _NAN_XY, _S)], "expected finite x, y .* joint 'l_ear'"),
        ("a.json", {"images": [{"id": 0}], "annotations": [_record(1, _XY, _S)]}, "image ids \\[1\\]"),
        ("a.csv", "", "cannot be parsed as CSV"),
        ("a.csv", _csv_frame().iloc[:0], "holds no frames"),
        ("a.csv", _csv_frame().drop(columns="head_y"), "missing \\['head_y'\\]"),
        ("a.csv", _csv_frame().assign(hed_x=0.0), "unknown \\['hed_x'\\]"),
        ("a.csv", _csv_with(r_wrist_y=(2, np.nan)), "frame 12, joint 'r_wrist'"),
        ("a.csv", _csv_with(r_wrist_score=(2, np.nan)), "expected finite scores"),
        ("a.csv", _csv_frame().assign(frame=[0, 2, 1, 3]), "increase row by row"),
        ("a.npy", np.zeros((5, 16, 2)), "expected a numeric array \\(T, 17, 2\\)"),
        ("a.npy", np.zeros((0, 17, 2)), "holds no frames"),
        ("a.npy", "not numpy", "cannot be read as a numpy .npy/.npz file"),
        ("a.txt", "x", "cannot tell the keypoint format from the extension '.txt'"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path, name, content, match):
    path = _write(tmp_path, name, content)
    with pytest.raises(DataError, match=match) as err:
        read_keypoints(path)
    assert str(path) in str(err.value)


def test_missing_file_and_a_joint_never_seen(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_keypoints(tmp_path / "nope.json")
    xy, s = _hand({"l_ankle": 0.1})
    path = _write(tmp_path, "a.json", [_record(0, xy, s), _record(1, xy, s)])
    with pytest.raises(DataError, match=r"joints \['l_ankle'\] are never detected") as err:
        fill_missing(read_keypoints(path), 0.3)
    assert str(path) in str(err.value)
