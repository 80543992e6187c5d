"""The adaptation loop's wiring: which samples, ratios, critics and learning rates each
step really uses. Each test here fails on a specific way of breaking ``core.adapt``
(swapped ratios, fine-tuning on unselected fakes, an ignored switch, ...)."""

import numpy as np
import pytest
import torch

from adaptpose_pipeline.core import adapt as A
from adaptpose_pipeline.core import losses as L
from adaptpose_pipeline.core.adapt import AdaptConfig, HardRatio, adapt
from adaptpose_pipeline.core.discriminators import DomainDiscriminator2D
from adaptpose_pipeline.core.generator import GeneratorConfig
from adaptpose_pipeline.core.lifter import LifterCheckpoint, LifterConfig, TemporalModel
from tests.core.test_adapt import _arrays

TARGET_OFFSET = 5.0  # target 2D lives around +5: anything above 3 came from the target


@pytest.fixture
def baseline():
    torch.manual_seed(0)
    cfg = LifterConfig(filter_widths=(3,), channels=16, dropout=0.25)
    return LifterCheckpoint(cfg, TemporalModel(cfg).state_dict())


def _target():
    t = _arrays(2, 12, 1, with_3d=False)
    t["pose_2d"] = t["pose_2d"] + TARGET_OFFSET
    return t


def _cfg(**kw):
    base = dict(
        epochs=2, warmup_epochs=1, batch_size=8, samples_per_epoch=32, pool_size=32, proj_batch=4, keep_samples=8,
        hard_ratio_bone=HardRatio(3.0, 5.0, 2.0, 0.1), hard_ratio_camera=HardRatio(17.0, 17.0, 15.0, 0.01),
    )
    return AdaptConfig(**{**base, **kw})


def _run(baseline, cfg, gen=None, **kw):
    gen = gen or GeneratorConfig(frames=3, hidden=16)
    return adapt(_arrays(3, 12, 0), _target(), baseline, gen, cfg, "screen", False, torch.device("cpu"), seed=0, progress=False, **kw)


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


REJECT_ALL = dict(selection_a=1e6, selection_b=1e-3)  # a band no ratio reaches


@pytest.mark.parametrize("schedule", ["interleaved", "generate_then_finetune"])
def test_finetuning_sees_only_selected_fakes(baseline, schedule):
    control = _run(baseline, _cfg(schedule=schedule), control=True)
    rejected = _run(baseline, _cfg(schedule=schedule, **REJECT_ALL))
    assert rejected.history[-1]["selection_rate"] == 0.0
    # nothing selected: exactly the source-only fine-tuning of the control
    assert _same(rejected.lifter, control.lifter)
    kept = _run(baseline, _cfg(schedule=schedule, selection=False))
    assert kept.history[-1]["selection_rate"] == 1.0 and not _same(kept.lifter, control.lifter)


def test_the_control_does_not_depend_on_the_generator_configuration(baseline):
    """Ablation rows differ only in the generator's settings; their controls must agree
    (building a larger generator draws more numbers from torch's stream first)."""
    cfg = _cfg()
    small = _run(baseline, cfg, control=True)
    large = _run(baseline, cfg, gen=GeneratorConfig(frames=3, hidden=32, blocks=3, bone_generation="bg1"), control=True)
    assert _same(small.lifter, large.lifter)
    # the adapted runs do differ (the generators do)
    assert not _same(_run(baseline, cfg).lifter, _run(baseline, cfg, gen=GeneratorConfig(frames=3, hidden=32)).lifter)


def test_control_trains_the_lifter_only(baseline):
    control = _run(baseline, _cfg(), control=True)
    assert not _same(control.lifter, baseline.state_dict)
    fresh = _run(baseline, _cfg(epochs=1, warmup_epochs=0, samples_per_epoch=8))  # one generator step
    assert set(control.generator) == set(fresh.generator)
    assert all("g_total" not in r and "selection_rate" not in r for r in control.history)
    assert [("lifter" in r) for r in control.history] == [False, True]  # warm-up epoch: no lifter step either


