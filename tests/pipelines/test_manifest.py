import hashlib
import json
import os
import time
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, Version
from kedro_datasets.pandas import CSVDataset

from adaptpose_pipeline import manifest, repro
from adaptpose_pipeline.datasets.kedro_io import STANDIN_MARKER, NativeDataset, NativeSource, NpzDataset
from adaptpose_pipeline.standin.makers import make_recordings
from adaptpose_pipeline.hooks import ManifestHook
from tests.paths import ROOT

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
STANDIN_SPEC = yaml.safe_load((ROOT / "conf/base/parameters_standin.yml").read_text())["standin"]
SPARSE_BYTES = 2 * 2**30


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


def _sha256_of(root: Path, names: list[str]) -> str:
    """Independently: the folder hash of ``root`` as if it held only ``names``."""
    h = hashlib.sha256()
    for name in sorted(names, key=lambda n: Path(n).parts):
        h.update(name.encode())
        h.update(hashlib.sha256((root / name).read_bytes()).digest())
    return h.hexdigest()


def _standin(dataset: str, path: Path) -> Path:
    NativeDataset(path=str(path), dataset=dataset).save(make_recordings(dataset, STANDIN_SPEC[dataset], 0.05, seed=0))
    return path


def _sparse(path: Path) -> Path:
    """A 2 GB file that takes no disk space (reading it would take seconds)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.truncate(SPARSE_BYTES)
    return path


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


def test_manifest_hook_records_the_hashes_of_what_was_read_and_written(tmp_path, monkeypatch):
    """The hook's inputs and outputs against an independent hashlib pass over the files:
    a native folder (its contents behind symbolic links) counts only the files its
    reader read, never the 2 GB crop beside them; a folder loaded but not read has no
    input hash."""
    real = _standin("ski", tmp_path / "mnt" / "ski_data")
    big = _sparse(real / "train" / "crops" / "S1_cam0_000001.png")
    raw = tmp_path / "data" / "01_raw" / "ski"
    raw.mkdir(parents=True)
    for split in ("train", "test"):
        (raw / split).symlink_to(real / split, target_is_directory=True)
    unread = _standin("3dpw", tmp_path / "data" / "01_raw" / "3dpw")
    arrays = NpzDataset(filepath=str(tmp_path / "data/05_model_input/ski/arrays.npz"), version=Version(None, "2026-01-01T00.00.00.000Z"))
    arrays.save({"pose_2d": np.arange(6, dtype=np.float32).reshape(3, 2)})
    table = CSVDataset(filepath=str(tmp_path / "data/02_intermediate/ski/table.csv"))
    table.save(pd.DataFrame({"a": [1, 2]}))
    catalog = DataCatalog(datasets={
        "raw_ski": NativeDataset(path=str(raw), dataset="ski"),
        "raw_3dpw": NativeDataset(path=str(unread), dataset="3dpw"),
        "arrays": arrays,
        "table": table,
    })
    hashed = []
    hash_file = manifest.hash_file
    monkeypatch.setattr(manifest, "hash_file", lambda path: hashed.append(Path(path)) or hash_file(path))

    hook = ManifestHook()
    hook.after_context_created(SimpleNamespace(params={"seed": 0, "device": "cpu", "target": "ski"}, project_path=tmp_path))
    source = catalog.load("raw_ski")
    hook.after_dataset_loaded("raw_ski", source, None)
    assert len(source.read()) > 0  # what the ingest node does with it
    hook.after_dataset_loaded("raw_3dpw", catalog.load("raw_3dpw"), None)
    for name in ("params:ingest", "table"):
        hook.after_dataset_loaded(name, None, None)
    for name in ("arrays", "table"):
        hook.after_dataset_saved(name, None, None)
    start = time.perf_counter()
    hook.after_pipeline_run({"run_id": "run1", "pipeline_names": ["ingest"]}, None, None, catalog)
    assert time.perf_counter() - start < 5  # hashing 2 GB would take longer (git status is in here too)

    assert big not in hashed and all(p.name != big.name for p in hashed)
    m = json.loads((tmp_path / "data/08_reporting/manifests/run1.json").read_text())
    labels = ["test/labels.h5", "train/labels.h5"]
    assert m["input_files"] == {
        "raw_ski": {name: hashlib.sha256((real / name).read_bytes()).hexdigest() for name in labels},
        "raw_3dpw": {},
    }
    assert m["inputs"] == {"raw_ski": _sha256_of(real, labels)}  # table: loaded and saved, an output only
    assert m["input_files_from_cache"] == []
    (npz,) = (tmp_path / "data/05_model_input/ski/arrays.npz").glob("*/arrays.npz")
    assert m["outputs"] == {"arrays": _sha256(npz), "table": _sha256(tmp_path / "data/02_intermediate/ski/table.csv")}
    assert m["seed"] == 0 and m["target"] == "ski" and m["pipeline"] == ["ingest"]


@pytest.mark.parametrize("dataset", ["h36m", "3dhp", "3dpw", "ski"])
def test_readers_report_the_files_they_read_and_nothing_else(dataset, tmp_path, monkeypatch):
    """Every file a reader needs is reported (the stand-in writer writes exactly those),
    and a 2 GB video, notes and images beside them are neither reported nor opened."""
    root = _standin(dataset, tmp_path / dataset)
    needed = sorted(str(f.relative_to(root)) for f in root.rglob("*") if f.is_file() and f.name != STANDIN_MARKER)
    big = _sparse(root / "videos" / "cam0.avi")
    (root / "imageFiles").mkdir()
    (root / "imageFiles" / "image_00000.jpg").write_bytes(b"\xff\xd8 jpeg")
    (root / "README.txt").write_text("notes")
    opened_by_python = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda f, *a, **k: opened_by_python.append(str(f)) or real_open(f, *a, **k))
    source = NativeSource(root, dataset, {})
    source.read()
    assert sorted(str(f.relative_to(root)) for f in source.opened) == needed
    assert str(big) not in opened_by_python
    hashes = manifest.hash_files(root, source.opened)
    assert hashes == {name: hashlib.sha256((root / name).read_bytes()).hexdigest() for name in needed}
    assert manifest.combine(hashes) == _sha256_of(root, needed)


@pytest.mark.parametrize("size", [0, 1, 6, 7, 8, 50])
def test_chunked_hash_equals_hashlib_of_the_whole_file(size, tmp_path, monkeypatch):
    monkeypatch.setattr(manifest, "CHUNK_BYTES", 7)  # many chunks, a short last one
    path = tmp_path / "f.bin"
    path.write_bytes(np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes())
    assert manifest.hash_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_large_file_is_hashed_in_blocks_of_constant_size(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(3 * manifest.CHUNK_BYTES + 5))
    sizes = []
    sha256 = hashlib.sha256

    class Spy:
        def __init__(self):
            self.h = sha256()

        def update(self, data):
            sizes.append(len(data))
            self.h.update(data)

        def hexdigest(self):
            return self.h.hexdigest()

    monkeypatch.setattr(manifest.hashlib, "sha256", Spy)
    digest = manifest.hash_file(path)
    monkeypatch.undo()
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sizes == [manifest.CHUNK_BYTES] * 3 + [5]


def test_hash_cache_reuses_a_large_unchanged_file_and_rehashes_a_changed_one(tmp_path, monkeypatch):
    monkeypatch.setattr(manifest, "FAST_PATH_MIN_BYTES", 4)
    big, small = tmp_path / "big.bin", tmp_path / "small.bin"
    big.write_bytes(b"0123456789")
    small.write_bytes(b"abc")
    cache_file = tmp_path / "data" / ".file_hashes.json"
    hashed = []
    hash_file = manifest.hash_file
    monkeypatch.setattr(manifest, "hash_file", lambda path: hashed.append(Path(path).name) or hash_file(path))

    monkeypatch.setattr(manifest, "RECENT_NS", 0)
    cache = manifest.HashCache(cache_file)
    cache.hash(big), cache.hash(small)
    cache.save()
    again = manifest.HashCache(cache_file)
    assert again.hash(big) == hashlib.sha256(b"0123456789").hexdigest() and again.hits == [big]
    assert again.hash(small) == hashlib.sha256(b"abc").hexdigest() and again.hits == [big]  # small: always hashed
    assert hashed == ["big.bin", "small.bin", "small.bin"]

    # Same size, content changed, mtime put back: the ctime differs, so it is hashed anew.
    st = big.stat()
    time.sleep(0.05)  # past the file clock's tick
    big.write_bytes(b"9876543210")
    os.utime(big, ns=(st.st_atime_ns, st.st_mtime_ns))
    third = manifest.HashCache(cache_file)
    assert third.hash(big) == hashlib.sha256(b"9876543210").hexdigest() and third.hits == []


def test_hash_cache_does_not_keep_a_file_changed_just_now(tmp_path, monkeypatch):
    monkeypatch.setattr(manifest, "FAST_PATH_MIN_BYTES", 4)
    big = tmp_path / "big.bin"
    big.write_bytes(b"0123456789")
    cache = manifest.HashCache(tmp_path / "cache.json")
    cache.hash(big)
    cache.save()
    assert not (tmp_path / "cache.json").exists()
    assert manifest.HashCache(tmp_path / "cache.json").hash(big) == hashlib.sha256(b"0123456789").hexdigest()


def test_a_dataset_without_a_local_file_has_no_path(tmp_path):
    # a model logged to MLflow has an empty file path: hashing it would hash the whole
    # current folder (slow, and different on every run)
    from adaptpose_pipeline.datasets.kedro_io import MlflowLifterModelDataset, NpzDataset

    assert manifest.dataset_path(MlflowLifterModelDataset(save_args={"name": "lifter_adapted"})) is None
    assert manifest.dataset_path(NpzDataset(filepath=str(tmp_path / "a.npz"))) == tmp_path / "a.npz"
