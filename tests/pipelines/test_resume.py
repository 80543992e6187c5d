"""Interrupted runs: a killed run leaves no artifact a later load picks up, and
``checkpoints.resume=true`` finishes it with the same bytes as an uninterrupted run."""

import inspect
import io
import signal
import time

import pytest
import torch
import yaml

from adaptpose_pipeline.core.lifter import LifterCheckpoint, LifterConfig, TemporalModel
from adaptpose_pipeline.pipelines.adapt import nodes as adapt_nodes
from adaptpose_pipeline.pipelines.config import deep_merge, resolve_block
from tests.core.test_adapt import _arrays as _model_input
from tests.paths import ROOT

SLOW_PRETRAIN = (
    "pretrain.train.epochs=8,pretrain.train.samples_per_epoch=6144,pretrain.train.batch_size=256,"
    "pretrain.lifter.channels=64"
)


def _kill_after_first_checkpoint(project, ckpt, *args):
    """Start ``kedro run *args`` and SIGKILL it as soon as its epoch checkpoint exists."""
    proc = project.start(*args)
    deadline = time.time() + 300
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed: make its epochs longer"


def _versions(project, pattern):
    return sorted(project.path.glob(pattern))


def test_killed_pretrain_leaves_nothing_and_resumes_to_identical_weights(standin_project):
    p = standin_project
    p.run("--pipeline=ingest", "--params", "target=ski")
    ckpt = p.path / "data/06_models/checkpoints/ski/pretrain.pt"
    _kill_after_first_checkpoint(p, ckpt, "--pipeline=pretrain", "--params", f"target=ski,{SLOW_PRETRAIN}")
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



# ----------------------------------------------------------------------------- adapt

SLOW_ADAPT = (
    "adapt.train.epochs=4,adapt.train.warmup_epochs=1,adapt.train.batch_size=64,adapt.train.samples_per_epoch=1024,"
    "adapt.generator.hidden=32,adapt.keep_samples=40,adapt.reprojection.batch=4"
)
ADAPT_ARTIFACTS = (
    "06_models/ski/generator.pt/*/generator.pt",
    "06_models/ski/discriminators.pt/*/discriminators.pt",
    "06_models/ski/lifter_adapted.pt/*/lifter_adapted.pt",
    "07_model_output/ski/generated_motions.npz/*/generated_motions.npz",
    "07_model_output/ski/selected_motions.npz/*/selected_motions.npz",
    "08_reporting/ski/adapt_history.csv/*/adapt_history.csv",
    "08_reporting/ski/metrics_adapted.json/*/metrics_adapted.json",
)


@pytest.mark.slow
@pytest.mark.timeout(1500)  # six kedro runs, three of them adaptation
def test_killed_adapt_leaves_nothing_and_resumes_to_identical_artifacts(standin_project):
    p = standin_project
    p.run("--pipeline=ingest", "--params", "target=ski")
    p.run("--pipeline=pretrain", "--params", "target=ski,pretrain.train.epochs=1,pretrain.train.samples_per_epoch=256,"
          "pretrain.train.batch_size=64,pretrain.lifter.channels=16")
    p.run("--pipeline=evaluate", "--params", "target=ski")
    ckpt = p.path / "data/06_models/checkpoints/ski/adapt.pt"
    _kill_after_first_checkpoint(p, ckpt, "--pipeline=adapt", "--params", f"target=ski,{SLOW_ADAPT}")
    assert torch.load(ckpt, weights_only=True)["state"]["epoch"] < 3
    for name in ADAPT_ARTIFACTS:
        assert not _versions(p, f"data/{name}"), name

    out = p.run("--pipeline=adapt", "--params", f"target=ski,{SLOW_ADAPT},checkpoints.resume=true")
    assert "resuming from" in out.text
    p.run("--pipeline=adapt", "--params", f"target=ski,{SLOW_ADAPT}")  # uninterrupted
    for name in ADAPT_ARTIFACTS:
        resumed, fresh = _versions(p, f"data/{name}")
        assert resumed.read_bytes() == fresh.read_bytes(), name

    out = p.run("--pipeline=adapt", "--params", f"target=ski,{SLOW_ADAPT},seed=3,checkpoints.resume=true", check=False)
    # the control (checkpointed too) runs first, so its checkpoint is the one refused
    assert out.returncode != 0 and "control.pt" in out.text and "other parameters, seed, input data" in out.text, out.text[-3000:]


