"""Configuration: a user's dataset paths in conf/local/globals.yml, one key at a time, in every
environment; the parameters resolved once for the run's target (command line > per-target block > block)."""

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


def _folders(loader) -> dict[str, str]:
    """Every raw_<dataset> and standin_<dataset> catalog entry's folder (from the factories)."""
    from kedro.io import DataCatalog

    from adaptpose_pipeline.datasets import registry

    catalog = DataCatalog.from_config(loader["catalog"])
    return {f"{kind}_{ds}": str(catalog.get(f"{kind}_{ds}")._path) for kind in ("raw", "standin") for ds in registry.names()}


@pytest.mark.parametrize("env", [None, "local", "paper"])
def test_one_local_path_overrides_only_that_path_in_every_env(conf, env):
    loader = _loader(conf, env)
    assert loader["globals"]["paths"] == {"h36m": "/data/human36m"}
    folders = _folders(loader)
    assert folders["raw_h36m"] == "/data/human36m"
    assert folders["raw_3dhp"] == "data/01_raw/mpi_inf_3dhp"


def test_paper_env_keeps_its_own_parameters_and_base_globals_without_local(conf):
    shutil.rmtree(conf / "local")
    loader = _loader(conf, "paper")
    assert _folders(loader)["raw_h36m"] == "data/01_raw/h36m"
    assert loader["globals"]["default_target"] == "3dhp"


@pytest.mark.parametrize("env", [None, "paper"])
def test_stand_ins_are_written_to_their_own_folders_whatever_paths_say(conf, env):
    """The stand-in generator saves `standin_<dataset>`, which keeps the default folder
    under data/01_raw when the user set a real path (existing or not)."""
    folders = _folders(_loader(conf, env))
    assert folders["raw_h36m"] == "/data/human36m"
    assert folders["standin_h36m"] == "data/01_raw/h36m"
    for ds, folder in {"3dhp": "mpi_inf_3dhp", "3dpw": "3dpw", "ski": "ski"}.items():
        assert folders[f"standin_{ds}"] == folders[f"raw_{ds}"] == f"data/01_raw/{folder}"


def _params(conf, env, **runtime):
    return settings.CONFIG_LOADER_CLASS(conf_source=str(conf), env=env, runtime_params=runtime, **settings.CONFIG_LOADER_ARGS)["parameters"]


@pytest.mark.parametrize("env", [None, "paper"])
def test_parameters_are_resolved_for_the_run_target(conf, env):
    """The blocks come resolved for `target`: Ski's `pretrain.targets.ski` (a 1-frame
    lifter) is merged in, no block keeps a `targets` key, other targets keep the block's."""
    ski, h36m = _params(conf, env, target="ski"), _params(conf, env, target="3dhp")
    assert ski["pretrain"]["lifter"]["receptive_field"] == 1 and h36m["pretrain"]["lifter"]["receptive_field"] == 27
    assert ski["pretrain"]["lifter"]["channels"] == h36m["pretrain"]["lifter"]["channels"]
    assert all("targets" not in block for p in (ski, h36m) for block in p.values() if isinstance(block, dict))
    assert ski["ingest"]["target_test"] == {"dataset": "ski", "splits": ["test"]}
    assert h36m["ingest"]["coordinates"] in ("annot3", "univ_annot3") and "coordinates" not in ski["ingest"]


@pytest.mark.parametrize("env", [None, "paper"])
def test_command_line_beats_the_per_target_block_beats_the_block(conf, env):
    """`--params target=ski,pretrain.lifter.receptive_field=81`: Ski's block sets 1, the
    command line wins; a value given for one target stays with it; a block-wide value
    given beside it wins (the rule: command line > per-target block > block)."""
    cli = _params(conf, env, target="ski", pretrain={"lifter": {"receptive_field": 81}})
    assert cli["pretrain"]["lifter"] == {**_params(conf, env, target="ski")["pretrain"]["lifter"], "receptive_field": 81}
    one = {"targets": {"ski": {"lifter": {"receptive_field": 243}}}}
    assert _params(conf, env, target="ski", pretrain=one)["pretrain"]["lifter"]["receptive_field"] == 243
    assert _params(conf, env, target="3dhp", pretrain=one)["pretrain"]["lifter"]["receptive_field"] == 27
    both = {"lifter": {"receptive_field": 81}, **one}
    assert _params(conf, env, target="ski", pretrain=both)["pretrain"]["lifter"]["receptive_field"] == 81


def test_the_rule_on_a_block():
    from adaptpose_pipeline.pipelines.config import deep_merge, resolve_targets

    written = {"target": "ski", "seed": 0, "adapt": {"lr": 1.0, "gen": {"k": 1, "n": 4}, "targets": {"ski": {"gen": {"k": 2}, "lr": 3.0}, "3dpw": {"lr": 5.0}}}}
    assert resolve_targets(written)["adapt"] == {"lr": 3.0, "gen": {"k": 2, "n": 4}}
    assert resolve_targets({**written, "target": "h36m"})["adapt"] == {"lr": 1.0, "gen": {"k": 1, "n": 4}}
    # Kedro's loader merges --params into the written files; those values then beat the per-target block
    given = {"adapt": {"gen": {"k": 7}, "targets": {"ski": {"lr": 9.0}}}}
    assert resolve_targets(deep_merge(written, given), given)["adapt"] == {"lr": 9.0, "gen": {"k": 7, "n": 4}}
    assert written["adapt"]["targets"]["ski"]["gen"]["k"] == 2  # not changed in place
    assert resolve_targets({"target": "mars", "seed": 0}) == {"target": "mars", "seed": 0}  # nothing to resolve
    with pytest.raises(ValueError, match=r"^target: unknown target 'mars'"):
        resolve_targets({**written, "target": "mars"})
    with pytest.raises(ValueError, match=r"^adapt\.targets: unknown targets \['skii'\]"):
        resolve_targets({**written, "adapt": {"targets": {"skii": {}}}})


def test_nodes_receive_the_resolved_blocks():
    """Through Kedro's own context and catalog: `params:pretrain` is Ski's block."""
    from kedro.framework.context import KedroContext
    from kedro.framework.hooks import _create_hook_manager
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(ROOT)
    runtime = {"target": "ski", "adapt": {"train": {"epochs": 2}}}
    loader = settings.CONFIG_LOADER_CLASS(conf_source=str(ROOT / "conf"), env="base", runtime_params=runtime, **settings.CONFIG_LOADER_ARGS)
    context = KedroContext(
        package_name="adaptpose_pipeline", project_path=ROOT, config_loader=loader, hook_manager=_create_hook_manager(),
        env="base", runtime_params=runtime,
    )
    assert context.catalog.load("params:pretrain")["lifter"]["receptive_field"] == 1
    assert context.catalog.load("params:adapt.train.epochs") == 2
    assert "targets" not in context.catalog.load("params:ingest") and "targets" not in context.params["pretrain"]
