import numpy as np
import pytest
from matplotlib.figure import Figure

from adaptpose_pipeline.core.skeleton import H36M17
from adaptpose_pipeline.evaluation import motion_plots as mp

# An upright person in a level camera frame (x right, y down, z forward), root at 0:
# every bone points straight up (-y) or sideways, so hip -> thorax is exactly "up".
_OFFSETS = {
    "r_hip": (-0.12, 0, 0), "r_knee": (0, 0.45, 0), "r_ankle": (0, 0.42, 0),
    "l_hip": (0.12, 0, 0), "l_knee": (0, 0.45, 0), "l_ankle": (0, 0.42, 0),
    "spine": (0, -0.25, 0), "thorax": (0, -0.25, 0), "neck": (0, -0.1, 0), "head": (0, -0.12, 0),
    "l_shoulder": (0.18, 0, 0), "l_elbow": (0.28, 0, 0), "l_wrist": (0.25, 0, 0),
    "r_shoulder": (-0.18, 0, 0), "r_elbow": (-0.28, 0, 0), "r_wrist": (-0.25, 0, 0),
}


def _upright() -> np.ndarray:
    pose = np.zeros((17, 3))
    for j in range(1, 17):
        pose[j] = pose[H36M17.parents[j]] + _OFFSETS[H36M17.joints[j]]
    return pose


def _pitched_down(degrees: float) -> np.ndarray:
    """World (level camera) -> frame of a camera tilted ``degrees`` down about its x axis."""
    a = np.radians(degrees)
    forward, down = (0, np.sin(a), np.cos(a)), (0, np.cos(a), -np.sin(a))
    return np.array([(1, 0, 0), down, forward], dtype=float)


