import numpy as np
import pytest
import torch

from adaptpose_pipeline.core import proportions as P
from adaptpose_pipeline.core import training, windows
from adaptpose_pipeline.core.lifter import (
    LifterCheckpoint,
    LifterConfig,
    Retargeted,
    TemporalModel,
    TemporalModelOptimized1f,
    lift_sequence,
)
from adaptpose_pipeline.core.skeleton import bone_lengths, joints_to_bones


@pytest.mark.parametrize("widths, rf", [((3, 3, 3), 27), ((1,), 1), ((1, 1, 1), 1), ((3, 3, 3, 3), 81), ((5,), 5), ((3, 5), 15)])
def test_receptive_field(widths, rf):
    cfg = LifterConfig(filter_widths=widths, channels=8)
    assert cfg.receptive_field == rf
    model = TemporalModel(cfg).eval()
    assert model(torch.zeros(2, rf + 4, 17, 2)).shape == (2, 5, 17, 3)
    assert TemporalModelOptimized1f(cfg).eval()(torch.zeros(2, rf, 17, 2)).shape == (2, 1, 17, 3)


def test_bad_config_and_input():
    with pytest.raises(ValueError, match="filter_widths"):
        LifterConfig(filter_widths=(2, 3))
    with pytest.raises(ValueError, match="fewer than the receptive field 27"):
        TemporalModel(LifterConfig(channels=8))(torch.zeros(1, 10, 17, 2))
    with pytest.raises(ValueError, match=r"expected \(B, T, 17, 2\)"):
        TemporalModel(LifterConfig(channels=8))(torch.zeros(1, 30, 16, 2))


def test_strided_and_dilated_forms_agree_and_root_is_zero(gen):
    cfg = LifterConfig(filter_widths=(3, 3, 3), channels=16)
    fast, full = TemporalModelOptimized1f(cfg), TemporalModel(cfg)
    full.load_state_dict(fast.state_dict())
    fast.eval(), full.eval()
    x = torch.randn(3, 27, 17, 2, generator=gen)
    assert torch.allclose(fast(x), full(x), atol=1e-5)
    assert torch.equal(full(x)[..., 0, :], torch.zeros(3, 1, 3))
    # Whole-sequence lifting: one output per frame; the first uses replicated edges.
    seq = torch.randn(40, 17, 2, generator=gen)
    out = lift_sequence(full, seq, batch_frames=16)
    assert out.shape == (40, 17, 3)
    padded = torch.cat([seq[:1].expand(13, -1, -1), seq[:14]])
    assert torch.allclose(out[0], fast(padded[None])[0, 0], atol=1e-5)


def test_checkpoint_round_trip():
    cfg = LifterConfig(filter_widths=(1,), channels=8)
    model = TemporalModel(cfg)
    ck = LifterCheckpoint.from_payload(LifterCheckpoint(cfg, model.state_dict(), {"a": 1}).to_payload())
    assert ck.config == cfg and ck.info == {"a": 1}
    x = torch.randn(2, 1, 17, 2)
    assert torch.allclose(ck.model()(x), model.eval()(x))


