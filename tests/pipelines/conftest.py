"""Run the project's pipelines for real, in a throw-away copy of the project."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import ROOT

KEDRO = Path(sys.executable).parent / "kedro"


class Project:
    def __init__(self, path: Path):
        self.path = path

    def env(self) -> dict:
        return dict(
            os.environ, DO_NOT_TRACK="true", COLUMNS="400", MLFLOW_TRACKING_URI=f"sqlite:///{self.path / 'mlruns.db'}"
        )

    def start(self, *args: str) -> subprocess.Popen:
        """``kedro run`` in the background (output discarded), e.g. to kill it."""
        return subprocess.Popen(
            [str(KEDRO), "run", *args], cwd=self.path, env=self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        out = subprocess.run(
            [str(KEDRO), "run", *args], cwd=self.path, env=self.env(), capture_output=True, text=True, timeout=600
        )
        out.text = " ".join((out.stdout + out.stderr).split())  # rich wraps lines
        if check and out.returncode != 0:
            raise AssertionError(f"kedro run {' '.join(args)} failed:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
        return out

    def files(self, under: str) -> list[Path]:
        return sorted(p for p in (self.path / under).rglob("*") if p.is_file() and p.name != ".gitkeep")


def make_project(path: Path) -> Project:
    for item in ("conf", "pyproject.toml", ".telemetry"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, path / item)
    (path / "src").mkdir()  # kedro wants a source folder; the package itself is installed
    shutil.rmtree(path / "conf" / "local", ignore_errors=True)
    (path / "conf" / "local").mkdir()
    return Project(path)


@pytest.fixture
def project(tmp_path) -> Project:
    return make_project(tmp_path)


@pytest.fixture(scope="module")
def standin_project(tmp_path_factory) -> Project:
    """A project whose stand-ins are written once (small scale) for the module's tests."""
    proj = make_project(tmp_path_factory.mktemp("project"))
    proj.run("--pipeline=standin", "--params", "standin.scale=0.25")
    return proj
