"""Run manifests: what went into a run and the hash of everything it wrote.

One JSON per ``kedro run`` at ``data/08_reporting/manifests/<run id>.json`` (and,
when MLflow tracks the run, as its artifact ``manifest.json``): git commit and dirty
flag, package versions, parameters, seed, device, and SHA-256 hashes of the files of
every dataset the run loaded (``inputs``) or saved (``outputs``), keyed by catalog
name. Hashes cover file contents only, never paths or times, so two runs with the same
code, data, parameters and seed give equal ``outputs`` on the same kind of machine.

A native dataset folder (``raw_<dataset>``) is hashed by the files its reader read, not
by everything under it (a real 3DHP folder holds videos, 3DPW ``imageFiles/``, Ski PNG
crops): ``input_files[<name>]`` maps each file read, relative to the folder, to its
SHA-256, and ``inputs[<name>]`` combines them as :func:`hash_path` combines a folder's
files (so it equals the folder's hash when the reader read every file in it). A folder
that was loaded but not read (a dataset the run's target does not use) has no
``inputs`` entry and an empty ``input_files`` entry.

Files are read in blocks of :data:`CHUNK_BYTES` (constant memory). For native input
files of :data:`FAST_PATH_MIN_BYTES` or more, :class:`HashCache` (``data/.file_hashes.json``)
reuses the hash recorded by an earlier run when the file's resolved path, size,
modification time, status-change time and inode are all unchanged (files changed in
the last two seconds are not cached);
``input_files_from_cache`` lists those files (``<name>/<relative name>``). Outputs are
always hashed in full.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

PACKAGES = ("torch", "numpy", "pandas", "pyarrow", "kedro", "kedro-datasets", "kedro-mlflow", "mlflow", "roma", "h5py", "scipy")
CHUNK_BYTES = 1 << 20
FAST_PATH_MIN_BYTES = 64 << 20
# A file changed this recently may change again within the same timestamp tick
# (file times are coarse), so its hash is not cached ("racy git").
RECENT_NS = 2 * 10**9


class HashCache:
    """SHA-256 of large files keyed by resolved path, valid while the file's size,
    ``st_mtime_ns``, ``st_ctime_ns`` and inode are those recorded with it.

    Rewriting a file changes its mtime and ctime (restoring the mtime afterwards,
    as ``touch -d`` or ``rsync -t`` do, still changes the ctime), so a stale entry is
    not reused; a file changed in the last :data:`RECENT_NS` is hashed but not cached,
    since a second change within the same clock tick would leave its times as they
    were. ``hits``: the paths whose hash came from the cache in this process.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.hits: list[Path] = []
        self._changed = False
        try:
            self._entries = json.loads(self.path.read_text())
        except (OSError, ValueError):  # no cache yet, or a broken one: start afresh
            self._entries = {}
        if not isinstance(self._entries, dict):
            self._entries = {}

    @staticmethod
    def _stamp(st: os.stat_result) -> list[int]:
        return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]

    def hash(self, path: Path) -> str:
        path = Path(path)
        st = path.stat()
        if st.st_size < FAST_PATH_MIN_BYTES:
            return hash_file(path)
        key = str(path.resolve())
        entry = self._entries.get(key)
        if isinstance(entry, dict) and entry.get("stat") == self._stamp(st) and isinstance(entry.get("sha256"), str):
            self.hits.append(path)
            return entry["sha256"]
        digest = hash_file(path)
        if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > RECENT_NS:
            self._entries[key] = {"stat": self._stamp(st), "sha256": digest}
            self._changed = True
        return digest

    def save(self) -> None:
        if self._changed:
            from adaptpose_pipeline.core.runtime import atomic_write

            body = json.dumps(self._entries, indent=1, sort_keys=True).encode()
            atomic_write(self.path, lambda fh: fh.write(body))
            self._changed = False


def hash_file(path: Path) -> str:
    """SHA-256 of a file's bytes, read :data:`CHUNK_BYTES` at a time."""
    h = hashlib.sha256()
    buf = bytearray(CHUNK_BYTES)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def hash_path(path: Path) -> str | None:
    """SHA-256 of a file, or of a folder's files (relative names and contents, sorted).

    Symbolic links are followed, to files and to folders alike (a raw dataset folder
    often links to where the data really lives); a link back to a folder above it is
    not followed again."""
    path = Path(path)
    if path.is_file():
        return hash_file(path)
    if path.is_dir():
        return combine(hash_files(path, _files_under(path)))
    return None


