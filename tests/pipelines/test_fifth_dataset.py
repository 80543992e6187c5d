"""A fifth dataset registered at run time goes through stand-in -> ingest -> pretrain ->
evaluate, with no file of the package edited: one registry entry (reader, folder,
splits, 3D field), a stand-in maker and writer, and its parameters (docs/extending.md)."""

import json
import subprocess
import sys
from pathlib import Path

import yaml

TOY = Path(__file__).with_name("toy_dataset.py")
TINY = "pretrain.train.epochs=2,pretrain.train.samples_per_epoch=256,pretrain.train.batch_size=64,pretrain.lifter.channels=16"
PARAMETERS = {
    "standin": {
        "toy": {
            "subjects": {"train": ["s0", "s1", "s2"], "test": ["t0", "t1"]},
            "seconds": 4.0,
            "body": {"height_scale": [0.95, 1.05], "bone_jitter": 0.02},
            "camera": {"height": [1.4, 1.7], "distance": [4.0, 5.0], "focal": [1100, 1150]},
        }
    },
    "ingest": {
        "targets": {
            "toy": {
                "source_train": {"dataset": "toy", "splits": ["train"], "subjects": ["s0", "s1"]},
                "source_validation": {"dataset": "toy", "splits": ["train"], "subjects": ["s2"]},
                "target_train": {"dataset": "toy", "splits": ["test"], "subjects": ["t0"]},
                "target_test": {"dataset": "toy", "splits": ["test"], "subjects": ["t1"]},
                "normalisation": "frobenius",
            }
        }
    },
}


def _run(project, *args: str) -> None:
    out = subprocess.run(
        [sys.executable, str(TOY), "run", *args], cwd=project.path, env=project.env(), capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, f"run {' '.join(args)} failed:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}"


def test_a_dataset_registered_at_run_time_is_ingested_trained_on_and_evaluated(project):
    (project.path / "conf" / "local" / "parameters.yml").write_text(yaml.safe_dump(PARAMETERS))
    _run(project, "--pipelines=standin", "--nodes=generate_standin_toy")
    assert (project.path / "data/01_raw/toy/train.npz").is_file()
    assert not (project.path / "data/01_raw/h36m").exists()  # only the toy's node ran

    _run(project, "--pipelines=ingest,pretrain,evaluate", "--params", f"target=toy,{TINY}")
    (path,) = project.path.glob("data/08_reporting/toy/metrics_baseline.json/*/metrics_baseline.json")
    metrics = json.loads(path.read_text())
    assert metrics["target"] == "toy" and metrics["protocol"]["coordinates"] == "joints_3d"
    assert 0 < metrics["overall"]["mpjpe"] < 1000
    (manifest,) = [json.loads(p.read_text()) for p in project.path.glob("data/08_reporting/manifests/*.json") if "metrics_baseline" in p.read_text()]
    assert manifest["data_kind"]["toy"] == "standin" and manifest["data_kind"]["h36m"] == "missing"
