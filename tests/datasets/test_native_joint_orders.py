"""Each dataset's native joint order, pinned from its published layout.

The readers and the stand-in writers share one table per dataset, so a round trip
through them passes whatever the table says. These tests pin each table as a literal
list copied from the published layout, and read raw files written by the stand-in
writers *without* the readers: the rows the published layout names must hold the
joints a known, frontal pose put there, the subject's left on the image's right.
"""

import json
import pickle

import h5py
import numpy as np

from adaptpose_pipeline.core.skeleton import H36M17_JOINTS, H36M17_PARENTS
from adaptpose_pipeline.datasets import h36m, pw3d, ski
from adaptpose_pipeline.standin import h36m as h36m_standin
from adaptpose_pipeline.standin import pw3d as pw3d_standin
from adaptpose_pipeline.standin import ski as ski_standin
from adaptpose_pipeline.standin.recording import CameraRig, Recording, look_at

T = 3
# A person standing at the origin, metres, z up, facing +y: their left is world -x.
# Arms slightly apart and the left wrist raised, so no two joints coincide.
FRONTAL = {
    "hip": (0.0, 0.0, 0.95),
    "r_hip": (0.13, 0.0, 0.95),
    "r_knee": (0.14, 0.03, 0.52),
    "r_ankle": (0.15, 0.0, 0.08),
    "l_hip": (-0.13, 0.0, 0.95),
    "l_knee": (-0.14, 0.03, 0.52),
    "l_ankle": (-0.15, 0.0, 0.08),
    "spine": (0.0, 0.0, 1.18),
    "thorax": (0.0, 0.0, 1.45),
    "neck": (0.0, 0.03, 1.565),
    "head": (0.0, 0.01, 1.68),
    "l_shoulder": (-0.17, 0.0, 1.42),
    "l_elbow": (-0.22, 0.03, 1.15),
    "l_wrist": (-0.3, 0.08, 1.3),
    "r_shoulder": (0.17, 0.0, 1.42),
    "r_elbow": (0.2, 0.02, 1.15),
    "r_wrist": (0.21, 0.06, 0.9),
}
# A camera in front of the person, 4 m away along +y, looking back at the hip.
CAMERA_AT = np.array([0.0, 4.0, 1.2])


def _pose() -> np.ndarray:
    """``(T, 17, 3)`` world: the frontal pose, drifting a little along z."""
    x = np.array([FRONTAL[j] for j in H36M17_JOINTS])
    return x[None] + np.array([0.0, 0.0, 0.01])[None, None] * np.arange(T)[:, None, None]


def _world(name: str) -> np.ndarray:
    """``(T, 3)`` world position of an H36M-17 joint of :func:`_pose`, by name."""
    return _pose()[:, H36M17_JOINTS.index(name)]


def _frontal_camera(name: str, moving: bool = False, **kw) -> CameraRig:
    R, t = look_at(CAMERA_AT, np.array(FRONTAL["hip"]))
    if moving:
        R, t = np.repeat(R[None], T, 0), np.repeat(t[None], T, 0)
    return CameraRig(name, R, t, kw.pop("f", np.array([1145.0, 1144.0])), kw.pop("c", np.array([512.0, 515.0])),
                     kw.pop("image_size", (1000, 1002)), **kw)


def test_frontal_camera_sees_the_left_side_on_the_right():
    """The premise of the checks below: facing the camera, left has the larger image x."""
    rig = _frontal_camera("front")
    cam = rig.to_camera(_pose())
    left, right = H36M17_JOINTS.index("l_shoulder"), H36M17_JOINTS.index("r_shoulder")
    assert (cam[:, left, 0] > cam[:, right, 0] + 0.3).all()
    assert (cam[..., 2] > 3).all()


# ----------------------------------------------------------------------------- Human3.6M

# VideoPose3D common/h36m_dataset.py: the 32-joint motion-capture skeleton ...
H36M32_PARENTS = [-1, 0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 0, 11, 12, 13, 14, 12,
                  16, 17, 18, 19, 20, 19, 22, 12, 24, 25, 26, 27, 28, 27, 30]
H36M32_LEFT = [6, 7, 8, 9, 10, 16, 17, 18, 19, 20, 21, 22, 23]
H36M32_RIGHT = [1, 2, 3, 4, 5, 24, 25, 26, 27, 28, 29, 30, 31]
# ... and the joints Human36mDataset(remove_static_joints=True) drops.
H36M32_REMOVED = [4, 5, 9, 10, 11, 16, 20, 21, 22, 23, 24, 28, 29, 30, 31]
# Names of the 17 kept rows (3d-pose-baseline data_utils.H36M_NAMES).
H36M32_NAMES = {
    0: "Hip", 1: "RHip", 2: "RKnee", 3: "RFoot", 6: "LHip", 7: "LKnee", 8: "LFoot",
    12: "Spine", 13: "Thorax", 14: "Neck/Nose", 15: "Head",
    17: "LShoulder", 18: "LElbow", 19: "LWrist", 25: "RShoulder", 26: "RElbow", 27: "RWrist",
}
H36M17_FROM_NAME = {
    "Hip": "hip", "RHip": "r_hip", "RKnee": "r_knee", "RFoot": "r_ankle",
    "LHip": "l_hip", "LKnee": "l_knee", "LFoot": "l_ankle",
    "Spine": "spine", "Thorax": "thorax", "Neck/Nose": "neck", "Head": "head",
    "LShoulder": "l_shoulder", "LElbow": "l_elbow", "LWrist": "l_wrist",
    "RShoulder": "r_shoulder", "RElbow": "r_elbow", "RWrist": "r_wrist",
}


