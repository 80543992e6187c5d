"""Interrupted runs: a killed run leaves no artifact a later load picks up, and
``checkpoints.resume=true`` finishes it with the same bytes as an uninterrupted run."""

import signal
import time

SLOW_PRETRAIN = (
    "pretrain.train.epochs=8,pretrain.train.samples_per_epoch=6144,pretrain.train.batch_size=256,"
    "pretrain.lifter.channels=64"
)


def _versions(project, pattern):
    return sorted(project.path.glob(pattern))


def test_killed_pretrain_leaves_nothing_and_resumes_to_identical_weights(standin_project):
    p = standin_project
    p.run("--pipeline=ingest", "--params", "target=ski")
    ckpt = p.path / "data/06_models/checkpoints/ski/pretrain.pt"
    proc = p.start("--pipeline=pretrain", "--params", f"target=ski,{SLOW_PRETRAIN}")
    deadline = time.time() + 300
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed: make its epochs longer"
    assert ckpt.exists()
    # Killed mid-training: no weights, history or plot version a load would pick up.
    for name in ("06_models/ski/lifter_baseline.pt/*/lifter_baseline.pt", "08_reporting/ski/pretrain_history.csv/*/*.csv"):
        assert not _versions(p, f"data/{name}")

    out = p.run("--pipeline=pretrain", "--params", f"target=ski,{SLOW_PRETRAIN},checkpoints.resume=true")
    assert "resuming from" in out.text
    p.run("--pipeline=pretrain", "--params", f"target=ski,{SLOW_PRETRAIN}")  # uninterrupted
    resumed, fresh = _versions(p, "data/06_models/ski/lifter_baseline.pt/*/lifter_baseline.pt")
    assert resumed.read_bytes() == fresh.read_bytes()
    h_resumed, h_fresh = _versions(p, "data/08_reporting/ski/pretrain_history.csv/*/pretrain_history.csv")
    assert h_resumed.read_text() == h_fresh.read_text()

    # A checkpoint of other settings is refused, naming the file, before anything is saved.
    out = p.run("--pipeline=pretrain", "--params", f"target=ski,{SLOW_PRETRAIN},seed=3,checkpoints.resume=true", check=False)
    assert out.returncode != 0 and "pretrain.pt" in out.text and "other parameters, seed, input data" in out.text
    assert len(_versions(p, "data/06_models/ski/lifter_baseline.pt/*/lifter_baseline.pt")) == 2