def test_ratios_reach_the_right_loss_terms_and_selection(baseline, monkeypatch):
    """With bone generation off, the bone stage's 2D is the source's own 2D, so the bone
    ratio is exactly 1 while the camera ratio is not: each term must get its own."""
    calls, selected = [], []
    real_hr, real_sel = L.hard_ratio_loss, L.selection_mask
    monkeypatch.setattr(L, "hard_ratio_loss", lambda r, c, d, s="printed": calls.append((r.detach().clone(), c, d, s)) or real_hr(r, c, d, s))
    monkeypatch.setattr(L, "selection_mask", lambda r, *a, **k: selected.append(r.detach().clone()) or real_sel(r, *a, **k))
    # the camera starts at 2 m where the source stands at 5 m: a clearly different view
    gen = GeneratorConfig(frames=3, hidden=16, bone_generation="off", depth_init=2.0, min_depth=1.0)
    _run(baseline, _cfg(epochs=1, warmup_epochs=0, hard_ratio_semantics="released"), gen=gen)
    bone = [r for r, c, d, s in calls if c == 3.0]
    camera = [r for r, c, d, s in calls if c == 17.0]
    assert len(bone) == len(camera) == len(selected) == 4
    assert all(s == "released" for *_, s in calls)
    assert all(d == 2.0 for r, c, d, s in calls if c == 3.0) and all(d == 15.0 for r, c, d, s in calls if c == 17.0)
    for b, cam, sel in zip(bone, camera, selected):
        assert torch.allclose(b, torch.ones_like(b), atol=1e-4)
        assert not torch.allclose(cam, torch.ones_like(cam), atol=1e-2)
        assert torch.equal(sel, cam)  # selection judges the camera-stage ratio


def test_bone_hard_ratio_target_rises_over_epochs(baseline, monkeypatch):
    cs = []
    real = L.hard_ratio_loss
    monkeypatch.setattr(L, "hard_ratio_loss", lambda r, c, d, s="printed": cs.append(c) or real(r, c, d, s))
    _run(baseline, _cfg(epochs=3, warmup_epochs=0, samples_per_epoch=8))
    assert cs[0::2] == [3.0, 4.0, 5.0] and cs[1::2] == [17.0, 17.0, 17.0]


def test_feedback_waits_for_its_warmup(baseline, monkeypatch):
    epochs_called = []
    real = L.lookahead_reprojection_loss
    monkeypatch.setattr(L, "lookahead_reprojection_loss", lambda *a: epochs_called.append(len(hist)) or real(*a))
    monkeypatch.setattr(L, "hard_ratio_loss", lambda *a, **k: pytest.fail("hard ratio before the feedback warm-up") if len(hist) < 1 else torch.zeros(()))
    hist: list = []
    _run(baseline, _cfg(epochs=2, warmup_epochs=0, samples_per_epoch=8, feedback_warmup_epochs=1), on_epoch=lambda e, r: hist.append(r))
    assert epochs_called == [1]


def test_learning_rates_decay_linearly_per_epoch(baseline):
    states = []
    _run(baseline, _cfg(epochs=3, warmup_epochs=1, samples_per_epoch=8, lr_generator=2e-4, lr_discriminator=3e-4, lr_lifter=5e-4), on_checkpoint=states.append)
    for state in states:
        factor = 1.0 - state["epoch"] / 4
        for key, lr in (("opt_g", 2e-4), ("opt_d", 3e-4), ("opt_n", 5e-4)):
            assert state[key]["param_groups"][0]["lr"] == pytest.approx(lr * factor)


@pytest.mark.parametrize("d_every,expected", [(1, 4), (2, 2), (3, 2), (5, 1)])
def test_critics_step_every_d_every_generator_steps(baseline, monkeypatch, d_every, expected):
    count = []
    real = A.critic_step
    monkeypatch.setattr(A, "critic_step", lambda *a: count.append(1) or real(*a))
    res = _run(baseline, _cfg(epochs=1, warmup_epochs=0, d_every=d_every))  # 4 generator steps
    assert len(count) == expected and "d_2d" in res.history[0]


@pytest.mark.parametrize("domain_discriminator", [True, False])
def test_domain_discriminator_switch_chooses_the_critics_real_2d(baseline, monkeypatch, domain_discriminator):
    seen = []
    real = DomainDiscriminator2D.forward

    def spy(self, x):
        if torch.is_grad_enabled():  # training calls; the held-apart measure runs without grad
            seen.append(float(x.detach().max()))
        return real(self, x)

    monkeypatch.setattr(DomainDiscriminator2D, "forward", spy)
    _run(baseline, _cfg(epochs=1, warmup_epochs=0, samples_per_epoch=8, domain_discriminator=domain_discriminator))
    saw_target = any(v > 3.0 for v in seen)
    assert saw_target is domain_discriminator


