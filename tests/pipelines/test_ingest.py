import numpy as np
import pandas as pd
import pytest
import yaml

from adaptpose_pipeline.datasets import registry
from adaptpose_pipeline.datasets.common import DataError
from adaptpose_pipeline.datasets.kedro_io import STANDIN_MARKER, NativeSource
from adaptpose_pipeline.pipelines.ingest.nodes import (
    ROLES,
    build_model_input,
    read_common_form,
    split_by_role,
    warn_standin_at_real_path,
)
from adaptpose_pipeline.standin.makers import make_recordings
from adaptpose_pipeline.standin.mpi_inf_3dhp import write_3dhp_test
from tests.paths import ROOT


def _latest(project, pattern):
    found = sorted(project.path.glob(pattern))
    assert found, f"nothing matches {pattern}"
    return found[-1]


def test_standin_writes_native_layouts_and_gap_report(standin_project):
    raw = standin_project.path / "data/01_raw"
    assert (raw / "h36m/data_3d_h36m.npz").is_file() and (raw / "h36m/h36m_cameras.json").is_file()
    assert (raw / "mpi_inf_3dhp/S1/Seq1/annot.mat").is_file() and (raw / "mpi_inf_3dhp/S8/Seq2/camera.calibration").is_file()
    assert (raw / "mpi_inf_3dhp/mpi_inf_3dhp_test_set/TS6/annot_data.mat").is_file()
    assert list((raw / "3dpw/sequenceFiles/validation").glob("*.pkl"))
    assert (raw / "ski/train/labels.h5").is_file() and (raw / "ski/test/labels.h5").is_file()
    gaps = pd.read_csv(_latest(standin_project, "data/08_reporting/standin/domain_gaps.csv/*/domain_gaps.csv"))
    assert list(gaps["dataset"]) == list(registry.names())
    by = gaps.set_index("dataset")
    assert by.loc["ski", "cam_distance_m_mean"] > 3 * by.loc["h36m", "cam_distance_m_mean"]
    assert by.loc["h36m", "fps_mean"] == 50 and by.loc["3dpw", "fps_mean"] == 30
    assert _latest(standin_project, "data/08_reporting/standin/domain_gaps.png/*/domain_gaps.png").stat().st_size > 10_000


@pytest.mark.parametrize("target", ["3dhp", "ski"])
def test_ingest_writes_versioned_tables_and_model_inputs(standin_project, target):
    standin_project.run("--pipeline=ingest", "--params", f"target={target}")
    poses = pd.read_parquet(_latest(standin_project, f"data/02_intermediate/{target}/poses.parquet/*/poses.parquet"))
    assert set(poses["dataset"]) == {"h36m", target}
    test = np.load(_latest(standin_project, f"data/05_model_input/{target}/target_test.npz/*/target_test.npz"))
    src = np.load(_latest(standin_project, f"data/05_model_input/{target}/source_train.npz/*/source_train.npz"))
    assert src["pose_2d"].shape[1:] == (17, 2) and np.allclose(src["pose_3d"][:, 0], 0)
    assert set(n.split("/")[1] for n in src["seq_name"]) == {"S1", "S5", "S6", "S7", "S8"}
    assert test["seq_length"].sum() == len(test["pose_2d"]) == len(test["valid"])
    if target == "ski":  # Frobenius-normalised for source and target alike
        for arrays in (src, test):
            assert np.allclose(np.linalg.norm(arrays["pose_2d"].reshape(len(arrays["pose_2d"]), -1), axis=1), 1, atol=1e-5)
    else:
        assert 0 < test["valid"].mean() < 1  # 3DHP test has invalid frames
        assert np.abs(test["pose_2d"]).max() <= 1.0


def test_unknown_target_fails_before_anything_is_written(project):
    out = project.run("--pipeline=ingest", "--params", "target=mars", check=False)
    assert out.returncode != 0
    assert "target: unknown target 'mars'" in out.text
    assert not project.files("data")


def test_missing_raw_folder_names_it(project):
    out = project.run("--pipeline=ingest", "--params", "target=3dpw", check=False)
    assert out.returncode != 0
    assert "data/01_raw/3dpw, which does not exist" in out.text
    assert not project.files("data")