def _arrays(lengths, seed=0):
    rng = np.random.default_rng(seed)
    N = sum(lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    pose_3d = rng.normal(0, 0.2, (N, 17, 3)).astype(np.float32)
    pose_3d[:, 0] = 0
    return {
        "pose_2d": (pose_3d[..., :2] / (pose_3d[..., 2:] + 5.0)).astype(np.float32),
        "pose_3d": pose_3d,
        "valid": np.ones(N, bool),
        "seq_start": starts,
        "seq_length": np.asarray(lengths, np.int64),
    }


def test_window_indices_stay_in_their_sequence():
    first, end = windows.frame_bounds(np.array([0, 10]), np.array([10, 5]))
    assert first.tolist() == [0] * 10 + [10] * 5 and end.tolist() == [10] * 10 + [15] * 5
    idx = windows.window_indices(np.array([1, 12]), first[[1, 12]], end[[1, 12]], 5, np.array([3, 2]))
    # Centre 1, stride 3: 1-6, 1-3 clip to 0; 1+3=4, 1+6=7. Centre 12, stride 2 in [10, 15).
    assert idx.tolist() == [[0, 0, 1, 4, 7], [10, 10, 12, 14, 14]]


def test_random_stride_sampler_draws_all_strides_within_bounds():
    arrays = _arrays([30, 7, 50])
    cfg = training.TrainConfig(epochs=1, batch_size=4096, stride_min=2, stride_max=5, flip_augment=False, samples_per_epoch=4000)
    sampler = training.WindowSampler(arrays, 9, cfg, seed=0)
    (x2d, x3d), = list(sampler.epoch())
    assert x2d.shape == (4000, 9, 17, 2) and x3d.shape == (4000, 17, 3)
    # Recover each window's rows from its 2D values and check stride and sequence.
    flat = arrays["pose_2d"].reshape(len(arrays["pose_2d"]), -1)
    lookup = {row.tobytes(): i for i, row in enumerate(flat)}
    rows = np.array([[lookup[f.numpy().reshape(-1).tobytes()] for f in w] for w in x2d[:500]])
    first, end = windows.frame_bounds(arrays["seq_start"], arrays["seq_length"])
    centre = rows[:, 4]
    assert (rows >= first[centre][:, None]).all() and (rows < end[centre][:, None]).all()
    steps = np.diff(rows, axis=1)
    even = (steps == steps[:, :1]).all(axis=1)
    # Evenly spaced windows show their stride; the others were clipped at a sequence edge.
    assert set(steps[even][:, 0].tolist()) == {2, 3, 4, 5}
    touches_edge = (rows[:, 0] == first[centre]) | (rows[:, -1] == end[centre] - 1)
    assert touches_edge[~even].all()
    assert (steps <= 5).all() and (steps >= 0).all()
    assert np.allclose(x3d[:500].numpy(), arrays["pose_3d"][centre])


def test_stride_one_is_plain_training():
    arrays = _arrays([20])
    cfg = training.TrainConfig(epochs=1, batch_size=64, stride_min=1, stride_max=1, flip_augment=False)
    (x2d, _), = list(training.WindowSampler(arrays, 3, cfg, seed=1).epoch())
    diffs = {tuple(np.diff([int(np.argmin(np.abs(arrays["pose_2d"] - f.numpy()).sum((1, 2)))) for f in w])) for w in x2d}
    assert diffs <= {(1, 1), (0, 1), (1, 0)}


def test_train_config_errors_name_the_key():
    with pytest.raises(ValueError, match=r"pretrain\.train\.stride_min: Input should be greater than or equal to 1"):
        training.TrainConfig(stride_min=0)
    with pytest.raises(ValueError, match=r"pretrain\.train\.stride_min: expected <= stride_max = 3, got 4"):
        training.TrainConfig(stride_min=4, stride_max=3)
    with pytest.raises(ValueError, match=r"pretrain\.train\.lr: Input should be greater than 0 \(got 0\)"):
        training.TrainConfig(lr=0)
    with pytest.raises(ValueError, match=r"pretrain\.train\.lr_decay: Input should be less than or equal to 1"):
        training.TrainConfig(lr_decay=1.5)


def test_tiny_training_reduces_loss_and_gradients_flow():
    train, val = _arrays([60, 60], seed=1), _arrays([40], seed=2)
    cfg = LifterConfig(filter_widths=(3,), channels=32, dropout=0.0)
    tc = training.TrainConfig(epochs=8, batch_size=32, lr=3e-3, stride_min=1, stride_max=2, samples_per_epoch=256)
    state, history = training.train_lifter(train, val, cfg, tc, torch.device("cpu"), seed=0, progress=False)
    assert history[-1]["train_loss_mm"] < 0.7 * history[0]["train_loss_mm"]
    assert min(h["val_mpjpe_mm"] for h in history) < history[0]["val_mpjpe_mm"]
    model = TemporalModelOptimized1f(cfg)
    model.load_state_dict(state)
    x = torch.randn(4, 3, 17, 2)
    model(x).sum().backward()
    assert model.expand_conv.weight.grad is not None and model.expand_conv.weight.grad.abs().sum() > 0


def test_same_seed_same_weights():
    train, val = _arrays([30], seed=1), _arrays([20], seed=2)
    cfg = LifterConfig(filter_widths=(3,), channels=8)
    tc = training.TrainConfig(epochs=2, batch_size=16, samples_per_epoch=64)
    a, _ = training.train_lifter(train, val, cfg, tc, torch.device("cpu"), seed=3, progress=False)
    b, _ = training.train_lifter(train, val, cfg, tc, torch.device("cpu"), seed=3, progress=False)
    c, _ = training.train_lifter(train, val, cfg, tc, torch.device("cpu"), seed=4, progress=False)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["expand_conv.weight"], c["expand_conv.weight"])


