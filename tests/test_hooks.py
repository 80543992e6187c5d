"""Bad parameters are refused with the key named, before any pipeline runs."""

import copy

import pytest
from kedro.config import OmegaConfigLoader

from adaptpose_pipeline.hooks import check_parameters
from tests.paths import ROOT


@pytest.fixture(scope="module")
def params():
    loader = OmegaConfigLoader(str(ROOT / "conf"), base_env="base", default_run_env="base")
    return loader["parameters"]


def test_shipped_parameters_pass(params):
    for target in ("h36m", "3dhp", "3dpw", "ski"):
        check_parameters({**params, "target": target})


@pytest.mark.parametrize(
    "path, value, match",
    [
        ("target", "mars", "target: unknown target 'mars'"),
        ("seed", -1, "seed"),
        ("seed", "0", "seed"),
        ("device", "tpu", "device"),
        ("standin.scale", 0, "standin.scale"),
        ("standin.scale", "big", "standin.scale"),
        ("pretrain.train.stride_min", 0, "stride_min"),
        ("pretrain.train.stride_max", 1, "stride_min/stride_max"),
        ("pretrain.train.epochs", 0, "pretrain.epochs"),
        ("pretrain.train.lr", -1.0, "pretrain.lr"),
        ("pretrain.lifter.receptive_field", 26, "receptive_field"),
        ("pretrain.lifter.filter_widths", [2, 3], "filter_widths"),
        ("pretrain.lifter.dropout", 1.5, "dropout"),
        ("pretrain.train.unknown_key", 1, "pretrain: unexpected"),
        ("adapt.selection.b", 0.0, "selection_b"),
        ("adapt.selection.b", -2.0, "selection_b"),
        ("adapt.train.warmup_epochs", 99, "warmup_epochs"),
        ("adapt.generator.bone_generation", "bg4", "bone_generation"),
        ("adapt.generator.camera_generation", "fisheye", "camera_generation"),
        ("adapt.train.beta_deg", 120.0, "beta_deg"),
        ("evaluate.joint_set", "coco", "evaluate.joint_set"),
        ("evaluate.pck_threshold_mm", -5, "pck_threshold_mm"),
        ("ingest.targets.3dhp.target_test", {"splits": ["test"]}, "ingest.targets.3dhp.target_test.dataset"),
        # wrong types: named by the key, not a TypeError from inside a loop
        ("pretrain.train.epochs", "ten", r"pretrain.train.epochs: expected int, got 'ten' \(str\)"),
        ("pretrain.train.flip_augment", "yes", "pretrain.train.flip_augment: expected bool"),
        ("pretrain.lifter.channels", 12.5, "pretrain.lifter.channels: expected int"),
        ("adapt.train.batch_size", [256], "adapt.batch_size: expected int"),
        ("adapt.train.lr_generator", "fast", "adapt.lr_generator: expected float"),
        ("adapt.selection.bound", "edge", "adapt.selection_bound: expected float | None"),
        ("adapt.hard_ratio.bone.d", "two", "adapt.hard_ratio.d: expected float"),
        ("adapt.generator.hidden", "wide", "adapt.generator.hidden: expected int"),
        ("checkpoints.resume", "maybe", "checkpoints.resume: expected true or false"),
        ("checkpoints.dir", 5, "checkpoints.dir: expected a folder path"),
        ("checkpoints.extra", 1, "checkpoints: expected keys"),
        # ablation rows are checked merged over the shared blocks
        ("table6.BG1.overrides", {"adapt": {"generator": {"bone_generation": "bg9"}}}, "table6.BG1.overrides.adapt: .*bone_generation"),
        ("table8.f1.overrides", {"pretrain": {"lifter": {"receptive_field": 2}}}, "table8.f1.overrides.pretrain"),
        ("table5.A1.overrides", {"adapt": {"selection": {"b": -1.0}}}, "table5.A1.overrides.adapt: .*selection_b"),
        ("table5.A9", {"row": {"label": "x"}}, r"table5: expected rows .* unknown \['A9'\]"),
        ("table5.A1.overrides", {"adapt": {"selection": {"enable": False}}}, "table5.A1.overrides.adapt.selection.enable: no such key"),
        ("table5.A2.overrides", {"adapt": {"domain_discriminater": False}}, "table5.A2.overrides.adapt.domain_discriminater: no such key"),
        ("adapt.domain_discriminator", "false", "adapt.domain_discriminator: expected bool"),
    ],
)
def test_bad_parameter_names_the_key(params, path, value, match):
    bad = copy.deepcopy({**params, "target": "3dhp"})
    node = bad
    *parents, leaf = path.split(".")
    for key in parents:
        node = node[key]
    node[leaf] = value
    with pytest.raises((ValueError, KeyError), match=match):
        check_parameters(bad)


