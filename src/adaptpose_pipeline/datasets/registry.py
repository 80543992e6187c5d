"""The datasets the project knows: one entry each, the one list everything derives from.

An entry (:class:`Dataset`) names the dataset, its reader, the folder its files lie in
by default, the reader's default options and its splits. From the entries come:

- the ``raw_<name>`` and ``standin_<name>`` catalog entries (dataset factories in
  ``conf/base/catalog.yml``: :class:`~adaptpose_pipeline.datasets.kedro_io.NativeDataset`
  looks its reader, folder and options up here);
- the ingest pipeline's inputs, the stand-in pipeline's nodes;
- the valid targets (``parameters.Target``, ``--params target=...``) and the Makefile's
  ``TARGETS`` (``python -m adaptpose_pipeline.datasets.registry`` prints them).

The stand-in part of an entry (:class:`Standin`: maker and writer) is registered by the
``adaptpose_pipeline.standin`` package (:func:`register_standin`), so that this package
holds readers and never imports stand-in code. A dataset may have no stand-in: it is then
read from its configured path only. ``docs/extending.md`` walks through adding one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

from adaptpose_pipeline.datasets import h36m, mpi_inf_3dhp, pw3d, ski

RAW_ROOT = Path("data") / "01_raw"


@dataclass(frozen=True)
class Standin:
    """A dataset's stand-in: ``make(spec, scale, rng) -> list[Recording]`` synthesises it
    (``spec``: the dataset's block of ``parameters_standin.yml``), ``write(root, recordings)``
    writes the recordings in the dataset's native layout."""

    make: Callable
    write: Callable


@dataclass(frozen=True)
class Dataset:
    """One dataset.

    ``reader(root, **options) -> list[PoseSequence]`` reads a whole native folder (all
    splits). ``folder``: where its files lie under ``data/01_raw`` unless
    ``paths.<name>`` (globals) says otherwise, and where its stand-in is written.
    ``load_args``: the reader's options in this project (a ``raw_<name>`` catalog entry
    may override them). ``splits``: the split names its reader gives. ``coordinates``:
    the native field(s) its 3D ground truth can come from, each with the reader options
    that select it; the first is the default (``ingest.targets.<t>.coordinates`` picks
    another where there is a choice).
    """

    name: str
    reader: Callable
    folder: str
    splits: tuple[str, ...]
    coordinates: Mapping[str, Mapping] = field(default_factory=dict)
    load_args: Mapping = field(default_factory=dict)
    standin: Standin | None = None

    @property
    def default_path(self) -> str:
        return (RAW_ROOT / self.folder).as_posix()


_DATASETS: dict[str, Dataset] = {}


def register(dataset: Dataset) -> Dataset:
    """Add ``dataset`` (a name registered before is an error); returns it."""
    if dataset.name in _DATASETS:
        raise ValueError(f"dataset {dataset.name!r} is registered already")
    if not dataset.coordinates:
        raise ValueError(f"dataset {dataset.name!r}: expected at least one native 3D field in coordinates")
    _DATASETS[dataset.name] = replace(
        dataset, coordinates=MappingProxyType(dict(dataset.coordinates)), load_args=MappingProxyType(dict(dataset.load_args))
    )
    return _DATASETS[dataset.name]


def register_standin(name: str, make: Callable, write: Callable) -> None:
    """Give the registered dataset ``name`` a stand-in (see :class:`Standin`)."""
    _DATASETS[name] = replace(get(name), standin=Standin(make, write))


def get(name: str) -> Dataset:
    try:
        return _DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; expected one of {list(_DATASETS)}") from None


def names() -> tuple[str, ...]:
    """Every registered dataset, in the order registered: these are the valid targets."""
    return tuple(_DATASETS)


def with_standin() -> tuple[str, ...]:
    """The datasets that have a stand-in (the stand-in package registers them)."""
    return tuple(name for name, ds in _DATASETS.items() if ds.standin is not None)


register(Dataset("h36m", h36m.read_h36m, folder="h36m", splits=("train", "test"), coordinates={"positions_3d": {}}))
register(
    Dataset(
        "3dhp",
        mpi_inf_3dhp.read_3dhp,
        folder="mpi_inf_3dhp",
        splits=("train", "test"),
        # annot3 as captured; univ_annot3 rescaled to the Human3.6M "universal" skeleton
        # height (what the official 3DHP evaluation scores)
        coordinates={"annot3": {"use_universal": False}, "univ_annot3": {"use_universal": True}},
        load_args={"train_fps": 25.0},  # not stored in annot.mat (test fps: reader defaults per TS)
    )
)
register(Dataset("3dpw", pw3d.read_3dpw, folder="3dpw", splits=pw3d.SPLITS, coordinates={"jointPositions": {}}, load_args={"fps": 30.0}))
# fps: not stored in labels.h5 (assumed)
register(Dataset("ski", ski.read_ski, folder="ski", splits=ski.SPLITS, coordinates={"3D": {}}, load_args={"fps": 30.0}))


if __name__ == "__main__":  # the Makefile's TARGETS
    print(" ".join(names()))
