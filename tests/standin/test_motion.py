import numpy as np
import pytest

from adaptpose_pipeline.core.skeleton import H36M17
from adaptpose_pipeline.standin import motion

FPS = 30
SECONDS = 6.0
HEADING = 0.4
START = (1.5, -2.0)


def _joint(joints: np.ndarray, name: str) -> np.ndarray:
    return joints[:, H36M17.index(name)]


def _synth(family: str, lengths: np.ndarray, seed: int = 0, seconds: float = SECONDS, **kwargs):
    return motion.synthesise(
        family,
        int(seconds * FPS),
        FPS,
        lengths,
        np.random.default_rng(seed),
        heading=HEADING,
        start=START,
        **kwargs,
    )


def _ground_speed(joints: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.diff(joints[:, 0, :2], axis=0), axis=-1) * FPS


def _stance_width(joints: np.ndarray) -> np.ndarray:
    """Ankle separation along the horizontal hip line, per frame."""
    hip_line = _joint(joints, "l_hip") - _joint(joints, "r_hip")
    hip_line[:, 2] = 0.0
    hip_line /= np.linalg.norm(hip_line, axis=-1, keepdims=True)
    ankles = _joint(joints, "l_ankle") - _joint(joints, "r_ankle")
    return np.abs(np.einsum("ti,ti->t", ankles, hip_line))


def _mean_knee(joints: np.ndarray) -> float:
    angles = joint_angles(joints)
    return float(np.mean([angles["l_knee"], angles["r_knee"]]))


# ---- what the tests measure on a motion (joint angles, feet on the ground)

# Anatomical ranges the synthesiser clips its angles within.
JOINT_LIMITS_DEG: dict[str, tuple[float, float]] = {
    "knee": (0.0, 160.0),
    "elbow": (0.0, 160.0),
    "trunk_tilt": (0.0, 80.0),
}


def foot_clearance(
    joints: np.ndarray, slope_deg: float = 0.0, heading: float = 0.0, start=(0.0, 0.0)
) -> np.ndarray:
    """Height ``(T, 2)`` of each sole (left, right ankle less ``motion.ANKLE_HEIGHT``)
    above the ground plane of ``motion.ground_height``."""
    ankles = joints[:, [H36M17.index("l_ankle"), H36M17.index("r_ankle")]]
    return ankles[..., 2] - motion.ANKLE_HEIGHT - motion.ground_height(ankles[..., :2], slope_deg, heading, start)