def hash_files(root: Path, files: Iterable[Path], cache: HashCache | None = None) -> dict[str, str]:
    """``{name relative to root: SHA-256}`` of ``files`` (under ``root``), sorted by name."""
    named = {relative_name(root, f): Path(f) for f in files}
    return {rel: (cache.hash(f) if cache else hash_file(f)) for rel, f in sorted(named.items(), key=lambda kv: Path(kv[0]).parts)}


def relative_name(root: Path, path: Path) -> str:
    """``path`` relative to ``root``, or in full if it is not under it."""
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def combine(file_hashes: dict[str, str]) -> str:
    """One SHA-256 over ``{relative name: SHA-256}`` (names in path order), as for a folder."""
    h = hashlib.sha256()
    for rel in sorted(file_hashes, key=lambda r: Path(r).parts):
        h.update(rel.encode())
        h.update(bytes.fromhex(file_hashes[rel]))
    return h.hexdigest()


def _files_under(folder: Path, above: frozenset = frozenset()) -> list[Path]:
    """Every file under ``folder``, through symbolic links; ``above``: the real paths of
    the folders above it (``Path.rglob`` does not descend into linked folders)."""
    real = folder.resolve()
    if real in above:
        return []
    out = []
    for entry in folder.iterdir():
        if entry.is_dir():
            out += _files_under(entry, above | {real})
        elif entry.is_file():
            out.append(entry)
    return out


def dataset_path(dataset) -> Path | None:
    """The file (versioned: the latest version's) or folder behind a catalog dataset;
    None for one with no local file (a model logged to MLflow has an empty file path,
    which must not become the current folder)."""
    if hasattr(dataset, "_get_load_path"):
        try:
            found = str(dataset._get_load_path())
        except Exception:  # no version saved yet
            return None
    else:
        found = next((str(getattr(dataset, a)) for a in ("_path", "_filepath") if getattr(dataset, a, None) is not None), None)
    return None if found is None or found.strip() in ("", ".") else Path(found)


def git_state(cwd: Path) -> dict:
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "HEAD"), "dirty": None if status is None else bool(status)}


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def build_manifest(
    run: dict,
    params: dict,
    inputs: dict[str, str | None],
    outputs: dict[str, str | None],
    project: Path,
    input_files: dict[str, dict[str, str]] | None = None,
    input_files_from_cache: list[str] | None = None,
) -> dict:
    return {
        "run_id": run.get("run_id"),
        "env": run.get("env"),
        "pipeline": run.get("pipeline_names") or run.get("pipeline_name"),
        "runtime_params": run.get("runtime_params") or {},
        "git": git_state(project),
        "python": platform.python_version(),
        "packages": package_versions(),
        "seed": params.get("seed"),
        "device": params.get("device"),
        "target": params.get("target"),
        "parameters": params,
        "inputs": dict(sorted(inputs.items())),
        "input_files": dict(sorted((input_files or {}).items())),
        "input_files_from_cache": sorted(input_files_from_cache or []),
        "outputs": dict(sorted(outputs.items())),
    }


def compare_outputs(a: dict, b: dict) -> list[str]:
    """Names of artifacts whose hashes differ, or that only one manifest has."""
    names = sorted(set(a) | set(b))
    return [n for n in names if a.get(n) != b.get(n)]


def newest_version(folder: Path) -> Path | None:
    """The file of the newest complete version of a versioned dataset
    (``<folder>/<version>/<folder name>``), the one Kedro would load; None if none."""
    folder = Path(folder)
    versions = sorted(folder.glob(f"*/{folder.name}"))
    return versions[-1] if versions else None


def merged_outputs(manifest_dir: Path) -> dict[str, str | None]:
    """All outputs of the manifests in a folder (later runs override earlier ones)."""
    merged: dict[str, str | None] = {}
    for f in sorted(Path(manifest_dir).glob("*.json")):
        merged.update(json.loads(f.read_text())["outputs"])
    return merged
