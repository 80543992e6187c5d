"""Nodes of the ingest pipeline. Each takes data and parameters and returns data."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from adaptpose_pipeline.datasets.common import DATASETS
from adaptpose_pipeline.datasets.kedro_io import NativeSource
from adaptpose_pipeline.datasets.model_input import build_arrays
from adaptpose_pipeline.datasets.tables import select, sequences_to_table

log = logging.getLogger(__name__)
ROLES = ("source_train", "source_validation", "target_train", "target_test")


def target_config(ingest: dict, target: str) -> dict:
    """The run's target block of ``ingest.targets``, checked."""
    if target not in DATASETS:
        raise ValueError(f"target: unknown target {target!r}; expected one of {list(DATASETS)}")
    try:
        cfg = ingest["targets"][target]
    except KeyError:
        raise KeyError(f"ingest.targets.{target}: missing from parameters_ingest.yml") from None
    for role in ROLES:
        if role not in cfg or "dataset" not in cfg[role]:
            raise KeyError(f"ingest.targets.{target}.{role}.dataset: missing")
    return cfg


def read_common_form(
    ingest: dict, target: str, raw_h36m: NativeSource, raw_3dhp: NativeSource, raw_3dpw: NativeSource, raw_ski: NativeSource
) -> pd.DataFrame:
    """Read and validate the datasets the target's roles name; one frame table."""
    cfg = target_config(ingest, target)
    sources = {"h36m": raw_h36m, "3dhp": raw_3dhp, "3dpw": raw_3dpw, "ski": raw_ski}
    needed = sorted({cfg[role]["dataset"] for role in ROLES})
    sequences = []
    for name in needed:
        read = sources[name].read()
        log.info("read %d sequences (%d frames) of %s from %s", len(read), sum(s.num_frames for s in read), name, sources[name].path)
        sequences += read
    return sequences_to_table(sequences)


def split_by_role(poses: pd.DataFrame, ingest: dict, target: str) -> tuple[pd.DataFrame, ...]:
    """Source train/validation and target train/test frame tables."""
    cfg = target_config(ingest, target)
    return tuple(select(poses, cfg[role], f"ingest.targets.{target}.{role}") for role in ROLES)


def build_model_input(frames: pd.DataFrame, ingest: dict, target: str, role: str) -> dict[str, np.ndarray]:
    """Normalised 2D, root-relative 3D and the sequence index of one role."""
    cfg = target_config(ingest, target)
    return build_arrays(frames, cfg["normalisation"], bool(cfg.get("pad_to_square", False)), f"{target}/{role}")
