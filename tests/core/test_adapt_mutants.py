"""Tests written against the survivors of ``make mutate`` on ``core/adapt.py`` that were
real test gaps (benchmarks/results/mutation.json): measures by hand, the generator
loss as the weighted sum of its logged terms, windows longer than 3 frames, padding,
the selection bound, what the proportion estimate receives, resume with a scorer,
checkpoint and sample keys (and checkpoints that stay snapshots), the epoch bookkeeping."""

import math
import re

import numpy as np
import pytest
import torch

from adaptpose_pipeline.core import adapt as A
from adaptpose_pipeline.core import losses as L
from adaptpose_pipeline.core import proportions as P
from adaptpose_pipeline.core.adapt import HardRatio, adapt
from adaptpose_pipeline.core.generator import GeneratorConfig
from adaptpose_pipeline.core.lifter import LifterCheckpoint, LifterConfig, TemporalModel
from adaptpose_pipeline.core.training import predict_sequences
from tests.core.test_adapt import _arrays, interrupt_after
from tests.core.test_adapt_wiring import _cfg, _run, _same, _target
from tests.core.test_adapt_wiring import baseline  # noqa: F401  (the fixture, shared)

CPU = torch.device("cpu")


def _baseline5():
    torch.manual_seed(0)
    cfg = LifterConfig(filter_widths=(5,), channels=16, dropout=0.0)
    return LifterCheckpoint(cfg, TemporalModel(cfg).state_dict())


def _static(frames=3):
    return GeneratorConfig(frames=frames, hidden=16, bone_generation="off", camera_generation="off")


# ---- measures by hand ---------------------------------------------------------------


def test_frechet_distance_by_hand():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 3)) * [1.0, 2.0, 0.5]
    assert A.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    shift = np.array([0.3, -1.0, 2.0])
    assert A.frechet_distance(a, a + shift) == pytest.approx((shift**2).sum(), rel=1e-9)
    # independent coordinates: |mu_a - mu_b|^2 + sum (sd_a - sd_b)^2 of the sample statistics
    a = np.stack([rng.normal(0, 1, 4000), rng.normal(0, 3, 4000)], 1)
    b = np.stack([rng.normal(1, 2, 4000), rng.normal(0, 1, 4000)], 1)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w = np.linalg.eigvalsh(A._psd_sqrt(sa) @ sb @ A._psd_sqrt(sa))
    expected = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(sa) + np.trace(sb) - 2 * np.sqrt(w).sum()
    assert A.frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    diag = ((a.mean(0) - b.mean(0)) ** 2).sum() + ((np.sqrt(np.diag(sa)) - np.sqrt(np.diag(sb))) ** 2).sum()
    assert A.frechet_distance(a, b) == pytest.approx(diag, rel=0.02)  # off-diagonals are small
    assert A.frechet_distance(a, b) == pytest.approx(A.frechet_distance(b, a), rel=1e-6)


def test_psd_sqrt_squares_back_and_clips_negative_eigenvalues():
    rng = np.random.default_rng(1)
    m = rng.normal(size=(4, 4))
    s = m @ m.T
    r = A._psd_sqrt(s)
    np.testing.assert_allclose(r @ r, s, atol=1e-10)
    np.testing.assert_allclose(A._psd_sqrt(np.diag([4.0, -1e-12, 9.0])), np.diag([2.0, 0.0, 3.0]), atol=1e-9)


@pytest.mark.parametrize("deg", [-30.0, 0.0, 20.0, 45.0])
def test_elevation_from_pose_recovers_known_camera_pitch(deg):
    e = math.radians(deg)
    pose = torch.zeros(2, 17, 3)
    up = torch.tensor([0.0, -math.cos(e), -math.sin(e)])  # world up seen by a camera pitched down by e
    pose[:, 0] = torch.tensor([0.1, 0.2, 5.0])
    pose[:, 8] = pose[:, 0] + 0.5 * up  # thorax above the hip, 0.5 m
    got = A.elevation_from_pose(pose)
    assert got.shape == (2,)
    torch.testing.assert_close(got, torch.full((2,), deg), atol=1e-4, rtol=0)


