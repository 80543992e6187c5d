import math

import pytest
import torch

from adaptpose_pipeline.core import rotations as rot



@pytest.fixture(autouse=True)
def float64():
    """Rotation checks run in double precision; restore the default afterwards."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def test_quarter_turn_about_z_sends_x_to_y():
    R = rot.axis_angle_to_matrix(torch.tensor([0.0, 0.0, math.pi / 2]))
    assert torch.allclose(R @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]), atol=1e-12)
    q = rot.axis_angle_to_quaternion(torch.tensor([0.0, 0.0, math.pi / 2]))
    c = math.cos(math.pi / 4)
    assert torch.allclose(q, torch.tensor([c, 0.0, 0.0, c]))  # (w, x, y, z)
    assert torch.allclose(rot.quaternion_rotate(q, torch.tensor([1.0, 0, 0])), torch.tensor([0.0, 1.0, 0.0]))


def test_known_euler_angles():
    R = rot.euler_to_matrix(torch.tensor([math.pi / 2, 0.0, 0.0]), "XYZ")
    # 90 degrees about x sends y to z.
    assert torch.allclose(R @ torch.tensor([0.0, 1.0, 0.0]), torch.tensor([0.0, 0.0, 1.0]), atol=1e-12)


def test_round_trips_on_random_batches(gen):
    R = rot.random_rotation(256, generator=gen, dtype=torch.float64)
    assert torch.allclose(R @ R.transpose(-1, -2), torch.eye(3).expand(256, 3, 3), atol=1e-10)
    assert torch.allclose(torch.linalg.det(R), torch.ones(256))
    assert torch.allclose(rot.axis_angle_to_matrix(rot.matrix_to_axis_angle(R)), R, atol=1e-9)
    assert torch.allclose(rot.quaternion_to_matrix(rot.matrix_to_quaternion(R)), R, atol=1e-9)
    for conv in ("XYZ", "ZYX", "xyz"):
        assert torch.allclose(rot.euler_to_matrix(rot.matrix_to_euler(R, conv), conv), R, atol=1e-9)
    aa = rot.matrix_to_axis_angle(R)
    assert torch.allclose(rot.quaternion_to_axis_angle(rot.axis_angle_to_quaternion(aa)), aa, atol=1e-9)


def test_quaternion_rotation_matches_matrix(gen):
    q = torch.randn(64, 4, generator=gen)
    q = q / q.norm(dim=-1, keepdim=True)
    v = torch.randn(64, 3, generator=gen)
    expected = (rot.quaternion_to_matrix(q) @ v[..., None])[..., 0]
    assert torch.allclose(rot.quaternion_rotate(q, v), expected, atol=1e-10)


def test_composition_is_matrix_product(gen):
    a = torch.randn(32, 3, generator=gen)
    b = torch.randn(32, 3, generator=gen)
    composed = rot.axis_angle_to_matrix(rot.compose_axis_angle(a, b))
    expected = rot.axis_angle_to_matrix(b) @ rot.axis_angle_to_matrix(a)
    assert torch.allclose(composed, expected, atol=1e-9)
    p, q = rot.axis_angle_to_quaternion(b), rot.axis_angle_to_quaternion(a)
    assert torch.allclose(rot.quaternion_to_matrix(rot.quaternion_multiply(p, q)), expected, atol=1e-9)
    conj = rot.quaternion_to_matrix(rot.quaternion_conjugate(p))
    assert torch.allclose(conj, rot.axis_angle_to_matrix(b).transpose(-1, -2), atol=1e-9)


def test_rodrigues_against_matrix(gen):
    axis = torch.randn(50, 3, generator=gen)
    angle = torch.rand(50, generator=gen) * 2 * math.pi
    v = torch.randn(50, 3, generator=gen)
    unit = axis / axis.norm(dim=-1, keepdim=True)
    expected = (rot.axis_angle_to_matrix(unit * angle[:, None]) @ v[..., None])[..., 0]
    assert torch.allclose(rot.rodrigues_rotate(v, axis, angle), expected, atol=1e-10)
    # Rotation keeps lengths and a zero angle is the identity.
    assert torch.allclose(rot.rodrigues_rotate(v, axis, torch.zeros(50)), v)


def test_stable_and_differentiable_near_zero_angle():
    for scale in (0.0, 1e-9, 1e-4):
        aa = torch.tensor([1.0, -2.0, 0.5]) * scale
        aa.requires_grad_(True)
        R = rot.axis_angle_to_matrix(aa)
        assert torch.isfinite(R).all()
        assert torch.allclose(R, torch.eye(3), atol=1e-3)
        R[0, 1].backward()
        assert aa.grad is not None and torch.isfinite(aa.grad).all()
        # d R[0,1] / d wz = -1 at the identity (R ~ I + [w]x).
        assert aa.grad[2].item() == pytest.approx(-1.0, abs=1e-3)


def test_gradients_flow_through_conversions(gen):
    aa = torch.randn(8, 3, generator=gen, requires_grad=True)
    q = rot.axis_angle_to_quaternion(aa)
    euler = rot.matrix_to_euler(rot.quaternion_to_matrix(q), "XYZ")
    euler.sum().backward()
    assert aa.grad is not None and aa.grad.abs().sum() > 0


def test_shape_errors_name_the_input():
    with pytest.raises(ValueError, match="axis-angle"):
        rot.axis_angle_to_matrix(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="rotation matrix"):
        rot.matrix_to_quaternion(torch.zeros(3, 2))
