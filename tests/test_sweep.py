"""adaptpose sweep: the plan, the tracking-URI guard, and retry-once-then-report on a
Dask cluster of threads (the end-to-end sweep: tests/pipelines/test_sweep.py)."""

import threading

import pytest

from adaptpose_pipeline import sweep as sw


def test_the_plan_prepares_each_target_and_seed_once_before_its_rows():
    pairs = sw.select_rows([6, 5], ["BG1", "baseline"])
    assert pairs == [(6, "BG1"), (5, "baseline")]
    tasks = sw.plan(pairs, seeds=[0, 1], targets=["3dhp"], params={"adapt": {"train": {"epochs": 2}}})
    assert [t.key for t in tasks] == [
        "prepare 3dhp seed0", "table6/BG1 3dhp seed0", "table5/baseline 3dhp seed0",
        "prepare 3dhp seed1", "table6/BG1 3dhp seed1", "table5/baseline 3dhp seed1",
    ]
    row = tasks[4]
    assert row.pipelines == ("ablation",) and row.namespaces == ("table6.BG1",) and row.after == "prepare 3dhp seed1"
    assert row.params == {"adapt": {"train": {"epochs": 2}}, "target": "3dhp", "seed": 1}
    assert tasks[3].pipelines == sw.PREPARE_PIPELINES and tasks[3].after is None
    # a row reads the shared datasets at the version its prepare run saved
    assert sw.shared_versions("2026-01-01T00.00.00.000Z")["lifter_baseline"] == "2026-01-01T00.00.00.000Z"
    with pytest.raises(ValueError, match=r"--rows: \['A9'\].*expected some of"):
        sw.select_rows([5], ["A9"])
    with pytest.raises(ValueError, match=r"--tables: no table \[4\]"):
        sw.select_rows([4])


@pytest.mark.parametrize("uri", ["sqlite:////tmp/mlruns.db", "file:///tmp/mlruns", "mlruns", "/tmp/mlruns"])
def test_concurrent_workers_against_a_local_store_are_refused(uri):
    with pytest.raises(ValueError, match="(?s)local MLflow store.*mlflow server.*--workers 1"):
        sw.check_tracking_uri(uri, workers=2, scheduler=None)
    with pytest.raises(ValueError, match="local MLflow store"):
        sw.check_tracking_uri(uri, workers=None, scheduler="tcp://head:8786")
    sw.check_tracking_uri(uri, workers=1, scheduler=None)
    sw.check_tracking_uri("http://127.0.0.1:5000", workers=8, scheduler=None)
    sw.check_tracking_uri("postgresql://user@db/mlflow", workers=None, scheduler="tcp://head:8786")


def test_each_run_gets_the_tracking_uri_and_the_sweep_tag():
    task = sw.Task("table6/BG1 3dhp seed0", ("ablation",), {})
    env = sw.task_environment("http://127.0.0.1:5000", "s1", task)
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5000"
    assert env["MLFLOW_RUN_CONTEXT"] == '{"sweep": "s1", "sweep_task": "table6/BG1 3dhp seed0"}'


# The fake task runs in the test's process (a cluster of threads); Dask pickles the
# function, so it and its state live at module level.
CALLS: dict[str, int] = {}
SEEN: dict[str, str | None] = {}
LOCK = threading.Lock()
FAIL_TIMES = {"prepare t seed0": 1, "prepare t seed1": 2, "row a seed0": 1}


def flaky_run(task, version):
    with LOCK:
        CALLS[task.key] = CALLS.get(task.key, 0) + 1
        SEEN[task.key] = version
        n = CALLS[task.key]
    if n <= FAIL_TIMES.get(task.key, 0):
        raise sw.TaskFailed(f"exit 1, log x.log:\nboom {n}")
    return {"session_id": f"v-{task.key}", "wall_s": 1.0}


