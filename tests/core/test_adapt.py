import numpy as np
import pytest
import torch

from adaptpose_pipeline.core.adapt import AdaptConfig, HardRatio, adapt
from adaptpose_pipeline.core.generator import GeneratorConfig
from adaptpose_pipeline.core.lifter import LifterCheckpoint, LifterConfig, TemporalModel


def _arrays(n_seq, T, seed, with_3d=True):
    rng = np.random.default_rng(seed)
    N = n_seq * T
    pose_3d = rng.normal(0, 0.15, (N, 17, 3)).astype(np.float32)
    pose_3d[:, 0] = 0
    root = np.tile(np.array([0.0, 0.0, 5.0], np.float32), (N, 1))
    px = (pose_3d[..., :2] + root[:, None, :2]) / (pose_3d[..., 2:] + 5.0) * 1000 + 500
    out = {
        "pose_2d": (px / 1000 * 2 - 1).astype(np.float32),
        "valid": np.ones(N, bool),
        "seq_start": np.arange(0, N, T, dtype=np.int64),
        "seq_length": np.full(n_seq, T, np.int64),
    }
    if with_3d:
        out.update(
            pose_3d=pose_3d, root_3d=root,
            seq_f=np.full((n_seq, 2), 1000, np.float32), seq_c=np.full((n_seq, 2), 500, np.float32),
            seq_image_size=np.full((n_seq, 2), 1000, np.int64),
        )
    return out


@pytest.fixture
def baseline():
    torch.manual_seed(0)
    cfg = LifterConfig(filter_widths=(3,), channels=16, dropout=0.0)
    return LifterCheckpoint(cfg, TemporalModel(cfg).state_dict())


def _cfg(**kw):
    base = dict(epochs=2, warmup_epochs=1, batch_size=16, samples_per_epoch=32, pool_size=64, proj_batch=4, keep_samples=20)
    return AdaptConfig(**{**base, **kw})


def test_adapt_runs_and_moves_the_lifter_only_after_warmup(baseline):
    history = []
    res = adapt(
        _arrays(4, 20, 0), _arrays(3, 20, 1, with_3d=False), baseline, GeneratorConfig(frames=3, hidden=32),
        _cfg(), "screen", False, torch.device("cpu"), seed=0, on_epoch=lambda e, r: history.append(r), progress=False,
    )
    assert len(res.history) == 2 and history == res.history
    first, second = res.history
    assert "lifter" not in first and "lifter" in second  # warm-up epoch: the lifter does not move
    for rec in res.history:
        assert all(np.isfinite(v) for v in rec.values())
        assert 0.0 <= rec["selection_rate"] <= 1.0
    assert any(not torch.equal(res.lifter[k], baseline.state_dict[k]) for k in res.lifter)
    s = res.samples
    assert s["pose_3d_cam"].shape == (20, 3, 17, 3) and s["pose_2d"].shape == (20, 3, 17, 2)
    assert s["selected"].dtype == bool and (s["pose_3d_cam"][..., 2] > 0).all()


def test_same_seed_same_result_other_seed_other(baseline):
    run = lambda seed: adapt(  # noqa: E731
        _arrays(3, 15, 0), _arrays(2, 15, 1, with_3d=False), baseline, GeneratorConfig(frames=3, hidden=32),
        _cfg(epochs=1, warmup_epochs=0), "screen", False, torch.device("cpu"), seed=seed, progress=False,
    )
    a, b, c = run(1), run(1), run(2)
    assert all(torch.equal(a.lifter[k], b.lifter[k]) for k in a.lifter)
    assert all(torch.equal(a.generator[k], b.generator[k]) for k in a.generator)
    assert any(not torch.equal(a.generator[k], c.generator[k]) for k in a.generator)


def test_single_frame_frobenius_and_ablation_switches(baseline):
    cfg = LifterConfig(filter_widths=(1,), channels=16, dropout=0.0)
    one_frame = LifterCheckpoint(cfg, TemporalModel(cfg).state_dict())
    for bones, camera in (("off", "off"), ("bg1", "det_axis_angle"), ("bg2", "prob_euler")):
        res = adapt(
            _arrays(3, 10, 0), _arrays(2, 10, 1, with_3d=False), one_frame,
            GeneratorConfig(frames=1, hidden=32, bone_generation=bones, camera_generation=camera),
            _cfg(epochs=1, warmup_epochs=0, selection=False, domain_discriminator=False, kcs_2d=False),
            "frobenius", False, torch.device("cpu"), seed=0, progress=False,
        )
        assert res.history[0]["selection_rate"] == 1.0  # selection off keeps every sample


def test_config_errors_name_keys():
    with pytest.raises(ValueError, match="warmup_epochs"):
        AdaptConfig(epochs=2, warmup_epochs=2)
    with pytest.raises(ValueError, match="selection_b"):
        AdaptConfig(selection_b=0.0)
    with pytest.raises(ValueError, match="frames 27 differ"):
        adapt(_arrays(2, 5, 0), _arrays(2, 5, 0, False), LifterCheckpoint(LifterConfig(filter_widths=(3,), channels=8), {}),
              GeneratorConfig(frames=27), _cfg(), "screen", False, torch.device("cpu"), 0, progress=False)
    assert HardRatio(3.0, 5.0, 2.0, 0.1).c(0, 5) == 3.0 and HardRatio(3.0, 5.0, 2.0, 0.1).c(4, 5) == 5.0


def test_resume_from_an_epoch_checkpoint_ends_like_an_uninterrupted_run(baseline, tmp_path):
    run = lambda **kw: adapt(  # noqa: E731
        _arrays(3, 15, 0), _arrays(2, 15, 1, with_3d=False), baseline, GeneratorConfig(frames=3, hidden=32),
        _cfg(epochs=3, warmup_epochs=1, pool_size=24), "screen", False, torch.device("cpu"), seed=2, progress=False, **kw,
    )
    full = run()
    saved = []

    def interrupt(state):
        saved.append(state)
        if state["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(on_checkpoint=interrupt)
    torch.save(saved[-1], tmp_path / "adapt.pt")
    resumed = run(resume=torch.load(tmp_path / "adapt.pt", weights_only=True))
    assert resumed.history == full.history
    for a, b in ((resumed.lifter, full.lifter), (resumed.generator, full.generator), (resumed.discriminators["d2d"], full.discriminators["d2d"])):
        assert all(torch.equal(a[k], b[k]) for k in b)
    assert all(np.array_equal(resumed.samples[k], full.samples[k]) for k in full.samples)
    # a checkpoint of the finished run gives the same result again, samples included
    done = []
    run(on_checkpoint=done.append)
    again = run(resume=done[-1])
    assert all(np.array_equal(again.samples[k], full.samples[k]) for k in full.samples)
    assert all(torch.equal(again.lifter[k], full.lifter[k]) for k in full.lifter)
