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

    ``parameters`` are resolved for the run's ``target`` here, once, before any node
    runs: command line (``--params``) > per-target block (``<block>.targets.<target>``)
    > the block (``pipelines.config.resolve_targets``). Nodes receive plain blocks.
    """

    def __getitem__(self, key: str) -> dict:
        if key == "parameters":
            from adaptpose_pipeline.pipelines.config import resolve_targets

            return resolve_targets(self.written_parameters(), self.runtime_params)
        config = super().__getitem__(key)
        if key != "globals" or (self.env or self.default_run_env) == LOCAL_ENV or self._protocol != "file":
            return config
        local = Path(self.conf_source) / LOCAL_ENV / "globals.yml"
        if not local.is_file():
            return config
        return OmegaConf.to_container(OmegaConf.merge(config, OmegaConf.load(local)), resolve=True)

    def written_parameters(self) -> dict:
        """The parameters as the files and the command line give them, per-target blocks
        unresolved: what ``ParameterCheckHook`` checks, so that an error names the key
        where a bad value was written (``pretrain.targets.ski.lifter.receptive_field``)."""
        return super().__getitem__("parameters")


CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": LOCAL_ENV,
    # conf/paper and conf/local override single keys (e.g. only `paths.h36m`): merge them
    # into the base blocks instead of replacing whole top-level blocks.
    "merge_strategy": {"parameters": "soft", "globals": "soft"},
}

from adaptpose_pipeline.hooks import (  # noqa: E402
    ManifestHook,
    MissingInputHook,
    ParameterCheckHook,
    ProtocolHook,
    RankZeroWritesHook,
    RunNamingHook,
)

HOOKS = (ParameterCheckHook(), MissingInputHook(), RunNamingHook(), RankZeroWritesHook(), ProtocolHook(), ManifestHook())
