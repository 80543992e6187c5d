import random

import numpy as np
import pytest
import torch

from adaptpose_pipeline.core import runtime


def test_same_seed_same_draws():
    draws = []
    for _ in range(2):
        runtime.seed_everything(123)
        draws.append((random.random(), np.random.rand(), torch.rand(1).item()))
    assert draws[0] == draws[1]
    runtime.seed_everything(124)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) != draws[0]


def test_device_resolution():
    assert runtime.resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert runtime.resolve_device("auto").type == expected
    with pytest.raises(ValueError, match="device"):
        runtime.resolve_device("tpu")
    with pytest.raises(ValueError, match="seed"):
        runtime.seed_everything(-1)


@pytest.mark.cuda
def test_cuda_resolves():
    assert runtime.resolve_device("cuda").type == "cuda"