# ---- the generator step -------------------------------------------------------------


def test_generator_loss_is_the_weighted_sum_of_its_logged_terms(baseline):
    w = dict(w_adv_2d=1.3, w_adv_3d=0.7, w_proj=0.9, w_range=2.0, w_lambda=1.7, w_match=0.5)
    res = _run(baseline, _cfg(epochs=1, warmup_epochs=0, samples_per_epoch=8, lambda_limit=0.0, **w))
    h = res.history[0]
    for key in ("g_adv_2d", "g_adv_3d", "g_proj", "g_range", "g_lambda", "g_match", "g_hard_ratio"):
        assert h[key] > 0, key  # every term is live (lambda_limit 0: any |lambda| is penalised)
    expected = (
        w["w_adv_2d"] * h["g_adv_2d"] + w["w_adv_3d"] * h["g_adv_3d"] + h["g_hard_ratio"] + w["w_proj"] * h["g_proj"]
        + w["w_range"] * h["g_range"] + w["w_lambda"] * h["g_lambda"] + w["w_match"] * h["g_match"]
    )
    assert h["g_total"] == pytest.approx(expected, rel=1e-5)


def _ctx(cfg, normalisation="screen", pad=False, seed=0):
    return A.StepContext(cfg, normalisation, pad, torch.Generator().manual_seed(seed))


def _nets_and_batch(baseline, cfg, gen, arrays, n=8, seed=0):
    torch.manual_seed(seed)
    nets = A.AdaptNets(baseline, gen, cfg, CPU)
    rf = gen.frames
    rng = np.random.default_rng(seed)
    src = A._Source(arrays, rf, cfg, CPU).batch(n, rng)
    tgt = A._Target(_target(), rf, CPU).batch(n, rng)
    return nets, src, tgt


def test_five_frame_windows_label_and_finetune_on_the_centre_frame():
    base = _baseline5()
    cfg = _cfg(stride_min=1, stride_max=1)
    nets, src, tgt = _nets_and_batch(base, cfg, _static(5), _arrays(3, 12, 0))
    fakes, _, _ = A.generator_step(nets, _ctx(cfg), src, tgt, 0, 0)
    fake_3d = fakes.pose_3d.detach()
    centre = src["pose_3d"][:, 2] - src["pose_3d"][:, 2, :1]
    torch.testing.assert_close(fake_3d, centre, atol=1e-5, rtol=0)
    assert not torch.allclose(fake_3d, src["pose_3d"][:, 1] - src["pose_3d"][:, 1, :1], atol=1e-3)
    # the lifter step's source target is the centre frame too
    lifter = nets.lifter
    lifter.train()
    with torch.no_grad():
        pred = lifter(src["pose_2d"])[:, 0]
    expected = float(torch.linalg.vector_norm(pred - src["pose_3d"][:, 2], dim=-1).mean())
    assert A.lifter_step(nets, _ctx(cfg), src, None, None) == pytest.approx(expected, rel=1e-5)


def test_padding_reaches_the_generated_projection(baseline):
    arrays = _arrays(3, 12, 0)
    arrays["seq_image_size"] = np.tile(np.array([[500, 1000]], np.int64), (3, 1))  # portrait: padding widens it
    cfg = _cfg()
    nets, src, tgt = _nets_and_batch(baseline, cfg, _static(3), arrays)
    fakes, _, _ = A.generator_step(nets, _ctx(cfg, pad=True), src, tgt, 0, 0)
    fake_2d, out = fakes.pose_2d.detach(), fakes.out
    torch.testing.assert_close(fake_2d, A.project_normalise(out.pose_3d_cam, src, "screen", True))
    assert not torch.allclose(fake_2d, A.project_normalise(out.pose_3d_cam, src, "screen", False), atol=1e-3)


@pytest.mark.parametrize("bound, kept", [(None, True), (1e-4, False)])
def test_selection_bound_decides_alone_when_the_band_keeps_everything(baseline, bound, kept):
    cfg = _cfg(selection_a=0.0, selection_b=1e9, selection_bound=bound)
    nets, src, tgt = _nets_and_batch(baseline, cfg, _static(3), _arrays(3, 12, 0))
    _, keep, _ = A.generator_step(nets, _ctx(cfg), src, tgt, 0, 0)
    assert bool(keep.all()) is kept and bool(keep.any()) is kept