def _source(n: int = 60, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    pose_3d = _upright() + rng.normal(scale=0.01, size=(n, 17, 3))
    pose_3d -= pose_3d[:, :1]
    root = np.c_[rng.normal(scale=0.3, size=(n, 2)), rng.uniform(3, 6, n)]
    cam = pose_3d + root[:, None]
    valid = np.ones(n, bool)
    valid[::7] = False
    return {
        "pose_2d": (cam[..., :2] / cam[..., 2:]).astype(np.float32),
        "pose_3d": pose_3d.astype(np.float32),
        "root_3d": root.astype(np.float32),
        "valid": valid,
    }


def _generated(k: int = 6, t: int = 5, selected: bool = True, seed: int = 2) -> dict:
    rng = np.random.default_rng(seed)
    src = np.broadcast_to(_upright(), (k, t, 17, 3)) + rng.normal(scale=0.01, size=(k, t, 17, 3))
    src -= src[:, :, :1]
    gen = src * rng.uniform(0.9, 1.1, size=(k, 1, 1, 1))
    rotation = np.stack([_pitched_down(a) for a in rng.uniform(0, 40, k)])
    translation = np.c_[rng.normal(scale=0.2, size=(k, 2)), rng.uniform(3, 7, k)]
    cam = gen @ rotation[:, None].transpose(0, 1, 3, 2) + translation[:, None, None]
    return {
        "pose_3d": gen.astype(np.float32),
        "pose_3d_cam": cam.astype(np.float32),
        "pose_2d": (cam[..., :2] / cam[..., 2:]).astype(np.float32),
        "rotation": rotation.astype(np.float32),
        "translation": translation.astype(np.float32),
        "lam": np.zeros((k, 16), np.float32),
        "selected": (np.arange(k) % 2 == 0) if selected else np.zeros(k, bool),
        "source_pose_3d": src.astype(np.float32),
    }


def _check_figure(fig: Figure, n_axes: int) -> None:
    assert isinstance(fig, Figure) and len(fig.axes) == n_axes
    fig.canvas.draw()  # lays out and renders every artist
    for ax in fig.axes:
        for line in ax.get_lines():
            assert np.isfinite(np.asarray(line.get_xydata(), float)).all()
        for coll in ax.collections:
            assert np.isfinite(np.asarray(coll.get_offsets(), float)).all()


@pytest.mark.parametrize("degrees", [0.0, 30.0, -15.0])
def test_elevation_of_a_tilted_camera(degrees):
    R = _pitched_down(degrees)
    pose = _upright() @ R.T
    root = np.array([0.0, 0.0, 4.0])  # on the optical axis of the tilted camera
    assert mp.camera_elevation(root, mp.torso_up(pose)) == pytest.approx(degrees, abs=1e-6)
    source = {"pose_3d": pose[None], "root_3d": root[None], "valid": np.array([True])}
    elevation, distance = mp.source_cameras(source)
    assert elevation[0] == pytest.approx(degrees, abs=0.5) and distance[0] == pytest.approx(4.0)


def test_elevation_of_generated_cameras_comes_from_rotation_and_translation():
    gen = _generated(k=3, t=3)
    gen["pose_3d"] = np.broadcast_to(_upright(), (3, 3, 17, 3))
    gen["rotation"] = np.stack([_pitched_down(30.0)] * 3)
    gen["translation"] = np.array([[0, 0, 5.0], [0, 0, 3.0], [0, 3.0, 3.0]])
    elevation, distance = mp.generated_cameras(gen)
    # The third camera also sits 45 degrees above its (level) view ray: 30 + 45.
    np.testing.assert_allclose(elevation, [30, 30, 75], atol=0.5)
    np.testing.assert_allclose(distance, [5, 3, np.hypot(3, 3)], rtol=1e-6)


def test_bone_lengths_of_a_known_skeleton():
    table = mp.bone_length_table(_upright()[None])
    expected = [np.linalg.norm(_OFFSETS[H36M17.joints[c]]) for c in H36M17.children]
    np.testing.assert_allclose(table, [expected], rtol=1e-12)


def test_subsample_is_deterministic_and_bounded():
    x = np.arange(10_000)
    a, b = mp._subsample(x), mp._subsample(x)
    assert len(a) == mp.MAX_POINTS and np.array_equal(a, b) and np.all(np.diff(a) > 0)
    assert np.array_equal(mp._subsample(x[:10]), x[:10])


@pytest.mark.parametrize("t,selected", [(5, True), (1, True), (5, False)])
def test_keypoint_distributions(t, selected):
    fig = mp.plot_keypoint_distributions(_source(), _source(seed=3), _generated(t=t, selected=selected))
    _check_figure(fig, 8)


@pytest.mark.parametrize("t,selected", [(5, True), (1, True), (5, False)])
def test_camera_histograms(t, selected):
    fig = mp.plot_camera_histograms(_source(), _generated(t=t, selected=selected))
    _check_figure(fig, 2)
    labels = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert any(label.startswith("selected (none)") for label in labels) != selected


@pytest.mark.parametrize("t,selected", [(5, True), (1, True), (5, False)])
def test_bone_lengths_plot(t, selected):
    _check_figure(mp.plot_bone_lengths(_source(), _generated(t=t, selected=selected)), 1)


@pytest.mark.parametrize("t,selected,cols", [(5, True, 5), (1, True, 1), (27, False, 5)])
def test_generated_skeletons(t, selected, cols):
    gen = _generated(t=t, selected=selected)
    fig = mp.plot_generated_skeletons(gen, n=4)
    _check_figure(fig, 4 * cols)
    row_labels = [fig.axes[r * cols].get_ylabel() for r in range(4)]
    if selected:  # selected samples (0, 2, 4) come first
        assert row_labels[0].startswith("sample 0\nselected") and row_labels[1].startswith("sample 2")


def test_bad_generated_arrays_are_named():
    gen = _generated()
    del gen["rotation"]
    with pytest.raises(KeyError, match="rotation"):
        mp.plot_camera_histograms(_source(), gen)
    gen = _generated()
    gen["source_pose_3d"] = gen["source_pose_3d"][:, :2]
    with pytest.raises(ValueError, match="source_pose_3d"):
        mp.plot_generated_skeletons(gen)
