import pytest
import torch

from adaptpose_pipeline.core import skeleton as sk


def test_h36m17_table():
    s = sk.H36M17
    assert s.num_joints == 17 and s.num_bones == 16
    assert s.parents == (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
    assert s.joints[s.parents[s.index("r_wrist")]] == "r_elbow"
    assert s.joints[s.parents[s.index("l_shoulder")]] == "thorax"
    pairs = {(s.joints[a], s.joints[b]) for a, b in s.left_right_pairs}
    assert pairs == {(f"l_{n}", f"r_{n}") for n in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist")}


def test_h36m16_drops_neck_and_reattaches_head():
    s = sk.H36M16
    assert s.num_joints == 16 and "neck" not in s.joints
    assert s.joints[s.parents[s.index("head")]] == "thorax"
    assert s.joints[s.parents[s.index("l_shoulder")]] == "thorax"


def test_parts_partition_all_bones():
    for s in (sk.H36M17, sk.H36M16):
        bones = sorted(b for part in s.parts.values() for b in part)
        assert bones == list(range(s.num_bones))
    assert sk.H36M17.parts["left_leg"] == (3, 4, 5)  # bones ending at l_hip, l_knee, l_ankle


def test_joints_bones_round_trip_and_lengths(gen):
    joints = torch.randn(4, 9, 17, 3, generator=gen)
    bones = sk.joints_to_bones(joints)
    assert bones.shape == (4, 9, 16, 3)
    rebuilt = sk.bones_to_joints(bones, root=joints[..., 0, :])
    assert torch.allclose(rebuilt, joints, atol=1e-6)
    # Hand-computed bone: r_knee - r_hip.
    assert torch.allclose(bones[..., 1, :], joints[..., 2, :] - joints[..., 1, :])
    lengths = sk.bone_lengths(bones)
    dirs = sk.bone_directions(bones)
    assert torch.allclose(dirs * lengths[..., None], bones, atol=1e-6)
    assert torch.allclose(dirs.norm(dim=-1), torch.ones(4, 9, 16), atol=1e-6)


def test_rebuild_is_differentiable(gen):
    bones = torch.randn(2, 16, 3, generator=gen, requires_grad=True)
    joints = sk.bones_to_joints(bones)
    joints[:, sk.H36M17.index("r_wrist")].sum().backward()
    # The wrist depends on the bones along its chain only.
    chain = {sk.H36M17.bone_index(n) for n in ("spine", "thorax", "r_shoulder", "r_elbow", "r_wrist")}
    touched = {k for k in range(16) if bones.grad[:, k].abs().sum() > 0}
    assert touched == chain


def test_flip_swaps_sides_and_mirrors_x(gen):
    joints = torch.randn(5, 17, 3, generator=gen)
    flipped = sk.flip_left_right(joints)
    li, ri = sk.H36M17.index("l_wrist"), sk.H36M17.index("r_wrist")
    assert torch.allclose(flipped[:, li, 0], -joints[:, ri, 0])
    assert torch.allclose(flipped[:, li, 1:], joints[:, ri, 1:])
    assert torch.allclose(sk.flip_left_right(flipped), joints)


def test_bad_shapes_and_names():
    with pytest.raises(ValueError, match=r"\(\.\.\., 17, 2\|3\)"):
        sk.joints_to_bones(torch.zeros(3, 16, 3))
    with pytest.raises(KeyError, match="nose"):
        sk.H36M17.index("nose")
    with pytest.raises(KeyError, match="unknown skeleton"):
        sk.get_skeleton("coco")
    with pytest.raises(ValueError, match="parents must come before"):
        sk.Skeleton("bad", ("a", "b", "c"), (-1, 2, 0))
