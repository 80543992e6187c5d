"""Every custom Kedro dataset of the project: native dataset folders, numpy archives,
torch checkpoints, a user's keypoint file, MLflow models and versioned artifacts,
folders of text files.

Saves are atomic: data goes to a temporary name in the destination folder and is
moved into place with ``os.replace`` only once complete, so a run killed while
saving leaves nothing a later load would pick up (versioned loads only see
versions whose final file exists).
"""

from __future__ import annotations

import glob
import io
import json
import logging
import os
import pickle
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch
from kedro.io.core import AbstractDataset, AbstractVersionedDataset, DatasetError, Version
from kedro_mlflow.io.artifacts import MlflowArtifactDataset
from kedro_mlflow.io.artifacts import mlflow_artifact_dataset as kedro_mlflow_artifacts
from kedro_mlflow.io.models import MlflowModelTrackingDataset

from adaptpose_pipeline.core.runtime import atomic_write
from adaptpose_pipeline.datasets import registry
from adaptpose_pipeline.datasets.common import recording_opened

log = logging.getLogger(__name__)
STANDIN_MARKER = ".standin.json"
DATA_KINDS = ("standin", "real", "missing")


def data_kind(path: Path) -> str:
    """``standin`` (a folder the stand-in generator wrote: it holds the marker),
    ``real`` (any other folder) or ``missing`` (no folder at ``path``)."""
    path = Path(path)
    if not path.is_dir():
        return "missing"
    return "standin" if (path / STANDIN_MARKER).is_file() else "real"


def write_npz(fh: io.BufferedWriter, arrays: dict[str, np.ndarray]) -> None:
    """An ``.npz`` that ``np.load`` reads, with fixed zip timestamps so that the same
    arrays always give the same bytes (``np.savez`` stamps the current time)."""
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            zf.writestr(info, buf.getvalue())


class _LocalVersionedDataset(AbstractVersionedDataset[dict, dict]):
    """One versioned file on the local filesystem, saved atomically by subclasses."""

    def __init__(self, *, filepath: str, version: Version | None = None, metadata: dict | None = None):
        self.metadata = metadata
        super().__init__(
            filepath=PurePosixPath(filepath), version=version, exists_function=os.path.exists, glob_function=glob.glob
        )

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).exists()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}


class NpzDataset(_LocalVersionedDataset):
    """A dict of named numpy arrays in one ``.npz`` file (local filesystem).

    ``load`` returns a plain dict of arrays; object arrays are refused on save.
    """

    def load(self) -> dict[str, np.ndarray]:
        path = Path(self._get_load_path())
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise DatasetError(f"{path}: cannot be read as an .npz archive: {exc}") from exc

    def save(self, data: dict[str, np.ndarray]) -> None:
        if not isinstance(data, dict):
            raise DatasetError(f"{self._filepath}: expected a dict of arrays, got {type(data).__name__}")
        for k, v in data.items():
            if np.asarray(v).dtype == object:
                raise DatasetError(f"{self._filepath}: array {k!r} has dtype object; only plain arrays are saved")
        atomic_write(Path(self._get_save_path()), lambda fh: write_npz(fh, data))