def test_generator_step_reaches_the_3d_critic_with_lengths_and_caps_the_lookahead(baseline, monkeypatch):
    keeps, sizes = [], []
    real_in, real_look = A._critic_3d_input, L.lookahead_reprojection_loss
    monkeypatch.setattr(A, "_critic_3d_input", lambda pose, keep: keeps.append(keep) or real_in(pose, keep))
    monkeypatch.setattr(L, "lookahead_reprojection_loss", lambda lifter, f2, f3, t, lr: sizes.append(len(f2)) or real_look(lifter, f2, f3, t, lr))
    _run(baseline, _cfg(epochs=1, warmup_epochs=0, samples_per_epoch=8, batch_size=8, proj_batch=3))
    assert keeps and all(k is True for k in keeps)
    assert sizes and set(sizes) == {3}


def test_bone_stage_c_reaches_c_end_in_the_last_of_two_epochs():
    hr = HardRatio(3.0, 5.0, 2.0, 0.1)
    assert (hr.c(0, 2), hr.c(1, 2)) == (3.0, 5.0)
    assert hr.c(0, 1) == 3.0


# ---- what the proportion estimate receives ------------------------------------------


@pytest.mark.parametrize("estimator", ["tail", "both"])
def test_proportion_estimate_gets_the_valid_2d_the_source_3d_and_the_quantile(baseline, monkeypatch, estimator):
    src, tgt = _arrays(3, 12, 0), _target()
    src["valid"][[0, 5]] = False
    tgt["valid"][[1, 2, 3]] = False
    seen = []
    monkeypatch.setattr(P, "estimate_proportions", lambda *a, **k: seen.append((a, k)) or np.ones(16))
    adapt(src, tgt, baseline, GeneratorConfig(frames=3, hidden=16), _cfg(epochs=1, warmup_epochs=0, samples_per_epoch=8,
          proportions="estimate", proportions_quantile=97.0, proportions_estimator=estimator,
          proportions_min_foreshortening=0.4, proportions_min_change=0.02), "screen", False, CPU, seed=0, progress=False)
    (args, kwargs), = seen
    names = ("source_2d", "target_2d", "source_3d", "quantile", "lifted", "estimator", "min_foreshortening", "min_change")
    args = list(args) + [kwargs[k] for k in names[len(args):]]
    np.testing.assert_array_equal(args[0], src["pose_2d"][src["valid"]])
    np.testing.assert_array_equal(args[1], tgt["pose_2d"][tgt["valid"]])
    np.testing.assert_array_equal(args[2], src["pose_3d"])
    assert args[3] == 97.0 and args[5] == estimator and args[6] == 0.4 and args[7] == 0.02 and len(args) == 8
    if estimator == "tail":
        assert args[4] is None
    else:  # the baseline lifter's answer on the same valid frames, source then target
        model = baseline.model()
        np.testing.assert_allclose(args[4][0], predict_sequences(model, src, CPU)[src["valid"]], atol=1e-6)
        np.testing.assert_allclose(args[4][1], predict_sequences(model, tgt, CPU)[tgt["valid"]], atol=1e-6)


def test_subsampled_sequences_keep_whole_sequences_under_the_frame_budget():
    from adaptpose_pipeline.core.adapt import _subsample_sequences
    arr = {"pose_2d": np.arange(10 * 17 * 2, dtype=float).reshape(10, 17, 2), "valid": np.arange(10) % 3 > 0,
           "seq_start": np.array([0, 4, 6, 9]), "seq_length": np.array([4, 2, 3, 1])}
    assert _subsample_sequences(arr, 10) is arr
    sub = _subsample_sequences(arr, 5)  # 10 frames over 5 -> every 2nd sequence: 0 and 2
    np.testing.assert_array_equal(sub["seq_start"], [0, 4])
    np.testing.assert_array_equal(sub["seq_length"], [4, 3])
    np.testing.assert_array_equal(sub["pose_2d"], arr["pose_2d"][[0, 1, 2, 3, 6, 7, 8]])
    np.testing.assert_array_equal(sub["valid"], arr["valid"][[0, 1, 2, 3, 6, 7, 8]])


