import numpy as np
import pandas as pd
import pytest

from adaptpose_pipeline.core.camera import normalise_screen
from adaptpose_pipeline.datasets import model_input, tables
from adaptpose_pipeline.datasets.common import DataError, PoseSequence


def _seq(name, T, w=1000, h=1000, root_relative=False, seed=0):
    rng = np.random.default_rng(seed)
    x3d = rng.normal(0, 0.3, (T, 17, 3))
    x3d[..., 2] += 5.0
    return PoseSequence(
        dataset="3dpw", subject=f"{name}_p0", sequence=name, camera="handheld", split="test", fps=30.0,
        image_size=(w, h), f=np.array([1000.0, 1000.0]), c=np.array([w / 2, h / 2]),
        joints_2d=rng.uniform(0, min(w, h), (T, 17, 2)), joints_3d_cam=x3d, valid=np.arange(T) % 5 != 0,
        root_relative=root_relative,
    ).validate("test")


def test_table_round_trip_and_model_input():
    seqs = [_seq("b", 7, seed=1), _seq("a", 5, 1080, 1920, seed=2)]
    df = tables.sequences_to_table(seqs)
    assert len(df) == 12 and list(df.columns) == tables.COLUMNS
    arrays = model_input.build_arrays(df, "screen", True, "t")
    # Sequences sorted by id: "a" (portrait, padded) first.
    assert list(arrays["seq_name"]) == ["3dpw/a_p0/a/handheld", "3dpw/b_p0/b/handheld"]
    assert arrays["seq_start"].tolist() == [0, 5] and arrays["seq_length"].tolist() == [5, 7]
    a = seqs[1]
    expected = normalise_screen(a.joints_2d + np.array([420.0, 0.0]), 1920, 1920)
    assert np.allclose(arrays["pose_2d"][:5], expected, atol=1e-5)
    assert np.allclose(arrays["pose_3d"][:5], a.joints_3d_cam - a.joints_3d_cam[:, :1], atol=1e-6)
    assert np.allclose(arrays["pose_3d"][:, 0], 0.0)
    assert np.allclose(arrays["root_3d"][:5], a.joints_3d_cam[:, 0], atol=1e-6)
    assert arrays["valid"].tolist() == a.valid.tolist() + seqs[0].valid.tolist()
    assert arrays["seq_image_size"].tolist() == [[1080, 1920], [1000, 1000]]


def test_frobenius_model_input_has_unit_norm_and_zero_root():
    df = tables.sequences_to_table([_seq("a", 6, root_relative=True)])
    arrays = model_input.build_arrays(df, "frobenius", False, "t")
    assert np.allclose(np.linalg.norm(arrays["pose_2d"].reshape(6, -1), axis=1), 1.0, atol=1e-6)
    assert np.allclose(arrays["pose_2d"][:, 0], 0.0)
    assert np.allclose(arrays["root_3d"], 0.0)


def test_select_and_errors():
    df = tables.sequences_to_table([_seq("Walking 1", 3), _seq("Sitting", 4)])
    assert len(tables.select(df, {"dataset": "3dpw", "exclude_actions": ["Walking"]}, "x")) == 4
    assert len(tables.select(df, {"dataset": "3dpw", "actions": ["Walking"]}, "x")) == 3
    with pytest.raises(DataError, match="role: no frames match"):
        tables.select(df, {"dataset": "ski"}, "role")
    with pytest.raises(ValueError, match="unknown keys \\['subject'\\]"):
        tables.select(df, {"dataset": "3dpw", "subject": ["x"]}, "role")
    with pytest.raises(ValueError, match="normalisation"):
        model_input.build_arrays(df, "zscore", False, "t")
    with pytest.raises(DataError, match="t: expected columns"):
        model_input.build_arrays(pd.DataFrame({"x": [1]}), "screen", False, "t")
    with pytest.raises(DataError, match="at least one sequence"):
        tables.sequences_to_table([])
