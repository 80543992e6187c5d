"""Stand-in makers: synthetic subjects, motions and cameras with each dataset's gaps.

The real datasets cannot be downloaded here, so the project makes small stand-ins and
writes them in each dataset's native layout. What differs between them is what makes
cross-dataset lifting hard, taken from what is known of the real capture setups
(``conf/base/parameters_standin.yml`` holds the numbers):

- Human3.6M: 4 fixed cameras at chest height, 4-6 m, 1000x1002, 50 Hz, indoor actions.
- MPI-INF-3DHP: 14 cameras from low to ceiling height, 2048x2048, 25 Hz training;
  test TS1-4 studio 2048x2048, TS5-6 outdoor 1920x1080 at 50 Hz; more dynamic motion.
- 3DPW: a handheld camera following the subject at 2-4 m, portrait 1080x1920, 30 Hz,
  walking, stairs-like stepping and sitting; wider spread of body sizes.
- Ski-Pose: pan-tilt-zoom cameras 20-60 m away, elevated, long focal lengths, following
  fast skiing down a slope; short (about 5 s) sequences.

Everything random comes from one ``numpy.random.Generator`` per dataset, seeded from
the run's seed and the dataset's name, so each stand-in is reproducible on its own.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from adaptpose_pipeline.core.skeleton import H36M17
from adaptpose_pipeline.datasets import registry
from adaptpose_pipeline.datasets.h36m import SPLITS
from adaptpose_pipeline.standin import motion
from adaptpose_pipeline.standin.recording import CameraRig, Recording, look_at

HIP = H36M17.index("hip")


def dataset_rng(seed: int, dataset: str) -> np.random.Generator:
    """A generator per dataset: adding or changing one stand-in leaves the others alone."""
    return np.random.default_rng([seed, zlib.crc32(dataset.encode())])


def _uniform(rng: np.random.Generator, bounds) -> float:
    lo, hi = (float(b) for b in bounds)
    return float(rng.uniform(lo, hi))


@dataclass(frozen=True)
class Take:
    """One thing to record: who, what, where in the dataset's structure."""

    subject: str
    sequence: str
    split: str
    family: str
    seconds: float
    fps: float


def _frames(seconds: float, fps: float, scale: float) -> int:
    return max(int(round(seconds * scale * fps)), 2)


def _perform(
    take: Take, bones: np.ndarray, scale: float, rng: np.random.Generator, max_travel: float | None = None, **kwargs
) -> np.ndarray:
    """World joints ``(T, 17, 3)`` with the root path centred on the origin.

    ``max_travel`` (m) caps the distance covered, for capture volumes watched by
    fixed cameras: the family's speed is lowered to fit.
    """
    frames = _frames(take.seconds, take.fps, scale)
    if max_travel is not None:
        kwargs["speed"] = min(motion.DEFAULT_SPEEDS[take.family], max_travel * take.fps / frames)
    joints = motion.synthesise(take.family, frames, take.fps, bones, rng, **kwargs)
    centre = joints[:, HIP, :2].mean(0)
    joints[..., :2] -= centre
    return joints


def _intrinsics(spec: dict, rng: np.random.Generator, image_size) -> dict:
    w, h = (int(v) for v in image_size)
    f = _uniform(rng, spec["focal"])
    c = np.array([w / 2, h / 2]) + rng.normal(0.0, spec.get("centre_jitter", 0.0), 2)
    dist = spec.get("distortion", 0.0)
    k = rng.normal(0.0, dist, 3) * np.array([1.0, 0.5, 0.1]) if dist else None
    p = rng.normal(0.0, dist * 0.05, 2) if dist else None
    return {"f": np.array([f, f * (1 + rng.normal(0, 1e-3))]), "c": c, "k": k, "p": p, "image_size": (w, h)}


def static_ring(
    spec: dict, rng: np.random.Generator, names: list[str], image_size, like: list[CameraRig] | None = None
) -> list[CameraRig]:
    """Fixed cameras on a ring around the capture area, looking at its centre.

    ``spec``: ``height`` and ``distance`` bounds (m), ``focal`` bounds (px), optional
    ``aim_height`` (m, default 1.0), ``distortion`` (std of k1), ``centre_jitter`` (px).
    ``like``: keep these cameras' intrinsics (same cameras, new placement).
    """
    rigs = []
    n = len(names)
    offset = rng.uniform(0, 2 * np.pi)
    for i, name in enumerate(names):
        azimuth = offset + 2 * np.pi * i / n + rng.normal(0, 0.15)
        dist = _uniform(rng, spec["distance"])
        pos = np.array([dist * np.cos(azimuth), dist * np.sin(azimuth), _uniform(rng, spec["height"])])
        aim = np.array([0.0, 0.0, spec.get("aim_height", 1.0)]) + rng.normal(0, 0.1, 3)
        R, t = look_at(pos, aim)
        if like is None:
            intr = _intrinsics(spec, rng, image_size)
        else:
            intr = {k: getattr(like[i], k) for k in ("f", "c", "k", "p", "image_size")}
        rigs.append(CameraRig(name=name, R=R, t=t, **intr))
    return rigs


