"""Project hooks: parameters are checked before any node runs or anything is written."""

from __future__ import annotations

import json
import logging
from pathlib import Path, PurePosixPath

from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset
from kedro.io.core import AbstractVersionedDataset, DatasetError

from adaptpose_pipeline.core.distributed import env_world
from adaptpose_pipeline.datasets import registry


def check_parameters(params: dict, command_line: dict | None = None) -> None:
    """Raise a ``ValueError`` naming the key for any parameter the pipelines would
    refuse later (the pydantic models of :mod:`adaptpose_pipeline.parameters`), so that
    a bad value stops the run before anything is written. ``params`` as written (with
    their per-target blocks) or already resolved for the target; ``command_line``: the
    ``--params`` values."""
    from adaptpose_pipeline.parameters import validate_parameters

    validate_parameters(params, command_line)


STANDIN_ROOT = ("data", "01_raw")


def check_standin_paths(standin_paths: dict) -> None:
    """Every stand-in folder named in ``standin_paths`` must be a folder of its own under
    ``data/01_raw`` (the others are the registry's folders there): the stand-in generator
    writes nowhere else, so a real dataset's path is never filled with synthetic data
    (``paths`` is where real data go)."""
    for ds, value in (standin_paths or {}).items():
        if ds not in registry.names():
            raise ValueError(f"standin_paths.{ds}: unknown dataset; expected one of {list(registry.names())}")
        parts = PurePosixPath(str(value)).parts if isinstance(value, str) else ()
        if parts[:2] != STANDIN_ROOT or len(parts) < 3 or ".." in parts:
            raise ValueError(
                f"standin_paths.{ds}: expected a folder under {'/'.join(STANDIN_ROOT)}/ (the stand-in "
                f"generator writes only there; set real data with paths.{ds}), got {value!r}"
            )


def data_kinds(catalog) -> dict[str, str]:
    """Per dataset, what its ``raw_<dataset>`` folder holds: ``standin``, ``real`` or ``missing``."""
    return {ds: catalog.get(f"raw_{ds}").load().kind for ds in registry.names() if f"raw_{ds}" in catalog}


class ParameterCheckHook:
    @hook_impl
    def after_context_created(self, context) -> None:
        check_standin_paths(context.config_loader["globals"].get("standin_paths"))
        loader = context.config_loader  # settings.ProjectConfigLoader
        check_parameters(loader.written_parameters(), loader.runtime_params)


# The pipelines that write datasets, in the order a fresh checkout runs them; the first
# that writes a missing input is the one to run.
PRODUCERS = ("standin", "ingest", "pretrain", "evaluate", "adapt", "ablation", "predict", "export", "report")


def producer_of(name: str) -> str | None:
    """The first pipeline of :data:`PRODUCERS` that writes the dataset ``name``."""
    import importlib

    for pipeline in PRODUCERS:
        if name in importlib.import_module(f"adaptpose_pipeline.pipelines.{pipeline}").create_pipeline().all_outputs():
            return pipeline
    return None


def missing_inputs_message(missing: list[str], target: str, env: str | None, params: dict | None = None) -> str:
    """Which pipelines to run first, and what each writes, for inputs with no saved version."""
    # predict_lifter reads the files of lifter_<predict.model> under its own name.
    model = ((params or {}).get("predict") or {}).get("model", "adapted")
    by_pipeline: dict[str, list[str]] = {}
    for name in missing:
        by_pipeline.setdefault(producer_of(f"lifter_{model}" if name == "predict_lifter" else name) or "?", []).append(name)
    order = [p for p in (*PRODUCERS, "?") if p in by_pipeline]
    env_arg = f" --env {env}" if env else ""
    steps = [
        f"kedro run --pipeline={p}{env_arg} --params target={target}   (writes {', '.join(by_pipeline[p])})"
        if p != "?" else f"(no pipeline writes {', '.join(by_pipeline[p])})"
        for p in order
    ]
    if "ingest" in by_pipeline:
        steps.insert(order.index("ingest"), "kedro run --pipeline=standin   (only without real data: writes the stand-ins ingest reads)")
    return (
        f"This run needs {', '.join(missing)} for target {target!r}, and none has been saved yet. "
        "Run first:\n  " + "\n  ".join(steps) + f"\nor the whole chain: kedro run --pipeline=chain{env_arg} --params target={target}"
    )


