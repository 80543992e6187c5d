"""Run manifests: what went into a run and the hash of everything it wrote.

One JSON per ``kedro run`` at ``data/08_reporting/manifests/<run id>.json`` (and,
when MLflow tracks the run, as its artifact ``manifest.json``): git commit and dirty
flag, package versions, parameters, seed, device, and SHA-256 hashes of the files of
every dataset the run loaded (``inputs``) or saved (``outputs``), keyed by catalog
name. Hashes cover file contents only, never paths or times, so two runs with the same
code, data, parameters and seed give equal ``outputs`` on the same kind of machine.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import subprocess
from pathlib import Path

PACKAGES = ("torch", "numpy", "pandas", "pyarrow", "kedro", "kedro-datasets", "kedro-mlflow", "mlflow", "roma", "h5py", "scipy")


def hash_path(path: Path) -> str | None:
    """SHA-256 of a file, or of a folder's files (relative names and contents, sorted).

    Symbolic links are followed, to files and to folders alike (a raw dataset folder
    often links to where the data really lives); a link back to a folder above it is
    not followed again."""
    path = Path(path)
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    if path.is_dir():
        h = hashlib.sha256()
        for f in sorted(_files_under(path)):
            h.update(str(f.relative_to(path)).encode())
            h.update(hashlib.sha256(f.read_bytes()).digest())
        return h.hexdigest()
    return None


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
    """The file (versioned: the latest version's) or folder behind a catalog dataset."""
    for attr in ("_get_load_path", ):
        if hasattr(dataset, attr):
            try:
                return Path(str(getattr(dataset, attr)()))
            except Exception:  # no version saved yet
                return None
    for attr in ("_path", "_filepath"):
        if getattr(dataset, attr, None) is not None:
            return Path(str(getattr(dataset, attr)))
    return None


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


def build_manifest(run: dict, params: dict, inputs: dict[str, str | None], outputs: dict[str, str | None], project: Path) -> dict:
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