# ---- the loop's bookkeeping ----------------------------------------------------------


def test_result_samples_and_checkpoint_keys(baseline):
    states = []
    res = _run(baseline, _cfg(keep_samples=4, batch_size=8, samples_per_epoch=32), on_checkpoint=states.append)
    assert set(res.samples) == {
        "pose_3d", "pose_3d_cam", "pose_2d", "rotation", "translation", "lam", "selected", "source_pose_3d", "f", "c", "image_size",
    }
    assert all(len(v) == 4 for v in res.samples.values())
    assert set(res.discriminators) == {"d2d", "d3d"}
    assert set(states[0]) == {
        "epoch", "generator", "d2d", "d3d", "lifter", "opt_g", "opt_d", "opt_n", "pool_2d", "pool_3d", "numpy_rng", "lifter_rng",
        "measure_rng", "generator_rng", "torch_rng", "history", "samples", "epoch_lifters",
    }
    # samples are only gathered in the last epoch, and no more batches than keep_samples needs
    assert all(len(v) == 0 for v in states[0]["samples"].values()) or not states[0]["samples"]
    assert all(len(v) == 8 for v in states[-1]["samples"].values())


def test_epoch_bookkeeping_for_both_schedules(baseline, monkeypatch):
    real = A.lifter_step
    for schedule in ("interleaved", "generate_then_finetune"):
        calls, epochs = [], []
        monkeypatch.setattr(A, "lifter_step", lambda *a: calls.append(1) or real(*a))
        res = _run(baseline, _cfg(schedule=schedule, batch_size=8, samples_per_epoch=32), on_epoch=lambda e, r: epochs.append((e, r["epoch"])))
        assert len(calls) == 4, schedule  # 4 steps in the one epoch after the warm-up, none before
        assert [r["epoch"] for r in res.history] == [0, 1] and epochs == [(0, 0), (1, 1)]
        assert "lifter" not in res.history[0] and res.history[1]["lifter"] > 0, schedule


def test_scorer_gets_each_epochs_lifter_and_resume_keeps_them(baseline):
    def score(state, retarget):
        assert retarget is None  # proportions off
        return {"s": float(sum(v.double().sum() for v in state.values() if v.is_floating_point()))}

    cfg = _cfg(epochs=3, warmup_epochs=1, samples_per_epoch=8)
    full = _run(baseline, cfg, score=score)
    for e, st in full.epoch_lifters.items():
        assert full.history[e]["s"] == pytest.approx(score(st, None)["s"])
    saved = []
    with pytest.raises(KeyboardInterrupt):
        _run(baseline, cfg, score=score, on_checkpoint=interrupt_after(1, saved))
    resumed = _run(baseline, cfg, score=score, resume=saved[-1])
    assert set(resumed.epoch_lifters) == set(full.epoch_lifters) == {1, 2}
    assert all(_same(resumed.epoch_lifters[e], full.epoch_lifters[e]) for e in full.epoch_lifters)
    assert resumed.history == full.history


def test_progress_bars_run(baseline, capsys):
    res = adapt(_arrays(3, 12, 0), _target(), baseline, GeneratorConfig(frames=3, hidden=16),
                _cfg(epochs=1, warmup_epochs=0, samples_per_epoch=8), "screen", False, CPU, seed=0, progress=True)
    assert res.history and "adapt" in capsys.readouterr().err


def test_resuming_twice_from_one_state_in_memory_gives_the_same_run(baseline):
    cfg = _cfg(epochs=3, warmup_epochs=1, samples_per_epoch=8)
    states = []
    _run(baseline, cfg, on_checkpoint=states.append)
    mid = states[0]
    first = _run(baseline, cfg, resume=mid)
    second = _run(baseline, cfg, resume=mid)  # the state must not have been trained in place
    assert _same(first.lifter, second.lifter) and _same(first.generator, second.generator)
    assert first.history == second.history
    # checkpoints written before epoch lifters were kept still resume
    old = {k: v for k, v in mid.items() if k != "epoch_lifters"}
    assert _same(_run(baseline, cfg, resume=old).lifter, first.lifter)


