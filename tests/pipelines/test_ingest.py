import numpy as np
import pandas as pd
import pytest

from adaptpose_pipeline.datasets.common import DATASETS


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
    assert list(gaps["dataset"]) == list(DATASETS)
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
