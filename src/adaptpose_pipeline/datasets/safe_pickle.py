"""Unpickling of dataset files that cannot run code.

A pickle names the functions it calls on load; a crafted one names ``os.system`` or
``builtins.open``. Every pickled dataset file (3DPW pickles, mmpose's
``cameras.pkl``, the pickled dicts inside VideoPose3D's ``.npz`` files) goes through
:class:`RestrictedUnpickler`, which resolves only the globals in :data:`ALLOWED` (numpy
arrays, dtypes and scalars; harmless builtin containers) and refuses any other with a
:class:`~adaptpose_pipeline.datasets.common.DataError` naming the file and the global.
Dicts, lists, tuples, strings and numbers need no global at all.
"""

from __future__ import annotations

import _codecs
import builtins
import io
import pickle
from pathlib import Path

import numpy as np

from adaptpose_pipeline.datasets.common import DataError, opened

# Each numpy function under every module name pickles of numpy 1.x and 2.x use, resolved
# here to the object itself, so that nothing is imported by a name the file gives.
_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's multiarray._reconstruct
_SCALAR = np.float64(0).__reduce__()[0]  # numpy's multiarray.scalar
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]  # numpy's numeric._frombuffer (protocol 5)
ALLOWED: dict[tuple[str, str], object] = {
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _RECONSTRUCT for core in ("core", "_core")},
    **{(f"numpy.{core}.multiarray", "scalar"): _SCALAR for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): _FROMBUFFER for core in ("core", "_core")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    # Python 3 pickles bytes for protocol 2 as _codecs.encode(text, "latin1").
    ("_codecs", "encode"): _codecs.encode,
    # Python 2 pickles (protocol 2, as 3DPW's) spell builtins as __builtin__.
    **{(module, name): getattr(builtins, name)
       for module in ("builtins", "__builtin__") for name in ("set", "frozenset", "bytes", "bytearray", "complex")},
}  # fmt: skip


class RestrictedUnpickler(pickle.Unpickler):
    """A :class:`pickle.Unpickler` that resolves only :data:`ALLOWED` globals.

    ``source`` names the file in the error a refused global raises.
    """

    def __init__(self, file, source: str | Path, encoding: str = "ASCII"):
        super().__init__(file, encoding=encoding)
        self.source = str(source)

    def find_class(self, module: str, name: str) -> object:
        found = ALLOWED.get((module, name))
        if found is None:
            raise DataError(
                f"{self.source}: refused to unpickle global {module}.{name}; a dataset file may only hold "
                "numpy arrays, dtypes, scalars and plain containers"
            )
        return found


def load_pickle(path: str | Path, encoding: str = "ASCII") -> object:
    """The object pickled in ``path``, read by :class:`RestrictedUnpickler`.

    A refused global raises :class:`DataError`; other errors (truncated files...) are
    the unpickler's own, for the caller to word.
    """
    with open(opened(path), "rb") as fh:
        return RestrictedUnpickler(fh, path, encoding=encoding).load()


def load_npz_object(path: str | Path, key: str) -> object:
    """The object stored as ``key`` in an ``.npz`` (``np.savez`` of a dict: a 0-d object array).

    The archive is opened with ``allow_pickle=False``; the member's pickled payload is
    read by :class:`RestrictedUnpickler`. Plain (non-object) arrays come back as arrays.
    Raises :class:`DataError` for a missing key and ``OSError``/``ValueError``/
    ``zipfile.BadZipFile`` for a file that is not an ``.npz``.
    """
    with np.load(opened(path), allow_pickle=False) as npz:
        if key not in npz.files:
            raise DataError(f"{path}: expected key {key!r}, found keys {sorted(npz.files)}")
        member = f"{key}.npy" if f"{key}.npy" in npz.zip.namelist() else key
        with npz.zip.open(member) as fh:
            array = _read_npy(io.BufferedReader(fh), f"{path}: {key!r}")
    return array.item() if array.dtype.hasobject and array.ndim == 0 else array


def _read_npy(fh: io.BufferedReader, where: str) -> np.ndarray:
    version = np.lib.format.read_magic(fh)
    read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in read_header:
        raise DataError(f"{where}: expected an .npy member of format 1.0 or 2.0, found {version}")
    shape, fortran_order, dtype = read_header[version](fh)
    if not dtype.hasobject:
        count = int(np.prod(shape))
        data = np.frombuffer(fh.read(count * dtype.itemsize), dtype=dtype, count=count)
        return data.reshape(shape, order="F" if fortran_order else "C")
    array = RestrictedUnpickler(fh, where, encoding="latin1").load()
    if not isinstance(array, np.ndarray):
        raise DataError(f"{where}: expected a pickled numpy array, found {type(array).__name__}")
    return array
