"""notebooks/compare_results.ipynb, executed as Jupyter would (nbclient, an ipykernel)
against a copy of the project: reports written by hand (fast) or by real runs (slow)."""

import json

import mlflow
import pytest

from adaptpose_pipeline.core.skeleton import H36M17_JOINTS
from tests.paths import ROOT
from tests.pipelines.conftest import make_project

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = ROOT / "notebooks" / "compare_results.ipynb"
VERSION = "2026-01-01T00.00.00.000Z"


def _execute(project, cwd, monkeypatch):
    """Run every cell (raising on the first error); the outputs of each cell by id."""
    monkeypatch.setenv("ADAPTPOSE_PROJECT", str(project.path))
    for key, value in project.env().items():  # the kernel inherits this environment
        monkeypatch.setenv(key, value)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return {cell.id: cell.outputs for cell in nb.cells if cell.cell_type == "code"}


def _text(outputs) -> str:
    return "\n".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)


def _metrics(model: str, mpjpe: float) -> dict:
    return {
        "target": "3dhp",
        "model": model,
        "source": "h36m",
        "protocol": {"joints": 17, "frames": 10},
        "overall": {"mpjpe": mpjpe, "p_mpjpe": mpjpe / 2, "pck150": 0.8, "auc": 0.4},
        "per_joint": {joint: mpjpe for joint in H36M17_JOINTS},
    }


def _write_reports(root, target: str = "3dhp") -> None:
    """What a chain run leaves in 08_reporting, in the versioned layout."""
    reports = root / "data" / "08_reporting" / target
    for name, text in (
        ("metrics_baseline.json", json.dumps(_metrics("baseline", 100.0))),
        ("metrics_adapted.json", json.dumps(_metrics("adapted", 80.0))),
        ("adapt_history.csv", "epoch,d_2d,g_total,gen_depth_m,selection_rate,lifter\n0,0.3,1.7,5.0,0.3,\n1,0.2,1.8,5.1,0.5,0.2\n"),
    ):
        path = reports / name / VERSION / name
        path.parent.mkdir(parents=True)
        path.write_text(text)


def test_committed_notebook_has_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)


def test_notebook_tables_reports_and_ablation_runs(tmp_path, monkeypatch):
    project = make_project(tmp_path / "project")
    _write_reports(project.path)
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project.path / 'mlruns.db'}")
    run = client.create_run(
        client.create_experiment("adaptpose/3dhp"), tags={"target": "3dhp", "table": "5", "row": "A1"}
    )
    client.log_metric(run.info.run_id, "mpjpe", 91.5)
    client.set_terminated(run.info.run_id)

    outputs = _execute(project, tmp_path, monkeypatch)
    assert "['3dhp']" in _text(outputs["load"])
    table = _text(outputs["table"])
    assert "MPJPE reduction %" in table and "20.0" in table  # (100 - 80) / 100
    assert any("image/png" in o.get("data", {}) for o in outputs["curves"])
    assert any("image/png" in o.get("data", {}) for o in outputs["joints"])
    assert "A1" in _text(outputs["ablation"]) and "91.5" in _text(outputs["ablation"])


@pytest.mark.slow
def test_notebook_after_real_runs(tmp_path, monkeypatch):
    from tests.pipelines.test_adapt import ADAPT, PRETRAIN

    project = make_project(tmp_path / "project")
    project.run("--pipeline=standin", "--params", "standin.scale=0.25")
    project.run("--pipeline=chain", "--params", f"target=3dhp,{PRETRAIN},{ADAPT}")
    outputs = _execute(project, tmp_path, monkeypatch)
    assert "['3dhp']" in _text(outputs["load"])
    assert "MPJPE reduction %" in _text(outputs["table"])
    assert "no MLflow runs tagged 'table'" in _text(outputs["ablation"])
