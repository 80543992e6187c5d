import copy
import io
import json

import numpy as np
import pytest

from adaptpose_pipeline.core.skeleton import H36M16, H36M17
from adaptpose_pipeline.evaluation import plots
from adaptpose_pipeline.evaluation.metrics_file import (
    check_params,
    evaluate_predictions,
    pick_frames,
    protocol_params,
    select_joints,
    validate_metrics,
)

SEQ_A, SEQ_B = "3dhp/TS1/TS1/cam0", "3dhp/TS2/TS2/cam0"


@pytest.fixture
def arrays():
    """Two sequences (3 + 2 rows); row 2 is invalid."""
    rng = np.random.default_rng(0)
    pose_3d = rng.normal(scale=0.3, size=(5, 17, 3))
    pose_3d -= pose_3d[:, :1]
    return {
        "pose_2d": rng.uniform(-1, 1, size=(5, 17, 2)),
        "pose_3d": pose_3d,
        "valid": np.array([True, True, False, True, True]),
        "frame": np.array([0, 1, 2, 0, 1]),
        "seq_start": np.array([0, 3]),
        "seq_length": np.array([3, 2]),
        "seq_name": np.array([SEQ_A, SEQ_B]),
    }


@pytest.fixture
def pred(arrays):
    """Ground truth plus known offsets: 30 mm on r_knee (row 0), 50 mm on l_wrist
    (row 1), 17 mm on the neck (row 4), and 1 m on every joint of invalid row 2."""
    p = arrays["pose_3d"].copy()
    p[0, H36M17.index("r_knee")] += [0.03, 0.0, 0.0]
    p[1, H36M17.index("l_wrist")] += [0.03, 0.04, 0.0]
    p[4, H36M17.index("neck")] += [0.0, 0.0, 0.017]
    p[2, 1:] += 1.0
    return p


def _complete(result, target="3dhp", model="baseline", source="h36m"):
    return {"target": target, "model": model, "source": source, **result}


def test_errors_match_the_known_offsets_on_valid_frames_only(pred, arrays):
    m = evaluate_predictions(pred, arrays)
    assert m["protocol"]["frames"] == 4 and m["protocol"]["joints"] == 17
    assert m["overall"]["mpjpe"] == pytest.approx((30 + 50 + 17) / (4 * 17))
    expected_joints = {name: 0.0 for name in H36M17.joints} | {"r_knee": 30 / 4, "l_wrist": 50 / 4, "neck": 17 / 4}
    assert m["per_joint"] == pytest.approx(expected_joints)
    assert list(m["per_joint"]) == list(H36M17.joints)
    assert m["per_sequence"] == pytest.approx({SEQ_A: 80 / (2 * 17), SEQ_B: 17 / (2 * 17)})
    assert m["overall"]["pck150"] == 1.0
    # 65 zero errors and 17, 30, 50 mm; PCK is strict, so at 0 mm it is 0.
    auc = (3 * 65 + 3 * 66 + 4 * 67) / 68 / 31 + 20 / 31
    assert m["overall"]["auc"] == pytest.approx(auc)
    assert m["pck_curve"]["thresholds_mm"] == [float(t) for t in range(0, 151, 5)]
    assert np.mean(m["pck_curve"]["pck"]) == pytest.approx(auc)
    assert 0 <= m["overall"]["p_mpjpe"] and 0 <= m["overall"]["n_mpjpe"]
    validate_metrics(_complete(m))


def test_perfect_predictions_score_zero(arrays):
    m = evaluate_predictions(arrays["pose_3d"].copy(), arrays)
    assert m["overall"]["mpjpe"] == 0.0 and m["overall"]["n_mpjpe"] == pytest.approx(0.0, abs=1e-9)
    assert m["overall"]["p_mpjpe"] == pytest.approx(0.0, abs=1e-6)
    assert m["overall"]["pck150"] == 1.0


