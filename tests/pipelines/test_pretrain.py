import mlflow
import pandas as pd
import torch

TINY = "pretrain.train.epochs=2,pretrain.train.samples_per_epoch=256,pretrain.train.batch_size=64,pretrain.lifter.channels=16"


def test_pretrain_saves_a_versioned_lifter_and_logs_each_epoch(standin_project):
    p = standin_project
    p.run("--pipeline=ingest", "--params", "target=ski")
    p.run("--pipeline=pretrain", "--params", f"target=ski,{TINY}")
    (ckpt,) = p.path.glob("data/06_models/ski/lifter_baseline.pt/*/lifter_baseline.pt")
    payload = torch.load(ckpt, weights_only=True)
    # Ski's per-target override: a single-frame lifter.
    assert payload["config"]["filter_widths"] == [1, 1, 1] and payload["config"]["channels"] == 16
    assert payload["info"]["selection"] == "lowest MPJPE on the source validation split"
    (hist,) = p.path.glob("data/08_reporting/ski/pretrain_history.csv/*/pretrain_history.csv")
    history = pd.read_csv(hist)
    assert len(history) == 2 and (history["val_mpjpe_mm"] > 0).all()
    assert payload["info"]["val_mpjpe_mm"] == history["val_mpjpe_mm"].min()
    assert list(p.path.glob("data/08_reporting/ski/pretrain_curves.png/*/pretrain_curves.png"))
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{p.path / 'mlruns.db'}")
    exp = client.get_experiment_by_name("adaptpose/ski")
    (run,) = client.search_runs([exp.experiment_id], filter_string="tags.`kedro_pipeline_name` = 'pretrain'") or client.search_runs([exp.experiment_id])[:1]
    steps = client.get_metric_history(run.info.run_id, "pretrain_val_mpjpe_mm")
    assert [m.step for m in steps] == [0, 1]


def test_bad_stride_bound_is_refused_before_training(standin_project):
    out = standin_project.run("--pipeline=pretrain", "--params", f"target=ski,{TINY},pretrain.train.stride_min=0", check=False)
    assert out.returncode != 0 and "stride_min" in out.text
