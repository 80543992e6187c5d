"""``repro.main``'s verdicts, with the kedro runs replaced by canned results (fast)."""

import json

import pytest

from adaptpose_pipeline import repro

SAME = {"lifter_adapted": "aa", "metrics_adapted": "mm", "raw_ski": "rr"}
OTHER = {**SAME, "lifter_adapted": "bb"}
METRICS = {"metrics_adapted": {"mpjpe": 80.0, "p_mpjpe": 60.0, "pck150": 0.9}, "metrics_baseline": {"mpjpe": 90.0}}


def _shift(metrics, mm=0.0, pck=0.0):
    return {f: {k: v + (pck if k.startswith(("pck", "auc")) else mm) for k, v in m.items()} for f, m in metrics.items()}


@pytest.fixture
def canned(monkeypatch, tmp_path):
    """``canned(a=..., b=..., control=...)``: each run's ``(outputs, metrics)``; returns
    the calls ``run_once`` got, as ``(run folder name, seed, target, device)``."""
    calls = []

    def install(**results):
        def fake_run_once(root, dest, seed, target, device="cpu"):
            calls.append((dest.name, seed, target, device))
            return results[dest.name]

        monkeypatch.setattr(repro, "run_once", fake_run_once)
        return calls

    return install


def _main(capsys, *argv):
    code = repro.main(list(argv))
    return code, capsys.readouterr().out


def test_identical_artifacts_pass(canned, capsys):
    calls = canned(a=(SAME, METRICS), b=(dict(SAME), METRICS))
    code, out = _main(capsys)
    assert code == 0 and "OK, identical artifacts" in out and "3 artifacts compared (target ski, cpu)" in out
    assert calls == [("a", 0, "ski", "cpu"), ("b", 0, "ski", "cpu")]


def test_a_differing_or_missing_artifact_fails_with_1(canned, capsys):
    canned(a=(SAME, METRICS), b=(OTHER, METRICS))
    code, out = _main(capsys)
    assert code == 1 and "DIFFERS  lifter_adapted: aa vs bb" in out and "FAILED, 1 of 3 artifacts differ" in out
    canned(a=(SAME, METRICS), b=({k: v for k, v in SAME.items() if k != "raw_ski"}, METRICS))
    code, out = _main(capsys)
    assert code == 1 and "DIFFERS  raw_ski: rr vs None" in out


def test_no_artifacts_to_compare_fails_with_1(canned, capsys):
    canned(a=({}, {}), b=({}, {}))
    code, out = _main(capsys)
    assert code == 1 and "no artifacts to compare" in out


def test_seeds_target_and_device_reach_the_runs(canned, capsys):
    calls = canned(a=(SAME, METRICS), b=(SAME, METRICS), control=(OTHER, METRICS))
    assert repro.main(["--seed", "4", "--seed-b", "5", "--control-seed", "6", "--target", "3dhp"]) == 0
    assert calls == [("a", 4, "3dhp", "cpu"), ("b", 5, "3dhp", "cpu"), ("control", 6, "3dhp", "cpu")]


def test_control_seed_that_differs_passes(canned, capsys):
    canned(a=(SAME, METRICS), b=(SAME, METRICS), control=(OTHER, _shift(METRICS, 5.0)))
    code, out = _main(capsys, "--control-seed", "1")
    assert code == 0 and "control run with seed 1: 1 artifacts differ" in out


def test_control_seed_that_changes_nothing_fails_with_2(canned, capsys):
    canned(a=(SAME, METRICS), b=(SAME, METRICS), control=(dict(SAME), METRICS))
    code, out = _main(capsys, "--control-seed", "1")
    assert code == 2 and "another seed gave identical artifacts" in out


def test_differing_runs_fail_with_1_before_the_control_is_judged(canned, capsys):
    canned(a=(SAME, METRICS), b=(OTHER, METRICS), control=(dict(SAME), METRICS))
    code, _ = _main(capsys, "--control-seed", "1")
    assert code == 1


def test_cuda_passes_within_the_tolerance_though_hashes_differ(canned, capsys):
    calls = canned(a=(SAME, METRICS), b=(OTHER, _shift(METRICS, 0.4, 0.0004)))
    code, out = _main(capsys, "--device", "cuda")
    assert code == 0 and "OK, metrics within 0.5 (1 artifacts not bitwise identical)" in out
    assert "DIFFERS  lifter_adapted" in out  # listed for information
    assert {c[3] for c in calls} == {"cuda"}