def frame_subject(rig: CameraRig, joints_world: np.ndarray, min_depth: float, margin: float = 0.05) -> CameraRig:
    """Move a static camera back along its optical axis until every joint is at least
    ``min_depth`` in front of it and inside the image with ``margin`` (a fraction of
    the image size) to spare: subjects move about, cameras stay put and keep them in view."""
    w, h = rig.image_size
    lo, hi = np.array([w, h]) * margin, np.array([w, h]) * (1 - margin)
    t = np.asarray(rig.t, dtype=np.float64).copy()
    for _ in range(60):
        moved = CameraRig(rig.name, rig.R, t.copy(), rig.f, rig.c, rig.image_size, rig.k, rig.p)
        x_cam = moved.to_camera(joints_world)
        if x_cam[..., 2].min() >= min_depth:
            px = moved.project(x_cam)
            if (px >= lo).all() and (px <= hi).all():
                return moved
        # Moving the centre back by d along the optical axis adds d to every depth.
        t[2] += max(0.1 * x_cam[..., 2].mean(), min_depth - x_cam[..., 2].min(), 0.05)
    raise RuntimeError(f"camera {rig.name}: cannot frame the subject (check the stand-in camera spec)")


def handheld(spec: dict, rng: np.random.Generator, joints_world: np.ndarray, fps: float, image_size) -> CameraRig:
    """A camera carried by someone following the subject: distance and bearing drift
    slowly, with hand shake, always aimed near the subject's hips."""
    T = len(joints_world)
    time = np.arange(T) / fps
    root = joints_world[:, HIP]
    dist = _uniform(rng, spec["distance"]) + 0.3 * np.sin(2 * np.pi * time / _uniform(rng, (6, 12)))
    bearing = rng.uniform(0, 2 * np.pi) + 0.4 * np.sin(2 * np.pi * time / _uniform(rng, (8, 16)))
    height = _uniform(rng, spec["height"]) + 0.03 * np.sin(2 * np.pi * 1.7 * time)
    pos = np.stack([root[:, 0] + dist * np.cos(bearing), root[:, 1] + dist * np.sin(bearing), height], -1)
    shake = rng.normal(0, spec.get("shake", 0.01), (T, 3)).cumsum(0) * 0.2
    aim = root + np.array([0.0, 0.0, 0.1]) + shake
    R, t = look_at(pos, aim)
    return CameraRig(name="handheld", R=R, t=t, **_intrinsics(spec, rng, image_size))