def test_history_records_every_logged_statistic(baseline):
    rec = _run(baseline, _cfg(epochs=1, warmup_epochs=0, samples_per_epoch=8)).history[0]
    for key in ("epoch", "d_2d", "d_3d", "g_total", "g_adv_2d", "g_adv_3d", "g_hard_ratio", "g_proj", "g_range", "g_lambda",
                "g_match", "ratio_camera", "ratio_bone", "gen_camera_angle_deg", "gen_bone_change_deg", "gen_depth_m",
                "gen_abs_lambda", "lifter", "selection_rate"):
        assert key in rec, key


def test_clearing_the_proportions_gives_back_the_source():
    source = A._Source(_arrays(3, 12, 0), 3, _cfg(), CPU)
    source.set_proportions(np.full(16, 1.5), "source")
    scaled = source.batch(4, np.random.default_rng(0))
    assert "label_scale" in scaled and not torch.equal(scaled["pose_3d_gen"], scaled["pose_3d"])
    source.set_proportions(None, "source")
    plain = source.batch(4, np.random.default_rng(0))
    assert "label_scale" not in plain and torch.equal(plain["pose_3d_gen"], plain["pose_3d"])


# ---- parameter boundaries: the smallest valid value passes, the next invalid one fails --

BOUNDARIES = [
    # key, valid values, invalid values (others at defaults; epochs=3 so warm-ups fit)
    ("epochs", [1], [0]),
    ("warmup_epochs", [0, 2], [-1, 3]),
    ("batch_size", [2], [1]),
    ("samples_per_epoch", [1024], [1023]),
    ("d_every", [1], [0]),
    ("grad_clip", [1e-6], [0.0]),
    ("beta_deg", [0.0, 89.9], [-0.1, 90.0]),
    ("stride_min", [1, 5], [0, 6]),
    ("selection_b", [1e-6], [0.0]),
    ("lr_generator", [1e-9], [0.0]),
    ("lr_discriminator", [1e-9], [0.0]),
    ("lr_lifter", [1e-9], [0.0]),
    ("proj_batch", [1], [0]),
    ("pool_size", [1], [0]),
    ("frames_3d", [1], [0]),
    ("feedback_warmup_epochs", [0, 2], [-1, 3]),
    ("lambda_limit", [0.0], [-0.1]),
    ("w_fake", [0.0], [-0.1]),
    ("proportions_quantile", [1e-6, 100.0], [0.0, 100.1]),
    ("proportions_min_foreshortening", [1e-6, 0.999], [0.0, 1.0]),
    ("proportions_min_change", [0.0], [-0.01]),
]


@pytest.mark.parametrize("key, good, bad", BOUNDARIES, ids=[b[0] for b in BOUNDARIES])
def test_config_boundaries(key, good, bad):
    base = dict(epochs=3, warmup_epochs=0) if key not in ("epochs",) else {"warmup_epochs": 0}
    for value in good:
        A.AdaptConfig(**{**base, key: value})
    for value in bad:
        with pytest.raises(ValueError, match=rf"^adapt\.(train\.)?{key}: (Input should be|expected) .*[ (]{re.escape(str(value))}\)?$"):
            A.AdaptConfig(**{**base, key: value})


def test_config_choices_and_types_name_the_key():
    for key in ("schedule", "hard_ratio_semantics", "proportions", "proportion_labels", "proportions_estimator"):
        with pytest.raises(ValueError, match=rf"adapt\.{key}: Input should be '"):
            A.AdaptConfig(**{key: "nonsense"})
    with pytest.raises(ValueError, match=r"adapt\.epochs"):
        A.AdaptConfig(epochs="ten")


def test_frames_3d_is_the_centre_plus_n_minus_1_others():
    g = torch.Generator().manual_seed(0)
    assert A._frames_3d(9, 1, g, CPU).tolist() == [4]
    assert A._frames_3d(5, 1, g, CPU).tolist() == [2]
    many = A._frames_3d(9, 3, g, CPU).tolist()
    assert 4 in many and len(many) in (2, 3) and many == sorted(set(many))  # the centre may also be drawn