def test_a_failed_task_is_retried_once_then_reported_and_its_rows_skipped():
    from distributed import Client

    CALLS.clear()
    tasks = [
        sw.Task("prepare t seed0", sw.PREPARE_PIPELINES, {}),
        sw.Task("row a seed0", ("ablation",), {}, ("a",), "prepare t seed0"),
        sw.Task("row b seed0", ("ablation",), {}, ("b",), "prepare t seed0"),
        sw.Task("prepare t seed1", sw.PREPARE_PIPELINES, {}),
        sw.Task("row a seed1", ("ablation",), {}, ("a",), "prepare t seed1"),
    ]
    lines = []
    with Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
        out = sw.execute(client, tasks, flaky_run, lines.append)
    assert CALLS == {"prepare t seed0": 2, "row a seed0": 2, "row b seed0": 1, "prepare t seed1": 2}
    status = {k: (o.status, o.attempts) for k, o in out.items()}
    assert status == {
        "prepare t seed0": ("ok", 2), "row a seed0": ("ok", 2), "row b seed0": ("ok", 1),
        "prepare t seed1": ("failed", 2), "row a seed1": ("skipped", 0),
    }
    assert out["row b seed0"].session_id == "v-row b seed0"
    assert any("FAILED   prepare t seed0 (TaskFailed: boom 1), retrying" in line for line in lines)
    assert any("FAILED   prepare t seed1 after 2 attempts (TaskFailed: boom 2)" in line for line in lines)
    assert any("skipped  row a seed1: prepare t seed1 failed" in line for line in lines)
    table = sw.summary(out, 12.0)
    assert "3 ok (2 after a retry, marked ok*), 1 failed, 1 skipped; 12 s in all" in table
    assert "prepare t seed1: last error" in table and "boom 2" in table


def test_a_row_loads_what_its_own_prepare_run_saved():
    from distributed import Client

    SEEN.clear()
    tasks = sw.plan([(6, "BG1")], seeds=[0, 1], targets=["3dhp"])
    with Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
        out = sw.execute(client, tasks, flaky_run, lambda line: None)
    assert all(o.status == "ok" for o in out.values())
    assert SEEN == {
        "prepare 3dhp seed0": None, "prepare 3dhp seed1": None,
        "table6/BG1 3dhp seed0": "v-prepare 3dhp seed0", "table6/BG1 3dhp seed1": "v-prepare 3dhp seed1",
    }


@pytest.mark.parametrize(
    "args, message",
    [
        (["--workers", "2"], "is a local MLflow store"),
        (["--workers", "2", "--scheduler", "tcp://x:8786"], "give one of them"),
        (["--rows", "A9", "--tracking-uri", "http://127.0.0.1:5000"], "are not rows of tables"),
        (["--targets", "mars"], "expected some of"),
        (["-p", "seed=3"], "give --seeds instead"),
        (["--seeds", "0,x"], "expected comma-separated integers"),
    ],
)
def test_the_command_refuses_a_bad_sweep_before_starting_a_cluster(args, message, monkeypatch):
    from click.testing import CliRunner

    from adaptpose_pipeline.command import main
    from tests.paths import ROOT

    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{ROOT / 'mlruns.db'}")
    monkeypatch.setattr(sw, "sweep", lambda *a, **k: pytest.fail("a cluster was started"))
    result = CliRunner().invoke(main, ["sweep", "--tables", "6", "--targets", "3dhp", *args])
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output


def test_a_failing_run_raises_with_its_log_tail(tmp_path):
    from tests.pipelines.conftest import make_project

    project = make_project(tmp_path / "project")
    task = sw.Task("table6/BG1 3dhp seed0", ("no_such_pipeline",), {"target": "3dhp"})
    with pytest.raises(sw.TaskFailed, match=r"(?s)exit 1, log .*table6_BG1_3dhp_seed0\.log:.*no_such_pipeline"):
        sw.run_task(task, None, project=str(project.path), kedro_env=None, tracking_uri=f"sqlite:///{tmp_path / 'm.db'}",
                    sweep_id="s", log_dir=str(tmp_path / "logs"))
    assert (tmp_path / "logs" / "table6_BG1_3dhp_seed0.log").read_text().startswith("\n=== ")
