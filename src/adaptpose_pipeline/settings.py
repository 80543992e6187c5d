"""Project settings (Kedro reads this module when the project is configured)."""

from __future__ import annotations

import os
from pathlib import Path

from kedro.config import OmegaConfigLoader


def _project_root() -> Path:
    """The folder holding pyproject.toml: the source checkout (editable install),
    else the current directory, which is where `kedro` commands run from."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


PROJECT_ROOT = _project_root()

# MLflow's relative `sqlite:///mlruns.db` would follow the current directory (a run
# from notebooks/ would make a second store). Pin it to the project, unless the
# user points MLflow elsewhere on purpose.
os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{PROJECT_ROOT / 'mlruns.db'}")

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # conf/paper (and conf/local) override single keys: merge them into the base blocks
    # instead of replacing whole top-level blocks.
    "merge_strategy": {"parameters": "soft"},
}

from adaptpose_pipeline.hooks import ManifestHook, ParameterCheckHook  # noqa: E402

HOOKS = (ParameterCheckHook(), ManifestHook())