def test_filter_widths_for_receptive_field():
    from adaptpose_pipeline.core.lifter import filter_widths_for

    assert filter_widths_for(27) == (3, 3, 3) and LifterConfig(filter_widths_for(27)).receptive_field == 27
    assert filter_widths_for(1) == (1, 1, 1) and LifterConfig(filter_widths_for(1)).receptive_field == 1
    assert LifterConfig(filter_widths_for(243)).receptive_field == 243
    for bad in (0, 9.5, 26, 28):
        with pytest.raises(ValueError, match="receptive_field"):
            filter_widths_for(bad)


def _through_file(state: dict, tmp_path) -> dict:
    """What a resumed run reads: the state saved and loaded as the pipeline does."""
    path = tmp_path / "ckpt.pt"
    torch.save(state, path)
    return torch.load(path, map_location="cpu", weights_only=True)


def test_resume_from_an_epoch_checkpoint_ends_like_an_uninterrupted_run(tmp_path):
    train, val = _arrays([40, 30], seed=1), _arrays([20], seed=2)
    cfg = LifterConfig(filter_widths=(3,), channels=16, dropout=0.25)  # dropout: torch RNG matters
    tc = training.TrainConfig(epochs=4, batch_size=16, samples_per_epoch=64, bn_momentum_end=0.01)
    run = lambda **kw: training.train_lifter(train, val, cfg, tc, torch.device("cpu"), seed=5, progress=False, **kw)  # noqa: E731
    full_state, full_history = run()

    saved = []

    def interrupt(state):
        saved.append(state)
        if state["epoch"] == 1:
            raise KeyboardInterrupt  # killed after epoch 1 was saved

    with pytest.raises(KeyboardInterrupt):
        run(on_checkpoint=interrupt)
    state, history = run(resume=_through_file(saved[-1], tmp_path))
    assert [h["epoch"] for h in history] == [0, 1, 2, 3]
    assert history == full_history
    assert all(torch.equal(state[k], full_state[k]) for k in full_state)
    # resuming twice from one state in memory: the first resume must not have changed it
    for _ in range(2):
        again, _ = run(resume=saved[-1])
        assert all(torch.equal(again[k], full_state[k]) for k in full_state)


def test_sequence_lifter_lifts_each_sequence_as_predict_does():
    from adaptpose_pipeline.core.lifter import LifterCheckpoint, LifterConfig, SequenceLifter, TemporalModel

    torch.manual_seed(0)
    cfg = LifterConfig(filter_widths=(3, 3), channels=16)
    ckpt = LifterCheckpoint(cfg, TemporalModel(cfg).state_dict())
    served = ckpt.sequence_model()
    assert isinstance(served, SequenceLifter) and served.receptive_field == 9
    x = torch.randn(2, 14, 17, 2)
    y = served(x)
    assert y.shape == (2, 14, 17, 3)
    for i in range(2):  # each sequence as the predict pipeline lifts a file
        arrays = {"pose_2d": x[i].numpy(), "seq_start": np.array([0]), "seq_length": np.array([14])}
        np.testing.assert_allclose(y[i].numpy(), training.predict_sequences(ckpt.model(), arrays, torch.device("cpu")), atol=1e-6)
    assert served.input_example().shape == (1, 9, 17, 2)
    with pytest.raises(ValueError, match=r"expected \(B, T, 17, 2\)"):
        served(torch.zeros(14, 17, 2))