@pytest.mark.slow
@pytest.mark.parametrize("target", ["h36m", "3dpw"])
def test_ingest_other_targets(standin_project, target):
    standin_project.run("--pipeline=ingest", "--params", f"target={target}")
    assert _latest(standin_project, f"data/05_model_input/{target}/target_train.npz/*/target_train.npz").is_file()


def _standin_root(tmp_path, dataset, change, split=None):
    """A small stand-in of ``dataset`` written by the project's own generator and writer."""
    spec = yaml.safe_load((ROOT / "conf/base/parameters_standin.yml").read_text())["standin"][dataset]
    change(spec)
    recordings = [r for r in make_recordings(dataset, spec, 0.2, 0) if split is None or r.split == split]
    root = tmp_path / dataset
    registry.get(dataset).standin.write(root, recordings)
    return NativeSource(root, dataset, {})


def test_3dhp_test_only_root_with_test_sequence_subsets(tmp_path):
    """The published 3DHP test set alone: adapt on TS1-3, evaluate on TS4-6 (the stricter protocol)."""
    h36m = _standin_root(tmp_path, "h36m", lambda s: s.update(subjects=["S1", "S9"], actions={"Walking": "walk"}))
    hp = _standin_root(tmp_path, "3dhp", lambda s: s["train"].update(subjects=["S1"], sequences=["Seq1"]), split="test")
    assert not list(hp.path.glob("S*")) and (hp.path / "mpi_inf_3dhp_test_set/TS6").is_dir()
    roles = {
        "source_train": {"dataset": "h36m", "subjects": ["S1"]},
        "source_validation": {"dataset": "h36m", "subjects": ["S9"]},
        "target_train": {"dataset": "3dhp", "splits": ["test"], "sequences": ["TS1", "TS2", "TS3"]},
        "target_test": {"dataset": "3dhp", "splits": ["test"], "sequences": ["TS4", "TS5", "TS6"]},
    }
    ingest = {**roles, "normalisation": "frobenius"}  # the block resolved for 3dhp (pipelines.config)
    poses = read_common_form(ingest, "3dhp", raw_h36m=h36m, raw_3dhp=hp)
    frames = dict(zip(ROLES, split_by_role(poses, ingest, "3dhp")))
    assert sorted(frames["target_train"]["sequence"].unique()) == ["TS1", "TS2", "TS3"]
    assert sorted(frames["target_test"]["sequence"].unique()) == ["TS4", "TS5", "TS6"]
    arrays = build_model_input(frames["target_test"], ingest, "3dhp", "target_test")
    assert sorted({n.split("/")[2] for n in arrays["seq_name"]}) == ["TS4", "TS5", "TS6"]

    roles = ingest
    roles["target_test"]["sequences"] = ["TS4", "TS9"]
    with pytest.raises(DataError, match=r"ingest\.targets\.3dhp\.target_test\.sequences: .* found unknown \['TS9'\]"):
        split_by_role(poses, ingest, "3dhp")
    roles["target_test"]["sequences"] = ["TS4"]
    roles["target_train"] = {"dataset": "3dhp", "splits": ["train"]}
    with pytest.raises(DataError, match=r"ingest\.targets\.3dhp\.target_train: no frames match"):
        split_by_role(poses, ingest, "3dhp")


def test_warns_when_a_set_path_holds_stand_in_data(tmp_path, caplog):
    """A real path that points at stand-in data (a copy, or the stand-in folder by another
    name) is named in a warning; the stand-in folder itself and real data are not."""
    standin = tmp_path / "data/01_raw/ski"
    copied = tmp_path / "datasets/ski"
    real = tmp_path / "real/ski"
    for folder in (standin, copied, real):
        folder.mkdir(parents=True)
    for folder in (standin, copied):
        (folder / STANDIN_MARKER).write_text("{}")
    default = NativeSource(standin, "ski", {})
    with caplog.at_level("WARNING"):
        warn_standin_at_real_path(NativeSource(standin, "ski", {}), default)
        warn_standin_at_real_path(NativeSource(real, "ski", {}), default)
        assert not caplog.records
        warn_standin_at_real_path(NativeSource(copied, "ski", {}), default)
    (record,) = caplog.records
    assert str(copied) in record.getMessage() and "paths.ski" in record.getMessage()
    assert "stand-in" in record.getMessage()