def test_h36m32_keep_is_videopose3d_order():
    assert h36m.H36M32_KEEP == (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
    assert list(h36m.H36M32_KEEP) == [j for j in range(32) if j not in H36M32_REMOVED]
    names = [H36M17_FROM_NAME[H36M32_NAMES[j]] for j in h36m.H36M32_KEEP]
    assert names == list(H36M17_JOINTS)


def test_h36m32_keep_sides_and_parents_follow_the_published_skeleton():
    for k, row in enumerate(h36m.H36M32_KEEP):
        name = H36M17_JOINTS[k]
        side = "l_" if row in H36M32_LEFT else "r_" if row in H36M32_RIGHT else ""
        assert name.startswith(side) and (side or name[:2] not in ("l_", "r_")), (k, row, name)
    # VideoPose3D's remove_joints re-parents to the nearest kept ancestor, then hangs
    # both shoulders off the thorax (kept row 8).
    parents = []
    for row in h36m.H36M32_KEEP:
        p = H36M32_PARENTS[row]
        while p in H36M32_REMOVED:
            p = H36M32_PARENTS[p]
        parents.append(-1 if p == -1 else h36m.H36M32_KEEP.index(p))
    parents[11] = parents[14] = 8
    assert tuple(parents) == H36M17_PARENTS


def test_h36m32_fill_rows_copy_a_joint_of_their_own_side():
    assert sorted(h36m_standin.H36M32_FILL) == H36M32_REMOVED
    for row, src in h36m_standin.H36M32_FILL.items():
        assert src in h36m.H36M32_KEEP
        for side in (H36M32_LEFT, H36M32_RIGHT):
            if row in side:
                assert src in side or src in (12, 13), (row, src)


def _quat_to_matrix(q) -> np.ndarray:
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def test_h36m_raw_files_hold_the_left_shoulder_where_videopose3d_says(tmp_path):
    rigs = [_frontal_camera(h36m.CAMERA_IDS[0])]
    for i, name in enumerate(h36m.CAMERA_IDS[1:], start=1):
        R, t = look_at(np.array([4 * np.sin(i * np.pi / 2), 4 * np.cos(i * np.pi / 2), 1.2]), np.array(FRONTAL["hip"]))
        rigs.append(CameraRig(name, R, t, np.array([1145.0, 1144.0]), np.array([512.0, 515.0]), (1000, 1002)))
    h36m_standin.write_h36m(tmp_path, [Recording("h36m", "S1", "Posing", "train", 50.0, _pose(), rigs, np.ones(T, bool))])

    with np.load(tmp_path / "data_3d_h36m.npz", allow_pickle=True) as npz:
        world = npz["positions_3d"].item()["S1"]["Posing"]
    assert world.shape == (T, 32, 3)
    for row, name in H36M32_NAMES.items():
        np.testing.assert_allclose(world[:, row], _world(H36M17_FROM_NAME[name]), atol=1e-6, err_msg=name)
    # Through camera 0's stored extrinsics (camera -> world quaternion, centre in mm), the
    # left shoulder (row 17) and hip (row 6) are on the image's right.
    cam = json.loads((tmp_path / "h36m_cameras.json").read_text())["extrinsics"]["S1"][0]
    x_cam = (world - np.array(cam["translation"]) / 1000) @ _quat_to_matrix(cam["orientation"])
    assert (x_cam[:, 17, 0] > x_cam[:, 25, 0] + 0.3).all()
    assert (x_cam[:, 6, 0] > x_cam[:, 1, 0] + 0.2).all()

    # The 2D files are already in the 17-joint order: 11 LShoulder, 14 RShoulder.
    with np.load(tmp_path / "data_2d_h36m_gt.npz", allow_pickle=True) as npz:
        px = npz["positions_2d"].item()["S1"]["Posing"][0]
        symmetry = npz["metadata"].item()["keypoints_symmetry"]
    assert (px[:, 11, 0] > px[:, 14, 0] + 50).all()
    assert (px[:, 4, 0] > px[:, 1, 0] + 30).all()
    assert symmetry == [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]


# ----------------------------------------------------------------------------- 3DPW

# SMPL's 24 joints (SMPL body model, as in the 3DPW jointPositions).
SMPL24 = [
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
]
# OpenPose COCO-18 (3DPW poses2d).
COCO18 = [
    "nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye", "r_ear", "l_ear",
]


def test_smpl24_and_coco18_tables_are_the_published_orders():
    assert list(pw3d.SMPL24_JOINTS) == SMPL24
    assert list(pw3d.COCO18_JOINTS) == COCO18


def test_3dpw_raw_pickle_holds_the_joints_smpl_names(tmp_path):
    rig = _frontal_camera("handheld", moving=True, f=np.array([1960.0, 1955.0]), c=np.array([540.0, 960.0]),
                          image_size=(1080, 1920))
    rec = Recording("3dpw", "walk_p0", "walk", "test", 30.0, _pose(), [rig], np.ones(T, bool))
    (path,) = pw3d_standin.write_3dpw(tmp_path, [rec])
    with open(path, "rb") as fh:
        data = pickle.load(fh, encoding="latin1")
    joints = np.asarray(data["jointPositions"][0]).reshape(T, 24, 3)
    # Joints SMPL and H36M-17 share, by their published SMPL index.
    for row, name in [(0, "hip"), (1, "l_hip"), (2, "r_hip"), (4, "l_knee"), (5, "r_knee"), (7, "l_ankle"),
                      (8, "r_ankle"), (16, "l_shoulder"), (17, "r_shoulder"), (18, "l_elbow"), (19, "r_elbow"),
                      (20, "l_wrist"), (21, "r_wrist"), (12, "thorax"), (15, "neck")]:
        np.testing.assert_allclose(joints[:, row], _world(name), atol=1e-9, err_msg=SMPL24[row])
    # Joints only SMPL has lie on their own side: world -x is the subject's left.
    for left, right in [(13, 14), (22, 23), (10, 11)]:
        assert (joints[:, left, 0] < 0).all() and (joints[:, right, 0] > 0).all(), SMPL24[left]
    for row in (3, 6, 9):
        assert np.allclose(joints[:, row, 0], 0), SMPL24[row]

    # Through the stored world -> camera pose, the left shoulder is on the image's right.
    pose = np.asarray(data["cam_poses"])
    x_cam = np.einsum("tij,tkj->tki", pose[:, :3, :3], joints) + pose[:, None, :3, 3]
    assert (x_cam[:, 16, 0] > x_cam[:, 17, 0] + 0.3).all()
    # poses2d (P x (N, 3, 18)): COCO-18 l_shoulder 5 / r_shoulder 2, l_hip 11 / r_hip 8,
    # l_eye 15 / r_eye 14, l_ear 17 / r_ear 16, all left ones further right in the image.
    px = np.asarray(data["poses2d"][0])
    assert px.shape == (T, 3, 18)
    for left, right in [(5, 2), (11, 8), (15, 14), (17, 16), (7, 4)]:
        assert (px[:, 0, left] > px[:, 0, right] + 5).all(), COCO18[left]
    K = np.asarray(data["cam_intrinsics"])
    nose = x_cam[:, 15] @ K.T
    np.testing.assert_allclose(px[:, :2, 0], nose[:, :2] / nose[:, 2:], atol=1e-6)


# ----------------------------------------------------------------------------- Ski-Pose PTZ

# The Ski-PTZ labels' 17 joints (H36M-like; devbench README "TARGET 3" and public loaders).
SKI17 = [
    "hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "spine", "neck", "head", "head_top", "left_shoulder", "left_elbow", "left_wrist",
    "right_shoulder", "right_elbow", "right_wrist",
]
SKI_AS_H36M = [
    "hip", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "spine", "thorax", "neck", "head",
    "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist",
]


def test_ski_table_is_the_published_order():
    assert list(ski.SKI_JOINTS) == SKI17
    assert [ski.H36M_FROM_SKI[n] for n in SKI17] == SKI_AS_H36M


def test_ski_raw_labels_hold_the_joints_the_published_order_names(tmp_path):
    rig = _frontal_camera("cam_00", f=np.array([5000.0, 5000.0]), c=np.array([960.0, 540.0]), image_size=(1920, 1080))
    rec = Recording("ski", "3", "seq_001", "train", 30.0, _pose(), [rig], np.ones(T, bool))
    ski_standin.write_ski(tmp_path, [rec])
    with h5py.File(tmp_path / "train" / "labels.h5", "r") as fh:
        pose3d = np.asarray(fh["3D"][()]).reshape(-1, 17, 3)
        pose2d = np.asarray(fh["2D"][()]).reshape(-1, 17, 2)
    x_cam = rig.to_camera(_pose())
    root = x_cam[:, H36M17_JOINTS.index("hip")]
    for row, name in enumerate(SKI_AS_H36M):
        np.testing.assert_allclose(pose3d[:, row], x_cam[:, H36M17_JOINTS.index(name)] - root, atol=1e-6,
                                   err_msg=SKI17[row])
    # Camera axes, x right: the left shoulder (11) and left hip (4) on the image's right.
    assert (pose3d[:, 11, 0] > pose3d[:, 14, 0] + 0.3).all()
    assert (pose3d[:, 4, 0] > pose3d[:, 1, 0] + 0.2).all()
    assert (pose2d[:, 11, 0] > pose2d[:, 14, 0]).all()
    np.testing.assert_allclose(pose2d[:, 0], 0.5, atol=1e-6)