def test_lifter_is_untouched_until_warmup_ends(baseline):
    states = []
    _run(baseline, _cfg(epochs=2, warmup_epochs=1), on_checkpoint=states.append)
    assert _same(states[0]["lifter"], baseline.state_dict)
    assert not _same(states[1]["lifter"], baseline.state_dict)


def test_switches_have_observable_effects(baseline):
    gen = lambda **k: GeneratorConfig(frames=3, hidden=16, **k)  # noqa: E731
    one = dict(epochs=1, warmup_epochs=0, samples_per_epoch=8)
    no_bones = _run(baseline, _cfg(**one), gen=gen(bone_generation="off"))
    assert not any(k.startswith("bone_net") for k in no_bones.generator)
    np.testing.assert_array_equal(no_bones.samples["pose_3d"], no_bones.samples["source_pose_3d"])
    no_camera = _run(baseline, _cfg(**one), gen=gen(camera_generation="off"))
    np.testing.assert_allclose(no_camera.samples["rotation"], np.broadcast_to(np.eye(3), no_camera.samples["rotation"].shape))
    full = _run(baseline, _cfg(**one), gen=gen())
    assert not np.allclose(full.samples["rotation"], np.eye(3), atol=1e-4)
    assert any(k.startswith("kcs_branch") for k in full.discriminators["d2d"])
    no_kcs = _run(baseline, _cfg(kcs_2d=False, **one))
    assert not any(k.startswith("kcs_branch") for k in no_kcs.discriminators["d2d"])
    assert _run(baseline, _cfg(**REJECT_ALL, **one)).history[0]["selection_rate"] == 0.0
    assert _run(baseline, _cfg(selection=False, **REJECT_ALL, **one)).history[0]["selection_rate"] == 1.0


def test_critic_3d_lengths_switch(baseline, monkeypatch):
    lengths = []
    real = A._critic_3d_input

    def spy(pose, keep):
        out = real(pose, keep)
        bones = out[..., 1:, :] - out[..., [0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15], :]
        lengths.append(torch.linalg.vector_norm(bones, dim=-1))
        return out

    monkeypatch.setattr(A, "_critic_3d_input", spy)
    _run(baseline, _cfg(epochs=1, warmup_epochs=0, samples_per_epoch=8, critic_3d_lengths=False))
    assert lengths and all(torch.allclose(x, torch.ones_like(x), atol=1e-5) for x in lengths)


def test_epoch_records_domain_measures(baseline):
    res = _run(baseline, _cfg(epochs=1, warmup_epochs=0, samples_per_epoch=8))
    rec = res.history[0]
    for key in ("fd_generated_target", "fd_source_target", "critic_2d_accuracy", "gen_elevation_deg", "source_elevation_deg", "gen_distance_m"):
        assert np.isfinite(rec[key]), key
    assert 0.0 <= rec["critic_2d_accuracy"] <= 1.0
    assert rec["fd_source_target"] > 0


def test_score_keeps_every_epochs_lifter(baseline):
    scores = iter(range(100))
    res = _run(baseline, _cfg(epochs=3, warmup_epochs=1, samples_per_epoch=8), score=lambda m, retarget: {"s": float(next(scores))})
    assert [r.get("s") for r in res.history] == [None, 0.0, 1.0]  # not scored in warm-up
    assert set(res.epoch_lifters) == {1, 2} and _same(res.epoch_lifters[2], res.lifter)
    assert not _same(res.epoch_lifters[1], res.lifter)


def test_new_config_keys_are_checked():
    with pytest.raises(ValueError, match="adapt.schedule"):
        AdaptConfig(schedule="alternate")
    with pytest.raises(ValueError, match="hard_ratio_semantics"):
        AdaptConfig(hard_ratio_semantics="inside")
    with pytest.raises(ValueError, match="feedback_warmup_epochs"):
        AdaptConfig(epochs=2, feedback_warmup_epochs=2)