@pytest.mark.slow
def test_standin_never_writes_a_configured_path_and_runs_record_the_data_kind(project):
    """With paths.ski set to a folder that is not there (a typo, a disk not mounted), the
    stand-in goes to data/01_raw/ski only; the run records each dataset's kind."""
    import json

    import mlflow

    real = project.path / "not_mounted" / "ski"
    (project.path / "conf/local/globals.yml").write_text(f"paths:\n  ski: {real}\n")
    project.run("--pipeline=standin", "--nodes=generate_standin_ski", "--params", "standin.scale=0.1")
    assert not (project.path / "not_mounted").exists()
    assert (project.path / "data/01_raw/ski" / STANDIN_MARKER).is_file()
    (manifest,) = (project.path / "data/08_reporting/manifests").glob("*.json")
    assert json.loads(manifest.read_text())["data_kind"] == {"h36m": "missing", "3dhp": "missing", "3dpw": "missing", "ski": "missing"}

    (project.path / "conf/local/globals.yml").write_text("paths: {}\n")
    project.run("--pipeline=standin", "--nodes=generate_standin_ski", "--params", "standin.scale=0.1")
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project.path / 'mlruns.db'}")
    experiment = client.get_experiment_by_name("adaptpose/tools").experiment_id  # standin is a tool run
    (run, _) = client.search_runs([experiment], order_by=["attributes.start_time DESC"])
    assert run.data.tags["data_kind.ski"] == "standin" and run.data.tags["data_kind.h36m"] == "missing"


def test_3dhp_coordinates_are_a_parameter_recorded_in_the_model_inputs(tmp_path):
    """ingest.targets.3dhp.coordinates picks annot3 or univ_annot3 (here written 0.9 times
    the size about the pelvis); the arrays record which."""
    h36m = _standin_root(tmp_path, "h36m", lambda s: s.update(subjects=["S1", "S9"], actions={"Walking": "walk"}))
    spec = yaml.safe_load((ROOT / "conf/base/parameters_standin.yml").read_text())["standin"]["3dhp"]
    recordings = [r for r in make_recordings("3dhp", spec, 0.2, 0) if r.split == "test"]
    write_3dhp_test(tmp_path / "3dhp", recordings, universal_scale=0.9)
    hp = NativeSource(tmp_path / "3dhp", "3dhp", {})
    cfg = {
        "source_train": {"dataset": "h36m", "subjects": ["S1"]},
        "source_validation": {"dataset": "h36m", "subjects": ["S9"]},
        "target_train": {"dataset": "3dhp", "splits": ["test"], "sequences": ["TS1"]},
        "target_test": {"dataset": "3dhp", "splits": ["test"], "sequences": ["TS4"]},
        "normalisation": "frobenius",
    }
    arrays = {}
    for coordinates in ("annot3", "univ_annot3"):
        ingest = {**cfg, "coordinates": coordinates}
        frames = dict(zip(ROLES, split_by_role(read_common_form(ingest, "3dhp", raw_h36m=h36m, raw_3dhp=hp), ingest, "3dhp")))
        arrays[coordinates] = build_model_input(frames["target_test"], ingest, "3dhp", "target_test")
        assert arrays[coordinates]["coordinates"].tolist() == [coordinates]
        assert build_model_input(frames["source_train"], ingest, "3dhp", "source_train")["coordinates"].tolist() == ["positions_3d"]
    assert np.allclose(arrays["univ_annot3"]["pose_3d"], 0.9 * arrays["annot3"]["pose_3d"], atol=1e-5)
    assert np.array_equal(arrays["univ_annot3"]["pose_2d"], arrays["annot3"]["pose_2d"])  # 2D stays annot2


@pytest.mark.parametrize(
    "target, change, message",
    [
        ("3dhp", {"coordinates": "univ"}, r"ingest\.targets\.3dhp\.coordinates: Input should be 'annot3' or 'univ_annot3'"),
        ("ski", {"coordinates": "univ_annot3"}, r"ingest\.targets\.ski\.coordinates: only 3dhp has a choice"),
    ],
)
def test_bad_coordinates_are_named(target, change, message):
    from adaptpose_pipeline.pipelines.ingest.nodes import target_config

    ingest = yaml.safe_load((ROOT / "conf/base/parameters_ingest.yml").read_text())["ingest"]["targets"][target]
    ingest.update(change)
    with pytest.raises(ValueError, match=message):
        target_config(ingest, target)
