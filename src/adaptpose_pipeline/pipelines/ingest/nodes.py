"""Nodes of the ingest pipeline. Each takes data and parameters and returns data."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from adaptpose_pipeline.datasets import registry
from adaptpose_pipeline.datasets.kedro_io import STANDIN_MARKER, NativeSource
from adaptpose_pipeline.datasets.model_input import build_arrays
from adaptpose_pipeline.datasets.tables import select, sequences_to_table
from adaptpose_pipeline.parameters import ROLES, IngestTarget, check

log = logging.getLogger(__name__)


def target_config(ingest: dict, target: str) -> dict:
    """The ``ingest`` block (resolved for ``target``: ``pipelines.config``), checked
    (``parameters.IngestTarget``); errors name ``ingest.targets.<target>``, where each
    target's roles are written."""
    if target not in registry.names():
        raise ValueError(f"target: unknown target {target!r}; expected one of {list(registry.names())}")
    check(IngestTarget, ingest, f"ingest.targets.{target}")
    return ingest


def coordinates(cfg: dict, dataset: str) -> str:
    """The native 3D field read for ``dataset`` under a target's ingest block: the
    block's ``coordinates`` where the dataset has a choice, else its only one."""
    choices = list(registry.get(dataset).coordinates)
    return cfg.get("coordinates", choices[0]) if len(choices) > 1 else choices[0]


def _read_options(cfg: dict, dataset: str) -> dict:
    return dict(registry.get(dataset).coordinates[coordinates(cfg, dataset)])


def warn_standin_at_real_path(source: NativeSource, standin: NativeSource) -> None:
    """A configured path (not the stand-in folder) that holds stand-in data: say so."""
    if source.path.resolve() != standin.path.resolve() and source.kind == "standin":
        log.warning(
            "%s: paths.%s is set to a folder that holds stand-in data (it has the %s marker "
            "of the stand-in generator), not the real dataset; this run uses synthetic %s data.",
            source.path, source.dataset, STANDIN_MARKER, source.dataset,
        )


def read_common_form(ingest: dict, target: str, **sources: NativeSource) -> pd.DataFrame:
    """Read and validate the datasets the target's roles name; one frame table.

    ``sources``: ``raw_<dataset>``, the folders to read (globals ``paths``), and
    optionally ``standin_<dataset>``, the stand-in folders (globals ``standin_paths``):
    a path set elsewhere is meant to hold real data, and a warning says when it does not."""
    cfg = target_config(ingest, target)
    needed = sorted({cfg[role]["dataset"] for role in ROLES})
    raw = {name: sources[f"raw_{name}"] for name in needed}
    sequences = []
    for name in needed:
        if f"standin_{name}" in sources:
            warn_standin_at_real_path(raw[name], sources[f"standin_{name}"])
        read = raw[name].read(**_read_options(cfg, name))
        log.info("read %d sequences (%d frames) of %s from %s", len(read), sum(s.num_frames for s in read), name, raw[name].path)
        sequences += read
    return sequences_to_table(sequences)


def split_by_role(poses: pd.DataFrame, ingest: dict, target: str) -> tuple[pd.DataFrame, ...]:
    """Source train/validation and target train/test frame tables."""
    cfg = target_config(ingest, target)
    return tuple(select(poses, cfg[role], f"ingest.targets.{target}.{role}") for role in ROLES)


def build_model_input(frames: pd.DataFrame, ingest: dict, target: str, role: str) -> dict[str, np.ndarray]:
    """Normalised 2D, root-relative 3D and the sequence index of one role, and the
    native field its 3D came from (``coordinates``, for the metrics' protocol)."""
    cfg = target_config(ingest, target)
    arrays = build_arrays(frames, cfg["normalisation"], bool(cfg.get("pad_to_square", False)), f"{target}/{role}")
    return {**arrays, "coordinates": np.array([coordinates(cfg, cfg[role]["dataset"])])}
