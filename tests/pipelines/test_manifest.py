import json

import mlflow
import pytest

from adaptpose_pipeline import manifest, repro


def test_hashes_cover_contents_not_names_or_times(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"xyz")
    b.write_bytes(b"xyz")
    assert manifest.hash_path(a) == manifest.hash_path(b)
    b.write_bytes(b"xyw")
    assert manifest.hash_path(a) != manifest.hash_path(b)
    for name in ("one", "two"):
        (tmp_path / name / "sub").mkdir(parents=True)
        (tmp_path / name / "sub" / "f.txt").write_text("same")
    assert manifest.hash_path(tmp_path / "one") == manifest.hash_path(tmp_path / "two")
    (tmp_path / "two" / "extra.txt").write_text("")
    assert manifest.hash_path(tmp_path / "one") != manifest.hash_path(tmp_path / "two")
    assert manifest.hash_path(tmp_path / "missing") is None


def test_compare_names_the_differing_and_missing_artifacts(tmp_path):
    assert manifest.compare_outputs({"x": "1", "y": "2"}, {"x": "1", "y": "2"}) == []
    assert manifest.compare_outputs({"x": "1", "y": "2"}, {"x": "1", "y": "3", "z": "4"}) == ["y", "z"]
    for i, outputs in enumerate(({"x": "1", "y": "2"}, {"y": "5"})):
        (tmp_path / f"2026-01-0{i + 1}.json").write_text(json.dumps({"outputs": outputs}))
    assert manifest.merged_outputs(tmp_path) == {"x": "1", "y": "5"}


def test_pipeline_runs_write_manifests(standin_project):
    (first,) = sorted((standin_project.path / "data/08_reporting/manifests").glob("*.json"))
    m = json.loads(first.read_text())
    assert m["pipeline"] == ["standin"] and m["seed"] == 0 and m["target"] == "3dhp"
    assert {"raw_h36m", "raw_3dhp", "raw_3dpw", "raw_ski", "standin_gaps_table"} <= set(m["outputs"])
    assert all(len(h) == 64 for h in m["outputs"].values())
    assert "torch" in m["packages"] and "commit" in m["git"]
    # the run's reports (figures, tables) are artifacts of its MLflow run too
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{standin_project.path / 'mlruns.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    logged = {a.path for r in runs for a in client.list_artifacts(r.info.run_id, "reporting/standin_gaps_plot")}
    assert logged == {"reporting/standin_gaps_plot/domain_gaps.png"}


@pytest.mark.slow
def test_repro_check_passes_for_one_seed_and_fails_for_two(capsys):
    assert repro.main([]) == 0
    assert repro.main(["--seed-b", "1"]) == 1
    assert "DIFFERS  lifter_adapted" in capsys.readouterr().out


def test_cuda_mode_compares_metrics_within_a_tolerance():
    a = {"metrics_adapted": {"mpjpe": 80.0, "pck150": 0.900}, "metrics_baseline": {"mpjpe": 90.0}}
    b = {"metrics_adapted": {"mpjpe": 80.3, "pck150": 0.9004}, "metrics_baseline": {"mpjpe": 90.6}}
    assert repro.metrics_beyond(a, a, 0.5) == []
    assert repro.metrics_beyond(a, b, 0.5) == ["metrics_baseline:mpjpe"]
    assert repro.metrics_beyond(a, b, 0.2) == ["metrics_adapted:mpjpe", "metrics_adapted:pck150", "metrics_baseline:mpjpe"]
    assert repro.metrics_beyond(a, {"metrics_adapted": a["metrics_adapted"]}, 0.5) == ["metrics_baseline:mpjpe"]
