"""Ablation sweeps: rows x seeds x targets as independent ``kedro run``s on Dask.

``adaptpose sweep --tables 5,6,7 --seeds 0,1,2 --targets 3dhp --workers 4 --tracking-uri URI``

A sweep is a list of :class:`Task`\\ s, each one ``kedro run`` in its own Python process
(``python -m adaptpose_pipeline.sweep TASK_JSON``, started by a Dask worker), so that a
crash, a leaked thread or a CUDA context of one run never reaches another:

- ``prepare <target> seed<S>``: ingest -> pretrain -> evaluate (baseline), what every row
  of that target and seed reads (``SHARED_DATASETS`` of the ablation pipeline). It runs
  once; its Kedro session id is the version it saved.
- ``table<N>/<row> <target> seed<S>``: one row (``--namespaces=table<N>.<row>``), started
  when its ``prepare`` task has finished, loading exactly that version of the shared
  datasets (Kedro's ``load_versions``), never a newer one another seed wrote meanwhile.

Every run gets the sweep's MLflow tracking URI (``MLFLOW_TRACKING_URI``, which
``conf/base/mlflow.yml`` defers to) and the tag ``sweep=<id>`` (``MLFLOW_RUN_CONTEXT``,
MLflow's own way to tag every run a process starts), so the report groups the rows of one
sweep as one run. A failed task is run once more; a task that fails twice is reported in
the summary (and the rows that needed it as skipped), and the command exits 1.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

ATTEMPTS = 2  # a failed task runs once more, then is reported
PREPARE_PIPELINES = ("ingest", "pretrain", "evaluate")
SESSION_MARK = "adaptpose-sweep session "
LOG_TAIL = 3000


@dataclass(frozen=True)
class Task:
    """One ``kedro run``: ``pipelines`` (with ``namespaces``) and its ``--params``.
    ``after``: the key of the task whose saved version this one loads."""

    key: str
    pipelines: tuple[str, ...]
    params: dict
    namespaces: tuple[str, ...] = ()
    after: str | None = None


@dataclass
class Outcome:
    task: Task
    status: str = "pending"  # ok, failed, skipped
    attempts: int = 0
    wall_s: float = 0.0
    session_id: str | None = None
    errors: list[str] = field(default_factory=list)


def select_rows(tables: Iterable[int], rows: Iterable[str] | None = None) -> list[tuple[int, str]]:
    """(table, row) pairs of ``tables`` in the paper's order, only ``rows`` if given; an
    unknown table or row raises a ``ValueError`` naming the valid ones."""
    from adaptpose_pipeline.pipelines.ablation.nodes import TABLES

    tables = list(tables)
    unknown = [t for t in tables if t not in TABLES]
    if unknown:
        raise ValueError(f"--tables: no table {unknown}; expected some of {sorted(TABLES)}")
    pairs = [(t, r) for t in tables for r in TABLES[t]]
    if rows:
        wanted = list(rows)
        missing = [r for r in wanted if r not in {r for _, r in pairs}]
        if missing:
            raise ValueError(f"--rows: {missing} are not rows of tables {tables}; expected some of {[r for _, r in pairs]}")
        pairs = [(t, r) for t, r in pairs if r in wanted]
    return pairs


def plan(pairs: list[tuple[int, str]], seeds: Iterable[int], targets: Iterable[str], params: dict | None = None) -> list[Task]:
    """One ``prepare`` task per (target, seed), then one task per row of it."""
    from adaptpose_pipeline.pipelines.ablation.nodes import row_run_name

    tasks = []
    for target in targets:
        for seed in seeds:
            run_params = {**(params or {}), "target": target, "seed": seed}
            prepare = Task(f"prepare {target} seed{seed}", PREPARE_PIPELINES, run_params)
            tasks.append(prepare)
            tasks += [
                Task(row_run_name(t, r, target, seed), ("ablation",), run_params, (f"table{t}.{r}",), prepare.key)
                for t, r in pairs
            ]
    return tasks


def default_tracking_uri(project: Path) -> str:
    """What a ``kedro run`` in ``project`` would use (settings.py's default)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(project).resolve() / 'mlruns.db'}"


def is_local_store(uri: str) -> bool:
    """A SQLite file or a ``mlruns`` folder: one writer at a time."""
    scheme = urlparse(uri).scheme.lower()
    return scheme in ("", "file", "sqlite") or len(scheme) == 1  # len 1: a Windows drive letter


def check_tracking_uri(uri: str, workers: int | None, scheduler: str | None) -> None:
    """Refuse concurrent runs against a local store: SQLite locks, file stores race."""
    if is_local_store(uri) and (scheduler is not None or (workers or 1) > 1):
        raise ValueError(
            f"--tracking-uri {uri!r} is a local MLflow store, which concurrent runs corrupt or lock. Start a "
            "tracking server with a database backend and pass its address, e.g.\n"
            "  mlflow server --backend-store-uri sqlite:///mlflow.db --artifacts-destination ./mlartifacts "
            "--host 127.0.0.1 --port 5000\n"
            "  adaptpose sweep ... --tracking-uri http://127.0.0.1:5000\n"
            "(a Postgres backend on a cluster), or run with --workers 1."
        )


def task_environment(tracking_uri: str, sweep_id: str, task: Task) -> dict[str, str]:
    """The environment of one task's ``kedro run``: where MLflow writes, and the tags of
    every MLflow run it starts."""
    return dict(
        os.environ,
        MLFLOW_TRACKING_URI=tracking_uri,
        MLFLOW_RUN_CONTEXT=json.dumps({"sweep": sweep_id, "sweep_task": task.key}),
        DO_NOT_TRACK="true",
        KEDRO_DISABLE_TELEMETRY="true",
    )


class TaskFailed(RuntimeError):
    pass


def run_task(task: Task, load_version: str | None, project: str, kedro_env: str | None, tracking_uri: str, sweep_id: str, log_dir: str) -> dict:
    """On a worker: the task's ``kedro run`` in a child process, its output in
    ``<log_dir>/<task>.log``. Returns the Kedro session id (the version it saved) and
    the wall time; raises :class:`TaskFailed` with the log's tail if the run fails."""
    spec = {
        "pipelines": list(task.pipelines), "params": task.params, "namespaces": list(task.namespaces),
        "env": kedro_env, "load_version": load_version,
    }
    log = Path(log_dir) / (task.key.replace("/", "_").replace(" ", "_") + ".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(log, "a") as fh:
        fh.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {task.key}\n")
        fh.flush()
        rc = subprocess.run(
            [sys.executable, "-m", "adaptpose_pipeline.sweep", json.dumps(spec)], cwd=project,
            env=task_environment(tracking_uri, sweep_id, task), stdout=fh, stderr=subprocess.STDOUT,
        ).returncode
    text = log.read_text(errors="replace")
    if rc != 0:
        raise TaskFailed(f"exit {rc}, log {log}:\n{text[-LOG_TAIL:]}")
    session = [line[len(SESSION_MARK):].strip() for line in text.splitlines() if line.startswith(SESSION_MARK)]
    if not session:  # its rows could not name the versions they read
        raise TaskFailed(f"exit 0 but no line {SESSION_MARK!r}, log {log}:\n{text[-LOG_TAIL:]}")
    return {"session_id": session[-1], "wall_s": time.perf_counter() - start, "log": str(log)}


def shared_versions(version: str | None) -> dict[str, str]:
    """The datasets a row reads from its ``prepare`` run, at that run's version."""
    from adaptpose_pipeline.pipelines.ablation.pipeline import SHARED_DATASETS

    return {} if version is None else {name: version for name in sorted(SHARED_DATASETS)}


def _last_line(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[-1] if lines else ''}"[:200]


def execute(client, tasks: list[Task], run: Callable[[Task, str | None], dict], echo: Callable[[str], None] = print,
            attempts: int = ATTEMPTS) -> dict[str, Outcome]:
    """Run ``tasks`` on a Dask ``client``: a task starts when the task it comes ``after``
    has succeeded (with that task's session id), a failed task is submitted again until
    it has run ``attempts`` times; its dependants are then ``skipped``. ``run(task,
    version)`` runs on a worker and returns a dict with ``session_id``."""
    from distributed import as_completed

    outcomes = {t.key: Outcome(t) for t in tasks}
    dependants: dict[str, list[Task]] = {}
    for t in tasks:
        if t.after is not None:
            dependants.setdefault(t.after, []).append(t)
    running, versions = {}, {}
    pending = as_completed()
    done = 0

    def submit(task: Task) -> None:
        outcome = outcomes[task.key]
        outcome.attempts += 1
        version = versions.get(task.after)
        future = client.submit(run, task, version, key=f"{task.key}#{outcome.attempts}-{uuid.uuid4().hex[:8]}", pure=False)
        running[future.key] = task
        pending.add(future)
        echo(f"[{done}/{len(tasks)}] start    {task.key}" + (f" (attempt {outcome.attempts})" if outcome.attempts > 1 else ""))

    def skip(task: Task, why: str) -> None:
        nonlocal done
        outcomes[task.key].status, done = "skipped", done + 1
        outcomes[task.key].errors.append(why)
        echo(f"[{done}/{len(tasks)}] skipped  {task.key}: {why}")
        for child in dependants.get(task.key, []):
            skip(child, f"{task.key} was skipped")

    for task in tasks:
        if task.after is None:
            submit(task)
    for future in pending:
        task = running.pop(future.key)
        outcome = outcomes[task.key]
        if future.status == "finished":
            result = future.result()
            outcome.status, outcome.session_id = "ok", result.get("session_id")
            outcome.wall_s = float(result.get("wall_s", 0.0))
            versions[task.key] = outcome.session_id
            done += 1
            echo(f"[{done}/{len(tasks)}] ok       {task.key} ({outcome.wall_s:.0f} s)")
            for child in dependants.get(task.key, []):
                submit(child)
            continue
        try:
            error = future.exception()
        except BaseException as exc:  # cancelled (e.g. the scheduler went away): a failure too
            error = exc
        outcome.errors.append(str(error))
        if outcome.attempts < attempts:
            echo(f"[{done}/{len(tasks)}] FAILED   {task.key} ({_last_line(error)}), retrying")
            submit(task)
            continue
        outcome.status, done = "failed", done + 1
        echo(f"[{done}/{len(tasks)}] FAILED   {task.key} after {outcome.attempts} attempts ({_last_line(error)})")
        for child in dependants.get(task.key, []):
            skip(child, f"{task.key} failed")
    return outcomes


def summary(outcomes: dict[str, Outcome], wall_s: float) -> str:
    """A table of every task: status, attempts, wall time; the last error of each failed one."""
    width = max(len(k) for k in outcomes) if outcomes else 4
    lines = [f"{'task':<{width}}  status   attempts  wall", f"{'-' * width}  -------  --------  ------"]
    for key, o in outcomes.items():
        status = "ok*" if o.status == "ok" and o.attempts > 1 else o.status
        lines.append(f"{key:<{width}}  {status:<7}  {o.attempts:>8}  {o.wall_s:5.0f} s")
    counts = {s: sum(o.status == s for o in outcomes.values()) for s in ("ok", "failed", "skipped")}
    retried = sum(o.status == "ok" and o.attempts > 1 for o in outcomes.values())
    lines.append(f"{counts['ok']} ok ({retried} after a retry, marked ok*), {counts['failed']} failed, "
                 f"{counts['skipped']} skipped; {wall_s:.0f} s in all")
    for key, o in outcomes.items():
        if o.status == "failed":
            lines += ["", f"{key}: last error", o.errors[-1][-LOG_TAIL:]]
    return "\n".join(lines)


def sweep(
    tasks: list[Task], project: Path, tracking_uri: str, *, workers: int = 1, scheduler: str | None = None,
    kedro_env: str | None = None, echo: Callable[[str], None] = print,
) -> tuple[dict[str, Outcome], str]:
    """Start a Dask ``LocalCluster`` of ``workers`` processes (one task each at a time),
    or connect to ``scheduler``, and run ``tasks`` there. Returns the outcomes and the
    sweep id (the ``sweep`` tag of its MLflow runs)."""
    from functools import partial

    from distributed import Client, LocalCluster

    check_tracking_uri(tracking_uri, workers, scheduler)
    sweep_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    log_dir = Path(project).resolve() / "data" / "08_reporting" / "sweeps" / sweep_id
    run = partial(
        run_task, project=str(Path(project).resolve()), kedro_env=kedro_env, tracking_uri=tracking_uri,
        sweep_id=sweep_id, log_dir=str(log_dir),
    )
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        with Client(cluster if cluster is not None else scheduler) as client:
            echo(f"sweep {sweep_id}: {len(tasks)} tasks on {client.scheduler_info()['address']} "
                 f"({len(client.scheduler_info()['workers'])} workers), MLflow {tracking_uri}, logs {log_dir}")
            outcomes = execute(client, tasks, run, echo)
    finally:
        if cluster is not None:
            cluster.close()
    return outcomes, sweep_id


@contextlib.contextmanager
def local_tracking_server(folder: Path, timeout_s: float = 120.0) -> Iterator[str]:
    """``mlflow server`` on a free loopback port (SQLite backend, artifacts served from
    ``folder``), stopped on exit; yields its URI. What tests and benchmarks sweep
    against on one machine (README: a server of one's own for longer studies)."""
    from adaptpose_pipeline.core.distributed import free_port

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    mlflow = Path(sys.executable).parent / "mlflow"
    with open(folder / "mlflow-server.log", "w") as log:
        server = subprocess.Popen(
            [str(mlflow), "server", "--backend-store-uri", f"sqlite:///{folder.resolve() / 'mlflow.db'}",
             "--artifacts-destination", str(folder.resolve() / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                with contextlib.suppress(OSError):
                    if urllib.request.urlopen(f"{uri}/health", timeout=2).status == 200:
                        break
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mlflow server at {uri} did not start; its log: {folder / 'mlflow-server.log'}")
                time.sleep(0.5)
            yield uri
        finally:
            os.killpg(server.pid, signal.SIGTERM)  # the server and its uvicorn worker: the group started here
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


def _run_spec(spec: dict) -> str:
    """In the child process: one Kedro session; returns its id (the version it saved)."""
    from adaptpose_pipeline.command import run_pipeline

    load = shared_versions(spec.get("load_version"))
    return run_pipeline(spec["pipelines"], spec["params"], spec.get("env"), tuple(spec.get("namespaces") or ()), load)


if __name__ == "__main__":
    session_id = _run_spec(json.loads(sys.argv[1]))
    print(SESSION_MARK + session_id, flush=True)