def test_16_joint_set_drops_the_neck(pred, arrays):
    m = evaluate_predictions(pred, arrays, joint_set="h36m16", pck_threshold_mm=40)
    assert m["protocol"]["joints"] == 16 and m["protocol"]["joint_set"] == "h36m16"
    assert "neck" not in m["per_joint"] and list(m["per_joint"]) == list(H36M16.joints)
    assert m["overall"]["mpjpe"] == pytest.approx(80 / (4 * 16))
    assert m["per_sequence"][SEQ_B] == 0.0
    assert m["overall"]["pck40"] == pytest.approx(63 / 64)  # the 50 mm error is out
    validate_metrics(_complete(m))


def test_protocol_layout(pred, arrays):
    p = evaluate_predictions(pred, arrays)["protocol"]
    assert p == {
        "joints": 17, "joint_set": "h36m17", "averaging": "per frame, over valid frames", "frames": 4,
        "coordinates": "unrecorded", "root": "hip",
        "mpjpe": "root-aligned", "p_mpjpe": "similarity Procrustes per frame", "n_mpjpe": "least-squares scale per frame",
        "pck_threshold_mm": 150, "auc_thresholds_mm": "0..150 step 5", "test_time_augmentation": False,
        "model_selection": "source validation split",
    }


def test_protocol_names_the_coordinates_the_arrays_record(pred, arrays):
    metrics = evaluate_predictions(pred, {**arrays, "coordinates": np.array(["univ_annot3"])}, "h36m16")
    assert metrics["protocol"]["coordinates"] == "univ_annot3"
    assert protocol_params(metrics) == {
        "protocol.joint_set": "h36m16", "protocol.coordinates": "univ_annot3", "protocol.frames": "4",
        "protocol.averaging": "per frame, over valid frames",
    }  # fmt: skip


def test_bad_inputs_are_named(pred, arrays):
    with pytest.raises(ValueError, match="predictions: expected"):
        evaluate_predictions(pred[:4], arrays)
    with pytest.raises(KeyError, match="seq_name"):
        evaluate_predictions(pred, {k: v for k, v in arrays.items() if k != "seq_name"})
    with pytest.raises(KeyError, match="unknown skeleton"):
        evaluate_predictions(pred, arrays, joint_set="h36m15")


def test_select_joints_by_name():
    poses = np.arange(17)[None, :, None] * np.ones((2, 17, 3))
    kept = select_joints(poses, H36M16)
    assert kept.shape == (2, 16, 3) and H36M17.index("neck") not in kept[0, :, 0]


def test_pick_frames_spreads_over_valid_rows():
    valid = np.array([False, True, True, False, True, True, True, False])
    assert pick_frames(valid, 3).tolist() == [1, 4, 6]
    assert pick_frames(valid, 10).tolist() == [1, 2, 4, 5, 6]
    with pytest.raises(ValueError, match="no valid frames"):
        pick_frames(np.zeros(3, bool), 2)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"joint_set": "h36m15"}, r"evaluate\.joint_set: Input should be 'h36m17' or 'h36m16'"),
        ({"pck_threshold_mm": 150.5}, r"evaluate\.pck_threshold_mm: expected a positive whole number of mm, got 150\.5"),
        ({"pck_threshold_mm": 0}, r"evaluate\.pck_threshold_mm: Input should be greater than 0"),
        ({"pck_threshold_mm": True}, r"evaluate\.pck_threshold_mm: expected a positive whole number"),
        ({"skeleton_frames": 0}, r"evaluate\.skeleton_frames: Input should be greater than or equal to 1"),
        ({"frames": 3}, r"evaluate\.frames: Extra inputs are not permitted"),
    ],
)
def test_check_params_names_the_key(change, message):
    good = {"joint_set": "h36m17", "pck_threshold_mm": 150, "skeleton_frames": 4}
    assert check_params(good) == good
    assert check_params({**good, "pck_threshold_mm": 150.0})["pck_threshold_mm"] == 150  # an int: it names pck150
    with pytest.raises(ValueError, match=message):
        check_params({**good, **change})


@pytest.fixture
def metrics(pred, arrays):
    return _complete(evaluate_predictions(pred, arrays))


def test_metrics_survive_json(metrics):
    validate_metrics(json.loads(json.dumps(metrics)))


def _set(d, path, value):
    *parents, last = path
    for key in parents:
        d = d[key]
    if value is DELETE:
        del d[last]
    else:
        d[last] = value