@pytest.mark.parametrize("mm, pck, tolerance", [(0.6, 0.0, "0.5"), (0.0, 0.0006, "0.5"), (0.3, 0.0, "0.2")])
def test_cuda_fails_with_1_beyond_the_tolerance(canned, capsys, mm, pck, tolerance):
    canned(a=(SAME, METRICS), b=(SAME, _shift(METRICS, mm, pck)))
    code, out = _main(capsys, "--device", "cuda", "--tolerance", tolerance)
    assert code == 1 and "BEYOND TOLERANCE" in out and f"differ by more than {float(tolerance)}" in out


@pytest.mark.parametrize(
    "ma, mb",
    [({}, {}), (METRICS, {}), ({}, METRICS), (METRICS, {"metrics_adapted": METRICS["metrics_adapted"]})],
    ids=["none", "b_none", "a_none", "b_lacks_a_file"],
)
def test_cuda_without_metrics_to_compare_fails_with_1(canned, capsys, ma, mb):
    canned(a=(SAME, ma), b=(SAME, mb))
    code, out = _main(capsys, "--device", "cuda")
    assert code == 1 and "FAILED" in out


def test_cuda_control_must_move_the_metrics_beyond_the_tolerance(canned, capsys):
    canned(a=(SAME, METRICS), b=(OTHER, METRICS), control=(OTHER, _shift(METRICS, 0.1)))
    code, out = _main(capsys, "--device", "cuda", "--control-seed", "1")
    assert code == 2 and "0 metrics beyond the tolerance differ" in out
    canned(a=(SAME, METRICS), b=(OTHER, METRICS), control=(OTHER, _shift(METRICS, 3.0)))
    code, out = _main(capsys, "--device", "cuda", "--control-seed", "1")
    assert code == 0 and "3 metrics beyond the tolerance differ" in out


def test_cuda_control_without_metrics_fails_with_1(canned, capsys):
    canned(a=(SAME, METRICS), b=(SAME, METRICS), control=(OTHER, {}))
    code, out = _main(capsys, "--device", "cuda", "--control-seed", "1")
    assert code == 1 and "control run's metrics" in out


def test_work_folder_removed_unless_kept(canned, capsys, monkeypatch, tmp_path):
    canned(a=(SAME, METRICS), b=(SAME, METRICS))
    work = tmp_path / "work"
    monkeypatch.setattr(repro.tempfile, "mkdtemp", lambda prefix: (work.mkdir(), str(work))[1])
    assert repro.main([]) == 0 and not work.exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    assert repro.main(["--keep", str(kept)]) == 0 and kept.exists()


def test_latest_metrics_reads_the_newest_version_of_each_file(tmp_path):
    for version, mpjpe in (("2026-01-01T00.00.00.000Z", 99.0), ("2026-01-02T00.00.00.000Z", 80.0)):
        f = tmp_path / "data/08_reporting/ski/metrics_adapted.json" / version / "metrics_adapted.json"
        f.parent.mkdir(parents=True)
        f.write_text(json.dumps({"overall": {"mpjpe": mpjpe}}))
    (tmp_path / "data/08_reporting/ski/metrics_baseline.json").mkdir(parents=True)  # no version yet
    assert repro.latest_metrics(tmp_path, "ski") == {"metrics_adapted": {"mpjpe": 80.0}}


def test_project_copy_leaves_out_local_configuration(tmp_path):
    root = tmp_path / "root"
    for d in ("conf/base", "conf/local"):
        (root / d).mkdir(parents=True)
    (root / "conf/base/parameters.yml").write_text("seed: 0\n")
    (root / "conf/local/credentials.yml").write_text("secret\n")
    (root / "pyproject.toml").write_text("")
    (root / ".telemetry").write_text("")
    dest = repro.project_copy(root, tmp_path / "copy")
    assert (dest / "conf/base/parameters.yml").read_text() == "seed: 0\n"
    assert (dest / "conf/local").is_dir() and not list((dest / "conf/local").iterdir())
    assert (dest / "src").is_dir()
