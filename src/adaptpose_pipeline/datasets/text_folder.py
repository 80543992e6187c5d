"""A versioned folder of text files (e.g. one BVH per motion) as one Kedro dataset.

Kedro's ``PartitionedDataset`` cannot be versioned; this one is: each save writes
``<filepath>/<version>/<name of filepath>/`` holding one file per dict entry, into a
temporary folder that is moved into place only once complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from kedro.io.core import DatasetError

from adaptpose_pipeline.datasets.kedro_io import _LocalVersionedDataset


class TextFolderDataset(_LocalVersionedDataset):
    """``save({file name: text})`` / ``load() -> {file name: text}`` (UTF-8, sorted)."""

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