def test_lifter_step_loss_by_hand_with_zero_one_and_several_fakes():
    import copy

    base = _baseline5()
    cfg = _cfg(stride_min=1, stride_max=1, w_fake=1.0)
    torch.manual_seed(0)
    nets = A.AdaptNets(base, _static(5), cfg, CPU)
    src = A._Source(_arrays(3, 12, 0), 5, cfg, CPU).batch(8, np.random.default_rng(0))
    fakes_2d, fakes_3d = src["pose_2d"] * 1.2, src["pose_3d"][:, 2] * 0.8

    def by_hand(n_fake):
        lifter = copy.deepcopy(nets.lifter).train()
        x = torch.cat([src["pose_2d"], fakes_2d[:n_fake]])
        with torch.no_grad():
            pred = lifter(x)[:, 0]
        err = lambda p, t: float(torch.linalg.vector_norm(p - t, dim=-1).mean())  # noqa: E731
        return err(pred[:8], src["pose_3d"][:, 2]) + (err(pred[8:], fakes_3d[:n_fake]) if n_fake else 0.0)

    for n in (0, 1, 3):
        want = by_hand(n)
        got = A.lifter_step(copy.deepcopy(nets), _ctx(cfg), src, fakes_2d[:n], fakes_3d[:n])
        assert math.isfinite(got) and got == pytest.approx(want, rel=1e-5), n


def test_padding_reaches_every_projection_of_a_run(baseline, monkeypatch):
    # adapt() passes pad to the generator step (fakes and their bone-stage 2D) and to the
    # epoch's domain measures: with pad_to_square on, none may be normalised unpadded.
    seen = []
    real = A.project_normalise

    def spy(pose, src, normalisation, pad):
        seen.append(pad)
        return real(pose, src, normalisation, pad)

    monkeypatch.setattr(A, "project_normalise", spy)
    arrays = _arrays(3, 12, 0)
    arrays["seq_image_size"] = np.tile(np.array([[500, 1000]], np.int64), (3, 1))
    adapt(arrays, _target(), baseline, GeneratorConfig(frames=3, hidden=16), _cfg(epochs=1, warmup_epochs=0, samples_per_epoch=8),
          "screen", True, CPU, seed=0, progress=False)
    assert len(seen) >= 3 and all(p is True for p in seen), seen


def test_checkpoints_handed_out_do_not_change_as_training_goes_on(baseline):
    # each epoch's checkpoint is a snapshot: the optimisers' moments in it must not be the
    # live tensors that later steps update in place
    import copy

    kept, frozen = [], []

    def on_checkpoint(state):
        kept.append(state)
        frozen.append(copy.deepcopy(state))

    _run(baseline, _cfg(epochs=2, warmup_epochs=0, samples_per_epoch=8), on_checkpoint=on_checkpoint)
    assert len(kept) == 2

    def same(a, b):
        if isinstance(a, torch.Tensor):
            return torch.equal(a, b)
        if isinstance(a, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, (list, tuple)):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
        return a == b or (a != a and b != b)

    assert same(kept[0], frozen[0])


