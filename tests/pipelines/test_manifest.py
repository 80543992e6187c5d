import hashlib
import json
import os
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, Version
from kedro_datasets.pandas import CSVDataset

from adaptpose_pipeline import manifest, repro
from adaptpose_pipeline.datasets.kedro_io import NativeDataset, NpzDataset
from adaptpose_pipeline.hooks import ManifestHook

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _sha256(path: Path) -> str:
    """The manifest's hash, computed independently: a file's bytes, or for a folder the
    sorted (relative name, SHA-256 of the bytes) of every file, through symbolic links."""
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    files = []
    for folder, _, names in os.walk(path, followlinks=True):
        files += [Path(folder, n) for n in names if Path(folder, n).is_file()]
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.relative_to(path).parts):
        h.update(str(f.relative_to(path)).encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def test_hashes_cover_contents_not_names_or_times(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"xyz")
    b.write_bytes(b"xyz")
    assert manifest.hash_path(a) == manifest.hash_path(b)
    b.write_bytes(b"xyw")
    assert manifest.hash_path(a) != manifest.hash_path(b)
    for name in ("one", "two"):
        (tmp_path / name / "sub").mkdir(parents=True)
        (tmp_path / name / "sub" / "f.txt").write_text("same")
    assert manifest.hash_path(tmp_path / "one") == manifest.hash_path(tmp_path / "two")
    (tmp_path / "two" / "extra.txt").write_text("")
    assert manifest.hash_path(tmp_path / "one") != manifest.hash_path(tmp_path / "two")
    assert manifest.hash_path(tmp_path / "missing") is None


def test_compare_names_the_differing_and_missing_artifacts(tmp_path):
    assert manifest.compare_outputs({"x": "1", "y": "2"}, {"x": "1", "y": "2"}) == []
    assert manifest.compare_outputs({"x": "1", "y": "2"}, {"x": "1", "y": "3", "z": "4"}) == ["y", "z"]
    for i, outputs in enumerate(({"x": "1", "y": "2"}, {"y": "5"})):
        (tmp_path / f"2026-01-0{i + 1}.json").write_text(json.dumps({"outputs": outputs}))
    assert manifest.merged_outputs(tmp_path) == {"x": "1", "y": "5"}


def test_pipeline_runs_write_manifests(standin_project):
    (first,) = sorted((standin_project.path / "data/08_reporting/manifests").glob("*.json"))
    m = json.loads(first.read_text())
    assert m["pipeline"] == ["standin"] and m["seed"] == 0 and m["target"] == "3dhp"
    assert {"standin_h36m", "standin_3dhp", "standin_3dpw", "standin_ski", "standin_gaps_table"} <= set(m["outputs"])
    assert m["data_kind"] == {"h36m": "standin", "3dhp": "standin", "3dpw": "standin", "ski": "standin"}
    assert all(len(h) == 64 for h in m["outputs"].values())
    # Each stand-in folder's recorded hash is the one an independent pass gives.
    folders = sorted(f for f in (standin_project.path / "data/01_raw").iterdir() if f.is_dir())
    assert len(folders) == 4
    for folder in folders:
        assert _sha256(folder) in m["outputs"].values() and _sha256(folder) != EMPTY_SHA256, folder.name
    (gaps,) = (standin_project.path / "data/08_reporting/standin/domain_gaps.csv").glob("*/domain_gaps.csv")
    assert m["outputs"]["standin_gaps_table"] == _sha256(gaps)
    assert "torch" in m["packages"] and "commit" in m["git"]
    # the run's reports (figures, tables) are artifacts of its MLflow run too
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{standin_project.path / 'mlruns.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    logged = {a.path for r in runs for a in client.list_artifacts(r.info.run_id, "reporting/standin_gaps_plot")}
    assert logged == {"reporting/standin_gaps_plot/domain_gaps.png"}


@pytest.mark.slow
def test_repro_check_passes_for_one_seed_and_fails_for_two(capsys):
    assert repro.main([]) == 0
    assert repro.main(["--seed-b", "1"]) == 1
    assert "DIFFERS  lifter_adapted" in capsys.readouterr().out


def test_cuda_mode_compares_metrics_within_a_tolerance():
    a = {"metrics_adapted": {"mpjpe": 80.0, "pck150": 0.900}, "metrics_baseline": {"mpjpe": 90.0}}
    b = {"metrics_adapted": {"mpjpe": 80.3, "pck150": 0.9004}, "metrics_baseline": {"mpjpe": 90.6}}
    assert repro.metrics_beyond(a, a, 0.5) == []
    assert repro.metrics_beyond(a, b, 0.5) == ["metrics_baseline:mpjpe"]
    assert repro.metrics_beyond(a, b, 0.2) == ["metrics_adapted:mpjpe", "metrics_adapted:pck150", "metrics_baseline:mpjpe"]
    assert repro.metrics_beyond(a, {"metrics_adapted": a["metrics_adapted"]}, 0.5) == ["metrics_baseline:mpjpe"]


def test_folder_hash_follows_symbolic_links(tmp_path):
    real = tmp_path / "elsewhere" / "ski"
    (real / "train" / "deep").mkdir(parents=True)
    (real / "train" / "labels.h5").write_bytes(b"train rows")
    (real / "train" / "deep" / "x.bin").write_bytes(b"x")
    (real / "test.h5").write_bytes(b"test rows")
    linked = tmp_path / "raw"
    linked.mkdir()
    (linked / "train").symlink_to(real / "train", target_is_directory=True)
    (linked / "test.h5").symlink_to(real / "test.h5")
    copy = tmp_path / "copy"
    (copy / "train" / "deep").mkdir(parents=True)
    for rel in ("train/labels.h5", "train/deep/x.bin", "test.h5"):
        (copy / rel).write_bytes((real / rel).read_bytes())
    assert manifest.hash_path(linked) == manifest.hash_path(copy) == _sha256(copy) != EMPTY_SHA256
    # A link back up the tree is not followed round and round.
    (real / "train" / "up").symlink_to(linked, target_is_directory=True)
    assert manifest.hash_path(linked) == manifest.hash_path(copy)


def test_manifest_hook_records_the_hashes_of_what_was_read_and_written(tmp_path):
    """The hook's inputs and outputs against an independent hashlib pass over the files,
    with a raw root whose contents sit behind a symbolic link."""
    real = tmp_path / "mnt" / "ski_data"
    (real / "train").mkdir(parents=True)
    (real / "train" / "labels.h5").write_bytes(b"\x89HDF rows")
    raw = tmp_path / "data" / "01_raw" / "ski"
    raw.mkdir(parents=True)
    (raw / "train").symlink_to(real / "train", target_is_directory=True)
    arrays = NpzDataset(filepath=str(tmp_path / "data/05_model_input/ski/arrays.npz"), version=Version(None, "2026-01-01T00.00.00.000Z"))
    arrays.save({"pose_2d": np.arange(6, dtype=np.float32).reshape(3, 2)})
    table = CSVDataset(filepath=str(tmp_path / "data/02_intermediate/ski/table.csv"))
    table.save(pd.DataFrame({"a": [1, 2]}))
    catalog = DataCatalog(datasets={"raw_ski": NativeDataset(path=str(raw), dataset="ski"), "arrays": arrays, "table": table})

    hook = ManifestHook()
    hook.after_context_created(SimpleNamespace(params={"seed": 0, "device": "cpu", "target": "ski"}, project_path=tmp_path))
    for name in ("raw_ski", "params:ingest", "table"):
        hook.after_dataset_loaded(name, None, None)
    for name in ("arrays", "table"):
        hook.after_dataset_saved(name, None, None)
    hook.after_pipeline_run({"run_id": "run1", "pipeline_names": ["ingest"]}, None, None, catalog)

    m = json.loads((tmp_path / "data/08_reporting/manifests/run1.json").read_text())
    assert m["inputs"] == {"raw_ski": _sha256(real)}  # loaded and saved: an output only
    assert m["inputs"]["raw_ski"] != EMPTY_SHA256
    (npz,) = (tmp_path / "data/05_model_input/ski/arrays.npz").glob("*/arrays.npz")
    assert m["outputs"] == {"arrays": _sha256(npz), "table": _sha256(tmp_path / "data/02_intermediate/ski/table.csv")}
    assert m["seed"] == 0 and m["target"] == "ski" and m["pipeline"] == ["ingest"]