def test_generated_projection_applies_the_source_distortion_by_hand():
    # one point at (0.5, -0.25, 2.5) m: u = (0.2, -0.1), r^2 = 0.05
    k1, k2, k3, p1, p2 = -0.2, 0.24, -0.003, -0.001, -0.0014
    f, c, size = 1000.0, 500.0, 1000.0
    u, v, r2 = 0.2, -0.1, 0.05
    radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    tangential = p1 * u + p2 * v
    ud, vd = u * (radial + tangential) + p1 * r2, v * (radial + tangential) + p2 * r2
    expected = torch.tensor([f * ud + c, f * vd + c]) / size * 2 - 1  # screen normalisation
    pose = torch.zeros(1, 1, 17, 3)
    pose[..., :] = torch.tensor([0.5, -0.25, 2.5])
    src = {
        "f": torch.tensor([[f, f]]), "c": torch.tensor([[c, c]]), "size": torch.tensor([[size, size]]),
        "k": torch.tensor([[k1, k2, k3]]), "p": torch.tensor([[p1, p2]]),
    }
    got = A.project_normalise(pose, src, "screen", False)[0, 0, 0]
    assert torch.allclose(got, expected.float(), atol=1e-6)
    plain = A.project_normalise(pose, {k: v for k, v in src.items() if k not in ("k", "p")}, "screen", False)[0, 0, 0]
    assert torch.allclose(plain, torch.tensor([f * u + c, f * v + c]) / size * 2 - 1, atol=1e-6)
    assert not torch.allclose(got, plain, atol=1e-4)


def test_moment_matching_term_enters_the_generator_loss(baseline):
    one = dict(epochs=1, warmup_epochs=0, samples_per_epoch=8)
    off = _run(baseline, _cfg(**one))
    on = _run(baseline, _cfg(w_match=5.0, **one))
    assert off.history[0]["g_match"] == 0.0 and on.history[0]["g_match"] > 0.0
    # the term is added to the loss: the generator's steps differ
    assert not _same(on.generator, off.generator)
    assert on.history[0]["g_total"] > off.history[0]["g_total"]


def test_hard_ratio_terms_are_weighted_and_summed(baseline, monkeypatch):
    values = {3.0: 2.0, 17.0: 5.0}  # bone stage returns 2, camera stage 5
    monkeypatch.setattr(L, "hard_ratio_loss", lambda r, c, d, s="printed": (r * 0).sum() + values[c])
    res = _run(baseline, _cfg(epochs=1, warmup_epochs=0, samples_per_epoch=8, w_proj=0.0))
    assert res.history[0]["g_hard_ratio"] == pytest.approx(0.1 * 2.0 + 0.01 * 5.0)


def test_critic_perturbs_real_poses_by_beta(baseline, monkeypatch):
    betas = []
    real = A.perturb_bones
    monkeypatch.setattr(A, "perturb_bones", lambda pose, deg, generator=None: betas.append(deg) or real(pose, deg, generator=generator))
    _run(baseline, _cfg(epochs=1, warmup_epochs=0, samples_per_epoch=8, beta_deg=7.5))
    assert betas and set(betas) == {7.5}


def test_finetuning_targets_are_root_relative(baseline, monkeypatch):
    seen = []
    real = A.lifter_step

    def spy(nets, cfg, src, fake_2d, fake_3d):
        if fake_3d is not None and len(fake_3d):
            seen.append(fake_3d.clone())
        return real(nets, cfg, src, fake_2d, fake_3d)

    monkeypatch.setattr(A, "lifter_step", spy)
    _run(baseline, _cfg(epochs=1, warmup_epochs=0, samples_per_epoch=8, selection=False))
    assert seen and all(torch.equal(x[:, 0], torch.zeros_like(x[:, 0])) for x in seen)
    assert all(x[:, 1:].abs().sum() > 0 for x in seen)


