"""BVH: Euler conventions, rotation fitting, and write -> read -> forward kinematics."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from adaptpose_pipeline.core import bvh
from adaptpose_pipeline.core.skeleton import H36M16, H36M17
from adaptpose_pipeline.standin import motion
from tests.bvh_reader import forward_kinematics, parse_bvh


def euler_to_matrix(degrees, order: str) -> np.ndarray:
    """BVH's ``R_a1 @ R_a2 @ R_a3``: scipy's upper-case (intrinsic) sequence."""
    return Rotation.from_euler(order, degrees, degrees=True).as_matrix()


@pytest.mark.parametrize("order", bvh.ORDERS)
def test_euler_matches_intrinsic_rotations_and_inverts(order):
    rng = np.random.default_rng(0)
    angles = np.c_[rng.uniform(-179, 179, 200), rng.uniform(-89, 89, 200), rng.uniform(-179, 179, 200)]
    R = euler_to_matrix(angles, order)
    np.testing.assert_allclose(bvh.matrix_to_euler(R, order), angles, atol=1e-9)
    locked = euler_to_matrix([[30.0, 90.0, 20.0], [-50.0, -90.0, 10.0]], order)
    np.testing.assert_allclose(euler_to_matrix(bvh.matrix_to_euler(locked, order), order), locked, atol=1e-9)


def test_known_angles():
    # ZXY with (90, 0, 0): a quarter turn about z takes x to y.
    np.testing.assert_allclose(euler_to_matrix([90.0, 0.0, 0.0], "ZXY") @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    # XYZ (0, 90, 0): about y, z goes to x. ZXY (90, 90, 0): first the inner x turn (y -> z), then z.
    np.testing.assert_allclose(euler_to_matrix([0.0, 90.0, 0.0], "XYZ") @ [0, 0, 1], [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(euler_to_matrix([90.0, 90.0, 0.0], "ZXY") @ [0, 1, 0], [0, 0, 1], atol=1e-12)
    R = Rotation.from_euler("y", 30.0, degrees=True).as_matrix() @ Rotation.from_euler("x", -45.0, degrees=True).as_matrix()
    np.testing.assert_allclose(bvh.matrix_to_euler(R, "YXZ"), [30.0, -45.0, 0.0], atol=1e-12)


def test_smallest_rotation_and_kabsch():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    R = bvh.smallest_rotation(a, b)
    np.testing.assert_allclose(np.einsum("tij,tj->ti", R, a / np.linalg.norm(a, axis=1, keepdims=True)), b / np.linalg.norm(b, axis=1, keepdims=True), atol=1e-12)
    np.testing.assert_allclose(R @ R.swapaxes(1, 2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    opposite = bvh.smallest_rotation([0.0, 1.0, 0.0], [0.0, -2.0, 0.0])
    np.testing.assert_allclose(opposite @ [0, 1, 0], [0, -1, 0], atol=1e-12)
    truth = euler_to_matrix(rng.uniform(-80, 80, (20, 3)), "ZXY")
    A = rng.normal(size=(4, 3))
    np.testing.assert_allclose(bvh.kabsch(A, np.einsum("tij,kj->tki", truth, A)), truth, atol=1e-10)


def _round_trip(joints, skeleton=H36M17, order="ZXY", scale=100.0):
    text = bvh.to_text(bvh.fit_bvh(joints, skeleton, fps=30.0, order=order, scale=scale))
    read = parse_bvh(text, "test.bvh")
    assert read.names == tuple(skeleton.joints)  # H36M's table order is already depth first
    return forward_kinematics(read) / scale, read


def _rigid_motion(rng, T=40):
    """Joints posed by random local rotations of one rest skeleton: every bone rigid."""
    walk = motion.synthesise("walk", 10, 25.0, motion.sample_bone_lengths(rng), rng)
    rest = bvh.fit_bvh(walk, scale=1.0)
    rest.motion = np.c_[rng.normal(0, 0.3, (T, 3)), rng.uniform(-180, 180, (T, rest.motion.shape[1] - 3))]
    return forward_kinematics(rest)


@pytest.mark.parametrize("order", ["ZXY", "XYZ", "YZX"])
def test_rigid_bones_come_back_exactly(order):
    joints = _rigid_motion(np.random.default_rng(2))
    recovered, read = _round_trip(joints, order=order)
    assert read.channels[0] == ("Xposition", "Yposition", "Zposition") + tuple(f"{a}rotation" for a in order)
    assert np.abs(recovered - joints).max() < 1e-6  # metres: well below 1 mm


def test_error_stays_within_the_bone_length_change():
    rng = np.random.default_rng(3)
    joints = _rigid_motion(rng)
    bones = joints[:, 1:] - joints[:, list(H36M17.parents[1:])]
    stretch = 1 + rng.normal(0, 0.03, bones.shape[:2])[..., None]
    stretched = [joints[:, 0]]
    for child, parent in enumerate(H36M17.parents[1:], start=1):
        stretched.append(stretched[parent] + stretch[:, child - 1] * bones[:, child - 1])
    stretched = np.stack(stretched, axis=1)
    recovered, _ = _round_trip(stretched)
    lengths = np.linalg.norm(stretched[:, 1:] - stretched[:, list(H36M17.parents[1:])], axis=-1)
    change = np.abs(lengths - lengths.mean(0))
    # A joint's error is at most the summed length changes of the bones above it.
    bound = np.zeros_like(stretched[..., 0])
    for child, parent in enumerate(H36M17.parents[1:], start=1):
        bound[:, child] = bound[:, parent] + change[:, child - 1]
    err = np.linalg.norm(recovered - stretched, axis=-1)
    assert (err <= bound + 1e-6).all()
    assert err.max() > 1e-3  # the test does stretch bones


@pytest.mark.parametrize("family", motion.MOTION_FAMILIES)
def test_synthetic_motions_come_back_to_millimetres(family):
    rng = np.random.default_rng(4)
    world = motion.synthesise(family, 50, 25.0, motion.sample_bone_lengths(rng), rng)
    joints = world[..., [1, 2, 0]]  # z up -> y up (a cyclic relabelling keeps it right-handed)
    recovered, _ = _round_trip(joints)
    err = np.linalg.norm(recovered - joints, axis=-1) * 1000
    # Bones are rigid; what remains is the pelvis fit (the spine moves against the hips).
    assert err.mean() < 3.0 and err.max() < 15.0, f"{family}: mean {err.mean():.2f} mm, max {err.max():.2f} mm"


def test_other_skeletons_and_camera_frame():
    rng = np.random.default_rng(5)
    joints = motion.synthesise("turn", 20, 25.0, motion.sample_bone_lengths(rng), rng)[..., [1, 2, 0]]
    keep = [H36M17.index(j) for j in H36M16.joints]
    recovered, read = _round_trip(joints[:, keep], skeleton=H36M16, scale=1.0)
    assert len(read.names) == 16 and np.abs(recovered - joints[:, keep]).max() < 0.02
    np.testing.assert_allclose(bvh.from_camera([[1.0, 2.0, 3.0]]), [[1.0, -2.0, -3.0]])


def test_file_layout_and_bad_files():
    rng = np.random.default_rng(6)
    joints = motion.synthesise("walk", 3, 25.0, motion.sample_bone_lengths(rng), rng)[..., [1, 2, 0]]
    text = bvh.to_text(bvh.fit_bvh(joints, fps=50.0))
    lines = text.splitlines()
    assert lines[:3] == ["HIERARCHY", "ROOT hip", "{"] and "Frames: 3" in lines and "Frame Time: 0.020000" in lines
    assert text.count("End Site") == 5 and text.count("JOINT") == 16
    assert len(lines[-1].split()) == 6 + 16 * 3
    assert "-0.000000" not in text  # no sign of rounding noise in the file
    with pytest.raises(ValueError, match="broken.bvh: expected 3 frames"):
        parse_bvh(text.rsplit("\n", 2)[0], "broken.bvh")
    with pytest.raises(ValueError, match="broken.bvh: expected 'HIERARCHY'"):
        parse_bvh("MOTION", "broken.bvh")
    with pytest.raises(ValueError, match="joints \\(T, 17, 3\\)"):
        bvh.fit_bvh(joints[:, :5])
