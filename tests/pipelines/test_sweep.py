"""adaptpose sweep on Dask's local cluster (2 worker processes) against a local MLflow
tracking server: the same MLflow rows and report as the sequential ablation pipeline."""

import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from adaptpose_pipeline.repro import metrics_beyond
from adaptpose_pipeline.sweep import local_tracking_server
from tests.pipelines.test_adapt import ADAPT, PRETRAIN

BIN = Path(sys.executable).parent
ROWS = ("BG1", "BG3")


def row_runs(uri: str) -> dict[str, mlflow.entities.Run]:
    client = mlflow.MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("adaptpose/3dhp")
    return {r.data.tags["row"]: r for r in client.search_runs([exp.experiment_id], "tags.table != ''")}


def newest_report(project, suffix: str) -> Path:
    return sorted(project.path.glob(f"data/08_reporting/3dhp/ablation/report.{suffix}/*/report.{suffix}"))[-1]


def report(project, uri: str) -> tuple[pd.DataFrame, str]:
    out = subprocess.run(
        [str(BIN / "kedro"), "run", "--pipeline=report", "--params", "target=3dhp"], cwd=project.path,
        env={**project.env(), "MLFLOW_TRACKING_URI": uri}, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return pd.read_csv(newest_report(project, "csv")), newest_report(project, "md").read_text()


@pytest.mark.slow
def test_a_two_row_sweep_on_two_workers_gives_the_sequential_rows_and_report(standin_project, tmp_path):
    p = standin_project
    # sequential: the chain, then both rows in one kedro run (the project's SQLite store)
    p.run("--pipeline=chain", "--params", f"target=3dhp,{PRETRAIN},{ADAPT}")
    p.run("--pipeline=ablation", f"--namespaces={','.join(f'table6.{r}' for r in ROWS)}", "--params", f"target=3dhp,{ADAPT}")
    sequential_uri = f"sqlite:///{p.path / 'mlruns.db'}"
    expected = row_runs(sequential_uri)
    expected_table, expected_md = report(p, sequential_uri)

    pairs = [x for pair in f"{PRETRAIN},{ADAPT}".split(",") for x in ("-p", pair)]
    # a local store is refused for concurrent workers, before anything runs
    refused = subprocess.run(
        [str(BIN / "adaptpose"), "sweep", "--tables", "6", "--rows", ",".join(ROWS), "--targets", "3dhp", "--workers", "2"],
        cwd=p.path, env=p.env(), capture_output=True, text=True, timeout=120,
    )
    assert refused.returncode != 0 and "is a local MLflow store" in refused.stderr and "mlflow server" in refused.stderr

    with local_tracking_server(tmp_path / "mlflow") as uri:
        start = time.perf_counter()
        out = subprocess.run(
            [str(BIN / "adaptpose"), "sweep", "--tables", "6", "--rows", ",".join(ROWS), "--seeds", "0", "--targets", "3dhp",
             "--workers", "2", "--tracking-uri", uri, *pairs],
            cwd=p.path, env=p.env(), capture_output=True, text=True, timeout=900,
        )
        wall = time.perf_counter() - start
        print(out.stdout[-3000:], f"\nsweep wall time {wall:.0f} s")
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        assert "3 ok (0 after a retry, marked ok*), 0 failed, 0 skipped" in out.stdout
        assert "2 workers" in out.stdout and "ok       table6/BG3 3dhp seed0" in out.stdout
        swept = row_runs(uri)
        table, md = report(p, uri)

    assert set(swept) == set(expected) == set(ROWS)
    for row in ROWS:
        a, b = expected[row].data, swept[row].data
        assert a.params == b.params, row  # settings, paper numbers, protocol
        own = lambda tags: {k: v for k, v in tags.items() if not k.startswith(("mlflow.", "sweep"))}  # noqa: E731
        assert own(a.tags) == own(b.tags), row
        assert b.tags["sweep"] and b.tags["sweep_task"] == f"table6/{row} 3dhp seed0"
        assert swept[row].info.run_name == expected[row].info.run_name == f"table6/{row} 3dhp seed0"
        assert set(a.metrics) == set(b.metrics) and {"mpjpe", "p_mpjpe", "pck150", "auc"} <= set(b.metrics)
        # CPU: the repro check's notion is bitwise; so, tolerance 0
        assert metrics_beyond({row: a.metrics}, {row: b.metrics}, tolerance=0.0) == [], row
    # the report: the same lines (run ids aside), and the rows of a sweep count as one run
    ids = ["run_id", "kedro_run"]
    pd.testing.assert_frame_equal(expected_table.drop(columns=ids), table.drop(columns=ids))
    assert table["kedro_run"].nunique() == 1 and table["kedro_run"][0] == swept["BG1"].data.tags["sweep"]
    assert md == expected_md and "different `kedro run`s" not in md