def _conf(name, target="ski"):
    """A parameter block as nodes receive it: resolved for ``target``."""
    return resolve_block(yaml.safe_load((ROOT / "conf/base" / f"parameters_{name}.yml").read_text())[name], target, name=name)


def _as_bytes(outputs) -> bytes:
    """What the catalog would write, as bytes: torch.save of every node output."""
    generator, discriminators, lifter, samples, history = outputs
    buf = io.BytesIO()
    torch.save({"g": generator, "d": discriminators, "l": lifter, "s": samples, "h": history.to_dict("list")}, buf)
    return buf.getvalue()


class _Killed(Exception):
    pass


@pytest.fixture
def one_thread():
    """Tiny networks run ~20x faster on one thread when the 2 cores are busy elsewhere."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_adapt_node_interrupted_then_resumed_gives_the_same_bytes(tmp_path, monkeypatch, one_thread):
    """In process and fast: the adapt node stopped after an epoch's checkpoint, then run
    again with checkpoints.resume, returns what an uninterrupted run returns."""
    torch.manual_seed(0)
    lifter_cfg = LifterConfig(filter_widths=(1,), channels=16, dropout=0.0)
    baseline = LifterCheckpoint(lifter_cfg, TemporalModel(lifter_cfg).state_dict(), {"target": "ski"}).to_payload()
    conf = _conf("adapt")
    adapt_params = deep_merge(conf, {
        "train": {"epochs": 2, "warmup_epochs": 1, "batch_size": 16, "samples_per_epoch": 16, "pool_size": 24},
        "generator": {"hidden": 16, "blocks": 1}, "keep_samples": 8, "reprojection": {"batch": 4},
        **({"guard": {"enabled": False}} if "guard" in conf else {}),  # resume, not epoch choice, is tested here
    })
    source, target = _model_input(3, 15, 0), _model_input(2, 15, 1, with_3d=False)

    inputs = {
        "source_train": source, "target_train": target, "lifter_baseline": baseline, "adapt_params": adapt_params,
        "ingest": _conf("ingest"), "target": "ski", "seed": 2, "device": "cpu",
        # Inputs of the guard (adapt.guard, off here): named only if the node takes them.
        "source_validation": source, "lifter_control": baseline,
    }
    accepted = inspect.signature(adapt_nodes.adapt_lifter).parameters

    def run(folder, resume):
        ckpt = {"dir": str(tmp_path / folder), "resume": resume}
        return adapt_nodes.adapt_lifter(**{k: v for k, v in inputs.items() if k in accepted}, checkpoints=ckpt)

    fresh = _as_bytes(run("fresh", False))

    real_log_epoch = adapt_nodes._log_epoch

    def kill_during_epoch_1(epoch, record):
        if epoch == 1:
            raise _Killed
        real_log_epoch(epoch, record)

    monkeypatch.setattr(adapt_nodes, "_log_epoch", kill_during_epoch_1)
    with pytest.raises(_Killed):
        run("killed", False)
    monkeypatch.setattr(adapt_nodes, "_log_epoch", real_log_epoch)
    saved = torch.load(tmp_path / "killed/ski/adapt.pt", weights_only=True)
    assert saved["state"]["epoch"] == 0  # the warm-up epoch; the lifter moves from epoch 1 on

    resumed_from = []
    real_adapt = adapt_nodes.adapt

    def spy(*args, resume=None, **kw):
        resumed_from.append(None if resume is None else resume["epoch"])
        return real_adapt(*args, resume=resume, **kw)

    monkeypatch.setattr(adapt_nodes, "adapt", spy)
    assert _as_bytes(run("killed", True)) == fresh
    assert resumed_from == [0]  # it did continue after epoch 0, not start afresh