def _angle_deg(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Angle (deg) between vectors ``(T, 3)``, per row."""
    cos = np.einsum("ti,ti->t", u, v) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def joint_angles(joints: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame angles (deg) of ``(T, 17, 3)`` joints.

    ``l_knee``/``r_knee``: flexion, negative when the knee bends the wrong way (the
    shin swings forward of the thigh's line, judged about the hip line);
    ``l_elbow``/``r_elbow``: flexion; ``trunk_tilt``: hip->thorax from vertical.
    """
    if joints.ndim != 3 or joints.shape[1:] != (H36M17.num_joints, 3):
        raise ValueError(f"joint_angles: expected joints (T, 17, 3), got {joints.shape}")
    j = {name: joints[:, H36M17.index(name)] for name in H36M17.joints}
    hip_line = j["l_hip"] - j["r_hip"]
    out = {}
    for side in ("l", "r"):
        thigh, shin = j[f"{side}_knee"] - j[f"{side}_hip"], j[f"{side}_ankle"] - j[f"{side}_knee"]
        backwards = np.einsum("ti,ti->t", np.cross(thigh, shin), hip_line) >= 0.0
        out[f"{side}_knee"] = np.where(backwards, 1.0, -1.0) * _angle_deg(thigh, shin)
        upper = j[f"{side}_elbow"] - j[f"{side}_shoulder"]
        out[f"{side}_elbow"] = _angle_deg(upper, j[f"{side}_wrist"] - j[f"{side}_elbow"])
    up = np.broadcast_to([0.0, 0.0, 1.0], j["hip"].shape)
    out["trunk_tilt"] = _angle_deg(j["thorax"] - j["hip"], up)
    return out


def joint_angles_within_limits(
    joints: np.ndarray,
    limits: dict[str, tuple[float, float]] = JOINT_LIMITS_DEG,
    tol_deg: float = 1e-3,
) -> bool:
    """Whether every knee, elbow and trunk angle of ``(T, 17, 3)`` joints is within ``limits``."""
    for name, values in joint_angles(joints).items():
        lo, hi = limits[name.removeprefix("l_").removeprefix("r_")]
        if values.min() < lo - tol_deg or values.max() > hi + tol_deg:
            return False
    return True


@pytest.fixture(scope="module")
def lengths() -> np.ndarray:
    return motion.sample_bone_lengths(np.random.default_rng(7))


@pytest.fixture(scope="module")
def clips(lengths) -> dict[str, np.ndarray]:
    return {family: _synth(family, lengths) for family in motion.MOTION_FAMILIES}


def test_reference_lengths_are_in_bone_order_and_adult_sized():
    assert list(motion.REFERENCE_BONE_LENGTHS) == [H36M17.joints[c] for c in H36M17.children]
    ref = motion.REFERENCE_BONE_LENGTHS
    leg = ref["r_knee"] + ref["r_ankle"]
    trunk = ref["spine"] + ref["thorax"] + ref["neck"] + ref["head"]
    top_of_head = motion.ANKLE_HEIGHT + leg + trunk
    assert 1.6 < top_of_head < 1.85


def test_sample_bone_lengths_scale_symmetry_and_seed():
    reference = np.array(list(motion.REFERENCE_BONE_LENGTHS.values()))
    exact = motion.sample_bone_lengths(np.random.default_rng(0), height_scale=1.1, jitter=0.0)
    np.testing.assert_allclose(exact, 1.1 * reference)

    a = motion.sample_bone_lengths(np.random.default_rng(1), jitter=0.05)
    b = motion.sample_bone_lengths(np.random.default_rng(1), jitter=0.05)
    assert a.shape == (16,) and np.array_equal(a, b)
    assert not np.allclose(a, reference)
    for left, right in H36M17.left_right_pairs:
        assert a[left - 1] == a[right - 1]  # bone k ends at joint k + 1
    with pytest.raises(ValueError, match="height_scale"):
        motion.sample_bone_lengths(np.random.default_rng(0), height_scale=0.0)


@pytest.mark.parametrize("family", motion.MOTION_FAMILIES)
def test_shape_finite_and_rigid_bones(family, clips, lengths):
    joints = clips[family]
    assert joints.shape == (int(SECONDS * FPS), 17, 3)
    assert np.isfinite(joints).all()
    bones = joints[:, H36M17.children] - joints[:, H36M17.bone_parents]
    np.testing.assert_allclose(
        np.linalg.norm(bones, axis=-1), np.broadcast_to(lengths, (len(joints), 16)), atol=1e-6
    )


@pytest.mark.parametrize("family", motion.MOTION_FAMILIES)
def test_same_seed_same_motion_other_seed_other_motion(family, lengths):
    a = _synth(family, lengths, seed=3, seconds=2.0)
    b = _synth(family, lengths, seed=3, seconds=2.0)
    c = _synth(family, lengths, seed=4, seconds=2.0)
    assert np.array_equal(a, b)
    assert np.abs(a - c).max() > 0.02


@pytest.mark.parametrize("family", motion.MOTION_FAMILIES)
def test_joint_angles_within_limits(family, clips):
    assert joint_angles_within_limits(clips[family])


def test_joint_angle_helper_catches_impossible_joints(clips):
    crouch = clips["crouch"]
    # Deep squats read as large positive flexion.
    assert joint_angles(crouch)["l_knee"].max() > 100.0

    bad = crouch[:1].copy()
    hip, knee = _joint(bad, "r_hip")[0], _joint(bad, "r_knee")[0]
    thigh = (knee - hip) / np.linalg.norm(knee - hip)
    lateral = _joint(bad, "l_hip")[0] - hip
    lateral -= thigh * (lateral @ thigh)
    lateral /= np.linalg.norm(lateral)
    a = np.radians(20.0)  # the shin bent 20 deg forward past straight
    shin = np.cos(a) * thigh - np.sin(a) * np.cross(lateral, thigh)
    bad[0, H36M17.index("r_ankle")] = knee + 0.44 * shin
    assert joint_angles(bad)["r_knee"][0] == pytest.approx(-20.0, abs=1e-6)
    assert not joint_angles_within_limits(bad)

    folded = crouch[:1].copy()
    shoulder, elbow = _joint(folded, "l_shoulder")[0], _joint(folded, "l_elbow")[0]
    wrist = elbow + 0.9 * (shoulder - elbow) + np.array([0.0, 0.0, 0.03])
    folded[0, H36M17.index("l_wrist")] = wrist
    assert joint_angles(folded)["l_elbow"][0] > 160.0
    assert not joint_angles_within_limits(folded)


@pytest.mark.parametrize("family", ["walk", "crouch", "turn", "sit_stand", "reach_wave"])
def test_feet_on_flat_ground(family, clips):
    clearance = foot_clearance(clips[family])
    lowest = clearance.min(axis=1)
    assert np.abs(lowest).max() < 0.01  # one foot touches in every frame
    assert clearance.min() > -1e-6  # and none goes through the floor


def test_ski_feet_on_the_slope(clips):
    joints = clips["ski"]
    clearance = foot_clearance(joints, slope_deg=20.0, heading=HEADING, start=START)
    assert np.abs(clearance.min(axis=1)).max() < 0.01
    assert clearance.min() > -1e-6
    # Downhill along the heading: about tan(20 deg) metres down per metre forward.
    travel = (joints[-1, 0, :2] - joints[0, 0, :2]) @ np.array([np.cos(HEADING), np.sin(HEADING)])
    assert 8.0 * SECONDS < travel < 15.0 * SECONDS
    drop = joints[0, 0, 2] - joints[-1, 0, 2]
    assert drop == pytest.approx(np.tan(np.radians(20.0)) * travel, rel=0.02)
    # On flat ground the same motion would be buried.
    assert foot_clearance(joints).min() < -5.0


def test_run_bounces_off_the_ground(clips):
    lowest = foot_clearance(clips["run"]).min(axis=1)
    assert lowest.min() == pytest.approx(0.0, abs=1e-6)
    assert lowest.max() > 0.03  # flight between steps


@pytest.mark.parametrize("family", motion.MOTION_FAMILIES)
def test_smooth_joint_speeds(family, clips):
    joints = clips[family]
    relative = joints - joints[:, :1]
    speed = np.linalg.norm(np.diff(relative, axis=0), axis=-1) * FPS
    assert speed.max() < 8.0
    root_speed = np.linalg.norm(np.diff(joints[:, 0], axis=0), axis=-1) * FPS
    assert root_speed.max() < (20.0 if family == "ski" else 8.0)


@pytest.mark.parametrize("speed", [None, 0.9, 1.7])
def test_walk_covers_speed_times_time_along_heading(speed, lengths):
    expected = motion.DEFAULT_SPEEDS["walk"] if speed is None else speed
    for seed in range(3):
        joints = _synth("walk", lengths, seed=seed, seconds=3.0, speed=speed)
        step = joints[2 * FPS, 0, :2] - joints[0, 0, :2]
        assert np.linalg.norm(step) == pytest.approx(2.0 * expected, rel=0.2)
        direction = np.arctan2(step[1], step[0])
        assert abs(np.angle(np.exp(1j * (direction - HEADING)))) < np.radians(20.0)


def test_jump_has_ballistic_flight(lengths):
    leg = lengths[[H36M17.bone_index("r_knee"), H36M17.bone_index("r_ankle")]].sum()
    for seed in range(2):
        joints = _synth("jump", lengths, seed=seed, seconds=5.0)
        root_z = joints[:, 0, 2]
        assert root_z.max() > motion.ANKLE_HEIGHT + leg + 0.1  # higher than any standing hip
        airborne = foot_clearance(joints).min(axis=1) > 0.02
        inner = airborne[1:-1] & airborne[:-2] & airborne[2:]
        assert inner.sum() >= 3
        accel = (root_z[2:] - 2 * root_z[1:-1] + root_z[:-2]) * FPS**2
        assert np.median(accel[inner]) == pytest.approx(-motion.GRAVITY, rel=0.1)


def test_ski_stance_is_wider_and_knees_more_bent_than_walk(clips):
    walk, ski = clips["walk"], clips["ski"]
    assert _stance_width(ski).mean() > _stance_width(walk).mean() + 0.15
    assert _mean_knee(ski) > _mean_knee(walk) + 15.0
    knees = joint_angles(ski)
    assert 30.0 < np.mean([knees["l_knee"], knees["r_knee"]]) < 60.0


def test_ski_carves_side_to_side(clips):
    joints = clips["ski"]
    forward = np.array([np.cos(HEADING), np.sin(HEADING)])
    left = np.array([-forward[1], forward[0]])
    lateral = (joints[:, 0, :2] - np.array(START)) @ left
    assert 0.5 < lateral.max() - lateral.min() < 5.0
    hip_line = _joint(joints, "l_hip") - _joint(joints, "r_hip")
    side_lean = np.degrees(np.arcsin(hip_line[:, 2] / np.linalg.norm(hip_line, axis=-1)))
    assert side_lean.max() > 8.0 and side_lean.min() < -8.0


def test_family_styles_differ(clips):
    mean_speed = {family: _ground_speed(joints).mean() for family, joints in clips.items()}
    assert mean_speed["ski"] > mean_speed["run"] > mean_speed["walk"] > mean_speed["reach_wave"]
    assert mean_speed["reach_wave"] < 0.2

    root_z = {family: joints[:, 0, 2] for family, joints in clips.items()}
    assert root_z["walk"].min() > 0.8
    assert root_z["sit_stand"].min() < 0.65 and root_z["crouch"].min() < 0.7

    def wrist_above_head(joints):
        wrists = np.maximum(_joint(joints, "l_wrist")[:, 2], _joint(joints, "r_wrist")[:, 2])
        return (wrists > _joint(joints, "head")[:, 2]).mean()

    assert wrist_above_head(clips["reach_wave"]) > 0.1
    assert wrist_above_head(clips["walk"]) == 0.0

    def mean_elbow(joints):
        angles = joint_angles(joints)
        return np.mean([angles["l_elbow"], angles["r_elbow"]])

    assert mean_elbow(clips["run"]) > mean_elbow(clips["walk"]) + 40.0  # runners' arms are bent

    def turned_deg(joints):
        hip_line = _joint(joints, "l_hip") - _joint(joints, "r_hip")
        facing = np.unwrap(np.arctan2(hip_line[:, 1], hip_line[:, 0]))
        return np.degrees(facing.max() - facing.min())

    assert turned_deg(clips["turn"]) > 90.0 > turned_deg(clips["reach_wave"])


def test_reach_wave_performs_one_arm_action_after_another(lengths):
    joints = _synth("reach_wave", lengths, seed=2, seconds=15.0)
    wrists = np.maximum(_joint(joints, "l_wrist")[:, 2], _joint(joints, "r_wrist")[:, 2])
    lifted = wrists > _joint(joints, "thorax")[:, 2] - 0.15
    assert lifted[: 2 * FPS].any()  # it starts waving within two seconds
    assert np.count_nonzero(lifted[1:] & ~lifted[:-1]) + lifted[0] >= 3


def test_style_multipliers_change_the_motion(lengths):
    deep = _synth("crouch", lengths, seed=5)
    shallow = _synth("crouch", lengths, seed=5, style={"amplitude": 0.5})
    assert shallow[:, 0, 2].min() > deep[:, 0, 2].min() + 0.1
    leaning = _synth("walk", lengths, seed=5, style={"lean": 20.0})
    upright = _synth("walk", lengths, seed=5)

    def mean_tilt(joints):
        return joint_angles(joints)["trunk_tilt"].mean()

    assert mean_tilt(leaning) > mean_tilt(upright) + 10.0


def test_single_frame_and_bad_inputs(lengths):
    one = motion.synthesise("turn", 1, FPS, lengths, np.random.default_rng(0))
    assert one.shape == (1, 17, 3) and np.isfinite(one).all()
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="'fly'"):
        motion.synthesise("fly", 10, FPS, lengths, rng)
    with pytest.raises(ValueError, match="bone_lengths"):
        motion.synthesise("walk", 10, FPS, lengths[:15], rng)
    with pytest.raises(ValueError, match="tempo"):
        motion.synthesise("walk", 10, FPS, lengths, rng, style={"tempo": 2.0})
    with pytest.raises(ValueError, match="speed"):
        motion.synthesise("walk", 10, FPS, lengths, rng, speed=-1.0)
    with pytest.raises(TypeError, match="Generator"):
        motion.synthesise("walk", 10, FPS, lengths, 0)
