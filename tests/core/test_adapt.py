import numpy as np
import pytest
import torch

from adaptpose_pipeline.core.adapt import AdaptConfig, HardRatio, _Buffer, _Source, _Target, adapt
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


def interrupt_after(epoch: int, saved: list):
    """An ``on_checkpoint`` that keeps every state in ``saved`` and stops the run after ``epoch``."""

    def on_checkpoint(state):
        saved.append(state)
        if state["epoch"] == epoch:
            raise KeyboardInterrupt

    return on_checkpoint


def test_resume_from_an_epoch_checkpoint_ends_like_an_uninterrupted_run(baseline, tmp_path):
    run = lambda **kw: adapt(  # noqa: E731
        _arrays(3, 15, 0), _arrays(2, 15, 1, with_3d=False), baseline, GeneratorConfig(frames=3, hidden=32),
        _cfg(epochs=3, warmup_epochs=1, pool_size=24), "screen", False, torch.device("cpu"), seed=2, progress=False, **kw,
    )
    full = run()
    saved = []
    with pytest.raises(KeyboardInterrupt):
        run(on_checkpoint=interrupt_after(1, saved))
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


# Tests below kill mutants that survived `make mutate` (benchmarks/results/mutation.json).


def test_bad_inputs_name_their_key_or_dataset():
    with pytest.raises(ValueError, match=r"adapt\.hard_ratio\.c_start: Input should be a valid number \(got '3'\)"):
        HardRatio(c_start="3", c_end=5.0, d=2.0, weight=0.1)
    for key in ("c_start", "c_end", "d", "weight"):  # every field strict: a string is not a number
        with pytest.raises(ValueError, match=rf"adapt\.hard_ratio\.{key}: Input should be a valid number"):
            HardRatio(**{"c_start": 3.0, "c_end": 5.0, "d": 2.0, "weight": 0.1, key: "1"})
    arrays = _arrays(2, 5, 0)
    del arrays["pose_3d"]
    with pytest.raises(KeyError, match=r"source_train: model-input arrays lack \['pose_3d'\]"):
        _Source(arrays, 3, _cfg(), torch.device("cpu"))


def test_source_batches_carry_each_sequences_lens_distortion():
    arrays = _arrays(2, 5, 0)
    src = _Source(arrays, 3, _cfg(), torch.device("cpu"))
    assert torch.equal(src.k, torch.zeros(2, 3)) and torch.equal(src.p, torch.zeros(2, 2))  # none given: no distortion
    arrays["seq_k"] = np.array([[0.1, 0.0, 0.0], [0.2, 0.0, 0.0]])  # float64 in, float32 on the device
    arrays["seq_p"] = np.array([[0.01, 0.0], [0.02, 0.0]])
    src = _Source(arrays, 3, _cfg(), torch.device("cpu"))
    batch = src.batch(8, np.random.default_rng(0))
    assert batch["k"].dtype == torch.float32 and batch["pose_2d"].dtype == torch.float32
    # each row carries its own sequence's k and p (p = k / 10 in both sequences here)
    assert set(torch.round(batch["k"][:, 0] * 10).long().tolist()) <= {1, 2}
    assert torch.allclose(batch["p"][:, 0] * 10, batch["k"][:, 0])


def test_buffer_keeps_at_most_capacity_and_draws_from_all_it_holds():
    buf = _Buffer(5)
    assert list(buf.batches(2, 3, np.random.default_rng(0))) == [(None, None), (None, None)]
    buf.add(torch.zeros(0, 2), torch.zeros(0, 3))
    assert buf.size == 0
    buf.add(torch.arange(3.0)[:, None], torch.arange(3.0)[:, None])
    buf.add(torch.arange(3.0, 7.0)[:, None], torch.arange(3.0, 7.0)[:, None])
    buf.add(torch.tensor([[9.0]]), torch.tensor([[9.0]]))  # full: ignored
    assert buf.size == 5 and torch.equal(torch.cat(buf.parts_2d)[:, 0], torch.arange(5.0))
    last = _Buffer(3)
    last.add(torch.zeros(2, 1), torch.zeros(2, 1))
    last.add(torch.ones(4, 1), torch.ones(4, 1))  # room for exactly one more
    assert last.size == 3 and torch.equal(torch.cat(last.parts_2d)[:, 0], torch.tensor([0.0, 0.0, 1.0]))
    drawn = torch.cat([x for x, _ in buf.batches(50, 8, np.random.default_rng(0))])[:, 0]
    assert set(drawn.tolist()) == {0.0, 1.0, 2.0, 3.0, 4.0}