class MissingInputHook:
    """Before anything runs: a versioned input that no earlier run saved (e.g.
    ``lifter_baseline`` on a fresh checkout of ``--pipeline=adapt``) stops the run with
    the pipelines to run first, instead of Kedro's "Did not find any versions"."""

    def __init__(self) -> None:
        self._params: dict = {}

    @hook_impl
    def after_context_created(self, context) -> None:
        self._params = dict(context.params)

    @hook_impl(tryfirst=True)  # before kedro-mlflow starts a run
    def before_pipeline_run(self, run_params: dict, pipeline, catalog) -> None:
        missing = []
        for name in sorted(pipeline.inputs()):
            if name.startswith("params:") or name == "parameters":
                continue
            dataset = catalog.get(name)
            if isinstance(dataset, AbstractVersionedDataset) and not dataset.exists():
                missing.append(name)
        if missing:
            raise DatasetError(missing_inputs_message(missing, self._params.get("target"), run_params.get("env"), self._params))


# Pipelines that train and evaluate nothing: their runs go to their own experiment, so the
# training experiments (adaptpose/<target>) hold training runs only.
TOOL_PIPELINES = ("predict", "export", "standin")
TOOLS_EXPERIMENT = "adaptpose/tools"


def run_name(pipeline_names: list[str], target: str | None, seed) -> str:
    """What a run is called in MLflow's list: ``chain 3dhp seed0``."""
    names = "+".join("default" if n == "__default__" else n for n in pipeline_names)
    return f"{names} {target} seed{seed}"


class RunNamingHook:
    """Names each kedro-mlflow run after its pipeline, target and seed
    (``chain 3dhp seed0``), and sends the tool pipelines' runs (predict, export,
    standin) to the ``adaptpose/tools`` experiment. It sets kedro-mlflow's run
    configuration just before kedro-mlflow starts the run."""

    def __init__(self) -> None:
        self._context = None
        self._experiment: str | None = None

    @hook_impl
    def after_context_created(self, context) -> None:
        self._context, self._experiment = context, None

    @hook_impl(tryfirst=True)  # before kedro-mlflow starts the run
    def before_pipeline_run(self, run_params: dict, pipeline, catalog) -> None:
        config = getattr(self._context, "mlflow", None)
        if config is None:
            return
        names = run_params.get("pipeline_names") or [run_params.get("pipeline_name") or "__default__"]
        if isinstance(names, str):
            names = [names]
        params = self._context.params
        config.tracking.run.name = run_name(list(names), params.get("target"), params.get("seed"))
        if self._experiment is None:
            self._experiment = config.tracking.experiment.name  # the configured one (mlflow.yml)
        wanted = TOOLS_EXPERIMENT if all(n in TOOL_PIPELINES for n in names) else self._experiment
        if config.tracking.experiment.name != wanted:  # a session that runs more than one pipeline
            config.tracking.experiment.name = wanted
            config._set_experiment()


class RankZeroWritesHook:
    """Under ``torchrun`` every process runs the same pipeline (the training nodes train
    one model together, ``core.distributed``; the others are cheap and deterministic and
    simply run on every rank), and only rank 0 writes. On the other ranks, before the
    run: every dataset the pipeline writes is kept in memory instead (later nodes of the
    same run read it from there, never a file rank 0 may be writing), and kedro-mlflow
    tracking is off for the run. The manifest is rank 0's too (:class:`ManifestHook`).
    Epoch checkpoints are written by rank 0 alone in the loop itself (``core.loop``).

    kedro-mlflow opens its store (and creates the experiment) when the context is
    created, before any run: on the other ranks that store is a throw-away one in a
    temporary folder, so that N processes never race to create the project's."""

    def __init__(self) -> None:
        self._context = None

    @hook_impl(tryfirst=True)  # before kedro-mlflow's set-up
    def after_context_created(self, context) -> None:
        self._context = context
        if not env_world().main:
            import os
            import tempfile

            folder = tempfile.mkdtemp(prefix=f"adaptpose-rank{env_world().rank}-mlflow-")
            os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder}/mlruns.db"

    @hook_impl(tryfirst=True)  # before kedro-mlflow decides to start a run
    def before_pipeline_run(self, run_params: dict, pipeline, catalog) -> None:
        if env_world().main:
            return
        for name in sorted(pipeline.all_outputs()):
            catalog[name] = MemoryDataset(copy_mode="assign")
        config = getattr(self._context, "mlflow", None)
        if config is not None:
            names = run_params.get("pipeline_names") or [run_params.get("pipeline_name") or "__default__"]
            config.tracking.disable_tracking.pipelines = [names] if isinstance(names, str) else list(names)