def test_progress_shows_batches_inside_each_epoch(capsys):
    train, val = _arrays([60], seed=1), _arrays([40], seed=2)
    cfg = LifterConfig(filter_widths=(3,), channels=8, dropout=0.0)
    tc = training.TrainConfig(epochs=1, batch_size=32, stride_min=1, stride_max=2, samples_per_epoch=100)
    sampler = training.WindowSampler(train, 3, tc, seed=0)
    assert sampler.batches_per_epoch() == 4 == len(list(sampler.epoch()))
    training.train_lifter(train, val, cfg, tc, torch.device("cpu"), seed=0, progress=True)
    err = capsys.readouterr().err
    assert "pretrain" in err and "epoch 0" in err and "/4" in err


def _retargeted_checkpoint(ratios, rescale_output=True):
    cfg = LifterConfig(filter_widths=(3,), channels=8, dropout=0.0)
    torch.manual_seed(0)
    state = TemporalModel(cfg).state_dict()
    info = {"retarget": {"ratios": list(ratios), "normalisation": "frobenius", "rescale_output": rescale_output}}
    return LifterCheckpoint(cfg, state, info), TemporalModel(cfg)


def test_a_retargeted_checkpoint_redraws_the_input_and_rescales_the_answer():
    ratios = torch.linspace(0.7, 1.4, 16)
    ck, plain = _retargeted_checkpoint(ratios.tolist())
    plain.load_state_dict(ck.state_dict)
    plain.eval()
    model = LifterCheckpoint.from_payload(ck.to_payload()).model()
    assert isinstance(model, Retargeted) and model.receptive_field == 3
    x = torch.randn(2, 5, 17, 2)
    with torch.no_grad():
        inner = plain(P.retarget_2d(x, ratios, "frobenius"))
        out = model(x)
    torch.testing.assert_close(out, P.rescale_bones(inner, ratios))
    bones_out, bones_in = joints_to_bones(out), joints_to_bones(inner)
    torch.testing.assert_close(bone_lengths(bones_out), bone_lengths(bones_in) * ratios)
    # labels in the source's proportions: the input is redrawn, the answer left as lifted
    source_labels = _retargeted_checkpoint(ratios.tolist(), rescale_output=False)[0].model()
    with torch.no_grad():
        torch.testing.assert_close(source_labels(x), inner)
    # ratios of 1: the plain lifter (up to the renormalisation of already normalised 2D)
    ones = _retargeted_checkpoint([1.0] * 16)[0].model()
    xn = x - x[..., :1, :]
    xn = xn / xn.flatten(-2).norm(dim=-1)[..., None, None]
    with torch.no_grad():
        torch.testing.assert_close(ones(xn), plain(xn), atol=1e-5, rtol=1e-5)
    # served as a sequence model, the wrapper travels with it
    assert isinstance(ck.sequence_model().model, Retargeted)


@pytest.mark.parametrize("ratios, match", [([1.0] * 15, "16 positive finite"), ([0.0] + [1.0] * 15, "16 positive finite"),
                                           ([float("nan")] + [1.0] * 15, "16 positive finite")])
def test_bad_retarget_ratios_are_named(ratios, match):
    with pytest.raises(ValueError, match=match):
        _retargeted_checkpoint(ratios)[0].model()


def test_a_retargeted_lifter_checks_its_input_shape():
    with pytest.raises(ValueError, match=r"expected \(B, T, 17, 2\)"):
        _retargeted_checkpoint([1.0] * 16)[0].model()(torch.zeros(1, 5, 16, 2))
