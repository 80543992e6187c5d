import numpy as np
import pytest

from adaptpose_pipeline.core.interpolation import fill_gaps


def test_gaps_are_linear_inside_and_nearest_at_the_ends():
    x = np.array([np.nan, 2.0, np.nan, np.nan, 8.0, np.nan])[:, None, None] * np.ones((1, 2, 2))
    x[:, 1] = np.arange(6)[:, None]
    valid = np.array([[0, 1], [1, 1], [0, 1], [0, 1], [1, 1], [0, 1]], dtype=bool)
    out = fill_gaps(x, valid)
    np.testing.assert_allclose(out[:, 0, 0], [2, 2, 4, 6, 8, 8])
    np.testing.assert_allclose(out[:, 1], x[:, 1])


def test_a_joint_never_valid_is_an_error():
    with pytest.raises(ValueError, match=r"joints \[1\] are valid in no frame"):
        fill_gaps(np.zeros((3, 2, 2)), np.array([[1, 0]] * 3, dtype=bool))
