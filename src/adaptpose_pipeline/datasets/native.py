"""One door to every dataset's reader and writer, keyed by dataset name.

``READERS[name](root, **options) -> list[PoseSequence]`` reads a whole native folder
(all splits); ``WRITERS[name](root, recordings)`` writes stand-in recordings into it.
"""

from __future__ import annotations

from pathlib import Path

from adaptpose_pipeline.datasets import h36m, mpi_inf_3dhp, pw3d, ski
from adaptpose_pipeline.datasets.recording import Recording


def write_3dhp(root: Path, recordings: list[Recording]) -> None:
    mpi_inf_3dhp.write_3dhp_train(root, [r for r in recordings if r.split == "train"])
    mpi_inf_3dhp.write_3dhp_test(root, [r for r in recordings if r.split == "test"])


READERS = {"h36m": h36m.read_h36m, "3dhp": mpi_inf_3dhp.read_3dhp, "3dpw": pw3d.read_3dpw, "ski": ski.read_ski}
WRITERS = {"h36m": h36m.write_h36m, "3dhp": write_3dhp, "3dpw": pw3d.write_3dpw, "ski": ski.write_ski}
