"""The common form as a table (one row per frame) and back.

Columns: ``dataset, subject, sequence, camera, split`` (str), ``frame`` (int, index
within the sequence), ``fps``, ``image_w``, ``image_h``, ``fx, fy, cx, cy``,
``k1, k2, k3, p1, p2`` (0 where the dataset has no distortion), ``root_relative``,
``valid`` (bool), ``joints_2d`` (34 floats: 17 x (x, y) px) and ``joints_3d``
(51 floats: 17 x (x, y, z) m, camera frame), joints in H36M-17 order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from adaptpose_pipeline.datasets.common import NUM_JOINTS, DataError, PoseSequence

ID_COLUMNS = ["dataset", "subject", "sequence", "camera", "split"]
COLUMNS = ID_COLUMNS + [
    "frame", "fps", "image_w", "image_h", "fx", "fy", "cx", "cy",
    "k1", "k2", "k3", "p1", "p2", "root_relative", "valid", "joints_2d", "joints_3d",
]


def sequences_to_table(sequences: list[PoseSequence]) -> pd.DataFrame:
    if not sequences:
        raise DataError("tabulate: expected at least one sequence, found none")
    parts = []
    for s in sequences:
        T = s.num_frames
        k = s.k if s.k is not None else np.zeros(3)
        p = s.p if s.p is not None else np.zeros(2)
        cols = {name: [getattr(s, name)] * T for name in ID_COLUMNS}
        cols.update(
            frame=np.arange(T, dtype=np.int64),
            fps=np.full(T, s.fps),
            image_w=np.full(T, s.image_size[0], dtype=np.int64),
            image_h=np.full(T, s.image_size[1], dtype=np.int64),
            fx=np.full(T, s.f[0]), fy=np.full(T, s.f[1]), cx=np.full(T, s.c[0]), cy=np.full(T, s.c[1]),
            k1=np.full(T, k[0]), k2=np.full(T, k[1]), k3=np.full(T, k[2]), p1=np.full(T, p[0]), p2=np.full(T, p[1]),
            root_relative=np.full(T, bool(s.root_relative)),
            valid=np.asarray(s.valid, bool),
            joints_2d=list(s.joints_2d.reshape(T, -1).astype(np.float32)),
            joints_3d=list(s.joints_3d_cam.reshape(T, -1).astype(np.float32)),
        )
        parts.append(pd.DataFrame(cols, columns=COLUMNS))
    return pd.concat(parts, ignore_index=True)


def check_table(df: pd.DataFrame, name: str) -> None:
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{name}: expected columns {missing}, which are missing")
    if len(df) == 0:
        raise DataError(f"{name}: expected frames, found an empty table")


def joints(df: pd.DataFrame, column: str) -> np.ndarray:
    """``joints_2d`` -> ``(N, 17, 2)``, ``joints_3d`` -> ``(N, 17, 3)`` float32."""
    dim = 2 if column == "joints_2d" else 3
    flat = np.stack(df[column].to_numpy()).astype(np.float32)
    if flat.shape[1:] != (NUM_JOINTS * dim,):
        raise DataError(f"{column}: expected {NUM_JOINTS * dim} values per frame, found {flat.shape[1:]}")
    return flat.reshape(len(df), NUM_JOINTS, dim)


def sequence_groups(df: pd.DataFrame):
    """Iterate ``(key, frames)`` per sequence x camera, frames in order."""
    return df.sort_values(ID_COLUMNS + ["frame"], kind="stable").groupby(ID_COLUMNS, sort=False)


def select(df: pd.DataFrame, spec: dict, name: str) -> pd.DataFrame:
    """Rows matching ``spec``: ``dataset`` and optional ``splits``, ``subjects``,
    ``sequences`` (whole names, e.g. 3DHP's ``TS1``), ``actions`` / ``exclude_actions``
    (matched on the sequence name before a space: "Walking 1" is "Walking").

    A subject, sequence or action named in ``spec`` that the dataset's chosen splits do
    not hold is an error, as is a selection with no frames; both name ``name``.
    """
    allowed = {"dataset", "splits", "subjects", "sequences", "actions", "exclude_actions"}
    unknown = set(spec) - allowed
    if unknown:
        raise ValueError(f"{name}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    mask = df["dataset"] == spec["dataset"]
    if spec.get("splits") is not None:
        mask &= df["split"].isin(spec["splits"])
    action = df["sequence"].str.split(" ").str[0]
    for key, column in (("subjects", df["subject"]), ("sequences", df["sequence"]), ("actions", action)):
        if spec.get(key) is not None:
            wanted = [str(v) for v in spec[key]]
            _check_known(wanted, column[mask], f"{name}.{key}", spec)
            mask &= column.isin(wanted)
    if spec.get("exclude_actions") is not None:
        mask &= ~action.isin(spec["exclude_actions"])
    out = df[mask].reset_index(drop=True)
    if len(out) == 0:
        raise DataError(
            f"{name}: no frames match {spec} (the table holds datasets {sorted(df['dataset'].unique())}, "
            f"subjects {sorted(df['subject'].unique())[:12]}, splits {sorted(df['split'].unique())})"
        )
    return out


def _check_known(wanted: list[str], available: pd.Series, key: str, spec: dict) -> None:
    known = sorted(available.unique())
    missing = [v for v in wanted if v not in known]
    if missing:
        where = f"dataset {spec['dataset']!r}" + (f", splits {list(spec['splits'])}" if spec.get("splits") is not None else "")
        raise DataError(f"{key}: expected names that {where} holds ({known[:24]}), found unknown {missing}")