class ProtocolHook:
    """Logs each saved metrics file's protocol (joint set, 3D coordinates, frame count,
    averaging) as the MLflow params ``protocol.<key>`` of the run."""

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data, node) -> None:
        if not dataset_name.startswith("metrics_") or not isinstance(data, dict) or "protocol" not in data:
            return
        from adaptpose_pipeline.evaluation.metrics_file import protocol_params

        try:
            import mlflow

            if mlflow.active_run() is not None:
                mlflow.log_params(protocol_params(data))
        except Exception as exc:  # the metrics file on disk is what counts
            logging.getLogger(__name__).warning("protocol of %s not logged to MLflow: %s", dataset_name, exc)


class ManifestHook:
    """Writes a run manifest (see ``adaptpose_pipeline.manifest``) after each run.

    A native dataset folder (a loaded ``NativeSource``) is hashed by the files its
    reader read during the run, through the size + times fast path of
    ``manifest.HashCache`` (``data/.file_hashes.json``) for large files; every other
    dataset by its whole file or folder."""

    def __init__(self) -> None:
        self._loaded: set[str] = set()
        self._saved: set[str] = set()
        self._sources: dict[str, list] = {}
        self._params: dict = {}
        self._project = Path.cwd()

    @hook_impl
    def after_context_created(self, context) -> None:
        self._params = dict(context.params)
        self._project = Path(context.project_path)
        self._loaded, self._saved, self._sources = set(), set(), {}

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data, node) -> None:
        from adaptpose_pipeline.datasets.kedro_io import NativeSource

        self._loaded.add(dataset_name)
        if isinstance(data, NativeSource):
            self._sources.setdefault(dataset_name, []).append(data)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data, node) -> None:
        self._saved.add(dataset_name)

    @hook_impl(tryfirst=True)  # before kedro-mlflow closes the MLflow run
    def after_pipeline_run(self, run_params: dict, run_result, pipeline, catalog) -> None:
        if not env_world().main:  # rank 0 writes it (RankZeroWritesHook)
            return
        from adaptpose_pipeline import manifest as mf
        from adaptpose_pipeline.core.runtime import atomic_write
        from adaptpose_pipeline.datasets.kedro_io import NativeDataset, data_kind

        cache = mf.HashCache(self._project / "data" / ".file_hashes.json")
        input_files: dict[str, dict[str, str]] = {}
        from_cache: list[str] = []

        def hashes(names: set[str], saved: bool) -> dict:
            out = {}
            for name in sorted(names):
                if name.startswith("params:") or name == "parameters" or name not in catalog:
                    continue
                dataset = catalog.get(name)
                path = mf.dataset_path(dataset)
                if path is None:
                    continue
                if isinstance(dataset, NativeDataset) and saved and data_kind(path) == "real":
                    out[name] = None  # the save was skipped: a real dataset is never rewritten, nor read here
                elif isinstance(dataset, NativeDataset) and not saved:
                    files = set().union(*(source.opened for source in self._sources.get(name, [])))
                    hits = len(cache.hits)
                    input_files[name] = mf.hash_files(path, files, cache)
                    from_cache.extend(f"{name}/{mf.relative_name(path, f)}" for f in cache.hits[hits:])
                    if input_files[name]:
                        out[name] = mf.combine(input_files[name])
                else:
                    out[name] = mf.hash_path(path)
            return out

        inputs, outputs = hashes(self._loaded - self._saved, False), hashes(self._saved, True)
        manifest = mf.build_manifest(run_params, self._params, inputs, outputs, self._project, input_files, from_cache)
        try:
            cache.save()
        except OSError as exc:  # the cache only saves time
            logging.getLogger(__name__).warning("hash cache %s not saved: %s", cache.path, exc)
        kinds = data_kinds(catalog)
        manifest["data_kind"] = kinds
        body = json.dumps(manifest, indent=1, sort_keys=False, default=str).encode()
        path = self._project / "data" / "08_reporting" / "manifests" / f"{run_params.get('run_id') or 'run'}.json"
        atomic_write(path, lambda fh: fh.write(body))
        try:
            import mlflow

            if mlflow.active_run() is not None:
                mlflow.set_tags({f"data_kind.{ds}": kind for ds, kind in kinds.items()})
                mlflow.log_dict(manifest, "manifest.json")
        except Exception as exc:  # the files on disk are what counts
            logging.getLogger(__name__).warning("manifest not logged to MLflow: %s", exc)
