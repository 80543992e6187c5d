"""``torchrun`` over a Kedro run: two processes train one lifter, rank 0 alone writes."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

TORCHRUN = Path(sys.executable).parent / "torchrun"
TINY = "pretrain.train.epochs=2,pretrain.train.samples_per_epoch=512,pretrain.lifter.channels=32"


@pytest.mark.slow
def test_torchrun_two_processes_pretrain_and_only_rank_0_writes(standin_project):
    p = standin_project
    p.run("--pipeline=ingest", "--params", "target=ski")
    before = set(p.files("data"))
    env = {**p.env(), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [str(TORCHRUN), "--nproc_per_node=2", "-m", "adaptpose_pipeline", "--pipeline=pretrain", "--params", f"target=ski,{TINY}"],
        cwd=p.path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = " ".join((out.stdout + out.stderr).split())
    assert text.count("pretraining a 1-frame lifter") == 2  # both ranks train
    new = sorted(str(f.relative_to(p.path)) for f in set(p.files("data")) - before)
    assert len([f for f in new if f.startswith("data/06_models/ski/lifter_baseline.pt/")]) == 1, new
    manifests = [f for f in new if f.startswith("data/08_reporting/manifests/")]
    assert len(manifests) == 1, new
    assert json.loads((p.path / manifests[0]).read_text())["pipeline"] == ["pretrain"]
    runs = subprocess.run(
        [sys.executable, "-c", "import mlflow; print(len(mlflow.search_runs(search_all_experiments=True, "
         "filter_string=\"tags.mlflow.runName = 'pretrain ski seed0'\")))"],
        env=p.env(), capture_output=True, text=True, check=True,
    )
    assert runs.stdout.strip() == "1"
    # the epoch checkpoint (rank 0's, with both ranks' random states) resumes with 2 processes
    import torch

    state = torch.load(p.path / "data/06_models/checkpoints/ski/pretrain.pt", weights_only=True)["state"]
    assert state["epoch"] == 1 and len(state["ranks"]) == 2