DELETE = object()


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("source",), DELETE, r"metrics\.<top>: .*missing \['source'\]"),
        (("extra",), 1, r"metrics\.<top>: .*unexpected \['extra'\]"),
        (("model",), "", "metrics.model"),
        (("protocol", "frames"), "4", "metrics.protocol.frames"),
        (("protocol", "test_time_augmentation"), 0, "metrics.protocol.test_time_augmentation"),
        (("protocol", "joints"), 16, "metrics.protocol.joints"),
        (("protocol", "joint_set"), "coco", "metrics.protocol.joint_set"),
        (("overall", "auc"), 1.5, "metrics.overall.auc"),
        (("overall", "pck150"), -0.1, "metrics.overall.pck150"),
        (("overall", "mpjpe"), -1.0, "metrics.overall.mpjpe"),
        (("overall", "p_mpjpe"), float("nan"), "metrics.overall.p_mpjpe"),
        (("overall", "n_mpjpe"), True, "metrics.overall.n_mpjpe"),
        (("overall", "pck150"), DELETE, "metrics.overall"),
        (("per_joint", "neck"), DELETE, r"metrics\.per_joint: .*missing \['neck'\]"),
        (("per_joint", "r_knee"), -3.0, "metrics.per_joint.r_knee"),
        (("per_sequence",), {}, "metrics.per_sequence"),
        (("per_sequence", SEQ_A), "7", f"metrics.per_sequence.{SEQ_A}"),
        (("pck_curve", "pck"), [0.5], r"metrics\.pck_curve\.pck: expected a list of 31"),
        (("pck_curve", "thresholds_mm"), [float(t) for t in range(150, -1, -5)], "increasing"),
    ],
)
def test_validate_metrics_rejects_and_names_the_key(metrics, path, value, message):
    validate_metrics(metrics)
    bad = copy.deepcopy(metrics)
    _set(bad, path, value)
    with pytest.raises(ValueError, match=message):
        validate_metrics(bad)


def test_validate_metrics_rejects_a_curve_value_out_of_range(metrics):
    metrics["pck_curve"]["pck"][3] = 1.2
    with pytest.raises(ValueError, match=r"metrics\.pck_curve\.pck\[3\]"):
        validate_metrics(metrics)


def _png_bytes(fig) -> int:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)
    return len(buf.getvalue())


@pytest.mark.parametrize("joint_set, joints", [("h36m17", 17), ("h36m16", 16)])
def test_per_joint_plot_has_one_bar_per_joint(pred, arrays, joint_set, joints):
    fig = plots.per_joint_errors(_complete(evaluate_predictions(pred, arrays, joint_set=joint_set)))
    (ax,) = fig.axes
    assert len(ax.patches) == joints
    assert [t.get_text() for t in ax.get_yticklabels()][:2] == ["hip", "r_hip"]
    assert _png_bytes(fig) > 1000


def test_pck_plot_shows_the_curve_and_its_auc(metrics):
    fig = plots.pck_curve(metrics)
    (ax,) = fig.axes
    curve, threshold = ax.lines
    assert len(curve.get_xdata()) == 31
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == f"baseline (AUC {metrics['overall']['auc']:.3f})"
    assert legend[1].startswith("PCK@150 mm")
    assert _png_bytes(fig) > 1000


@pytest.mark.parametrize("skeleton", [H36M17, H36M16])
def test_skeleton_panel_draws_every_bone_of_both_poses(pred, arrays, skeleton):
    frames = [0, 3, 4]
    fig = plots.skeleton_panel(
        select_joints(pred, skeleton), select_joints(arrays["pose_3d"], skeleton), frames, skeleton, ["a", "b", "c"]
    )
    assert len(fig.axes) == 2 * len(frames)
    assert all(len(ax.lines) == 2 * skeleton.num_bones for ax in fig.axes)
    assert [ax.get_title() for ax in fig.axes[:3]] == ["a", "b", "c"]
    assert _png_bytes(fig) > 1000
    with pytest.raises(ValueError, match="frames must be rows"):
        plots.skeleton_panel(pred, arrays["pose_3d"], [5], H36M17)