def test_retarget_mode_redraws_the_target_2d_and_hands_the_estimate_to_the_scorer(baseline, monkeypatch):
    """proportions: retarget: the loop's target windows are the target's 2D redrawn with
    the source's proportions, the source windows are untouched, and the scorer and the
    result carry the estimate that the adapted lifter applies at inference."""
    ratios = np.linspace(0.8, 1.3, 16)
    monkeypatch.setattr(P, "estimate_proportions", lambda *a, **k: ratios)
    windows = {}
    real_init = A._Target.__init__

    def spy(self, arrays, rf, device):
        real_init(self, arrays, rf, device)
        windows.setdefault("target", []).append(self.pose_2d.clone())

    monkeypatch.setattr(A._Target, "__init__", spy)
    reproportioned = []
    monkeypatch.setattr(A._Source, "set_proportions", lambda self, *a: reproportioned.append(a))
    seen = []
    src, tgt = _arrays(3, 12, 0), _target()
    cfg = _cfg(epochs=2, warmup_epochs=1, samples_per_epoch=8, proportions="retarget", proportion_labels="source",
               proportions_reprojection_tolerance=1e6)  # the check is tested below
    res = adapt(src, tgt, baseline, GeneratorConfig(frames=3, hidden=16), cfg, "frobenius", False, CPU, seed=0, progress=False,
                score=lambda state, retarget: seen.append(retarget) or {"s": 0.0})
    expected = P.retarget_2d(torch.as_tensor(tgt["pose_2d"], dtype=torch.float32), torch.as_tensor(ratios, dtype=torch.float32), "frobenius")
    torch.testing.assert_close(windows["target"][-1], expected)
    assert not torch.allclose(windows["target"][-1], torch.as_tensor(tgt["pose_2d"], dtype=torch.float32))
    assert res.retarget == {"ratios": pytest.approx(list(ratios)), "normalisation": "frobenius", "rescale_output": False}
    assert seen == [res.retarget]  # one scored epoch after the warm-up
    np.testing.assert_array_equal(res.proportions, ratios)
    assert reproportioned == []  # the source windows keep the source's proportions
    # the control never sees the estimate
    control = adapt(src, tgt, baseline, GeneratorConfig(frames=3, hidden=16), cfg, "frobenius", False, CPU, seed=0,
                    progress=False, control=True)
    assert control.retarget is None and control.proportions is None


@pytest.mark.parametrize("retargeted, used", [(0.505, True), (0.4, True), (0.52, False)])
def test_retargeting_is_dropped_when_it_explains_the_target_2d_worse(baseline, monkeypatch, retargeted, used):
    """The baseline's target reprojection is 0.5 as it is; retargeted it is ``retargeted``:
    more than 2% worse rejects the estimate, and the loop runs on the target's 2D as is."""
    from adaptpose_pipeline.core.lifter import Retargeted

    monkeypatch.setattr(P, "estimate_proportions", lambda *a, **k: np.linspace(0.8, 1.3, 16))
    scored = []

    def reprojection(model, arrays, device):
        scored.append((type(model).__name__, len(arrays["pose_2d"])))
        return retargeted if isinstance(model, Retargeted) else 0.5

    monkeypatch.setattr(A, "target_reprojection", reprojection)
    windows = []
    real_init = A._Target.__init__
    monkeypatch.setattr(A._Target, "__init__", lambda self, arrays, rf, device: windows.append(arrays["pose_2d"]) or real_init(self, arrays, rf, device))
    src, tgt = _arrays(3, 12, 0), _target()
    cfg = _cfg(epochs=1, warmup_epochs=0, samples_per_epoch=8, proportions="retarget", proportions_reprojection_tolerance=0.02)
    res = adapt(src, tgt, baseline, GeneratorConfig(frames=3, hidden=16), cfg, "frobenius", False, CPU, seed=0, progress=False)
    assert res.retarget_check == {"plain": 0.5, "retargeted": retargeted, "used": used}
    assert sorted(scored) == [("Retargeted", len(tgt["pose_2d"])), ("TemporalModel", len(tgt["pose_2d"]))]
    assert (res.retarget is not None) == used
    assert len(windows) == (2 if used else 1)  # the loop's target windows: redrawn, or the target's 2D as it is
    assert windows[-1] is tgt["pose_2d"] or used
    np.testing.assert_allclose(res.proportions, np.linspace(0.8, 1.3, 16))  # the estimate is reported either way


def test_the_retargeting_check_leaves_torchs_random_stream_as_it_was(baseline):
    """Building the lifters it scores draws from torch's stream; the loop's generator and
    critics must start from the same numbers whether the check ran or not."""
    from adaptpose_pipeline.core.adapt import check_retargeting

    torch.manual_seed(5)
    before = torch.get_rng_state()
    check_retargeting(baseline, _target(), np.linspace(0.8, 1.3, 16), "frobenius", 0.02, CPU)
    assert torch.equal(torch.get_rng_state(), before)