def test_node_passes_the_new_switches_to_the_loop():
    import yaml

    from adaptpose_pipeline.pipelines.adapt.nodes import adapt_config
    from adaptpose_pipeline.pipelines.config import resolve_block
    from tests.paths import ROOT

    # the block as nodes receive it: resolved for the run's target (settings.ProjectConfigLoader)
    params = resolve_block(yaml.safe_load((ROOT / "conf/base/parameters_adapt.yml").read_text())["adapt"], "3dhp", name="adapt")
    params = {**params, "critic_3d_lengths": False, "lambda_limit": 0.3, "weights": {**params["weights"], "match": 2.0},
              "hard_ratio": {**params["hard_ratio"], "semantics": "released"},
              "train": {**params["train"], "schedule": "generate_then_finetune", "feedback_warmup_epochs": 1, "lr_lengths": 0.01}}
    cfg = adapt_config(params)
    assert (cfg.critic_3d_lengths, cfg.lambda_limit, cfg.w_match, cfg.hard_ratio_semantics) == (False, 0.3, 2.0, "released")
    assert (cfg.schedule, cfg.feedback_warmup_epochs, cfg.lr_lengths) == ("generate_then_finetune", 1, 0.01)
    with pytest.raises(ValueError, match=r"adapt\.hard_ratio\.sematics: Extra inputs are not permitted"):
        adapt_config({**params, "hard_ratio": {**params["hard_ratio"], "sematics": "released"}})


def test_critic_step_lowers_both_critics_losses(baseline):
    """Both critics descend their own LSGAN loss (a sign flip in their sum would make one ascend)."""
    torch.manual_seed(0)
    cfg = _cfg(lr_discriminator=1e-4, pool_size=8, beta_deg=0.0)
    nets = A.AdaptNets(baseline, GeneratorConfig(frames=3, hidden=16), cfg, torch.device("cpu"))
    rng = np.random.default_rng(0)
    source = A._Source(_arrays(3, 12, 0), 3, cfg, torch.device("cpu"))
    src, tgt = source.batch(8, rng), A._Target(_target(), 3, torch.device("cpu")).batch(8, rng)
    ctx = A.StepContext(cfg, "screen", False, torch.Generator().manual_seed(0))
    with torch.no_grad():
        fakes = A.generate(nets, ctx, src)
    first = A.critic_step(nets, ctx, src, tgt, fakes)
    for _ in range(30):
        last = A.critic_step(nets, ctx, src, tgt, fakes)
    assert last["d_2d"] < first["d_2d"] and last["d_3d"] < first["d_3d"]


SCALE = np.linspace(0.6, 1.6, 16)  # a known per-bone proportion vector


def _static_generator():
    # no bone change and no camera change: the fakes are the generator's input as seen by the source camera
    return GeneratorConfig(frames=3, hidden=16, bone_generation="off", camera_generation="off")


def _lengths(pose):
    from adaptpose_pipeline.core.skeleton import bone_lengths, joints_to_bones

    return bone_lengths(joints_to_bones(pose))


@pytest.mark.parametrize("labels", ["target", "source"])
def test_proportions_reach_the_generator_critic_and_labels(baseline, monkeypatch, labels):
    from adaptpose_pipeline.core import proportions as P
    from adaptpose_pipeline.core.generator import HumanMotionGenerator

    monkeypatch.setattr(P, "estimate_proportions", lambda *a, **k: SCALE.copy())
    batches, gen_in, critic_real, fakes = [], [], [], []
    real_batch, real_fwd, real_perturb, real_step = A._Source.batch, HumanMotionGenerator.forward, A.perturb_bones, A.lifter_step
    monkeypatch.setattr(A._Source, "batch", lambda self, n, rng: batches.append(real_batch(self, n, rng)) or batches[-1])
    monkeypatch.setattr(HumanMotionGenerator, "forward", lambda self, x, root, generator=None: gen_in.append(x.detach().clone()) or real_fwd(self, x, root, generator=generator))
    monkeypatch.setattr(A, "perturb_bones", lambda pose, deg, generator=None: critic_real.append(pose.clone()) or real_perturb(pose, deg, generator=generator))

    def spy(nets, cfg, src, fake_2d, fake_3d):
        if fake_3d is not None and len(fake_3d):
            fakes.append(fake_3d.clone())
        return real_step(nets, cfg, src, fake_2d, fake_3d)

    monkeypatch.setattr(A, "lifter_step", spy)
    cfg = _cfg(epochs=1, warmup_epochs=0, samples_per_epoch=8, selection=False, proportions="estimate",
               proportion_labels=labels, beta_deg=0.0, frames_3d=3)
    res = _run(baseline, cfg, gen=_static_generator())
    np.testing.assert_array_equal(res.proportions, SCALE)
    scale = torch.as_tensor(SCALE, dtype=torch.float32)
    # every source batch carries the windows rescaled bone by bone to the target's proportions
    for b in batches:
        torch.testing.assert_close(_lengths(b["pose_3d_gen"]), _lengths(b["pose_3d"]) * scale, rtol=1e-4, atol=1e-6)
    # the generator and the 3D critic start from those, not from the source as it is
    gen_batches = [b for b in batches if any(torch.equal(x, b["pose_3d_gen"]) for x in gen_in)]
    assert len(gen_batches) == len(gen_in) >= 2
    assert not any(torch.allclose(x, b["pose_3d"]) for x, b in zip(gen_in, gen_batches))
    assert critic_real and all(any(torch.equal(x, b["pose_3d_gen"].flatten(0, 1)) for b in gen_batches) for x in critic_real)
    # the fakes' labels (static generator: the input, root-relative, in the source camera)
    # carry the target's proportions, or go back to the source's
    key = "pose_3d_gen" if labels == "target" else "pose_3d"
    assert fakes and all(any(torch.allclose(f, b[key][:, 1], atol=1e-5) for b in gen_batches) for f in fakes)


