"""Bad parameters are refused with the key named, before any pipeline runs."""

import copy
import os

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
        ("pretrain.train.stride_max", 1, r"pretrain\.train\.stride_min: expected <= stride_max = 1, got 2"),
        ("pretrain.train.epochs", 0, r"pretrain\.train\.epochs: Input should be greater than or equal to 1 \(got 0\)"),
        ("pretrain.train.lr", -1.0, r"pretrain\.train\.lr: Input should be greater than 0 \(got -1\.0\)"),
        ("pretrain.lifter.receptive_field", 26, "receptive_field"),
        ("pretrain.lifter.filter_widths", [2, 3], "filter_widths"),
        ("pretrain.lifter.dropout", 1.5, "dropout"),
        ("pretrain.train.unknown_key", 1, r"pretrain\.train\.unknown_key: Unexpected keyword argument"),
        ("adapt.selection.b", 0.0, r"adapt\.selection\.b: Input should be greater than 0 \(got 0\.0\)"),
        ("adapt.selection.b", -2.0, r"adapt\.selection\.b: Input should be greater than 0"),
        ("adapt.train.warmup_epochs", 99, r"adapt\.train\.warmup_epochs: expected < epochs, got 99"),
        ("adapt.generator.bone_generation", "bg4", "bone_generation"),
        ("adapt.generator.camera_generation", "fisheye", "camera_generation"),
        ("adapt.train.beta_deg", 120.0, "beta_deg"),
        ("evaluate.joint_set", "coco", "evaluate.joint_set"),
        ("evaluate.pck_threshold_mm", -5, "pck_threshold_mm"),
        ("ingest.targets.3dhp.target_test", {"splits": ["test"]}, "ingest.targets.3dhp.target_test.dataset"),
        # wrong types: named by the key, not a TypeError from inside a loop
        ("pretrain.train.epochs", "ten", r"pretrain\.train\.epochs: Input should be a valid integer \(got 'ten'\)"),
        ("pretrain.train.flip_augment", "yes", r"pretrain\.train\.flip_augment: Input should be a valid boolean"),
        ("pretrain.lifter.channels", 12.5, r"pretrain\.lifter\.channels: Input should be a valid integer \(got 12\.5\)"),
        ("adapt.train.batch_size", [256], r"adapt\.train\.batch_size: Input should be a valid integer"),
        ("adapt.train.lr_generator", "fast", r"adapt\.train\.lr_generator: Input should be a valid number"),
        ("adapt.selection.bound", "edge", r"adapt\.selection\.bound: Input should be a valid number"),
        ("adapt.hard_ratio.bone.d", "two", r"adapt\.hard_ratio\.bone\.d: Input should be a valid number"),
        ("adapt.generator.hidden", "wide", r"adapt\.generator\.hidden: Input should be a valid integer"),
        ("checkpoints.resume", "maybe", r"checkpoints\.resume: Input should be a valid boolean"),
        ("checkpoints.dir", 5, r"checkpoints\.dir: Input should be a valid string"),
        ("checkpoints.extra", 1, r"checkpoints\.extra: Extra inputs are not permitted"),
        # ablation rows are checked merged over the shared blocks
        ("table6.BG1.overrides", {"adapt": {"generator": {"bone_generation": "bg9"}}}, r"table6\.BG1\.overrides\.adapt\.generator\.bone_generation: Input should be"),
        ("table8.f1.overrides", {"pretrain": {"lifter": {"receptive_field": 2}}}, r"table8\.f1\.overrides\.pretrain\.lifter\.receptive_field: expected 1 or a power of 3"),
        ("table5.A1.overrides", {"adapt": {"selection": {"b": -1.0}}}, r"table5\.A1\.overrides\.adapt\.selection\.b: Input should be greater than 0"),
        ("table5.A9", {"row": {"label": "x"}}, r"table5: expected rows .* unknown \['A9'\]"),
        ("table5.A1.overrides", {"adapt": {"selection": {"enable": False}}}, r"table5\.A1\.overrides\.adapt\.selection\.enable: Extra inputs are not permitted"),
        ("table5.A2.overrides", {"adapt": {"domain_discriminater": False}}, r"table5\.A2\.overrides\.adapt\.domain_discriminater: Extra inputs are not permitted"),
        ("adapt.domain_discriminator", "false", r"adapt\.domain_discriminator: Input should be a valid boolean \(got 'false'\)"),
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
    check_standin_paths({**good, "h36m": "data/01_raw/h36m_elsewhere"})
    with pytest.raises(ValueError, match="standin_paths.h36m: expected a folder under data/01_raw/"):
        check_standin_paths({**good, "h36m": value})
    with pytest.raises(ValueError, match="standin_paths.h63m: unknown dataset"):
        check_standin_paths({**good, "h63m": "data/01_raw/h36m"})


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


@pytest.mark.parametrize("rank", [0, 1])
def test_only_rank_0_writes_under_torchrun(monkeypatch, rank):
    from types import SimpleNamespace

    from kedro.io import MemoryDataset
    from kedro.pipeline import node, pipeline

    from adaptpose_pipeline.hooks import RankZeroWritesHook

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", str(rank))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///project/mlruns.db")
    config = SimpleNamespace(tracking=SimpleNamespace(disable_tracking=SimpleNamespace(pipelines=[])))
    on_disk = object()
    catalog = {"a": on_disk, "b": on_disk, "c": on_disk}
    hook = RankZeroWritesHook()
    hook.after_context_created(SimpleNamespace(mlflow=config))
    pipe = pipeline([node(lambda a: a, "a", "b", name="n1"), node(lambda b: b, "b", "c", name="n2")])
    hook.before_pipeline_run({"pipeline_names": ["pretrain"]}, pipe, catalog)
    if rank == 0:
        assert all(d is on_disk for d in catalog.values()) and config.tracking.disable_tracking.pipelines == []
        assert os.environ["MLFLOW_TRACKING_URI"] == "sqlite:///project/mlruns.db"
    else:
        assert catalog["a"] is on_disk  # inputs are still read from their files
        assert isinstance(catalog["b"], MemoryDataset) and isinstance(catalog["c"], MemoryDataset)
        assert config.tracking.disable_tracking.pipelines == ["pretrain"]
        assert "project" not in os.environ["MLFLOW_TRACKING_URI"]  # a throw-away store, never the project's
