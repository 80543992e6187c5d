import math

import pytest
import torch
from torch import nn

from adaptpose_pipeline.core import generator as hmg
from adaptpose_pipeline.core.rotations import axis_angle_to_matrix, euler_to_matrix, quaternion_to_matrix
from adaptpose_pipeline.core.skeleton import H36M17, bone_directions, bone_lengths, joints_to_bones

# A standing person facing the camera, camera frame (x right, y down, z forward), metres.
REST = torch.tensor(
    [
        [0.0, 0.0, 0.0],  # hip
        [-0.13, 0.0, 0.0], [-0.13, 0.45, 0.0], [-0.13, 0.88, 0.03],  # right leg
        [0.13, 0.0, 0.0], [0.13, 0.45, 0.0], [0.13, 0.88, 0.03],  # left leg
        [0.0, -0.23, 0.0], [0.0, -0.48, 0.0], [0.0, -0.58, -0.02], [0.0, -0.70, 0.0],  # torso, head
        [0.16, -0.46, 0.0], [0.18, -0.20, 0.0], [0.20, 0.05, 0.0],  # left arm
        [-0.16, -0.46, 0.0], [-0.18, -0.20, 0.0], [-0.20, 0.05, 0.0],  # right arm
    ]
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These nets are tiny: extra intra-op threads only spin against other jobs on shared cores."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


FIXED = [H36M17.bone_index(b) for b in hmg.FIXED_BONES]
MOVABLE = [k for k in range(H36M17.num_bones) if k not in FIXED]


def rotation_from_head(mode, head, eps, max_pitch_deg=45.0):
    return hmg.camera_head(mode).to_rotation(head, eps, max_pitch_deg)


def windows(batch: int, frames: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random source windows ``(B, T, 17, 3)`` (root at zero) and root paths ``(B, T, 3)``."""
    g = torch.Generator().manual_seed(seed)
    pose = REST + 0.04 * torch.randn(batch, frames, 17, 3, generator=g)
    pose = pose - pose[:, :, :1]
    start = torch.rand(batch, 1, 3, generator=g) * torch.tensor([2.0, 0.4, 4.0]) + torch.tensor([-1.0, -0.2, 3.0])
    velocity = torch.randn(batch, 1, 3, generator=g) * torch.tensor([1.0, 0.05, 1.0])
    s = torch.linspace(-0.5, 0.5, frames)[None, :, None]
    return pose, start + s * velocity


def make(frames: int, bones: str = "bg3", camera: str = "prob_axis_angle", seed: int = 0) -> hmg.HumanMotionGenerator:
    torch.manual_seed(seed)
    return hmg.HumanMotionGenerator(hmg.GeneratorConfig(frames=frames, bone_generation=bones, camera_generation=camera))


def run(model, pose, root, seed: int = 1) -> hmg.GeneratorOutput:
    return model(pose, root, generator=torch.Generator().manual_seed(seed))


def assert_rotations(R: torch.Tensor) -> None:
    eye = torch.eye(3).expand_as(R)
    assert torch.allclose(R @ R.transpose(-1, -2), eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(R), torch.ones(R.shape[0]), atol=1e-5)


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "override, message",
    [
        ({"bone_generation": "bg4"}, "adapt.generator.bone_generation: Input should be 'bg1', 'bg2', 'bg3' or 'off' (got 'bg4')"),
        ({"camera_generation": "euler"}, "adapt.generator.camera_generation: Input should be 'prob_upright'"),
        ({"frames": 0}, "adapt.generator.frames: Input should be greater than or equal to 1 (got 0)"),
        ({"hidden": 2.5}, "adapt.generator.hidden: Input should be a valid integer (got 2.5)"),
        ({"blocks": -1}, "adapt.generator.blocks: Input should be greater than or equal to 0 (got -1)"),
        ({"noise_dim": 0}, "adapt.generator.noise_dim: Input should be greater than or equal to 1 (got 0)"),
        ({"lambda_max": 1.0}, "adapt.generator.lambda_max: Input should be less than 1 (got 1.0)"),
        ({"min_depth": 0.0}, "adapt.generator.min_depth: Input should be greater than 0 (got 0.0)"),
        ({"depth_init": 1.0}, "adapt.generator.depth_init: expected a depth > min_depth = 1.5"),
    ],
)
def test_config_rejects_bad_values_naming_the_key(override, message):
    with pytest.raises(ValueError) as err:
        hmg.GeneratorConfig(**{"frames": 27, **override})
    assert message in str(err.value)


def test_config_names_unknown_and_missing_keys():
    with pytest.raises(ValueError, match=r"adapt\.generator\.noise: Unexpected keyword argument \(got 3\)"):
        hmg.GeneratorConfig(frames=27, noise=3)
    with pytest.raises(ValueError, match=r"adapt\.generator\.frames: missing"):
        hmg.GeneratorConfig(bone_generation="bg1")


def test_forward_checks_input_shapes():
    model = make(27)
    pose, root = windows(2, 27)
    with pytest.raises(ValueError, match=r"pose_3d: expected \(B, 27, 17, 3\), got \(2, 26, 17, 3\)"):
        model(pose[:, 1:], root[:, 1:])
    with pytest.raises(ValueError, match=r"root: expected \(2, 27, 3\), got \(2, 27, 2\)"):
        model(pose, root[..., :2])


# --------------------------------------------------------------------------- pure helpers


def test_apply_bg3_rotates_linearly_along_the_window():
    bones = torch.zeros(1, 3, 16, 3)
    bones[..., 0] = 1.0  # every bone along x, three frames
    axis = torch.zeros(1, 16, 3)
    axis[..., 2] = 5.0  # about z; the axis need not be unit length
    angle = torch.full((1, 16), math.pi / 2)
    out = hmg.apply_bg3(bones, axis, angle)
    c = math.cos(math.pi / 4)
    assert torch.allclose(out[0, 0], bones[0, 0])  # first frame untouched
    assert torch.allclose(out[0, 1], torch.tensor([c, c, 0.0]).expand(16, 3), atol=1e-6)  # 45 deg
    assert torch.allclose(out[0, 2], torch.tensor([0.0, 1.0, 0.0]).expand(16, 3), atol=1e-6)  # 90 deg
    single = hmg.apply_bg3(bones[:, :1], axis, angle)  # one frame gets the full angle
    assert torch.allclose(single[0, 0], torch.tensor([0.0, 1.0, 0.0]).expand(16, 3), atol=1e-6)


def test_bg1_and_bg2_helpers_on_hand_cases():
    bones = torch.tensor([[[[2.0, 0.0, 0.0]]]]).expand(1, 1, 16, 3)
    delta = torch.tensor([0.0, 2.0, 0.0]).expand(1, 1, 16, 3)
    out = hmg.apply_bg1(bones, delta)  # direction (1, 1)/sqrt2, length kept at 2
    assert torch.allclose(out, torch.tensor([math.sqrt(2), math.sqrt(2), 0.0]).expand(1, 1, 16, 3))
    first_last = torch.stack([torch.zeros(16, 3), torch.ones(16, 3)])[None]
    offsets = hmg.interpolate_offsets(first_last, 5)
    assert torch.allclose(offsets[0, :, 0, 0], torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]))
    assert torch.allclose(hmg.interpolate_offsets(first_last, 1)[0, 0], torch.ones(16, 3))


def test_euler_head_is_rz_ry_rx():
    a, b, c = 0.3, -0.7, 1.1
    Rz = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])
    Ry = torch.tensor([[math.cos(b), 0.0, math.sin(b)], [0.0, 1.0, 0.0], [-math.sin(b), 0.0, math.cos(b)]])
    Rx = torch.tensor([[1.0, 0.0, 0.0], [0.0, math.cos(c), -math.sin(c)], [0.0, math.sin(c), math.cos(c)]])
    head = torch.tensor([[a, b, c, 0.5, 0.5, 0.5]])
    R, raw = rotation_from_head("prob_euler", head, torch.zeros(1, 3))
    assert torch.allclose(R[0], Rz @ Ry @ Rx, atol=1e-6)
    assert torch.allclose(raw["sigma"], torch.full((1, 3), 0.25 + hmg.SIGMA_EPS))


@pytest.mark.parametrize(
    "mode, head",
    [
        ("det_axis_angle", [0.0, 0.0, math.pi / 2]),
        ("prob_axis_angle", [0.0, 0.0, 3.0, 0.1, 0.1, 0.1, math.pi / 2]),
        ("prob_quaternion", [math.cos(math.pi / 4), 0.0, 0.0, math.sin(math.pi / 4), 0.1, 0.1, 0.1, 0.1]),
        ("prob_euler", [math.pi / 2, 0.0, 0.0, 0.1, 0.1, 0.1]),
    ],
)
def test_every_camera_head_reads_a_quarter_turn_about_z(mode, head):
    eps = torch.zeros(1, hmg.CAMERA_HEADS[mode].noise) if hmg.CAMERA_HEADS[mode].noise else None
    R, _ = rotation_from_head(mode, torch.tensor([head]), eps)
    assert torch.allclose(R[0] @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)


def test_probabilistic_axis_is_reparameterised():
    head = torch.tensor([[0.0, 1.0, 0.0, 2.0, 0.0, 0.0, 0.5]])
    eps = torch.tensor([[0.5, 0.0, 0.0]])
    _, raw = rotation_from_head("prob_axis_angle", head, eps)
    assert torch.allclose(raw["axis"], torch.tensor([[2.0, 1.0, 0.0]]))  # mu + sigma * eps, sigma = 4


def test_camera_placement_keeps_every_joint_beyond_min_depth():
    pose, root = windows(4, 27)
    root = root.clone()
    root[:, :, 2] = torch.linspace(8.0, 0.0, 27)  # walks 8 m towards the camera
    R = axis_angle_to_matrix(torch.randn(4, 3, generator=torch.Generator().manual_seed(3)) * 2.0)
    depth = torch.full((4,), 1.5)
    x, T = hmg.place_in_camera(pose, root, R, torch.zeros(4, 2), depth, 1.5)
    assert x[..., 2].min() >= 1.5 - 1e-5
    assert torch.allclose(x[:, 13, 0], T)  # the centre frame's root sits at T
    far = torch.full((4,), 20.0)  # far enough: the head's depth is used as it is
    _, T_far = hmg.place_in_camera(pose, root, R, torch.zeros(4, 2), far, 1.5)
    assert torch.equal(T_far[:, 2], far)


# --------------------------------------------------------------------------- the module


@pytest.mark.parametrize("frames", [1, 27])
@pytest.mark.parametrize("camera", ["prob_axis_angle", "det_axis_angle"])
@pytest.mark.parametrize("bones", hmg.BONE_MODES)
def test_generated_motion_keeps_bone_lengths_and_fixed_bones(bones, camera, frames):
    model = make(frames, bones, camera)
    pose, root = windows(6, frames)
    with torch.no_grad():
        for p in model.parameters():  # move away from the near-identity init
            p.add_(0.05 * torch.randn_like(p))
        out = run(model, pose, root)
    B = 6
    assert out.pose_3d.shape == out.pose_3d_cam.shape == (B, frames, 17, 3)
    assert out.rotation.shape == (B, 3, 3) and out.translation.shape == (B, 3)
    assert out.lam.shape == (B, 16) and out.bone_cos.shape == (B, frames, 16)
    for t in (out.pose_3d, out.pose_3d_cam, out.rotation, out.translation, out.lam, out.bone_cos):
        assert torch.isfinite(t).all()
    assert torch.equal(out.pose_3d[:, :, 0], torch.zeros(B, frames, 3))

    src, gen = joints_to_bones(pose), joints_to_bones(out.pose_3d)
    assert out.lam.abs().max() <= 0.2
    expected = bone_lengths(src) * (1 + out.lam)[:, None]
    assert torch.allclose(bone_lengths(gen), expected, atol=1e-5)
    assert torch.allclose(bone_directions(gen[..., FIXED, :]), bone_directions(src[..., FIXED, :]), atol=1e-6)
    cos = (bone_directions(src) * bone_directions(gen)).sum(-1)
    assert torch.allclose(out.bone_cos, cos.clamp(-1, 1), atol=1e-6)
    if bones != "off":
        assert out.lam.abs().max() > 1e-3 and (out.bone_cos[..., MOVABLE] < 1 - 1e-4).any()

    assert_rotations(out.rotation)
    assert (out.pose_3d_cam[..., 2] >= model.cfg.min_depth - 1e-5).all()
    mid = frames // 2
    assert torch.allclose(out.pose_3d_cam[:, mid, 0], out.translation, atol=1e-5)
    # X_fake = R (X_b + root - root[mid]) + T, rebuilt independently
    local = out.pose_3d + (root - root[:, mid : mid + 1])[:, :, None]
    rebuilt = torch.einsum("bij,btkj->btki", out.rotation, local) + out.translation[:, None, None]
    assert torch.allclose(out.pose_3d_cam, rebuilt, atol=1e-5)


def test_bg3_matches_an_independent_rotation_of_the_source():
    model = make(27, "bg3")
    pose, root = windows(4, 27)
    with torch.no_grad():
        model.bone_net.out.weight.mul_(30.0)  # sizeable angles
        out = run(model, pose, root)
    src, gen = joints_to_bones(pose), joints_to_bones(out.pose_3d)
    axis, angle = out.bone_params["axis"], out.bone_params["angle"]
    assert angle.abs().max() <= hmg.BG3_MAX_ANGLE and angle.abs()[:, MOVABLE].max() > 0.3
    assert torch.equal(angle[:, FIXED], torch.zeros(4, 2))
    unit = axis / axis.norm(dim=-1, keepdim=True)
    scale = (1 + out.lam)[..., None]
    for frame, fraction in ((0, 0.0), (13, 0.5), (26, 1.0)):
        R = axis_angle_to_matrix(unit * (fraction * angle)[..., None])  # (B, 16, 3, 3)
        expected = torch.einsum("bkij,bkj->bki", R, src[:, frame]) * scale
        assert torch.allclose(gen[:, frame], expected, atol=1e-5)
    # frame 0 keeps the source directions; the last frame turns each bone by at most |theta|
    assert torch.allclose(out.bone_cos[:, 0], torch.ones(4, 16), atol=1e-6)
    assert (torch.acos(out.bone_cos[:, -1]) <= angle.abs() + 1e-3).all()


@pytest.mark.parametrize("mode", ["bg1", "bg2"])
def test_bg1_bg2_directions_follow_the_offsets(mode):
    model = make(27, mode)
    pose, root = windows(4, 27)
    with torch.no_grad():
        model.bone_net.out.weight.mul_(30.0)
        out = run(model, pose, root)
    src, gen = joints_to_bones(pose), joints_to_bones(out.pose_3d)
    delta = out.bone_params["delta"]
    assert torch.equal(delta[..., FIXED, :], torch.zeros_like(delta[..., FIXED, :]))
    if mode == "bg1":
        offsets = delta
    else:
        assert delta.shape == (4, 2, 16, 3)
        offsets = torch.stack([delta[:, 0] * (1 - j / 26) + delta[:, 1] * (j / 26) for j in range(27)], dim=1)
    assert torch.allclose(bone_directions(gen), bone_directions(src + offsets), atol=1e-5)


def test_off_modes_are_identities():
    pose, root = windows(3, 27)
    out = run(make(27, "off", "off"), pose, root)
    assert torch.equal(out.pose_3d, pose) and torch.equal(out.lam, torch.zeros(3, 16))
    assert torch.allclose(out.bone_cos, torch.ones(3, 27, 16), atol=1e-6)
    assert torch.equal(out.pose_3d_cam, pose + root[:, :, None])
    assert torch.equal(out.rotation, torch.eye(3).expand(3, 3, 3)) and torch.equal(out.translation, root[:, 13])

    bones_only = run(make(27, "bg3", "off"), pose, root)
    assert torch.equal(bones_only.pose_3d_cam, bones_only.pose_3d + root[:, :, None])
    camera_only = run(make(27, "off", "prob_euler"), pose, root)
    assert torch.equal(camera_only.pose_3d, pose)


@pytest.mark.parametrize("camera", ["det_axis_angle", "prob_axis_angle", "prob_quaternion", "prob_euler"])
def test_generator_starts_near_the_identity(camera):
    pose, root = windows(8, 27)
    out = run(make(27, "bg3", camera), pose, root)
    assert_rotations(out.rotation)
    angle = torch.acos(((out.rotation.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1))
    assert angle.max() < math.radians(8)  # within a few degrees of the source camera
    assert out.translation[:, :2].abs().max() < 0.05
    assert torch.allclose(out.translation[:, 2], torch.full((8,), 5.0), atol=0.05)
    assert out.lam.abs().max() < 0.02
    assert out.bone_cos.min() > 0.999
    assert (out.pose_3d_cam[..., 2] > 0).all()


@pytest.mark.parametrize(
    "camera, heads",
    [
        ("det_axis_angle", ("axis_angle",)),
        ("prob_axis_angle", ("mu", "sigma", "angle")),
        ("prob_quaternion", ("mu", "sigma", "quaternion")),
        ("prob_euler", ("mu", "sigma", "euler")),
    ],
)
def test_camera_and_bone_heads_get_gradients(camera, heads):
    model = make(27, "bg3", camera)
    pose, root = windows(4, 27)
    out = run(model, pose, root)
    watched = [out.camera[h] for h in heads] + [out.bone_params["axis"], out.bone_params["angle"], out.lam]
    for t in watched:
        t.retain_grad()
    out.pose_3d_cam.sum().backward()
    for name, t in zip(heads + ("axis", "angle", "lam"), watched):
        assert t.grad is not None and t.grad.abs().max() > 0, name
    assert model.camera_net.out.weight.grad.abs().max() > 0


@pytest.mark.parametrize("bones, camera", [("bg3", "prob_axis_angle"), ("bg1", "prob_quaternion"), ("bg2", "det_axis_angle")])
def test_same_seed_same_output_other_seed_other_output(bones, camera):
    model = make(27, bones, camera)
    pose, root = windows(4, 27)
    a, b, c = run(model, pose, root, seed=5), run(model, pose, root, seed=5), run(model, pose, root, seed=6)
    assert torch.equal(a.pose_3d_cam, b.pose_3d_cam) and torch.equal(a.rotation, b.rotation)
    assert not torch.allclose(a.pose_3d, c.pose_3d) and not torch.allclose(a.rotation, c.rotation)


def test_depth_stays_positive_under_large_perturbations():
    model = make(27, "bg3", "prob_axis_angle")
    pose, root = windows(16, 27, seed=2)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5 * torch.randn_like(p))
        model.camera_net.out.bias[9] = -20.0  # the head asks for the closest depth it can
        out = run(model, pose, root)
    assert torch.isfinite(out.pose_3d_cam).all()
    assert (out.pose_3d_cam[..., 2] >= 1.5 - 1e-5).all()


@pytest.mark.cuda
def test_runs_on_cuda():
    device = torch.device("cuda")
    model = make(27, "bg3", "prob_axis_angle").to(device)
    pose, root = (t.to(device) for t in windows(8, 27))
    out = model(pose, root, generator=torch.Generator(device).manual_seed(0))
    assert out.pose_3d_cam.device.type == "cuda" and out.rotation.device.type == "cuda"
    assert (out.pose_3d_cam[..., 2] > 0).all()
    out.pose_3d_cam.sum().backward()
    assert model.camera_net.out.weight.grad.abs().max() > 0


# ---- options added for real-motion adaptation (issue 14)


def test_bg1_per_window_uses_one_offset_for_every_frame():
    from adaptpose_pipeline.core.generator import GeneratorConfig, HumanMotionGenerator

    torch.manual_seed(0)
    gen = HumanMotionGenerator(GeneratorConfig(frames=5, hidden=16, bone_generation="bg1", bg1_offsets="per_window", camera_generation="off"))
    assert gen.bone_net.out.out_features == 16 * 3  # one dB per bone, not per frame
    with torch.no_grad():
        gen.bone_net.out.bias.normal_()  # a visible offset
    pose = torch.zeros(2, 5, 17, 3)
    pose[..., 1:, 1] = -0.1 * torch.arange(1, 17)  # a straight chain along -y, the same every frame
    out = gen(pose, torch.zeros(2, 5, 3))
    d = out.bone_params["delta"]
    assert d.shape == (2, 5, 16, 3) and torch.equal(d[:, :1].expand_as(d), d)
    # same source bones every frame + one offset = the same generated pose every frame
    assert torch.allclose(out.pose_3d[:, :1].expand_as(out.pose_3d), out.pose_3d, atol=1e-6)
    per_frame = HumanMotionGenerator(GeneratorConfig(frames=5, hidden=16, bone_generation="bg1", camera_generation="off"))
    assert per_frame.bone_net.out.out_features == 5 * 16 * 3
    with pytest.raises(ValueError, match="bg1_offsets"):
        GeneratorConfig(frames=5, bg1_offsets="per_bone")


def test_upright_rotation_known_angles():
    from adaptpose_pipeline.core.generator import upright_rotation

    pitch, yaw = torch.tensor([math.radians(30.0), 0.0]), torch.tensor([0.0, math.radians(90.0)])
    R = upright_rotation(pitch, yaw).double()
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    expected_pitch = torch.tensor([[1, 0, 0], [0, c, -s], [0, s, c]], dtype=torch.float64)
    assert torch.allclose(R[0], expected_pitch, atol=1e-6)
    # yaw 90 deg about the vertical (y) axis takes the optical axis z to x
    assert torch.allclose(R[1] @ torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64), atol=1e-6)
    # the camera's vertical stays in the y-z plane: no roll for any pitch and yaw
    Rr = upright_rotation(torch.tensor([0.4]), torch.tensor([1.1]))[0]
    assert abs(float((Rr @ torch.tensor([0.0, 1.0, 0.0]))[0])) < 1e-6
    # Rx(pitch) @ Ry(yaw), each a proper rotation about its axis
    expected = axis_angle_to_matrix(torch.tensor([0.4, 0.0, 0.0])) @ axis_angle_to_matrix(torch.tensor([0.0, 1.1, 0.0]))
    assert torch.allclose(Rr, expected, atol=1e-6)


def test_prob_upright_camera_is_bounded_and_trainable():
    from adaptpose_pipeline.core.generator import GeneratorConfig, HumanMotionGenerator

    torch.manual_seed(0)
    cfg = GeneratorConfig(frames=3, hidden=16, camera_generation="prob_upright", max_pitch_deg=30.0, min_depth=3.0, max_depth=7.0, depth_init=5.0)
    gen = HumanMotionGenerator(cfg)
    pose = torch.randn(64, 3, 17, 3) * 0.2
    pose[..., 0, :] = 0
    root = torch.tensor([0.0, 0.0, 5.0]).expand(64, 3, 3).clone()
    out = gen(pose, root)
    assert torch.allclose(out.translation[:, 2], torch.full((64,), 5.0), atol=0.05)  # starts at depth_init
    assert out.camera["pitch"].abs().max() < 0.05 and out.camera["yaw"].abs().max() < 0.2  # starts near I
    out.camera["pitch"].sum().backward()
    assert gen.camera_net.out.weight.grad.abs().sum() > 0
    with torch.no_grad():  # push every head far out: the bounds must hold
        gen.camera_net.out.bias.fill_(50.0)
    out = gen(pose, root)
    assert out.camera["pitch"].abs().max() <= math.radians(30.0) + 1e-6
    z = out.translation[:, 2]
    assert (z >= 3.0 - 1e-5).all() and (z <= 7.0 + 1e-4).all()
    assert (out.translation[:, :2].abs() <= 0.2 * z[:, None] + 1e-5).all()  # near the optical axis
    with pytest.raises(ValueError, match="max_depth"):
        GeneratorConfig(frames=3, max_depth=4.0, depth_init=5.0)


def test_global_length_scales_every_sample_alike():
    from adaptpose_pipeline.core.generator import GeneratorConfig, HumanMotionGenerator
    from adaptpose_pipeline.core.skeleton import bone_lengths, joints_to_bones

    torch.manual_seed(0)
    gen = HumanMotionGenerator(GeneratorConfig(frames=3, hidden=16, bone_generation="off", camera_generation="off", global_length_max=0.5))
    with torch.no_grad():
        gen.global_length.copy_(torch.linspace(-3, 3, 16))
    pose = torch.randn(4, 3, 17, 3) * 0.2
    out = gen(pose, torch.zeros(4, 3, 3))
    ratio = bone_lengths(joints_to_bones(out.pose_3d)) / bone_lengths(joints_to_bones(pose))
    expected = torch.exp(0.5 * torch.tanh(torch.linspace(-3, 3, 16)))
    assert torch.allclose(ratio, expected.expand_as(ratio), atol=1e-5)
    assert float(ratio.max()) <= math.exp(0.5) + 1e-6
    out.pose_3d.sum().backward()
    assert gen.global_length.grad is not None and gen.global_length.grad.abs().sum() > 0
    off = HumanMotionGenerator(GeneratorConfig(frames=3, hidden=16, bone_generation="off", camera_generation="off"))
    assert off.global_length is None and torch.equal(off(pose, torch.zeros(4, 3, 3)).pose_3d, pose)


# Tests below kill mutants that survived `make mutate` (benchmarks/results/mutation.json).


def test_networks_are_posesaugs_residual_mlps():
    """Linear-BatchNorm1d-LeakyReLU(0.2) in, then blocks of that twice plus the skip."""
    mlp = hmg.ResidualMLP(10, 4, hidden=8, blocks=1)
    layers = [nn.Linear, nn.BatchNorm1d, nn.LeakyReLU]
    assert [type(m) for m in mlp.inp] == layers
    block = mlp.blocks[0]
    assert [type(m) for m in block.body] == layers * 2
    assert all(m.negative_slope == 0.2 for m in [*mlp.inp, *block.body] if isinstance(m, nn.LeakyReLU))
    block.eval()
    x = torch.randn(5, 8)
    assert torch.allclose(block(x), x + block.body(x))


def test_probabilistic_heads_by_hand_per_sample():
    """sigma = h^2 + eps, draw = mu + sigma * e, each sample normalised on its own."""
    head = torch.tensor([[0.0, 0.0, 3.0, 1.0, 2.0, 0.5, 0.7, 9.0], [4.0, 0.0, 0.0, 0.3, 1.0, 2.0, -0.2, 9.0]])
    eps = torch.tensor([[1.0, -1.0, 0.5, 2.0], [0.5, 1.5, -1.0, 1.0]])
    R, raw = rotation_from_head("prob_axis_angle", head[:, :7], eps[:, :3])
    sigma = head[:, 3:6] ** 2 + hmg.SIGMA_EPS
    axis = head[:, :3] + sigma * eps[:, :3]
    assert torch.allclose(raw["sigma"], sigma) and torch.allclose(raw["axis"], axis)
    unit = axis / axis.norm(dim=1, keepdim=True)
    assert torch.allclose(R, axis_angle_to_matrix(unit * head[:, 6:7]), atol=1e-6)

    R, raw = rotation_from_head("prob_quaternion", head, eps)
    q = head[:, :4] + (head[:, 4:8] ** 2 + hmg.SIGMA_EPS) * eps
    q = q / q.norm(dim=1, keepdim=True)
    assert torch.allclose(raw["quaternion"], q, atol=1e-6)
    assert torch.allclose(R, quaternion_to_matrix(q), atol=1e-6)

    R, raw = rotation_from_head("prob_euler", head[:, :6], eps[:, :3])
    angles = head[:, :3] + (head[:, 3:6] ** 2 + hmg.SIGMA_EPS) * eps[:, :3]
    assert torch.allclose(raw["euler"], angles) and torch.allclose(R, euler_to_matrix(angles, "ZYX"), atol=1e-6)

    small = torch.tensor([[0.1, 0.0, 0.2, 0.0, 0.0, 0.0, 0.7, 0.0], [0.0, 0.3, 0.0, 0.1, 0.0, 0.0, 0.0, 0.2]])
    R, raw = rotation_from_head("prob_axis_angle", small[:, :7], eps[:, :3])  # |axis| < 1: still a unit axis
    assert (raw["sigma"] > 0).all()
    unit = raw["axis"] / raw["axis"].norm(dim=1, keepdim=True)
    assert torch.allclose(R, axis_angle_to_matrix(unit * small[:, 6:7]), atol=1e-6)
    _, raw = rotation_from_head("prob_quaternion", small, eps)
    assert (raw["sigma"] > 0).all() and torch.allclose(raw["quaternion"].norm(dim=1), torch.ones(2))

    upright = torch.tensor([[0.3, -0.5, 0.0, 2.0], [1.0, 0.2, 1.5, 0.0]])
    R, raw = rotation_from_head("prob_upright", upright, eps[:, :2])
    sigma = upright[:, 2:4] ** 2 + hmg.SIGMA_EPS
    a = upright[:, :2] + sigma * eps[:, :2]
    assert torch.allclose(raw["mu"], upright[:, :2]) and torch.allclose(raw["sigma"], sigma) and (raw["sigma"] > 0).all()
    pitch, yaw = math.radians(45.0) * torch.tanh(a[:, 0]), math.pi * torch.tanh(a[:, 1])
    assert torch.allclose(raw["pitch"], pitch) and torch.allclose(raw["yaw"], yaw)
    assert torch.allclose(R, hmg.upright_rotation(pitch, yaw))

    with pytest.raises(ValueError, match=r"camera_generation: expected one of \[.*'prob_euler'"):
        rotation_from_head("axis_angle", head, eps)


def test_depth_floor_is_per_sample():
    pose, _ = windows(2, 3)
    pose = pose.clone()
    pose[0, :, 10, 2] = -2.0  # sample 0's head 2 m towards the camera: its floor acts
    _, T = hmg.place_in_camera(pose, torch.zeros(2, 3, 3), torch.eye(3).expand(2, 3, 3), torch.zeros(2, 2), torch.full((2,), 3.0), 1.5)
    assert T[0, 2] == pytest.approx(3.5) and T[1, 2] == 3.0


def test_bg1_offsets_per_window_are_shared_by_every_frame():
    for offsets, size in (("per_frame", 5 * H36M17.num_bones * 3), ("per_window", H36M17.num_bones * 3)):
        cfg = hmg.GeneratorConfig(frames=5, bone_generation="bg1", hidden=16, noise_dim=4, bg1_offsets=offsets)
        assert hmg.HumanMotionGenerator(cfg).bone_net.out.out_features == size


@pytest.mark.parametrize("camera", ["det_axis_angle", "prob_axis_angle", "prob_quaternion", "prob_euler", "prob_upright"])
def test_camera_head_starts_at_its_documented_bias(camera):
    small = math.sqrt(hmg.SIGMA_INIT_SMALL)
    k = hmg.CAMERA_HEADS[camera].size
    expected = torch.zeros(k + 3)
    if camera == "prob_axis_angle":
        expected[3:6] = 1.0
    elif camera == "prob_quaternion":
        expected[0], expected[4:8] = 1.0, small
    elif camera == "prob_euler":
        expected[3:6] = small
    elif camera == "prob_upright":
        expected[2:4] = small
    # the root starts at depth_init = 5: softplus^-1(5 - 1.5), or the logit of 3.5 / 7.5 with max_depth 9
    for max_depth, depth_bias in ((None, math.log(math.expm1(3.5))), (9.0, math.log(3.5 / 4.0))):
        cfg = hmg.GeneratorConfig(frames=3, hidden=16, camera_generation=camera, depth_init=5.0, min_depth=1.5, max_depth=max_depth)
        out = hmg.HumanMotionGenerator(cfg).camera_net.out
        expected[k + 2] = depth_bias
        assert torch.allclose(out.bias, expected)
        assert out.weight.abs().max() <= hmg.INIT_OUTPUT_SCALE / math.sqrt(out.in_features)


@pytest.mark.parametrize("bones", ["bg1", "bg2", "bg3"])
def test_bone_heads_start_near_zero_except_the_bg3_axes(bones):
    gen = hmg.HumanMotionGenerator(hmg.GeneratorConfig(frames=3, hidden=16, bone_generation=bones))
    nb = H36M17.num_bones
    for net in (gen.bone_net, gen.length_net):
        out = net.out
        bound = 1.0 / math.sqrt(out.in_features)  # nn.Linear's default init range
        scaled = torch.ones(out.out_features, dtype=torch.bool)
        if bones == "bg3" and net is gen.bone_net:
            scaled[: nb * 3] = False  # the axes keep the default init
            assert bound >= out.weight[~scaled].abs().max() > 10 * hmg.INIT_OUTPUT_SCALE * bound
        assert torch.equal(out.bias, torch.zeros(out.out_features))
        assert out.weight[scaled].abs().max() <= hmg.INIT_OUTPUT_SCALE * bound


def test_bounded_camera_keeps_the_person_near_the_optical_axis():
    cfg = hmg.GeneratorConfig(frames=3, hidden=16, bone_generation="off", camera_generation="det_axis_angle",
                              min_depth=3.0, max_depth=7.0, depth_init=5.0)
    gen = hmg.HumanMotionGenerator(cfg).eval()
    k = hmg.CAMERA_HEADS["det_axis_angle"].size
    head = torch.tensor([0.5, -1.0])
    with torch.no_grad():
        gen.camera_net.out.weight.zero_()
        gen.camera_net.out.bias.zero_()
        gen.camera_net.out.bias[k : k + 2] = head
    out = gen(*windows(4, 3))
    # depth 3 + 4 sigmoid(0) = 5; x, y = 0.2 * depth * tanh(head)
    assert torch.allclose(out.translation, torch.tensor([0.2 * 5.0 * math.tanh(0.5), -0.2 * 5.0 * math.tanh(1.0), 5.0]).expand(4, 3), atol=1e-6)
    assert torch.allclose(out.camera["translation_head"], torch.tensor([0.5, -1.0, 0.0]).expand(4, 3))


def test_config_checks_max_pitch_and_integer_keys():
    for bad in (0.0, 90.5):
        with pytest.raises(ValueError, match=rf"adapt\.generator\.max_pitch_deg: Input should be .* \(got {bad}\)"):
            hmg.GeneratorConfig(frames=3, max_pitch_deg=bad)
    for ok in (0.5, 90.0):
        assert hmg.GeneratorConfig(frames=3, max_pitch_deg=ok).max_pitch_deg == ok
    assert hmg.GeneratorConfig(frames=3, hidden=1).hidden == 1
    with pytest.raises(ValueError, match=r"adapt\.generator\.blocks"):
        hmg.GeneratorConfig(frames=3, blocks=True)


@pytest.mark.parametrize(
    "override, message",
    [
        ({"lambda_max": -0.1}, "lambda_max: Input should be greater than or equal to 0 (got -0.1)"),
        ({"min_depth": -1.0}, "min_depth: Input should be greater than 0 (got -1.0)"),
        ({"min_depth": 2.0, "depth_init": 2.0}, "depth_init: expected a depth > min_depth = 2.0 (metres), got 2.0"),
        ({"depth_init": 5.0, "max_depth": 5.0}, "max_depth: expected null or a depth > depth_init = 5.0 (metres), got 5.0"),
        ({"global_length_max": 1.5}, "global_length_max: Input should be less than 1.5 (got 1.5)"),
        ({"global_length_max": -0.5}, "global_length_max: Input should be greater than or equal to 0 (got -0.5)"),
        ({"bg1_offsets": "per_bone"}, "bg1_offsets: Input should be 'per_frame' or 'per_window' (got 'per_bone')"),
        ({"camera_generation": "euler"}, "camera_generation: Input should be "
         + ", ".join(repr(m) for m in hmg.CAMERA_MODES[:-1]) + f" or {hmg.CAMERA_MODES[-1]!r} (got 'euler')"),
    ],
)
def test_config_messages_name_key_expectation_and_value(override, message):
    with pytest.raises(ValueError) as err:
        hmg.GeneratorConfig(frames=3, **override)
    assert str(err.value) == "adapt.generator." + message


def test_config_boundaries_that_are_allowed():
    assert hmg.GeneratorConfig(frames=3, lambda_max=0.0, global_length_max=0.0).lambda_max == 0.0


@pytest.mark.parametrize("bones", ["bg1", "bg3"])
def test_global_length_multiplies_the_generated_bones_too(bones):
    torch.manual_seed(0)
    cfg = hmg.GeneratorConfig(frames=3, hidden=16, bone_generation=bones, camera_generation="off", global_length_max=0.5)
    gen = hmg.HumanMotionGenerator(cfg).eval()
    with torch.no_grad():
        gen.global_length.copy_(torch.linspace(-3, 3, 16))
    pose, root = windows(4, 3)
    out = gen(pose, root)
    ratio = bone_lengths(joints_to_bones(out.pose_3d)) / bone_lengths(joints_to_bones(pose))
    expected = (1.0 + out.lam)[:, None, :] * torch.exp(0.5 * torch.tanh(torch.linspace(-3, 3, 16)))
    assert torch.allclose(ratio, expected.expand_as(ratio), atol=1e-5)
