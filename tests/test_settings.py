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


@pytest.mark.parametrize("env", [None, "paper"])
def test_stand_ins_are_written_to_their_own_folders_whatever_paths_say(conf, env):
    """The stand-in generator saves `standin_<dataset>`, which keeps the default folder
    under data/01_raw when the user set a real path (existing or not)."""
    catalog = _loader(conf, env)["catalog"]
    assert catalog["raw_h36m"]["path"] == "/data/human36m"
    assert catalog["standin_h36m"]["path"] == "data/01_raw/h36m"
    for ds, folder in {"3dhp": "mpi_inf_3dhp", "3dpw": "3dpw", "ski": "ski"}.items():
        assert catalog[f"standin_{ds}"]["path"] == catalog[f"raw_{ds}"]["path"] == f"data/01_raw/{folder}"


@pytest.mark.parametrize("env", [None, "paper"])
def test_command_line_beats_the_per_target_block(conf, env):
    """`--params target=ski,pretrain.lifter.receptive_field=27`: Ski's block sets 1, the
    command line wins; other keys of the block and other targets are left alone."""
    from adaptpose_pipeline.pipelines.config import for_target

    runtime = {"target": "ski", "pretrain": {"lifter": {"receptive_field": 27}}}
    loader = settings.CONFIG_LOADER_CLASS(conf_source=str(conf), env=env, runtime_params=runtime, **settings.CONFIG_LOADER_ARGS)
    params = loader["parameters"]
    assert for_target(params["pretrain"], "ski", "pretrain")["lifter"]["receptive_field"] == 27
    assert for_target(params["pretrain"], "3dhp", "pretrain")["lifter"]["receptive_field"] == 27
    assert for_target(_loader(conf, env)["parameters"]["pretrain"], "ski", "pretrain")["lifter"]["receptive_field"] == 1


def test_command_line_value_for_one_target_stays_with_that_target():
    from adaptpose_pipeline.pipelines.config import command_line_wins, for_target

    params = {"adapt": {"lr": 1.0, "gen": {"k": 1}, "targets": {"ski": {"gen": {"k": 2}}, "3dpw": {"lr": 3.0}}}}
    runtime = {"adapt": {"targets": {"ski": {"lr": 9.0}}, "gen": {"k": 5}}}
    merged = command_line_wins(params, runtime)
    assert merged["adapt"]["targets"] == {"ski": {"gen": {"k": 5}}, "3dpw": {"lr": 3.0}}
    assert params["adapt"]["targets"]["ski"]["gen"]["k"] == 2  # not changed in place
    assert command_line_wins(params, None) == params