def pan_tilt_zoom(
    spec: dict, rng: np.random.Generator, joints_world: np.ndarray, name: str, image_size
) -> CameraRig:
    """A far, elevated camera beside the course that pans and tilts to follow the root."""
    root = joints_world[:, HIP]
    mid = root[len(root) // 2]
    travel = root[-1, :2] - root[0, :2]
    side = np.array([-travel[1], travel[0]]) / max(np.linalg.norm(travel), 1e-6)
    side *= rng.choice([-1.0, 1.0])
    along = travel / max(np.linalg.norm(travel), 1e-6) * rng.uniform(-0.4, 0.4) * np.linalg.norm(travel)
    dist = _uniform(rng, spec["distance"])
    xy = mid[:2] + side * dist + along
    pos = np.array([xy[0], xy[1], mid[2] + _uniform(rng, spec["height"])])
    lag = rng.normal(0, spec.get("tracking_error", 0.05), (len(root), 3)).cumsum(0) * 0.1
    R, t = look_at(np.broadcast_to(pos, root.shape), root + lag)
    return CameraRig(name=name, R=R, t=t, **_intrinsics(spec, rng, image_size))


def _subject_bones(spec: dict, rng: np.random.Generator) -> np.ndarray:
    return motion.sample_bone_lengths(rng, height_scale=_uniform(rng, spec["height_scale"]), jitter=spec["bone_jitter"])


def make_h36m(spec: dict, scale: float, rng: np.random.Generator) -> list[Recording]:
    """Subjects x actions seen by 4 fixed cameras: the same intrinsics throughout,
    extrinsics re-calibrated per subject (as the real files have them)."""
    out = []
    first = None
    for subject in spec["subjects"]:
        bones = _subject_bones(spec["body"], rng)
        takes = [Take(subject, action, "", family, spec["seconds"], spec["fps"]) for action, family in spec["actions"].items()]
        performed = [_perform(take, bones, scale, rng, spec["max_travel_m"]) for take in takes]
        everything = np.concatenate(performed)
        ring = static_ring(spec["cameras"], rng, spec["cameras"]["names"], spec["image_size"], like=first)
        first = first or ring
        rigs = [frame_subject(r, everything, spec["cameras"]["min_depth"]) for r in ring]
        for take, joints in zip(takes, performed):
            out.append(Recording("h36m", subject, take.sequence, SPLITS.get(subject, "train"), take.fps, joints, rigs, np.ones(len(joints), bool)))
    return out


def make_3dhp(spec: dict, scale: float, rng: np.random.Generator) -> list[Recording]:
    """Training: subjects x sequences seen by 14 cameras from low to ceiling height.
    Test: one camera per TS sequence, studio or outdoor, with some invalid frames."""
    out = []
    train = spec["train"]
    for subject in train["subjects"]:
        bones = _subject_bones(spec["body"], rng)
        names = [f"cam{i}" for i in range(train["cameras"]["count"])]
        takes = [
            Take(subject, seq, "train", str(rng.choice(train["families"])), train["seconds"], train["fps"])
            for seq in train["sequences"]
        ]
        performed = [_perform(take, bones, scale, rng, train["max_travel_m"]) for take in takes]
        everything = np.concatenate(performed)
        rigs = [
            frame_subject(r, everything, train["cameras"]["min_depth"])
            for r in static_ring(train["cameras"], rng, names, train["cameras"]["image_size"])
        ]
        for take, joints in zip(takes, performed):
            out.append(Recording("3dhp", subject, take.sequence, "train", take.fps, joints, rigs, np.ones(len(joints), bool)))
    for ts, ts_spec in spec["test"]["sequences"].items():
        bones = _subject_bones(spec["body"], rng)
        take = Take(ts, ts, "test", ts_spec["family"], spec["test"]["seconds"], ts_spec["fps"])
        setting = spec["test"]["settings"][ts_spec["setting"]]
        joints = _perform(take, bones, scale, rng, setting["max_travel_m"])
        rig = static_ring(setting, rng, ["cam0"], setting["image_size"])[0]
        # The reader takes these intrinsics from its documented defaults: use them exactly.
        rig.f, rig.c = np.asarray(setting["f"], float), np.asarray(setting["c"], float)
        rig.k = rig.p = None
        rig = frame_subject(rig, joints, setting["min_depth"])
        out.append(Recording("3dhp", ts, ts, "test", take.fps, joints, [rig], _invalid_gaps(len(joints), rng, spec["test"]["invalid_fraction"])))
    return out


def _invalid_gaps(T: int, rng: np.random.Generator, fraction: float) -> np.ndarray:
    """A valid mask with one contiguous invalid stretch of about ``fraction`` of T."""
    valid = np.ones(T, bool)
    n = int(round(T * fraction))
    if n:
        start = int(rng.integers(0, T - n + 1))
        valid[start : start + n] = False
    return valid


def make_3dpw(spec: dict, scale: float, rng: np.random.Generator) -> list[Recording]:
    """Sequences per split, each one subject followed by a handheld portrait camera."""
    out = []
    for split, count in spec["sequences"].items():
        for i in range(int(count)):
            family = str(rng.choice(spec["families"]))
            name = f"{split[:4]}_{family}_{i:02d}"
            bones = _subject_bones(spec["body"], rng)
            take = Take(f"{name}_p0", name, split, family, spec["seconds"], spec["fps"])
            joints = _perform(take, bones, scale, rng)
            rig = handheld(spec["camera"], rng, joints, spec["fps"], spec["image_size"])
            out.append(Recording("3dpw", take.subject, name, split, take.fps, joints, [rig], _invalid_gaps(len(joints), rng, spec["invalid_fraction"])))
    return out


def make_ski(spec: dict, scale: float, rng: np.random.Generator) -> list[Recording]:
    """Skiers on a slope, each run filmed by pan-tilt-zoom cameras beside the course."""
    out = []
    seq_id = 0
    for split, subjects in spec["subjects"].items():
        for subject in subjects:
            bones = _subject_bones(spec["body"], rng)
            for _ in range(int(spec["runs_per_subject"])):
                seq_id += 1
                take = Take(str(subject), f"seq_{seq_id:03d}", split, "ski", spec["seconds"], spec["fps"])
                joints = _perform(take, bones, scale, rng, slope_deg=_uniform(rng, spec["slope_deg"]))
                rigs = [
                    pan_tilt_zoom(spec["cameras"], rng, joints, f"cam_{c:02d}", spec["cameras"]["image_size"])
                    for c in range(int(spec["cameras"]["count"]))
                ]
                out.append(Recording("ski", take.subject, take.sequence, split, take.fps, joints, rigs, np.ones(len(joints), bool), meta={"seq": seq_id}))
    return out


def make_recordings(dataset: str, spec: dict, scale: float, seed: int) -> list[Recording]:
    """All recordings of one stand-in dataset (its maker: ``registry.get(dataset).standin``)."""
    if dataset not in registry.with_standin():
        raise KeyError(f"standin: unknown dataset {dataset!r}; expected one of {sorted(registry.with_standin())}")
    if not scale > 0:
        raise ValueError(f"standin.scale: expected a positive number, got {scale!r}")
    return registry.get(dataset).standin.make(spec, scale, dataset_rng(seed, dataset))
