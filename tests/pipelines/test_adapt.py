import json
import subprocess
import sys

import mlflow
import numpy as np
import pytest
import torch

from adaptpose_pipeline.core.camera import normalise_pixels
from tests.data.make_coco_fixture import OUT as COCO_FIXTURE

PRETRAIN = "pretrain.train.epochs=1,pretrain.train.samples_per_epoch=256,pretrain.train.batch_size=64,pretrain.lifter.channels=16"
ADAPT = (
    "adapt.train.epochs=2,adapt.train.warmup_epochs=1,adapt.train.batch_size=32,adapt.train.samples_per_epoch=64,"
    "adapt.generator.hidden=32,adapt.keep_samples=40,adapt.reprojection.batch=4"
)


def _one(project, pattern):
    (path,) = project.path.glob(pattern)
    return path


def test_adapt_writes_models_motions_and_adapted_metrics(standin_project):
    p = standin_project
    p.run("--pipeline=ingest", "--params", "target=3dhp")
    p.run("--pipeline=pretrain", "--params", f"target=3dhp,{PRETRAIN}")
    p.run("--pipeline=evaluate", "--params", "target=3dhp")
    p.run("--pipeline=adapt", "--params", f"target=3dhp,{ADAPT}")
    for name in ("generator", "discriminators", "lifter_adapted"):
        payload = torch.load(_one(p, f"data/06_models/3dhp/{name}.pt/*/{name}.pt"), weights_only=True)
        assert payload
    lifter = torch.load(_one(p, "data/06_models/3dhp/lifter_adapted.pt/*/lifter_adapted.pt"), weights_only=True)
    assert lifter["info"]["adapted_to"] == "3dhp" and lifter["config"]["channels"] == 16
    motions = np.load(_one(p, "data/07_model_output/3dhp/generated_motions.npz/*/generated_motions.npz"))
    assert motions["pose_3d_cam"].shape == (40, 27, 17, 3) and motions["selected"].dtype == bool
    selected = np.load(_one(p, "data/07_model_output/3dhp/selected_motions.npz/*/selected_motions.npz"))
    assert len(selected["pose_3d_cam"]) == motions["selected"].sum()
    metrics = json.loads(_one(p, "data/08_reporting/3dhp/metrics_adapted.json/*/metrics_adapted.json").read_text())
    assert metrics["model"] == "adapted" and metrics["overall"]["mpjpe"] > 0
    control = json.loads(_one(p, "data/08_reporting/3dhp/metrics_control.json/*/metrics_control.json").read_text())
    assert control["model"] == "control"
    assert metrics["gain_vs_control"]["mpjpe"] == control["overall"]["mpjpe"] - metrics["overall"]["mpjpe"]
    assert "mpjpe_percent" in metrics["gain_vs_baseline"]
    assert isinstance(metrics["fallback"], bool) and (metrics["fallback"] or metrics["selected_epoch"] in (1,))
    lifter_control = torch.load(_one(p, "data/06_models/3dhp/lifter_control.pt/*/lifter_control.pt"), weights_only=True)
    assert set(lifter_control["info"]["scores"]) == {"source_val_mpjpe_mm", "source_val_pose_mpjpe_mm", "target_reprojection"}
    if metrics["fallback"]:
        assert all(torch.equal(lifter["state_dict"][k], lifter_control["state_dict"][k]) for k in lifter["state_dict"])
        assert "retarget" not in lifter["info"]  # the control is used as it is
    else:  # proportions: retarget (conf/base): the adapted lifter applies the estimate
        retarget = lifter["info"]["retarget"]
        assert retarget["ratios"] == pytest.approx(list(lifter["info"]["proportions"].values()), abs=1e-4)
        assert retarget["normalisation"] == "frobenius" and retarget["rescale_output"] is True
    assert list(p.path.glob("data/08_reporting/3dhp/adapt_curves.png/*/adapt_curves.png"))
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{p.path / 'mlruns.db'}")
    exp = client.get_experiment_by_name("adaptpose/3dhp")
    runs = [r for r in client.search_runs([exp.experiment_id]) if "adapt_selection_rate" in r.data.metrics]
    assert len(runs) == 1
    run = runs[0]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "adapt_g_total")] == [0, 1]
    assert run.data.metrics["mpjpe"] == metrics["overall"]["mpjpe"]
    baseline = json.loads(_one(p, "data/08_reporting/3dhp/metrics_baseline.json/*/metrics_baseline.json").read_text())
    assert run.data.metrics["baseline_mpjpe"] == baseline["overall"]["mpjpe"]  # one run: baseline vs adapted
    assert run.data.params["adapt.generator.bone_generation"] == "bg3"
    _check_registered_model(p, client, run, metrics)


# What a user does with the registered model, in a fresh process (the tracking URI from
# the environment, as `mlflow ui` users have it).
LOAD_AND_PREDICT = '''
import sys, numpy as np, mlflow
model = mlflow.pyfunc.load_model("models:/adaptpose-3dhp/latest")
np.save(sys.argv[2], model.predict(np.load(sys.argv[1])))
'''


def _check_registered_model(p, client, run, metrics):
    (version,) = client.search_model_versions("name='adaptpose-3dhp'")
    assert version.run_id == run.info.run_id
    assert float(version.tags["mpjpe"]) == pytest.approx(metrics["overall"]["mpjpe"], rel=1e-5)
    logged = {m.name for m in client.search_logged_models(experiment_ids=[run.info.experiment_id])}
    assert {"lifter_adapted"} <= logged
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "models")}
    assert {"models/generator.pt", "models/discriminators.pt"} <= artifacts
    # the served model lifts as the predict pipeline does, on the same normalised 2D
    p.run("--pipeline=predict", "--params", f"target=3dhp,predict.input={COCO_FIXTURE},predict.model=adapted")
    (npz,) = p.path.glob("data/07_model_output/3dhp/predict/poses_3d.npz/*/poses_3d.npz")
    (report,) = p.path.glob("data/08_reporting/3dhp/predict/report.json/*/report.json")
    predicted = np.load(npz)
    norm = json.loads(report.read_text())["normalisation"]
    w, h = norm["image_size"] or (1, 1)
    pose_2d, _ = normalise_pixels(predicted["keypoints_2d"], np.float32(w), np.float32(h), norm["kind"], norm["pad_to_square"])
    np.save(p.path / "x.npy", pose_2d[None].astype(np.float32))
    subprocess.run([sys.executable, "-c", LOAD_AND_PREDICT, str(p.path / "x.npy"), str(p.path / "y.npy")], env=p.env(), check=True, timeout=300)
    served = np.load(p.path / "y.npy")
    assert served.shape == (1, *predicted["pose_3d"].shape)
    np.testing.assert_allclose(served[0], predicted["pose_3d"], atol=1e-5)


def test_bad_adapt_parameter_is_refused(standin_project):
    out = standin_project.run("--pipeline=adapt", "--params", f"target=3dhp,{ADAPT},adapt.selection.b=0", check=False)
    assert out.returncode != 0 and "adapt.selection.b: Input should be greater than 0 (got 0)" in out.text


def test_select_samples_keeps_the_masked_pairs():
    from adaptpose_pipeline.pipelines.adapt.nodes import select_samples

    gen = {"selected": np.array([True, False, True]), "pose_3d": np.arange(3 * 2).reshape(3, 2), "f": np.ones((3, 2))}
    out = select_samples(gen)
    assert set(out) == {"pose_3d", "f"} and out["pose_3d"].tolist() == [[0, 1], [4, 5]]
    assert select_samples({**gen, "selected": np.zeros(3, bool)})["pose_3d"].shape == (0, 2)
