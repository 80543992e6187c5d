import numpy as np
import pytest
import torch

from adaptpose_pipeline.core import camera, kcs, rotations, skeleton


def test_projection_of_point_at_known_depth():
    x = np.array([[0.5, -0.25, 2.0]])
    px = camera.project(x, f=[1000.0, 1000.0], c=[500.0, 400.0])
    assert np.allclose(px, [[500.0 + 250.0, 400.0 - 125.0]])


def test_distortion_matches_hand_value():
    x = torch.tensor([[0.2, 0.1, 1.0]], dtype=torch.float64)
    k, p = [0.1, 0.01, 0.001], [0.002, -0.003]
    u = np.array([0.2, 0.1])
    r2 = (u**2).sum()
    radial = 1 + 0.1 * r2 + 0.01 * r2**2 + 0.001 * r2**3
    tan = 0.002 * 0.2 - 0.003 * 0.1
    expected = 100 * (u * (radial + tan) + np.array(p) * r2) + 50
    got = camera.project(x, [100.0, 100.0], [50.0, 50.0], k, p)
    assert isinstance(got, torch.Tensor)
    assert np.allclose(got.numpy()[0], expected)


def test_world_to_camera_is_rigid(gen):
    R = rotations.quaternion_to_matrix(torch.randn(6, 4, generator=gen))
    t = torch.randn(6, 3, generator=gen)
    x = torch.randn(6, 10, 17, 3, generator=gen)
    xc = camera.world_to_camera(x, R[:, None, None], t[:, None, None])
    # Rigid: distances are kept.
    assert torch.allclose((xc[..., 1, :] - xc[..., 0, :]).norm(dim=-1), (x[..., 1, :] - x[..., 0, :]).norm(dim=-1), atol=1e-5)
    assert torch.allclose(xc, (R[:, None, None] @ x[..., None])[..., 0] + t[:, None, None], atol=1e-6)


def test_screen_normalisation_round_trip_and_values():
    w, h = 1000, 1002
    px = np.array([[0.0, 0.0], [1000.0, 1002.0], [500.0, 501.0]])
    norm = camera.normalise_screen(px, w, h)
    assert np.allclose(norm, [[-1.0, -1.002], [1.0, 1.002], [0.0, 0.0]])
    # Per-frame image sizes broadcast against x[..., 0].
    many = np.random.default_rng(0).uniform(0, 2000, (3, 17, 2))
    ws, hs = np.array([[2048.0], [1920.0], [1000.0]]), np.array([[2048.0], [1080.0], [1002.0]])
    per_row = [camera.normalise_screen(many[i], ws[i, 0], hs[i, 0]) for i in range(3)]
    assert np.allclose(camera.normalise_screen(many, ws, hs), per_row)


def test_frobenius_normalisation():
    x = np.zeros((1, 3, 2))
    x[0, 1] = [3.0, 0.0]
    x[0, 2] = [0.0, 4.0]
    x += 7.0  # translation is removed by root-centring
    norm, scale = camera.frobenius_normalise(x)
    assert scale[0] == pytest.approx(5.0)
    assert np.allclose(norm[0], [[0, 0], [0.6, 0], [0, 0.8]])
    assert np.linalg.norm(norm[0]) == pytest.approx(1.0)


def test_kcs_diagonal_is_squared_bone_lengths(gen):
    joints = torch.randn(3, 17, 3, generator=gen)
    m = kcs.kcs_from_bones(skeleton.joints_to_bones(joints))
    lengths = skeleton.bone_lengths(skeleton.joints_to_bones(joints))
    assert m.shape == (3, 16, 16)
    assert torch.allclose(torch.diagonal(m, dim1=-2, dim2=-1), lengths**2, atol=1e-5)
    assert torch.allclose(m, m.transpose(-1, -2))


def test_kcs_hand_computed_2d():
    bones = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    expected = torch.tensor([[1.0, 0.0, 1.0], [0.0, 4.0, 2.0], [1.0, 2.0, 2.0]])
    assert torch.equal(kcs.kcs_from_bones(bones), expected)


def test_pad_to_square_hand_values():
    pts = np.array([[[0.0, 0.0], [540.0, 960.0], [1080.0, 1920.0]]])
    padded, w, h = camera.pad_to_square(pts, np.array([1080.0]), np.array([1920.0]))
    assert (w, h) == (1920, 1920)
    assert np.allclose(padded, [[[420.0, 0.0], [960.0, 960.0], [1500.0, 1920.0]]])
    # The image centre lands at the normalised origin.
    assert np.allclose(camera.normalise_screen(padded[0, 1], 1920, 1920), [0.0, 0.0])
    # Landscape: padding the height does not change the screen normalisation.
    land = np.array([[[100.0, 200.0]]])
    padded_norm, _ = camera.normalise_pixels(land, np.array([1920.0]), np.array([1080.0]), "screen", pad=True)
    assert np.allclose(padded_norm, camera.normalise_screen(land, 1920, 1080))


def test_normalise_pixels_torch_matches_numpy_and_has_gradients():
    rng = np.random.default_rng(0)
    px = rng.uniform(0, 1000, (4, 17, 2))
    w, h = np.array([1000.0, 1080, 1920, 1000]), np.array([1002.0, 1920, 1080, 1000])
    for mode, pad in (("screen", False), ("screen", True), ("frobenius", False)):
        ref, ref_scale = camera.normalise_pixels(px, w, h, mode, pad)
        t = torch.tensor(px, requires_grad=True)
        out, scale = camera.normalise_pixels(t, torch.tensor(w), torch.tensor(h), mode, pad)
        assert np.allclose(out.detach().numpy(), ref) and np.allclose(scale.detach().numpy(), ref_scale)
        out.sum().backward() if mode == "screen" else (out ** 2).sum().backward()
        assert t.grad is not None
    with pytest.raises(ValueError, match="normalisation"):
        camera.normalise_pixels(px, w, h, "zscore")