def test_buffer_spills_to_disk_beyond_its_memory_and_draws_the_same_rows():
    g = torch.Generator().manual_seed(0)
    held, spilled = _Buffer(1000), _Buffer(1000, memory_mb=1)
    row_bytes = (27 * 17 * 2 + 17 * 3) * 4
    for _ in range(30):
        x2d, x3d = torch.randn(64, 27, 17, 2, generator=g), torch.randn(64, 17, 3, generator=g)
        held.add(x2d, x3d)
        spilled.add(x2d, x3d)
        assert spilled._held * row_bytes < 2**20  # never a whole MB of fakes in memory
    assert spilled.size == held.size == 1000 and len(spilled.chunks) >= 2 and spilled._held > 0
    files = [p for _, _, stem in spilled.chunks for p in stem.parent.glob(stem.name + "*")]
    assert files and all(f.is_file() for f in files)
    for (a2, a3), (b2, b3) in zip(held.batches(6, 200, np.random.default_rng(1)), spilled.batches(6, 200, np.random.default_rng(1))):
        assert torch.equal(a2, b2) and torch.equal(a3, b3)
    spilled.close()
    assert not any(f.exists() for f in files)


def test_spilling_buffer_leaves_a_generate_then_finetune_run_unchanged(baseline, monkeypatch):
    def run(**kw):
        return adapt(
            _arrays(4, 20, 0), _arrays(3, 20, 1, with_3d=False), baseline, GeneratorConfig(frames=3, hidden=16),
            _cfg(schedule="generate_then_finetune", batch_size=512, samples_per_epoch=4096, selection=False, warmup_epochs=0,
                 epochs=1, pool_size=512, **kw),
            "screen", False, torch.device("cpu"), seed=0, progress=False,
        )

    held = run()
    spills = []
    real = _Buffer._spill
    monkeypatch.setattr(_Buffer, "_spill", lambda self: spills.append(self.size) or real(self))
    spilled = run(buffer_memory_mb=1)  # 4096 fakes of 612 bytes: 2.4 MB, so two chunks go to disk
    assert len(spills) == 2
    assert held.history == spilled.history
    assert all(torch.equal(held.lifter[k], spilled.lifter[k]) for k in held.lifter)


def test_source_windows_use_every_stride_in_range_and_every_valid_centre():
    arrays = _arrays(1, 60, 0)
    arrays["pose_2d"][:, 0, 0] = np.arange(60)  # each frame's index, to read the windows back
    arrays["valid"][:] = False
    arrays["valid"][[0, 30]] = True
    src = _Source(arrays, 3, _cfg(stride_min=2, stride_max=4), torch.device("cpu"))
    frames = src.batch(400, np.random.default_rng(0))["pose_2d"][:, :, 0, 0]
    centre = frames[:, 1]
    assert set(centre.tolist()) == {0.0, 30.0}  # the first valid centre too
    strides = (frames[centre == 30, 2] - frames[centre == 30, 1]).long()
    assert set(strides.tolist()) == {2, 3, 4}  # stride_max included


def test_target_windows_are_float32_with_stride_one_and_name_the_dataset():
    arrays = _arrays(1, 20, 0, with_3d=False)
    arrays["pose_2d"] = arrays["pose_2d"].astype(np.float64)
    arrays["pose_2d"][:, 0, 0] = np.arange(20)
    windows = _Target(arrays, 3, torch.device("cpu")).batch(16, np.random.default_rng(0))
    arrays["valid"] = np.zeros(20, bool)
    arrays["valid"][[0, 10]] = True
    centres = _Target(arrays, 3, torch.device("cpu")).batch(64, np.random.default_rng(0))[:, 1, 0, 0]
    assert set(centres.tolist()) == {0.0, 10.0}  # the first valid centre too
    assert windows.dtype == torch.float32
    inner = windows[(windows[:, 1, 0, 0] > 0) & (windows[:, 1, 0, 0] < 19)][:, :, 0, 0]
    assert torch.equal(inner[:, 2] - inner[:, 1], torch.ones(len(inner))) and len(inner)
    del arrays["valid"]
    with pytest.raises(KeyError, match=r"target_train: model-input arrays lack \['valid'\]"):
        _Target(arrays, 3, torch.device("cpu"))


def test_shared_bone_lengths_get_their_own_learning_rate(baseline):
    from adaptpose_pipeline.core.adapt import AdaptNets

    cfg = _cfg(lr_generator=1e-3, lr_lengths=0.05, lr_discriminator=2e-4, lr_lifter=3e-4)
    nets = AdaptNets(baseline, GeneratorConfig(frames=3, hidden=16, global_length_max=0.5), cfg, torch.device("cpu"))
    rest, shared = nets.opt_g.param_groups
    assert shared["lr"] == 0.05 and len(shared["params"]) == 1 and shared["params"][0] is nets.gen.global_length
    assert rest["lr"] == 1e-3 and len(rest["params"]) == len(list(nets.gen.parameters())) - 1
    assert all(p is not nets.gen.global_length for p in rest["params"])
    assert nets.opt_d.param_groups[0]["lr"] == cfg.lr_discriminator and nets.opt_n.param_groups[0]["lr"] == cfg.lr_lifter
    # nothing to learn (both generation stages off): one placeholder parameter that trains
    off = AdaptNets(baseline, GeneratorConfig(frames=3, hidden=16, bone_generation="off", camera_generation="off"), cfg, torch.device("cpu"))
    (only,) = off.opt_g.param_groups
    assert len(only["params"]) == 1 and only["params"][0].requires_grad and nets.gen_params == list(nets.gen.parameters())
