"""Project settings (Kedro reads this module when the project is configured)."""

from __future__ import annotations

import os
from pathlib import Path

from kedro.config import OmegaConfigLoader
from omegaconf import OmegaConf


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

LOCAL_ENV = "local"


class ProjectConfigLoader(OmegaConfigLoader):
    """Kedro's loader, except that ``conf/local/globals.yml`` (a user's dataset paths)
    holds in every environment.

    Kedro reads ``base`` plus one environment, so ``kedro run --env paper`` would drop
    ``conf/local`` and silently read the stand-ins. Here the globals of a named
    environment are merged, key by key, over ``base``, and ``conf/local/globals.yml``
    over both: the paths a user set are the paths every run reads.

    Parameters given on the command line (``--params``) also beat the per-target blocks
    (``<pipeline>.targets.<target>``): see ``pipelines.config.command_line_wins``.
    """

    def __getitem__(self, key: str) -> dict:
        config = super().__getitem__(key)
        if key == "parameters":
            # A value given on the command line beats a per-target block's.
            from adaptpose_pipeline.pipelines.config import command_line_wins

            return command_line_wins(config, self.runtime_params)
        if key != "globals" or (self.env or self.default_run_env) == LOCAL_ENV or self._protocol != "file":
            return config
        local = Path(self.conf_source) / LOCAL_ENV / "globals.yml"
        if not local.is_file():
            return config
        return OmegaConf.to_container(OmegaConf.merge(config, OmegaConf.load(local)), resolve=True)


CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": LOCAL_ENV,
    # conf/paper and conf/local override single keys (e.g. only `paths.h36m`): merge them
    # into the base blocks instead of replacing whole top-level blocks.
    "merge_strategy": {"parameters": "soft", "globals": "soft"},
}

from adaptpose_pipeline.hooks import ManifestHook, MissingInputHook, ParameterCheckHook, ProtocolHook, RunNamingHook  # noqa: E402

HOOKS = (ParameterCheckHook(), MissingInputHook(), RunNamingHook(), ProtocolHook(), ManifestHook())
