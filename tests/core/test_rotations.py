import math

import pytest
import roma
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
    c = math.cos(math.pi / 4)
    q = rot.matrix_to_quaternion(R)
    assert torch.allclose(q, torch.tensor([c, 0.0, 0.0, c]))  # (w, x, y, z)


def test_known_euler_angles():
    R = rot.euler_to_matrix(torch.tensor([math.pi / 2, 0.0, 0.0]), "XYZ")
    # 90 degrees about x sends y to z.
    assert torch.allclose(R @ torch.tensor([0.0, 1.0, 0.0]), torch.tensor([0.0, 0.0, 1.0]), atol=1e-12)


def test_round_trips_on_random_batches(gen):
    R = rot.quaternion_to_matrix(torch.randn(256, 4, generator=gen))
    assert torch.allclose(R @ R.transpose(-1, -2), torch.eye(3).expand(256, 3, 3), atol=1e-10)
    assert torch.allclose(torch.linalg.det(R), torch.ones(256))
    assert torch.allclose(rot.quaternion_to_matrix(rot.matrix_to_quaternion(R)), R, atol=1e-9)
    assert (rot.matrix_to_quaternion(R)[:, 0] >= 0).all()
    for conv in ("XYZ", "ZYX", "xyz"):
        assert torch.allclose(rot.euler_to_matrix(roma.rotmat_to_euler(conv, R), conv), R, atol=1e-9)
    aa = roma.rotmat_to_rotvec(R)
    assert torch.allclose(rot.axis_angle_to_matrix(aa), R, atol=1e-9)


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
    """The generator's camera heads differentiate through each of these."""
    q = torch.randn(8, 4, generator=gen, requires_grad=True)
    angles = torch.randn(8, 3, generator=gen, requires_grad=True)
    v = torch.randn(8, 3, generator=gen, requires_grad=True)
    (rot.quaternion_to_matrix(q).sum() + rot.euler_to_matrix(angles, "ZYX").sum() + rot.rodrigues_rotate(v, v.flip(1), v[:, 0]).sum()).backward()
    for x in (q, angles, v):
        assert x.grad is not None and x.grad.abs().sum() > 0


def test_shape_errors_name_the_input():
    with pytest.raises(ValueError, match="axis-angle"):
        rot.axis_angle_to_matrix(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="rotation matrix"):
        rot.matrix_to_quaternion(torch.zeros(3, 2))
