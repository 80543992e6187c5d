"""One door to every dataset's reader and writer, keyed by dataset name.

``READERS[name](root, **options) -> list[PoseSequence]`` reads a whole native folder
(all splits); ``WRITERS[name](root, recordings)`` writes stand-in recordings into it.
"""

from __future__ import annotations

from pathlib import Path

from adaptpose_pipeline.datasets import h36m, mpi_inf_3dhp, pw3d, ski
from adaptpose_pipeline.datasets.common import PoseSequence
from adaptpose_pipeline.datasets.recording import Recording


def read_3dhp(
    root: Path, train_fps: float = 25.0, use_universal: bool = False, test_intrinsics: dict | None = None
) -> list[PoseSequence]:
    """Training (``S*/Seq*``) and test (``mpi_inf_3dhp_test_set/TS*``) sequences."""
    return mpi_inf_3dhp.read_3dhp_train(root, fps=train_fps, use_universal=use_universal) + mpi_inf_3dhp.read_3dhp_test(
        root, intrinsics=test_intrinsics, use_universal=use_universal
    )


def write_3dhp(root: Path, recordings: list[Recording]) -> None:
    mpi_inf_3dhp.write_3dhp_train(root, [r for r in recordings if r.split == "train"])
    mpi_inf_3dhp.write_3dhp_test(root, [r for r in recordings if r.split == "test"])


READERS = {"h36m": h36m.read_h36m, "3dhp": read_3dhp, "3dpw": pw3d.read_3dpw, "ski": ski.read_ski}
WRITERS = {"h36m": h36m.write_h36m, "3dhp": write_3dhp, "3dpw": pw3d.write_3dpw, "ski": ski.write_ski}