def test_yaml_off_means_off(params):
    """`--params adapt.generator.bone_generation=off` arrives as False (YAML 1.1)."""
    from adaptpose_pipeline.pipelines.adapt.nodes import generator_params

    p = copy.deepcopy({**params, "target": "3dhp"})
    p["adapt"]["generator"]["bone_generation"] = False
    p["adapt"]["generator"]["camera_generation"] = False
    check_parameters(p)
    assert generator_params(p["adapt"])["bone_generation"] == "off"


def test_paper_environment_parameters_pass():
    from adaptpose_pipeline.settings import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(str(ROOT / "conf"), **{**CONFIG_LOADER_ARGS, "default_run_env": "paper"})
    paper = loader["parameters"]
    # soft merge: the paper files change single keys, the rest of each block stays
    assert paper["standin"]["3dhp"] and paper["evaluate"]["pck_threshold_mm"] == 150
    assert paper["pretrain"]["lifter"]["channels"] == 1024 and paper["adapt"]["train"]["samples_per_epoch"] == 1_500_000
    assert paper["ingest"]["targets"]["3dhp"]["normalisation"] == "screen"
    assert paper["ingest"]["targets"]["ski"]["normalisation"] == "frobenius"
    for target in ("h36m", "3dhp", "3dpw", "ski"):
        check_parameters({**paper, "target": target})


@pytest.mark.parametrize("value", ["/data/human36m", "data/02_intermediate/h36m", "data/01_raw", "data/01_raw/../../x", None])
def test_stand_in_folders_must_lie_under_data_01_raw(value):
    from adaptpose_pipeline.hooks import check_standin_paths

    good = OmegaConfigLoader(str(ROOT / "conf"), base_env="base", default_run_env="base")["globals"]["standin_paths"]
    check_standin_paths(good)
    with pytest.raises(ValueError, match="standin_paths.h36m: expected a folder under data/01_raw/"):
        check_standin_paths({**good, "h36m": value})


def test_data_kind_per_dataset(tmp_path):
    from kedro.io import DataCatalog

    from adaptpose_pipeline.datasets.kedro_io import STANDIN_MARKER, NativeDataset
    from adaptpose_pipeline.hooks import data_kinds

    for name in ("standin", "real"):
        (tmp_path / name).mkdir()
    (tmp_path / "standin" / STANDIN_MARKER).write_text("{}")
    (tmp_path / "real" / "labels.h5").write_bytes(b"")
    folders = {"h36m": "standin", "3dhp": "real", "ski": "not_mounted"}
    catalog = DataCatalog(datasets={f"raw_{ds}": NativeDataset(path=str(tmp_path / f), dataset=ds) for ds, f in folders.items()})
    assert data_kinds(catalog) == {"h36m": "standin", "3dhp": "real", "ski": "missing"}


def test_run_names_read_as_pipeline_target_seed():
    from adaptpose_pipeline.hooks import run_name

    assert run_name(["chain"], "3dhp", 0) == "chain 3dhp seed0"
    assert run_name(["__default__"], "ski", 2) == "default ski seed2"
    assert run_name(["ingest", "pretrain"], "3dpw", 1) == "ingest+pretrain 3dpw seed1"


def test_flat_params_of_a_row():
    from adaptpose_pipeline.pipelines.ablation.nodes import flat_params

    assert flat_params({"generator": {"bone_generation": "bg1", "hidden": 32}, "selection": {"enabled": False}, "w": [1, 2]}, "adapt") == {
        "adapt.generator.bone_generation": "bg1", "adapt.generator.hidden": "32", "adapt.selection.enabled": "False", "adapt.w": "[1, 2]",
    }


def test_run_naming_hook_switches_the_experiment_for_tools_and_back():
    from types import SimpleNamespace

    from adaptpose_pipeline.hooks import RunNamingHook

    switched = []
    config = SimpleNamespace(tracking=SimpleNamespace(run=SimpleNamespace(name=None), experiment=SimpleNamespace(name="adaptpose/3dhp")))
    config._set_experiment = lambda: switched.append(config.tracking.experiment.name)
    hook = RunNamingHook()
    hook.after_context_created(SimpleNamespace(mlflow=config, params={"target": "3dhp", "seed": 1}))
    hook.before_pipeline_run({"pipeline_names": ["predict"]}, None, None)
    assert config.tracking.run.name == "predict 3dhp seed1" and config.tracking.experiment.name == "adaptpose/tools"
    hook.before_pipeline_run({"pipeline_names": ["chain"]}, None, None)
    assert config.tracking.run.name == "chain 3dhp seed1" and config.tracking.experiment.name == "adaptpose/3dhp"
    assert switched == ["adaptpose/tools", "adaptpose/3dhp"]
    hook.before_pipeline_run({"pipeline_name": "adapt"}, None, None)  # kedro's older key
    assert config.tracking.run.name == "adapt 3dhp seed1" and switched == ["adaptpose/tools", "adaptpose/3dhp"]
