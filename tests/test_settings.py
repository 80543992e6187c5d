"""Configuration: a user's dataset paths in conf/local/globals.yml, one key at a time, in every environment."""

import shutil

import pytest

from adaptpose_pipeline import settings
from tests.paths import ROOT


@pytest.fixture
def conf(tmp_path):
    """The project's conf/base and conf/paper, with a conf/local that sets only the H36M path."""
    conf = tmp_path / "conf"
    for env in ("base", "paper"):
        shutil.copytree(ROOT / "conf" / env, conf / env)
    (conf / "local").mkdir()
    (conf / "local" / "globals.yml").write_text("paths:\n  h36m: /data/human36m\n")
    return conf


def _loader(conf, env=None):
    return settings.CONFIG_LOADER_CLASS(conf_source=str(conf), env=env, **settings.CONFIG_LOADER_ARGS)


@pytest.mark.parametrize("env", [None, "local", "paper"])
def test_one_local_path_overrides_only_that_path_in_every_env(conf, env):
    loader = _loader(conf, env)
    assert loader["globals"]["paths"] == {
        "h36m": "/data/human36m", "3dhp": "data/01_raw/mpi_inf_3dhp", "3dpw": "data/01_raw/3dpw", "ski": "data/01_raw/ski",
    }  # fmt: skip
    catalog = loader["catalog"]
    assert catalog["raw_h36m"]["path"] == "/data/human36m"
    assert catalog["raw_3dhp"]["path"] == "data/01_raw/mpi_inf_3dhp"


def test_paper_env_keeps_its_own_parameters_and_base_globals_without_local(conf):
    shutil.rmtree(conf / "local")
    loader = _loader(conf, "paper")
    assert loader["catalog"]["raw_h36m"]["path"] == "data/01_raw/h36m"
    assert loader["globals"]["default_target"] == "3dhp"
