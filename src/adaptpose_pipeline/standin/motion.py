"""Procedural human motion on the Human3.6M-17 skeleton, in numpy.

The datasets the project studies (Human3.6M, MPI-INF-3DHP, 3DPW, Ski-Pose) cannot
be downloaded here; the stand-in makers (``standin.makers``) build small stand-ins
for them from these motions. Each *family* of
motion has its own style (gait, squats, ballistic jumps, downhill carving, ...), so
that datasets built from different mixes of families differ the way real ones do.

How a motion is made:

1. a family writes per-frame joint-angle trajectories (degrees) and a root path:
   periodic functions of a gait phase, or smooth keyframes for acyclic actions;
2. smooth random perturbations (a few random-phase sinusoids below 1.5 Hz) are added
   and every angle is clipped to its joint limits;
3. forward kinematics places rigid bones of exactly the given lengths;
4. the root height is set so that the lowest ankle stands :data:`ANKLE_HEIGHT`
   above the ground plane (except in a jump's flight or a run's bounce); except in
   run and ski the root also moves so that the supporting foot stays put, so a
   walk is carried forward by its own steps.

Frames: world metres, ``z`` up, ``x``/``y`` the ground. The body frame has ``x``
forward, ``y`` to the body's left, ``z`` up; yaw (the heading) turns it about ``z``.
The ground is the plane ``z = -tan(slope) * ((x, y) - start) . (cos h, sin h)`` with
``h`` the initial heading: flat unless a slope is asked for (ski's default is 20 deg).

Shapes: joints ``(T, 17, 3)`` in H36M17 order, bone lengths ``(16,)`` in bone order.
All randomness comes from the ``np.random.Generator`` passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from adaptpose_pipeline.core.skeleton import H36M17

MOTION_FAMILIES: tuple[str, ...] = (
    "walk",
    "run",
    "sit_stand",
    "reach_wave",
    "crouch",
    "jump",
    "turn",
    "ski",
)

# Average adult, Human3.6M-like; keyed by each bone's child joint, in bone order.
REFERENCE_BONE_LENGTHS: dict[str, float] = {
    "r_hip": 0.13,
    "r_knee": 0.45,
    "r_ankle": 0.44,
    "l_hip": 0.13,
    "l_knee": 0.45,
    "l_ankle": 0.44,
    "spine": 0.23,
    "thorax": 0.25,
    "neck": 0.11,
    "head": 0.12,
    "l_shoulder": 0.15,
    "l_elbow": 0.28,
    "l_wrist": 0.25,
    "r_shoulder": 0.15,
    "r_elbow": 0.28,
    "r_wrist": 0.25,
}

# Mean ground speed (m/s) when ``speed`` is not given.
DEFAULT_SPEEDS: dict[str, float] = {
    "walk": 1.3,
    "run": 3.0,
    "sit_stand": 0.0,
    "reach_wave": 0.0,
    "crouch": 0.0,
    "jump": 0.0,
    "turn": 0.0,
    "ski": 11.0,
}
DEFAULT_SLOPE_DEG: dict[str, float] = {"ski": 20.0}

# Style multipliers (amplitude, frequency, noise) and an added torso lean (deg).
DEFAULT_STYLE: dict[str, float] = {"amplitude": 1.0, "frequency": 1.0, "noise": 1.0, "lean": 0.0}

# The ankle joint sits this far above the sole (metres).
ANKLE_HEIGHT = 0.08
GRAVITY = 9.81

# Sides as (prefix, sign): abduction of a left limb turns towards +y, of a right one -y.
_SIDES: tuple[tuple[str, float], ...] = (("l", 1.0), ("r", -1.0))


@dataclass
class _Angles:
    """Per-frame angle trajectories: ``(T,)`` or ``(T, 2)`` (left, right), degrees.

    ``yaw`` (radians) is the heading of the pelvis. Leg angles are measured from the
    vertical of the (rolled) body frame, so a thigh at 90 deg is horizontal.
    """

    yaw: np.ndarray
    pelvis_twist: np.ndarray
    pelvis_roll: np.ndarray
    lean: np.ndarray
    torso_roll: np.ndarray
    torso_twist: np.ndarray
    nod: np.ndarray
    hip_flex: np.ndarray
    hip_abd: np.ndarray
    knee: np.ndarray
    shoulder_flex: np.ndarray
    shoulder_abd: np.ndarray
    elbow: np.ndarray

    @classmethod
    def rest(cls, num_frames: int, yaw: np.ndarray) -> _Angles:
        """Upright, legs down, arms hanging slightly abducted with soft elbows."""

        def full(value: float, sides: bool = False) -> np.ndarray:
            return np.full((num_frames, 2) if sides else num_frames, value, dtype=float)

        return cls(
            yaw=np.asarray(yaw, dtype=float),
            pelvis_twist=full(0.0),
            pelvis_roll=full(0.0),
            lean=full(3.0),
            torso_roll=full(0.0),
            torso_twist=full(0.0),
            nod=full(0.0),
            hip_flex=full(2.0, True),
            hip_abd=full(3.0, True),
            knee=full(6.0, True),
            shoulder_flex=full(4.0, True),
            shoulder_abd=full(8.0, True),
            elbow=full(12.0, True),
        )


# Clip bounds (deg) of each angle.
_ANGLE_LIMITS: dict[str, tuple[float, float]] = {
    "pelvis_twist": (-20.0, 20.0),
    "pelvis_roll": (-35.0, 35.0),
    "lean": (-20.0, 60.0),
    "torso_roll": (-30.0, 30.0),
    "torso_twist": (-40.0, 40.0),
    "nod": (-40.0, 40.0),
    "hip_flex": (-30.0, 120.0),
    "hip_abd": (-15.0, 45.0),
    "knee": (0.0, 150.0),
    "shoulder_flex": (-60.0, 175.0),
    "shoulder_abd": (-10.0, 170.0),
    "elbow": (0.0, 150.0),
}
# (std deg, top frequency Hz): the legs' and pelvis' perturbations are slow, as they
# sway the whole body over planted feet.
_PERTURBATION: dict[str, tuple[float, float]] = {
    "pelvis_twist": (1.0, 0.5),
    "pelvis_roll": (1.0, 0.5),
    "lean": (2.0, 1.0),
    "torso_roll": (1.5, 1.0),
    "torso_twist": (3.0, 1.0),
    "nod": (3.0, 1.5),
    "hip_flex": (1.5, 0.5),
    "hip_abd": (0.8, 0.5),
    "knee": (2.0, 0.6),
    "shoulder_flex": (4.0, 1.5),
    "shoulder_abd": (3.0, 1.5),
    "elbow": (4.0, 1.5),
}


@dataclass
class _Motion:
    """What a family writes: angles, the root's ground path ``(T, 2)`` and extras.

    ``lift`` ``(T,)`` raises the root above ground contact (flight, bounce);
    with ``plant_feet`` the root also moves so that the feet on the ground stay put
    (see :func:`_planted_root`).
    """

    angles: _Angles
    path: np.ndarray
    lift: np.ndarray
    plant_feet: bool


@dataclass(frozen=True)
class _Context:
    t: np.ndarray
    rng: np.random.Generator
    speed: float
    heading: float
    start: np.ndarray
    style: dict[str, float]
    leg_length: float

    @property
    def num_frames(self) -> int:
        return len(self.t)


# --------------------------------------------------------------------------- lengths


def sample_bone_lengths(
    rng: np.random.Generator, height_scale: float = 1.0, jitter: float = 0.03
) -> np.ndarray:
    """Bone lengths ``(16,)`` in bone order: the reference times ``height_scale``,
    each bone times ``1 + N(0, jitter)`` with one factor per left/right pair."""
    if height_scale <= 0 or jitter < 0:
        raise ValueError(
            f"sample_bone_lengths: expected height_scale > 0 and jitter >= 0, got "
            f"{height_scale} and {jitter}"
        )
    factors: dict[str, float] = {}
    lengths = []
    for child in H36M17.children:
        name = H36M17.joints[child]
        kind = name[2:] if name[:2] in ("l_", "r_") else name
        if kind not in factors:
            factors[kind] = max(0.5, 1.0 + rng.normal(0.0, jitter))
        lengths.append(REFERENCE_BONE_LENGTHS[name] * height_scale * factors[kind])
    return np.array(lengths)


# --------------------------------------------------------------------------- helpers


def _window(phase: np.ndarray, centre: float, power: float) -> np.ndarray:
    """A smooth periodic bump in ``[0, 1]``, 1 at ``phase == centre``."""
    return ((1.0 + np.cos(phase - centre)) / 2.0) ** power


_EASES: tuple[Callable[[np.ndarray], np.ndarray], ...] = (
    lambda u: 0.5 - 0.5 * np.cos(np.pi * u),  # smooth: rests at both knots
    lambda u: 1.0 - np.cos(0.5 * np.pi * u),  # in: fastest when arriving
    lambda u: np.sin(0.5 * np.pi * u),  # out: fastest when leaving
)
_SMOOTH, _EASE_IN, _EASE_OUT = range(3)


def _interp(t: np.ndarray, times, values, eases=None) -> np.ndarray:
    """Keyframe interpolation; segment ``i`` (knot i to i+1) uses ``eases[i]``."""
    times, values = np.asarray(times, float), np.asarray(values, float)
    i = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
    u = np.clip((t - times[i]) / (times[i + 1] - times[i]), 0.0, 1.0)
    ease = np.zeros(len(times) - 1, int) if eases is None else np.asarray(eases)
    eased = np.choose(ease[i], [f(u) for f in _EASES])
    return values[i] + (values[i + 1] - values[i]) * eased


def _cyclic_keyframes(ctx: _Context, pattern) -> tuple[list[float], list[float]]:
    """Knots repeating ``pattern`` of ``(value range or None to hold, (min_s, max_s))``
    from a random point of the cycle before ``t = 0`` until past the last frame.
    The last entry of ``pattern`` must give a value: the cycle starts from it."""
    rng = ctx.rng
    first_cycle = sum(rng.uniform(*span) for _, span in pattern)
    times, values = [-rng.uniform(0.0, first_cycle)], [float(pattern[-1][0][0])]
    while times[-1] <= ctx.t[-1]:
        for value, span in pattern:
            times.append(times[-1] + rng.uniform(*span))
            values.append(values[-1] if value is None else rng.uniform(*value))
    return times, values


def _smooth_noise(
    rng: np.random.Generator, t: np.ndarray, std: float, top_hz: float = 1.5, shape=()
) -> np.ndarray:
    """Sum of 3 random-phase sinusoids in 0.1 Hz to ``top_hz`` with total std ``std``:
    ``(T, *shape)``."""
    n = 3
    freq = rng.uniform(0.1, top_hz, size=(n, *shape))
    phase = rng.uniform(0.0, 2 * np.pi, size=(n, *shape))
    tt = t.reshape(-1, *([1] * (1 + len(shape))))
    waves = np.sin(2 * np.pi * freq[None] * tt + phase[None])
    return std * np.sqrt(2.0 / n) * waves.sum(axis=1)


def _rate(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.gradient(x, t) if len(t) > 1 else np.zeros_like(x)


def _travel_path(ctx: _Context, yaw: np.ndarray, speed: np.ndarray) -> np.ndarray:
    """Ground path ``(T, 2)`` from ``start`` moving at ``speed`` along ``yaw``."""
    velocity = speed[:, None] * np.stack([np.cos(yaw), np.sin(yaw)], axis=-1)
    steps = 0.5 * (velocity[1:] + velocity[:-1]) * np.diff(ctx.t)[:, None]
    return ctx.start + np.concatenate([np.zeros((1, 2)), np.cumsum(steps, axis=0)])


def _straight_path(ctx: _Context) -> np.ndarray:
    """Ground path along ``heading`` at ``speed`` (standing still at the default 0)."""
    n = ctx.num_frames
    return _travel_path(ctx, np.full(n, ctx.heading), np.full(n, ctx.speed))


def _sides(phase_right: np.ndarray) -> np.ndarray:
    """Gait phase ``(T, 2)`` (left, right): the left leg half a cycle behind."""
    return np.stack([phase_right + np.pi, phase_right], axis=-1)


# --------------------------------------------------------------------------- families


def _swing(phase: np.ndarray, start: float, end: float, peak_at: float) -> np.ndarray:
    """Knee swing bump in ``[0, 1]``: zero outside ``[start, end]`` (phase, rad),
    peaking ``peak_at`` of the way through and flat at both ends."""
    u = np.mod(phase - start, 2 * np.pi) / (end - start)
    gamma = np.log(0.5) / np.log(peak_at)
    return np.where(u < 1.0, np.sin(np.pi * np.minimum(u, 1.0) ** gamma) ** 2, 0.0)


def _gait(
    ctx: _Context,
    *,
    cadence: float,
    duty: float,
    max_hip: float,
    swing_knee: float,
    stance_knee: float,
    knee_peak_at: float = 0.4,
):
    """Phase ``(T, 2)``, hip flexion swing and knee flexion ``(T, 2)`` (deg) of a gait.

    The phase is warped so that each hip extends (its foot's stance) for ``duty`` of
    the cycle and swings forward faster in the rest; the right hip extends for warped
    phase pi/2 to 3 pi/2. The hip sweeps at a nearly constant rate (a rounded
    triangle wave) whose amplitude moves the stance foot back, relative to the
    root, at ``ctx.speed``: with planted feet the body then walks at that speed.
    The knee bends before toe-off (so the other foot, just landed, becomes the
    lowest) and stays bent until the swing ends.
    """
    freq = cadence * ctx.style["frequency"]
    phase = _sides(2 * np.pi * freq * ctx.t + ctx.rng.uniform(0.0, 2 * np.pi))
    swing_end = np.pi * (1.0 - duty)
    warp = (np.pi / 2 - swing_end) / np.sin(swing_end)
    warped = phase + warp * np.sin(phase)
    hip_rate = 2 * freq / duty  # triangle units per second during stance
    hip_amp = np.degrees(np.arcsin(min(0.75, ctx.speed / (hip_rate * 0.95 * ctx.leg_length))))
    hip = min(hip_amp, max_hip) * np.arcsin(0.95 * np.sin(warped)) / np.arcsin(0.95)
    amp = ctx.style["amplitude"]
    knee = (
        6.0
        + amp * swing_knee * _swing(warped, -np.pi / 2 - 0.35, np.pi / 2 - 0.05, knee_peak_at)
        + amp * stance_knee * _window(warped, 2.0, 4)
    )
    return warped, hip, knee


def _heading_drift(ctx: _Context, std_deg: float) -> np.ndarray:
    slow = std_deg * np.sqrt(2.0 / 3) * sum(
        np.sin(2 * np.pi * ctx.rng.uniform(0.03, 0.2) * ctx.t + ctx.rng.uniform(0, 2 * np.pi))
        for _ in range(3)
    )
    return ctx.heading + np.radians(slow)


def _walk(ctx: _Context) -> _Motion:
    amp = ctx.style["amplitude"]
    yaw = _heading_drift(ctx, 6.0)
    cadence = 0.9 * np.sqrt(max(ctx.speed, 0.2) / 1.3)
    phase, hip, knee = _gait(
        ctx, cadence=cadence, duty=0.6, max_hip=40.0, swing_knee=55.0, stance_knee=12.0
    )
    a = _Angles.rest(ctx.num_frames, yaw)
    a.hip_flex = 5.0 + hip
    a.knee = knee
    right = phase[:, 1]
    a.pelvis_twist = 4.0 * amp * np.sin(right)
    a.torso_twist = -6.0 * amp * np.sin(right)
    a.pelvis_roll = 2.5 * amp * np.sin(2 * right)
    a.lean = np.full(ctx.num_frames, 4.0)
    a.nod = 2.0 * np.sin(2 * right)
    arm_amp = 18.0 * amp * np.sqrt(max(ctx.speed, 0.2) / 1.3)
    a.shoulder_flex = 5.0 - arm_amp * np.sin(phase)
    a.elbow = 15.0 + 6.0 * (1.0 - np.sin(phase))
    # The planted feet carry the body forward: no path of its own.
    return _Motion(a, np.tile(ctx.start, (ctx.num_frames, 1)), np.zeros(ctx.num_frames), True)


def _run(ctx: _Context) -> _Motion:
    amp = ctx.style["amplitude"]
    yaw = _heading_drift(ctx, 6.0)
    cadence = 1.4 * (max(ctx.speed, 1.0) / 3.0) ** 0.3
    phase, hip, knee = _gait(
        ctx,
        cadence=cadence,
        duty=0.4,
        max_hip=35.0,
        swing_knee=85.0,
        stance_knee=22.0,
        knee_peak_at=0.5,
    )
    a = _Angles.rest(ctx.num_frames, yaw)
    a.hip_flex = 12.0 + hip
    a.knee = knee + 8.0
    right = phase[:, 1]
    a.pelvis_twist = 5.0 * amp * np.sin(right)
    a.torso_twist = -9.0 * amp * np.sin(right)
    a.pelvis_roll = 3.0 * amp * np.sin(2 * right)
    a.lean = np.full(ctx.num_frames, 12.0)
    a.shoulder_flex = 10.0 - 35.0 * amp * np.sin(phase)
    a.shoulder_abd = np.full((ctx.num_frames, 2), 12.0)
    a.elbow = 85.0 + 10.0 * np.sin(phase)
    # Both feet leave the ground between steps; the peak is mid-way between stances.
    lift = 0.06 * amp * np.sin(right) ** 4
    speed = ctx.speed * (1.0 + 0.05 * np.sin(2 * right))
    return _Motion(a, _travel_path(ctx, yaw, speed), lift, False)


def _sit_stand(ctx: _Context) -> _Motion:
    # s: 0 standing, 1 seated (thighs level on a ~0.45 m chair, shins upright).
    times, values = _cyclic_keyframes(
        ctx,
        [
            ((0.0, 0.0), (0.8, 2.0)),
            ((1.0, 1.0), (1.0, 1.6)),
            (None, (1.0, 3.0)),
            ((0.0, 0.0), (1.0, 1.6)),
        ],
    )
    s = _interp(ctx.t, times, values)
    shift = 4.0 * s * (1.0 - s)  # 1 mid-transition: the body leans over the feet
    amp = ctx.style["amplitude"]
    a = _Angles.rest(ctx.num_frames, np.full(ctx.num_frames, ctx.heading))
    a.hip_flex = (5.0 + 85.0 * s)[:, None] * np.ones(2)
    a.knee = (6.0 + 90.0 * s)[:, None] * np.ones(2)
    a.hip_abd = (4.0 + 6.0 * s)[:, None] * np.ones(2)
    a.lean = 4.0 + 8.0 * s + 38.0 * amp * shift
    a.shoulder_flex = (5.0 + 25.0 * s + 20.0 * shift)[:, None] * np.ones(2)
    a.elbow = (12.0 + 30.0 * s + 20.0 * shift)[:, None] * np.ones(2)
    return _Motion(a, _straight_path(ctx), np.zeros(ctx.num_frames), True)


def _crouch(ctx: _Context) -> _Motion:
    depth = (min(0.6 * ctx.style["amplitude"], 1.0), min(1.0 * ctx.style["amplitude"], 1.0))
    times, values = _cyclic_keyframes(
        ctx,
        [
            ((0.0, 0.0), (0.3, 1.2)),
            (depth, (0.8, 1.4)),
            (None, (0.2, 0.8)),
            ((0.0, 0.0), (0.8, 1.3)),
        ],
    )
    c = _interp(ctx.t, times, values)[:, None] * np.ones(2)
    a = _Angles.rest(ctx.num_frames, np.full(ctx.num_frames, ctx.heading))
    a.knee = 6.0 + 130.0 * c
    a.hip_flex = 4.0 + 100.0 * c
    a.hip_abd = 8.0 + 10.0 * c
    a.lean = 5.0 + 40.0 * c[:, 0]
    a.shoulder_flex = 5.0 + 75.0 * c  # arms forward for balance
    a.shoulder_abd = np.full((ctx.num_frames, 2), 10.0)
    a.elbow = 12.0 + 15.0 * c
    return _Motion(a, _straight_path(ctx), np.zeros(ctx.num_frames), True)


def _reach_wave(ctx: _Context) -> _Motion:
    rng, t, amp = ctx.rng, ctx.t, ctx.style["amplitude"]
    n = ctx.num_frames
    a = _Angles.rest(n, np.full(n, ctx.heading))
    rest = {k: getattr(a, k).copy() for k in ("shoulder_flex", "shoulder_abd", "elbow")}
    # targets (shoulder flexion, shoulder abduction, elbow) of each action, deg
    actions = {
        "wave": (130.0, 30.0, 55.0),
        "reach_up": (160.0, 15.0, 10.0),
        "reach_forward": (85.0, 10.0, 5.0),
        "reach_side": (20.0, 85.0, 10.0),
    }
    kinds = list(actions)
    kind, begin = "wave", -rng.uniform(0.0, 1.0)
    while begin <= t[-1]:
        side = int(rng.integers(2))
        rise, hold = rng.uniform(0.5, 0.8), rng.uniform(1.5, 3.0)
        end = begin + 2 * rise + hold
        e = _interp(t, [begin, begin + rise, end - rise, end], [0, 1, 1, 0])
        e[(t < begin) | (t > end)] = 0.0
        target = np.array(actions[kind]) + rng.uniform(-10.0, 10.0, 3)
        for name, goal in zip(rest, target):  # actions follow each other, never overlap
            getattr(a, name)[:, side] += e * (goal - rest[name][:, side])
        if kind == "wave":
            freq = rng.uniform(1.5, 2.5) * ctx.style["frequency"]
            a.elbow[:, side] += e**2 * 28.0 * amp * np.sin(2 * np.pi * freq * t)
        elif kind == "reach_forward":
            a.lean += 10.0 * e
        elif kind == "reach_side":
            a.torso_roll += (8.0 if side == 0 else -8.0) * e  # lean away, towards the arm
        begin = end + rng.uniform(0.3, 1.5)
        kind = kinds[rng.choice(len(kinds), p=[0.5, 0.2, 0.15, 0.15])]
    # Weight shifts: one leg takes the load, the other relaxes its knee.
    shift = np.sin(2 * np.pi * rng.uniform(0.15, 0.3) * t + rng.uniform(0, 2 * np.pi))
    a.hip_abd = 5.0 + 2.5 * amp * np.stack([-shift, shift], axis=-1)
    a.knee = 6.0 + 4.0 * amp * (1.0 + np.stack([-shift, shift], axis=-1))
    a.pelvis_roll = 1.5 * amp * shift
    return _Motion(a, _straight_path(ctx), np.zeros(n), True)


def _turn(ctx: _Context) -> _Motion:
    rng, t, amp = ctx.rng, ctx.t, ctx.style["amplitude"]
    times, yaws = [-rng.uniform(0.0, 2.0)], [ctx.heading]
    while times[-1] <= t[-1]:
        angle = np.radians(rng.uniform(90.0, 180.0)) * rng.choice((-1.0, 1.0))
        rate = np.radians(rng.uniform(70.0, 110.0)) * ctx.style["frequency"]
        pause = rng.uniform(0.3, 1.2)
        times += [times[-1] + pause, times[-1] + pause + abs(angle) / rate]
        yaws += [yaws[-1], yaws[-1] + angle]
    yaw = _interp(t, times, yaws)
    phase, _, knee = _gait(
        ctx, cadence=0.9, duty=0.6, max_hip=0.0, swing_knee=40.0, stance_knee=6.0
    )
    a = _Angles.rest(ctx.num_frames, yaw)
    a.hip_flex = 10.0 + 8.0 * amp * np.sin(phase)
    a.knee = knee
    a.shoulder_flex = 5.0 - 8.0 * amp * np.sin(phase)
    # The chest leads the turn.
    a.torso_twist = 25.0 * np.tanh(0.3 * np.degrees(_rate(yaw, t)) / 25.0)
    path = _travel_path(ctx, yaw, np.full(ctx.num_frames, ctx.speed))
    return _Motion(a, path, np.zeros(ctx.num_frames), True)


def _jump(ctx: _Context) -> _Motion:
    """Counter-movement jumps: crouch, extend fastest at take-off, fly ballistically,
    absorb the landing fastest at touch-down, recover; ``speed`` is travelled in flight."""
    rng, t, amp = ctx.rng, ctx.t, ctx.style["amplitude"]
    crouch_knots, arm_knots, travel_knots = [], [], [(t[0], 0.0)]
    lift = np.zeros(ctx.num_frames)
    t0 = -rng.uniform(0.0, 2.5)
    while t0 <= t[-1]:
        stand, down, push = rng.uniform(0.4, 1.0), rng.uniform(0.35, 0.55), rng.uniform(0.15, 0.22)
        v0 = rng.uniform(1.9, 2.6) * np.sqrt(amp)
        absorb, recover = rng.uniform(0.2, 0.3), rng.uniform(0.4, 0.7)
        c_max, c_land = min(rng.uniform(0.45, 0.65) * amp, 1.0), rng.uniform(0.3, 0.5)
        take_off = t0 + stand + down + push
        land = take_off + 2.0 * v0 / GRAVITY
        end = land + absorb + recover
        # (time, crouch, ease of the segment that starts here)
        crouch_knots += [
            (t0, 0.0, _SMOOTH),
            (t0 + stand, 0.0, _SMOOTH),
            (t0 + stand + down, c_max, _EASE_IN),
            (take_off, 0.0, _SMOOTH),
            (land, 0.0, _EASE_OUT),
            (land + absorb, c_land, _SMOOTH),
        ]
        # Arms swing back while crouching, up through the flight, down on landing.
        arm_knots += [
            (t0 + stand, 5.0),
            (take_off - push, -40.0),
            ((take_off + land) / 2, 110.0),
            (land + absorb, 40.0),
        ]
        tau = t - take_off
        airborne = (tau > 0) & (t < land)
        lift[airborne] = v0 * tau[airborne] - 0.5 * GRAVITY * tau[airborne] ** 2
        travelled = travel_knots[-1][1]
        travel_knots += [(take_off, travelled), (land, travelled + ctx.speed * (end - t0))]
        t0 = end
    crouch_knots.append((t0, 0.0, _SMOOTH))
    arm_knots.append((t0, 5.0))
    times, values, eases = zip(*crouch_knots)
    c = _interp(t, times, values, eases[:-1])[:, None] * np.ones(2)
    a = _Angles.rest(ctx.num_frames, np.full(ctx.num_frames, ctx.heading))
    a.knee = 6.0 + 130.0 * c
    a.hip_flex = 4.0 + 100.0 * c
    a.lean = 5.0 + 50.0 * c[:, 0]
    a.shoulder_flex = _interp(t, *zip(*arm_knots))[:, None] * np.ones(2)
    a.elbow = 15.0 + 20.0 * c
    distance = _interp(t, *zip(*travel_knots))
    path = ctx.start + np.outer(distance, [np.cos(ctx.heading), np.sin(ctx.heading)])
    return _Motion(a, path, lift, True)


def _ski(ctx: _Context) -> _Motion:
    rng, t, amp = ctx.rng, ctx.t, ctx.style["amplitude"]
    n = ctx.num_frames
    omega = 2 * np.pi * rng.uniform(0.4, 0.6) * ctx.style["frequency"]
    lateral_amp = rng.uniform(0.6, 1.2) * amp
    arc = omega * t + rng.uniform(0.0, 2 * np.pi)
    lateral = lateral_amp * (np.sin(arc) - np.sin(arc[0]))
    carve = -np.sin(arc)  # lateral acceleration / its peak: > 0 turning left
    forward = np.array([np.cos(ctx.heading), np.sin(ctx.heading)])
    left = np.array([-forward[1], forward[0]])
    path = ctx.start + np.outer(ctx.speed * t, forward) + np.outer(lateral, left)
    lateral_speed = lateral_amp * omega * np.cos(arc)
    yaw = ctx.heading + np.arctan2(lateral_speed, max(ctx.speed, 1.0))

    a = _Angles.rest(n, yaw)
    # Inclination into the turn (a negative roll tips the body to its left).
    accel = lateral_amp * omega**2 * carve
    a.pelvis_roll = -30.0 * np.tanh(0.6 * np.degrees(np.arctan2(accel, GRAVITY)) / 30.0)
    a.torso_roll = -0.5 * a.pelvis_roll  # angulation: the upper body stays more upright
    inside = np.stack([carve, -carve], axis=-1)  # +1 for the leg on the inside of the turn
    knee = rng.uniform(40.0, 48.0) + 6.0 * (carve**2 - 0.5)[:, None] + 10.0 * amp * inside
    a.knee = knee
    a.hip_flex = 0.4 * knee + 4.0 * inside  # shins pressed forward in the boots
    a.hip_abd = np.full((n, 2), rng.uniform(12.0, 18.0))
    a.lean = 25.0 + 0.3 * knee.mean(axis=1)
    # Arms forward holding the poles; the inside pole is planted at each turn's start.
    plant = np.stack([_window(arc, 0.0, 6), _window(arc, np.pi, 6)], axis=-1)
    a.shoulder_flex = 35.0 + 15.0 * amp * plant
    a.shoulder_abd = np.full((n, 2), 18.0)
    a.elbow = 70.0 - 10.0 * plant
    return _Motion(a, path, np.zeros(n), False)


_FAMILY_FUNCTIONS: dict[str, Callable[[_Context], _Motion]] = {
    "walk": _walk,
    "run": _run,
    "sit_stand": _sit_stand,
    "reach_wave": _reach_wave,
    "crouch": _crouch,
    "jump": _jump,
    "turn": _turn,
    "ski": _ski,
}


# --------------------------------------------------------------------------- kinematics


def _rot(axis: str, degrees: np.ndarray) -> np.ndarray:
    """Rotations ``(T, 3, 3)`` about ``axis`` by ``degrees`` ``(T,)``."""
    a = np.radians(degrees)
    c, s = np.cos(a), np.sin(a)
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    R = np.zeros((len(a), 3, 3))
    R[:, 3 - i - j, 3 - i - j] = 1.0
    R[:, i, i], R[:, i, j], R[:, j, i], R[:, j, j] = c, -s, s, c
    return R


def _apply(R: np.ndarray, v) -> np.ndarray:
    return np.einsum("tij,j->ti", R, np.asarray(v, dtype=float))


_DOWN, _UP = (0.0, 0.0, -1.0), (0.0, 0.0, 1.0)


def _unit(*v: float) -> np.ndarray:
    v = np.array(v, dtype=float)
    return v / np.linalg.norm(v)


def _forward_kinematics(a: _Angles, lengths: np.ndarray) -> np.ndarray:
    """Root-relative joints ``(T, 17, 3)`` (world orientation) from angles."""

    def length(joint: str) -> float:
        return lengths[H36M17.bone_index(joint)]

    body = _rot("z", np.degrees(a.yaw) + a.pelvis_twist) @ _rot("x", a.pelvis_roll)
    def trunk(share: float) -> np.ndarray:
        twist, lean, roll = share * a.torso_twist, share * a.lean, share * a.torso_roll
        return body @ _rot("z", twist) @ _rot("y", lean) @ _rot("x", roll)

    lower, chest = trunk(0.5), trunk(1.0)  # the spine bends half below the thorax
    head = chest @ _rot("y", a.nod)

    pos = {"hip": np.zeros((len(a.yaw), 3))}
    pos["spine"] = _apply(lower, _UP) * length("spine")
    pos["thorax"] = pos["spine"] + _apply(chest, _UP) * length("thorax")
    pos["neck"] = pos["thorax"] + _apply(chest, _unit(0.15, 0.0, 1.0)) * length("neck")
    pos["head"] = pos["neck"] + _apply(head, _unit(0.1, 0.0, 1.0)) * length("head")
    for col, (side, sign) in enumerate(_SIDES):
        pos[f"{side}_hip"] = _apply(body, _unit(0.0, sign, -0.18)) * length(f"{side}_hip")
        thigh = body @ _rot("y", -a.hip_flex[:, col]) @ _rot("x", sign * a.hip_abd[:, col])
        shin = thigh @ _rot("y", a.knee[:, col])  # the shin folds backwards
        pos[f"{side}_knee"] = pos[f"{side}_hip"] + _apply(thigh, _DOWN) * length(f"{side}_knee")
        pos[f"{side}_ankle"] = pos[f"{side}_knee"] + _apply(shin, _DOWN) * length(f"{side}_ankle")

        shoulder = pos["thorax"] + _apply(chest, (0.0, sign, 0.0)) * length(f"{side}_shoulder")
        flex, abd = a.shoulder_flex[:, col], sign * a.shoulder_abd[:, col]
        upper = chest @ _rot("y", -flex) @ _rot("x", abd)
        fore = upper @ _rot("y", -a.elbow[:, col])  # the forearm folds forwards
        pos[f"{side}_shoulder"] = shoulder
        pos[f"{side}_elbow"] = shoulder + _apply(upper, _DOWN) * length(f"{side}_elbow")
        pos[f"{side}_wrist"] = pos[f"{side}_elbow"] + _apply(fore, _DOWN) * length(f"{side}_wrist")
    return np.stack([pos[name] for name in H36M17.joints], axis=1)


def _planted_root(feet: np.ndarray, softness: float = 0.01) -> np.ndarray:
    """Ground displacement ``(T, 2)`` of the root that keeps the supporting foot still.

    ``feet`` are the root-relative ankles ``(T, 2, 3)``. Each step the root moves
    against the feet's relative motion, weighted towards the lower foot (a softmin of
    their heights with ``softness`` metres), so a stance foot stays planted and both
    share the work in double support.
    """
    weight = np.exp(-(feet[..., 2] - feet[..., 2].min(axis=1, keepdims=True)) / softness)
    weight /= weight.sum(axis=1, keepdims=True)
    weight = 0.5 * (weight[1:] + weight[:-1])
    steps = -np.einsum("tf,tfi->ti", weight, np.diff(feet[..., :2], axis=0))
    return np.concatenate([np.zeros((1, 2)), np.cumsum(steps, axis=0)])


def ground_height(
    xy: np.ndarray, slope_deg: float = 0.0, heading: float = 0.0, start=(0.0, 0.0)
) -> np.ndarray:
    """Height ``(...)`` of the ground plane under points ``(..., 2)``: it falls by
    ``tan(slope)`` per metre along ``heading`` from ``start``."""
    downhill = np.array([np.cos(heading), np.sin(heading)])
    return -np.tan(np.radians(slope_deg)) * ((np.asarray(xy) - np.asarray(start)) @ downhill)


def _check_inputs(
    family: str, num_frames: int, fps: float, lengths: np.ndarray, rng, speed, style
) -> None:
    if family not in _FAMILY_FUNCTIONS:
        raise ValueError(
            f"synthesise: unknown motion family {family!r}; expected one of {MOTION_FAMILIES}"
        )
    if num_frames < 1 or fps <= 0:
        raise ValueError(
            f"synthesise: expected num_frames >= 1 and fps > 0, got {num_frames} and {fps}"
        )
    if lengths.shape != (H36M17.num_bones,) or not np.all(lengths > 0):
        raise ValueError(
            f"synthesise: bone_lengths must be {H36M17.num_bones} positive lengths in bone "
            f"order, got shape {lengths.shape}"
        )
    if speed is not None and not speed >= 0:
        raise ValueError(f"synthesise: speed must be >= 0 m/s, got {speed}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"synthesise: rng must be a numpy Generator, got {type(rng).__name__}")
    style = style or {}
    unknown = set(style) - set(DEFAULT_STYLE)
    if unknown:
        raise ValueError(
            f"synthesise: unknown style keys {sorted(unknown)}; expected {sorted(DEFAULT_STYLE)}"
        )
    for key in ("amplitude", "frequency"):
        if key in style and not style[key] > 0:
            raise ValueError(f"synthesise: style {key!r} must be > 0, got {style[key]}")
    if not style.get("noise", 0.0) >= 0:
        raise ValueError(f"synthesise: style 'noise' must be >= 0, got {style['noise']}")


def synthesise(
    family: str,
    num_frames: int,
    fps: float,
    bone_lengths: np.ndarray,
    rng: np.random.Generator,
    *,
    speed: float | None = None,
    heading: float | None = None,
    start=(0.0, 0.0),
    slope_deg: float | None = None,
    style: dict[str, float] | None = None,
) -> np.ndarray:
    """One motion of ``family``: joints ``(num_frames, 17, 3)``, world metres, z up.

    ``speed`` (m/s) defaults to :data:`DEFAULT_SPEEDS` (a walk reaches it through its
    step length, to within a few percent); ``heading`` (radians, the direction of
    travel and the ski slope's fall line) is random when ``None``; ``start`` is the
    root's initial ground position; ``slope_deg`` defaults to 20 for ski and 0
    otherwise; ``style`` overrides :data:`DEFAULT_STYLE`.
    """
    lengths = np.asarray(bone_lengths, dtype=float)
    _check_inputs(family, num_frames, fps, lengths, rng, speed, style)
    style = {**DEFAULT_STYLE, **(style or {})}
    if heading is None:
        heading = rng.uniform(0.0, 2 * np.pi)
    if slope_deg is None:
        slope_deg = DEFAULT_SLOPE_DEG.get(family, 0.0)
    leg_bones = [H36M17.bone_index(j) for j in ("l_knee", "l_ankle", "r_knee", "r_ankle")]
    leg = lengths[leg_bones].sum() / 2
    ctx = _Context(
        t=np.arange(num_frames) / fps,
        rng=rng,
        speed=DEFAULT_SPEEDS[family] if speed is None else float(speed),
        heading=float(heading),
        start=np.asarray(start, dtype=float),
        style=style,
        leg_length=leg,
    )
    motion = _FAMILY_FUNCTIONS[family](ctx)
    angles = motion.angles
    angles.lean = angles.lean + style["lean"]
    for f in fields(angles):
        if f.name == "yaw":
            continue
        value = getattr(angles, f.name)
        std, top_hz = _PERTURBATION[f.name]
        noise = _smooth_noise(rng, ctx.t, style["noise"] * std, top_hz, value.shape[1:])
        setattr(angles, f.name, np.clip(value + noise, *_ANGLE_LIMITS[f.name]))
    angles.nod = angles.nod - 0.5 * angles.lean  # keep the gaze roughly level

    joints = _forward_kinematics(angles, lengths)
    feet = joints[:, [H36M17.index("l_ankle"), H36M17.index("r_ankle")]]
    root_xy = motion.path + _planted_root(feet) if motion.plant_feet else motion.path
    ground = ground_height(root_xy[:, None] + feet[..., :2], slope_deg, heading, ctx.start)
    root_z = -(feet[..., 2] - ANKLE_HEIGHT - ground).min(axis=1) + motion.lift
    root = np.concatenate([root_xy, root_z[:, None]], axis=-1)
    return joints + root[:, None]