def test_proportions_off_and_the_control_leave_the_source_as_it_is(baseline, monkeypatch):
    from adaptpose_pipeline.core import proportions as P

    monkeypatch.setattr(P, "estimate_proportions", lambda *a, **k: pytest.fail("estimated without proportions: estimate"))
    assert _run(baseline, _cfg(epochs=1, warmup_epochs=0, samples_per_epoch=8)).proportions is None
    monkeypatch.setattr(P, "estimate_proportions", lambda *a, **k: pytest.fail("the control estimated proportions"))
    assert _run(baseline, _cfg(proportions="estimate"), control=True).proportions is None


def test_fake_weight_scales_the_fake_term_of_the_lifter_loss(baseline):
    cfg = _cfg()
    source = A._Source(_arrays(3, 12, 0), 3, cfg, torch.device("cpu"))
    src = source.batch(8, np.random.default_rng(0))
    fake_2d, fake_3d = src["pose_2d"] * 1.5, src["pose_3d"][:, 1] * 0.5  # fakes unlike the source
    losses = {}
    for w in (0.0, 1.0, 2.5):
        torch.manual_seed(0)
        nets = A.AdaptNets(baseline, GeneratorConfig(frames=3, hidden=16), _cfg(w_fake=w), torch.device("cpu"))
        torch.manual_seed(1)  # the same dropout masks in every call
        ctx = A.StepContext(_cfg(w_fake=w), "screen", False, torch.Generator().manual_seed(0))
        losses[w] = A.lifter_step(nets, ctx, src, fake_2d, fake_3d)
    fake_term = losses[1.0] - losses[0.0]
    assert fake_term > 0
    assert losses[2.5] == pytest.approx(losses[0.0] + 2.5 * fake_term, rel=1e-5)


def test_proportion_keys_are_checked():
    from adaptpose_pipeline.pipelines.adapt.nodes import proportion_params

    with pytest.raises(ValueError, match="adapt.proportions"):
        AdaptConfig(proportions="guess")
    with pytest.raises(ValueError, match="proportion_labels"):
        AdaptConfig(proportion_labels="both")
    with pytest.raises(ValueError, match="proportions_quantile"):
        AdaptConfig(proportions_quantile=0.0)
    with pytest.raises(ValueError, match="w_fake"):
        AdaptConfig(w_fake=-1.0)
    defaults = {"proportions_quantile": 99.0, "proportion_labels": "target", "proportions_estimator": "tail",
                "proportions_min_foreshortening": 0.5, "proportions_min_change": 0.0, "proportions_reprojection_tolerance": 0.02}
    assert proportion_params({}) == {"proportions": "off", **defaults}
    assert proportion_params({"proportions": {"mode": False}}) == {"proportions": "off", **defaults}  # YAML's bare off
    assert proportion_params({"proportions": {"mode": "estimate", "quantile": 95, "labels": "source"}}) == {
        **defaults, "proportions": "estimate", "proportions_quantile": 95, "proportion_labels": "source"}
    with pytest.raises(ValueError, match=r"adapt\.proportions\.quantil: Extra inputs are not permitted"):
        proportion_params({"proportions": {"mode": "estimate", "quantil": 95}})