class TorchDataset(_LocalVersionedDataset):
    """A dict of tensors and plain values (e.g. a model checkpoint), ``torch.save``d.

    The file object, not a path, goes to ``torch.save``: with a path the temporary
    file's name ends up in the zip records and the same tensors give other bytes.
    Loading maps tensors to the CPU and only unpickles plain types (``weights_only``).
    """

    def load(self) -> dict:
        path = Path(self._get_load_path())
        try:
            with open(path, "rb") as fh:
                return torch.load(fh, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
            raise DatasetError(f"{path}: cannot be read as a torch checkpoint: {exc}") from exc

    def save(self, data: dict) -> None:
        if not isinstance(data, dict):
            raise DatasetError(f"{self._filepath}: expected a dict, got {type(data).__name__}")
        atomic_write(Path(self._get_save_path()), lambda fh: torch.save(data, fh))


class NativeSource:
    """A native dataset folder, read on demand: ``read()`` -> ``list[PoseSequence]``.

    Loading the catalog entry costs nothing, so a pipeline can take every dataset as
    an input (its lineage shows them all) and read only the ones the run's target needs.
    ``opened``: the files the reader read so far (the run manifest hashes these, not
    the whole folder).
    """

    def __init__(self, path: Path, dataset: str, load_args: dict):
        self.path, self.dataset, self.load_args = Path(path), dataset, dict(load_args)
        self.opened: set[Path] = set()

    def read(self, **options) -> list:
        """The common form; ``options`` override the catalog's ``load_args``."""
        with recording_opened() as files:
            try:
                return registry.get(self.dataset).reader(self.path, **{**self.load_args, **options})
            finally:
                self.opened.update(files)

    @property
    def kind(self) -> str:
        """See :func:`data_kind`."""
        return data_kind(self.path)

    def __repr__(self) -> str:
        return f"NativeSource({self.dataset!r}, {str(self.path)!r})"


class NativeDataset(AbstractDataset[list, NativeSource]):
    """A dataset folder in its native published layout.

    ``load`` returns a :class:`NativeSource`, whose ``read()`` runs the dataset's
    reader (``datasets.registry``) and returns the common form (``list[PoseSequence]``).
    ``save`` takes stand-in ``list[Recording]`` and writes them in the native layout with
    the dataset's stand-in writer (the catalog saves only its ``standin_<dataset>``
    entries, whose folders lie under ``data/01_raw``), into a temporary folder that
    replaces the folder once complete. A folder that holds real data (anything not
    written by the stand-in generator, which leaves a ``.standin.json`` marker) is never
    overwritten: the save is skipped with a warning and the real data is what loads.

    The folder: ``path`` if given, else ``paths[dataset]`` (the globals' ``paths`` or
    ``standin_paths``, which name only the datasets a user moved), else the registry's
    ``data/01_raw/<folder>``. ``load_args`` override the registry's.
    """

    def __init__(
        self,
        *,
        dataset: str,
        path: str | None = None,
        paths: dict | None = None,
        load_args: dict | None = None,
        metadata: dict | None = None,
    ):
        try:
            entry = registry.get(dataset)
        except KeyError as exc:
            raise DatasetError(f"NativeDataset: {exc.args[0]}") from None
        self._path = Path(path or (paths or {}).get(dataset) or entry.default_path)
        self._dataset = dataset
        self._load_args = {**entry.load_args, **(load_args or {})}
        self.metadata = metadata

    def holds_real_data(self) -> bool:
        return self._path.is_dir() and any(self._path.iterdir()) and not (self._path / STANDIN_MARKER).is_file()

    def load(self) -> NativeSource:
        return NativeSource(self._path, self._dataset, self._load_args)

    def save(self, data: list) -> None:
        if self.holds_real_data():
            log.warning(
                "%s holds data not written by the stand-in generator: leaving it as it is "
                "(the %s stand-in is not written; ingestion reads this folder).",
                self._path,
                self._dataset,
            )
            return
        parent = self._path.parent
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{self._path.name}.", suffix=".tmp", dir=parent))
        try:
            standin = registry.get(self._dataset).standin
            if standin is None:
                raise DatasetError(f"{self._path}: dataset {self._dataset!r} has no stand-in writer (datasets.registry)")
            standin.write(tmp, data)
            marker = {"dataset": self._dataset, "recordings": len(data), "frames": int(sum(r.num_frames for r in data))}
            (tmp / STANDIN_MARKER).write_text(json.dumps(marker, indent=1))
            old = None
            if self._path.exists():
                old = parent / f".{self._path.name}.old"
                shutil.rmtree(old, ignore_errors=True)
                os.replace(self._path, old)
            os.replace(tmp, self._path)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "dataset": self._dataset, "load_args": self._load_args}


class KeypointFileDataset(AbstractDataset[None, dict]):
    """A user's 2D keypoint file (``predict.input``), read as it is on disk.

    ``load`` returns ``{"path": str (absolute), "raw": bytes}``; the predict pipeline
    parses it (``datasets.keypoints.parse_keypoints``) with the run's ``predict``
    parameters and saves what it read, versioned, as ``user_keypoints``. The catalog
    fills ``filepath`` from ``--params predict.input=...`` (or ``predict_input`` in
    ``globals.yml``); an empty one is an error naming the parameter. Read-only.
    """

    def __init__(self, *, filepath: str | None = None, metadata: dict | None = None):
        self._filepath = None if filepath in (None, "", "None", "null") else Path(str(filepath)).expanduser()
        self.metadata = metadata

    def load(self) -> dict:
        if self._filepath is None:
            raise DatasetError(
                "predict.input: no keypoint file given; pass --params predict.input=<file .json|.csv|.npy|.npz> "
                "(or set predict_input in conf/local/globals.yml)"
            )
        path = self._filepath.resolve()
        if not path.is_file():
            raise DatasetError(f"predict.input: {path}: no such file (expected 2D keypoints as .json, .csv, .npy or .npz)")
        return {"path": str(path), "raw": path.read_bytes()}

    def save(self, data) -> None:
        raise DatasetError(f"{self._filepath}: the user's keypoint file is read-only")

    def _exists(self) -> bool:
        return self._filepath is not None and self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": None if self._filepath is None else str(self._filepath)}


