import json

import mlflow
import numpy as np
import pytest
import torch
from kedro.io.core import Version

from adaptpose_pipeline.core.lifter import LifterCheckpoint, LifterConfig, TemporalModel
from adaptpose_pipeline.core.runtime import resolve_device
from adaptpose_pipeline.core.training import predict_sequences
from adaptpose_pipeline.datasets.kedro_io import NpzDataset, TorchDataset
from adaptpose_pipeline.pipelines.evaluate import evaluation_nodes
from adaptpose_pipeline.pipelines.evaluate.nodes import mlflow_metrics
from adaptpose_pipeline.evaluation.metrics_file import evaluate_predictions, validate_metrics

VERSION = "2026-01-01T00.00.00.000Z"
OVERALL = ("mpjpe", "p_mpjpe", "n_mpjpe", "pck150", "auc")


def _latest(project, pattern):
    found = sorted(project.path.glob(pattern))
    assert found, f"nothing matches {pattern}"
    return found[-1]


def tiny_lifter() -> dict:
    """A 3-frame lifter with random weights: evaluation needs weights, not good ones."""
    torch.manual_seed(0)
    cfg = LifterConfig(filter_widths=(3,), channels=16)
    return LifterCheckpoint(cfg, TemporalModel(cfg).state_dict(), {"selection": "none (test)"}).to_payload()


def tiny_target_test() -> dict:
    """Two 3DHP-like test sequences (40 and 25 rows) with some invalid frames."""
    rng = np.random.default_rng(0)
    lengths = np.array([40, 25])
    n = int(lengths.sum())
    pose_3d = rng.normal(scale=0.3, size=(n, 17, 3)).astype(np.float32)
    valid = np.ones(n, bool)
    valid[[0, 7, 8, 45]] = False
    return {
        "pose_2d": rng.uniform(-0.8, 0.8, size=(n, 17, 2)).astype(np.float32),
        "pose_3d": pose_3d - pose_3d[:, :1],
        "valid": valid,
        "frame": np.concatenate([np.arange(k) for k in lengths]),
        "seq_start": np.array([0, 40]),
        "seq_length": lengths,
        "seq_name": np.array(["3dhp/TS1/TS1/cam0", "3dhp/TS5/TS5/cam0"]),
        "coordinates": np.array(["univ_annot3"]),
    }


def seed_inputs(project, lifter: dict, arrays: dict) -> None:
    """What pretrain and ingest would have written for target 3dhp."""
    TorchDataset(filepath=str(project.path / "data/06_models/3dhp/lifter_baseline.pt"), version=Version(None, VERSION)).save(lifter)
    NpzDataset(filepath=str(project.path / "data/05_model_input/3dhp/target_test.npz"), version=Version(None, VERSION)).save(arrays)


def test_mlflow_metric_names_per_model():
    metrics = {"overall": dict.fromkeys(OVERALL, 0.5)}
    assert mlflow_metrics(metrics, "baseline") == {f"baseline_{k}": {"value": 0.5, "step": 0} for k in OVERALL}
    assert set(mlflow_metrics(metrics, "adapted")) == set(OVERALL)


def test_evaluation_nodes_for_the_adapted_lifter():
    pipe = evaluation_nodes("adapted")
    assert pipe.inputs() == {"lifter_adapted", "target_test_arrays", "params:device", "params:evaluate", "params:target", "params:ingest"}
    assert pipe.all_outputs() == {"predictions_adapted", "metrics_adapted", "eval_per_joint_adapted", "eval_per_joint_interactive_adapted", "eval_pck_adapted", "eval_skeletons_adapted", "eval_mlflow_metrics_adapted"}
    assert {n.name for n in pipe.nodes} == {
        f"{step}_adapted" for step in ("lift_target_test", "compute_metrics", "plot_per_joint", "plot_per_joint_interactive", "plot_pck", "plot_skeletons", "log_metrics")
    }
    with pytest.raises(ValueError, match="model must be one of"):
        evaluation_nodes("finetuned")


def test_evaluate_writes_metrics_plots_and_mlflow_metrics(project):
    lifter, arrays = tiny_lifter(), tiny_target_test()
    seed_inputs(project, lifter, arrays)
    project.run("--pipeline=evaluate", "--params", "target=3dhp")

    metrics = json.loads(_latest(project, "data/08_reporting/3dhp/metrics_baseline.json/*/metrics_baseline.json").read_text())
    validate_metrics(metrics)
    assert (metrics["target"], metrics["model"], metrics["source"]) == ("3dhp", "baseline", "h36m")
    assert metrics["protocol"]["frames"] == int(arrays["valid"].sum()) == 61
    assert (metrics["protocol"]["joint_set"], metrics["protocol"]["coordinates"]) == ("h36m17", "univ_annot3")
    assert set(metrics["per_sequence"]) == set(arrays["seq_name"])
    # The same lifter and arrays, scored in this process, give the same numbers.
    pred = predict_sequences(LifterCheckpoint.from_payload(lifter).model("cpu"), arrays, resolve_device("cpu"))
    assert metrics["overall"] == pytest.approx(evaluate_predictions(pred, arrays)["overall"], rel=1e-5)
    for plot in ("per_joint", "pck", "skeletons"):
        assert _latest(project, f"data/08_reporting/3dhp/{plot}_baseline.png/*/{plot}_baseline.png").stat().st_size > 5_000

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project.path / 'mlruns.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("adaptpose/3dhp").experiment_id])
    logged = run.data.metrics
    assert {f"baseline_{k}" for k in OVERALL} <= set(logged)
    assert logged["baseline_mpjpe"] == pytest.approx(metrics["overall"]["mpjpe"])
    assert logged["baseline_auc"] == pytest.approx(metrics["overall"]["auc"])
    params = run.data.params
    assert (params["protocol.joint_set"], params["protocol.coordinates"], params["protocol.frames"]) == ("h36m17", "univ_annot3", "61")
    assert params["protocol.averaging"] == "per frame, over valid frames"


def test_bad_evaluate_parameter_fails_naming_it_before_anything_is_written(project):
    seed_inputs(project, tiny_lifter(), tiny_target_test())
    out = project.run("--pipeline=evaluate", "--params", "target=3dhp,evaluate.pck_threshold_mm=-5", check=False)
    assert out.returncode != 0
    assert "evaluate.pck_threshold_mm: Input should be greater than 0 (got -5)" in out.text
    assert not project.files("data/08_reporting")


@pytest.mark.slow
def test_evaluate_on_ingested_stand_ins_with_16_joints(standin_project):
    standin_project.run("--pipeline=ingest", "--params", "target=3dhp")
    test_arrays = NpzDataset(filepath=str(standin_project.path / "data/05_model_input/3dhp/target_test.npz"), version=Version(None, None)).load()
    TorchDataset(filepath=str(standin_project.path / "data/06_models/3dhp/lifter_baseline.pt"), version=Version(None, VERSION)).save(tiny_lifter())
    standin_project.run("--pipeline=evaluate", "--params", "target=3dhp,evaluate.joint_set=h36m16")
    metrics = json.loads(_latest(standin_project, "data/08_reporting/3dhp/metrics_baseline.json/*/metrics_baseline.json").read_text())
    validate_metrics(metrics)
    assert metrics["protocol"]["joints"] == 16 and "neck" not in metrics["per_joint"]
    assert metrics["protocol"]["frames"] == int(test_arrays["valid"].sum()) < len(test_arrays["valid"])
    assert set(metrics["per_sequence"]) <= set(test_arrays["seq_name"]) and len(metrics["per_sequence"]) > 1
