import numpy as np
import pytest
from kedro.io.core import DatasetError, Version

from adaptpose_pipeline.datasets.kedro_io import NpzDataset


def test_npz_same_arrays_same_bytes_and_round_trip(tmp_path):
    data = {"pose_2d": np.arange(12, dtype=np.float32).reshape(2, 3, 2), "seq_name": np.array(["a/b", "c"])}
    paths = []
    for name in ("x", "y"):
        NpzDataset(filepath=str(tmp_path / f"{name}.npz")).save(data)
        paths.append(tmp_path / f"{name}.npz")
    assert paths[0].read_bytes() == paths[1].read_bytes()
    back = NpzDataset(filepath=str(paths[0])).load()
    assert set(back) == set(data)
    np.testing.assert_array_equal(back["pose_2d"], data["pose_2d"])
    assert back["seq_name"].tolist() == ["a/b", "c"]


def test_npz_versioned_loads_latest_and_ignores_temp_files(tmp_path):
    path = str(tmp_path / "arrays.npz")
    NpzDataset(filepath=path, version=Version(None, "2026-01-01T00.00.00.000Z")).save({"v": np.array([1])})
    NpzDataset(filepath=path, version=Version(None, "2026-01-02T00.00.00.000Z")).save({"v": np.array([2])})
    # A crash mid-save leaves only a temp file in a newer version folder: not a version.
    stray = tmp_path / "arrays.npz" / "2026-01-03T00.00.00.000Z"
    stray.mkdir()
    (stray / ".arrays.npz.abc.tmp").write_bytes(b"partial")
    assert NpzDataset(filepath=path, version=Version(None, None)).load()["v"].tolist() == [2]


def test_npz_refuses_object_arrays_and_leaves_nothing(tmp_path):
    path = tmp_path / "bad.npz"
    with pytest.raises(DatasetError, match="dtype object"):
        NpzDataset(filepath=str(path)).save({"x": np.array([{"a": 1}], dtype=object)})
    assert not path.exists() and not list(tmp_path.iterdir())


def test_npz_corrupt_file_names_the_path(tmp_path):
    path = tmp_path / "c.npz"
    path.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(DatasetError, match="c.npz"):
        NpzDataset(filepath=str(path)).load()


def test_torch_checkpoint_same_tensors_same_bytes(tmp_path):
    import torch

    from adaptpose_pipeline.datasets.kedro_io import TorchDataset

    payload = {"config": {"channels": 8}, "state_dict": {"w": torch.arange(6.0).reshape(2, 3)}}
    for name in ("a", "b"):
        TorchDataset(filepath=str(tmp_path / f"{name}.pt")).save(payload)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    back = TorchDataset(filepath=str(tmp_path / "a.pt")).load()
    assert back["config"] == {"channels": 8} and torch.equal(back["state_dict"]["w"], payload["state_dict"]["w"])
    (tmp_path / "c.pt").write_bytes((tmp_path / "a.pt").read_bytes()[:50])
    with pytest.raises(DatasetError, match="c.pt"):
        TorchDataset(filepath=str(tmp_path / "c.pt")).load()


def test_lifter_model_dataset_logs_a_signature_of_any_length_only_inside_a_tracked_run(monkeypatch, tmp_path):
    from types import SimpleNamespace

    import mlflow
    import torch

    from adaptpose_pipeline.core.lifter import LifterCheckpoint, LifterConfig, TemporalModel
    from adaptpose_pipeline.datasets.kedro_io import MlflowLifterModelDataset

    ds = MlflowLifterModelDataset(save_args={"name": "lifter_adapted"})
    with pytest.raises(DatasetError, match="lifter_adapted: expected a SequenceLifter, got dict"):
        ds.save({"state_dict": {}})
    calls = []

    def log_model(model, **kwargs):
        calls.append(kwargs)
        return SimpleNamespace(model_uri="models:/m-1", registered_model_version=None)

    monkeypatch.setattr(mlflow.pytorch, "log_model", log_model)
    cfg = LifterConfig(filter_widths=(3,), channels=8)
    model = LifterCheckpoint(cfg, TemporalModel(cfg).state_dict()).sequence_model()
    assert mlflow.active_run() is None
    ds.save(model)  # no run: nothing to log into
    assert calls == []
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns.db'}")
    try:
        with mlflow.start_run():
            ds._logging_activated = False  # what kedro-mlflow sets for an untracked pipeline
            ds.save(model)
            assert calls == []
            ds._logging_activated = True
            ds.save(model)
    finally:
        mlflow.set_tracking_uri(None)
    (kwargs,) = calls
    assert kwargs["name"] == "lifter_adapted" and kwargs["serialization_format"] == "pickle"
    assert kwargs["pip_requirements"][0] == f"torch=={torch.__version__.split('+')[0]}"
    assert kwargs["input_example"].shape == (1, 3, 17, 2)
    assert [spec.shape for spec in kwargs["signature"].inputs.inputs] == [(-1, -1, 17, 2)]
    assert [spec.shape for spec in kwargs["signature"].outputs.inputs] == [(-1, -1, 17, 3)]


def test_versioned_artifact_dataset_saves_the_runs_version_and_logs_it(tmp_path):
    import mlflow

    from adaptpose_pipeline.datasets.kedro_io import MlflowVersionedArtifactDataset

    inner = {"type": "adaptpose_pipeline.datasets.kedro_io.NpzDataset", "filepath": str(tmp_path / "a.npz")}
    with pytest.raises(DatasetError, match="put 'versioned: true' on the entry itself"):
        MlflowVersionedArtifactDataset(dataset={**inner, "versioned": True})
    ds = MlflowVersionedArtifactDataset(dataset=inner, artifact_path="reporting/a", version=Version(None, "2026-01-01T00.00.00.000Z"))
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns.db'}")
    try:
        with mlflow.start_run() as run:
            ds.save({"x": np.arange(3)})
        client = mlflow.MlflowClient()
        assert [a.path for a in client.list_artifacts(run.info.run_id, "reporting/a")] == ["reporting/a/a.npz"]
    finally:
        mlflow.set_tracking_uri(None)
    assert (tmp_path / "a.npz" / "2026-01-01T00.00.00.000Z" / "a.npz").is_file()  # the run's save version, not its own
    np.testing.assert_array_equal(ds.load()["x"], np.arange(3))