class MlflowLifterModelDataset(MlflowModelTrackingDataset):
    """A lifter logged to the run's MLflow run with ``mlflow.pytorch``, with an input
    example and a signature, optionally registered (``save_args.registered_model_name``).

    The node hands over a :class:`~adaptpose_pipeline.core.lifter.SequenceLifter`
    (``LifterCheckpoint.sequence_model()``); ``mlflow.pyfunc.load_model(uri).predict(x)``
    on ``x (B, T, 17, 2) float32`` then gives the ``predict`` pipeline's poses. The model
    is pickled (not ``torch.export``ed), so loading it needs this package installed, as
    it is in the project's environment. Nothing is logged when the pipeline's MLflow
    tracking is off (``mlflow.yml``). Loading gives the last logged model back
    (``load_args.model_uri`` to pick another).
    """

    def __init__(self, save_args: dict[str, Any] | None = None, load_args: dict[str, Any] | None = None, metadata: dict | None = None):
        save_args = {"name": "lifter", "serialization_format": "pickle", **(save_args or {})}
        if "pip_requirements" not in save_args:
            save_args["pip_requirements"] = [f"torch=={torch.__version__.split('+')[0]}", f"numpy=={np.__version__}"]
        super().__init__(flavor="mlflow.pytorch", save_args=save_args, load_args=load_args, metadata=metadata)

    def _save(self, model) -> None:
        from mlflow import active_run as mlflow_active_run
        from mlflow.models import ModelSignature
        from mlflow.types import Schema, TensorSpec

        from adaptpose_pipeline.core.lifter import SequenceLifter

        if not isinstance(model, SequenceLifter):
            raise DatasetError(f"{self._save_args['name']}: expected a SequenceLifter, got {type(model).__name__}")
        if not getattr(self, "_logging_activated", True) or mlflow_active_run() is None:
            return
        # any number of sequences of any length (at least one frame)
        joints = model.model.cfg.num_joints
        self._save_args["input_example"] = model.input_example().numpy()
        self._save_args["signature"] = ModelSignature(
            inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, -1, joints, 2))]),
            outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, -1, joints, 3))]),
        )
        super()._save(model)
        version = getattr(self.model_info, "registered_model_version", None)
        metrics = getattr(model, "served_metrics", None) or {}
        if version is not None and metrics:
            from mlflow import MlflowClient

            client = MlflowClient()
            for key, value in metrics.items():
                client.set_model_version_tag(self._save_args["registered_model_name"], str(version), key, f"{value:.6g}")


class MlflowVersionedArtifactDataset(MlflowArtifactDataset):
    """kedro-mlflow's ``MlflowArtifactDataset`` around a versioned dataset: each save
    writes the local version and logs that file to the run's artifacts
    (``artifact_path``).

    Write ``versioned: true`` on this entry, not on the inner ``dataset``: Kedro then
    hands over the run's load and save versions, and the inner dataset is built with
    them. (kedro-mlflow builds the inner dataset without them, so a versioned inner
    dataset picks its own timestamp, and Kedro refuses a catalog whose versioned
    datasets disagree on the save version.)
    """

    def __new__(cls, dataset: dict, run_id: str | None = None, artifact_path: str | None = None,
                credentials: dict | None = None, metadata: dict | None = None, version: Version | None = None):
        if not isinstance(dataset, dict):
            raise DatasetError(f"{cls.__name__}: 'dataset' must be a mapping with a 'type', got {dataset!r}")
        if "versioned" in dataset:
            raise DatasetError(f"{cls.__name__}: put 'versioned: true' on the entry itself, not in its 'dataset' ({dataset.get('type')})")
        if version is None:
            return super().__new__(cls, dataset=dataset, run_id=run_id, artifact_path=artifact_path, credentials=credentials, metadata=metadata)
        parse = kedro_mlflow_artifacts.parse_dataset_definition
        # kedro-mlflow parses the inner definition with Kedro's parser and no versions:
        # for the duration of this call, that parser gets the run's versions
        kedro_mlflow_artifacts.parse_dataset_definition = lambda config: parse(config, version.load, version.save)
        try:
            return super().__new__(
                cls, dataset={**dataset, "versioned": True}, run_id=run_id, artifact_path=artifact_path,
                credentials=credentials, metadata=metadata,
            )
        finally:
            kedro_mlflow_artifacts.parse_dataset_definition = parse


class TextFolderDataset(_LocalVersionedDataset):
    """A versioned folder of text files (e.g. one BVH per motion): ``save({file name:
    text})`` / ``load() -> {file name: text}`` (UTF-8, sorted). Kedro's
    ``PartitionedDataset`` cannot be versioned; this one writes
    ``<filepath>/<version>/<name of filepath>/`` into a temporary folder moved into
    place only once complete."""

    def load(self) -> dict[str, str]:
        path = Path(self._get_load_path())
        if not path.is_dir():
            raise DatasetError(f"{path}: expected a folder of text files")
        return {p.name: p.read_text(encoding="utf-8") for p in sorted(path.iterdir()) if p.is_file()}

    def save(self, data: dict[str, str]) -> None:
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise DatasetError(f"{self._filepath}: expected a dict of file name -> text")
        bad = [k for k in data if not isinstance(k, str) or not k or Path(k).name != k or k.startswith(".")]
        if bad:
            raise DatasetError(f"{self._filepath}: expected plain file names, got {bad[:5]}")
        path = Path(self._get_save_path())
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        try:
            for name, text in data.items():
                (tmp / name).write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
