"""The parameter models (``parameters.py``): the exported JSON schema is current and
describes the shipped parameters; the models build the same configurations as the nodes."""

import copy
import json

import jsonschema
import pytest
from click.testing import CliRunner
from kedro.config import OmegaConfigLoader

from adaptpose_pipeline import parameters as P
from adaptpose_pipeline.command import main as command
from tests.paths import ROOT


def _params(env: str) -> dict:
    from adaptpose_pipeline.settings import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(str(ROOT / "conf"), **{**CONFIG_LOADER_ARGS, "default_run_env": env})
    return {**loader["parameters"], "target": "3dhp"}


def test_the_schema_file_is_current():
    """Regenerate with `adaptpose schema --write` after changing a parameter model."""
    assert (ROOT / P.SCHEMA_PATH).read_text() == P.schema_text()


def test_the_schema_carries_bounds_choices_and_forbids_unknown_keys():
    schema = json.loads(P.schema_text())
    defs = schema["$defs"]
    assert {"minimum": 1, "type": "integer"} in defs["AdaptTrain"]["properties"]["epochs"]["anyOf"]
    assert {"enum": ["bg1", "bg2", "bg3", "off"], "type": "string"} in defs["AdaptGenerator"]["properties"]["bone_generation"]["anyOf"]
    lr_decay = defs["TrainConfig"]["properties"]["lr_decay"]
    assert (lr_decay["exclusiveMinimum"], lr_decay["maximum"], lr_decay["default"]) == (0, 1, 0.95)
    assert "lambda" in defs["Weights"]["properties"]  # the YAML key, not the Python name
    assert all(defs[name].get("additionalProperties") is False for name in ("Adapt", "AdaptTrain", "Predict", "Export", "Checkpoints"))
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize("env", ["base", "paper"])
def test_every_shipped_environment_conforms_to_the_schema(env):
    validated = P.validate_parameters(_params(env))
    jsonschema.validate(validated.model_dump(mode="json", by_alias=True), json.loads(P.schema_text()))


def test_the_schema_rejects_what_the_models_reject():
    params = P.validate_parameters(_params("base")).model_dump(mode="json", by_alias=True)
    bad = copy.deepcopy(params)
    bad["adapt"]["train"]["epochs"] = 0
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, json.loads(P.schema_text()))
    bad = copy.deepcopy(params)
    bad["export"]["colour"] = "red"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, json.loads(P.schema_text()))


def test_schema_command_writes_and_checks(tmp_path):
    path = tmp_path / "schema.json"
    runner = CliRunner()
    assert runner.invoke(command, ["schema", "--check", "--path", str(path)]).exit_code == 1  # missing
    assert runner.invoke(command, ["schema", "--write", "--path", str(path)]).exit_code == 0
    assert path.read_text() == P.schema_text()
    assert runner.invoke(command, ["schema", "--check", "--path", str(path)]).exit_code == 0
    path.write_text(path.read_text().replace('"minimum": 1', '"minimum": 2', 1))
    result = runner.invoke(command, ["schema", "--check", "--path", str(path)])
    assert result.exit_code == 1 and "adaptpose schema --write" in result.output


def test_the_models_build_the_nodes_configurations():
    from adaptpose_pipeline.pipelines.adapt.nodes import adapt_config, generator_params
    from adaptpose_pipeline.pipelines.config import resolve_targets
    from adaptpose_pipeline.pipelines.pretrain.nodes import pretrain_configs

    params = resolve_targets(_params("base"))
    adapt = params["adapt"]
    model = P.check(P.Adapt, adapt, "adapt")
    cfg = model.config()
    assert cfg == adapt_config(adapt)
    assert (cfg.epochs, cfg.w_fake, cfg.selection_b) == (adapt["train"]["epochs"], adapt["weights"]["fake"], adapt["selection"]["b"])
    assert cfg.proportions_estimator == adapt["proportions"]["estimator"]
    assert model.generator_config(27).frames == 27 and generator_params(adapt)["hidden"] == adapt["generator"]["hidden"]
    lifter, train = pretrain_configs(resolve_targets({**_params("base"), "target": "ski"})["pretrain"])
    assert lifter.receptive_field == 1 and train.epochs == params["pretrain"]["train"]["epochs"]


def test_errors_name_the_dotted_key_under_any_prefix():
    with pytest.raises(ValueError, match=r"^table5\.A1\.overrides\.adapt\.train\.warmup_epochs: expected < epochs, got 9$"):
        params = _params("base")
        params["table5"]["A1"]["overrides"] = {"adapt": {"train": {"warmup_epochs": 9}}}
        P.validate_parameters(params)
    with pytest.raises(ValueError, match=r"^ingest\.targets\.3dhp\.source_train\.subjects: Input should be a valid list"):
        params = _params("base")
        params["ingest"]["targets"]["3dhp"]["source_train"]["subjects"] = "S1"
        P.validate_parameters(params)
    with pytest.raises(ValueError, match=r"^colour: Extra inputs are not permitted \(got 'red'\)$"):
        P.validate_parameters({**_params("base"), "colour": "red"})  # a misspelt top-level --params key


@pytest.mark.parametrize(
    "change, command_line, match",
    [
        # a per-target value is named where it was written...
        ({"pretrain": {"targets": {"3dhp": {"lifter": {"dropout": 1.5}}}}}, None,
         r"^pretrain\.targets\.3dhp\.lifter\.dropout: Input should be less than 1"),
        ({"pretrain": {"targets": {"3dhp": {"lifter": {"receptive_field": 2}}}}}, None,
         r"^pretrain\.targets\.3dhp\.lifter\.receptive_field: expected 1 or a power of 3"),
        ({"adapt": {"targets": {"3dhp": {"selection": {"enable": True}}}}}, None,
         r"^adapt\.targets\.3dhp\.selection\.enable: Extra inputs are not permitted"),
        ({"evaluate": {"targets": {"3dhp": {"joint_set": "coco"}}}}, None, r"^evaluate\.targets\.3dhp\.joint_set: Input should be"),
        # ...the block's value under the block, even where a per-target block also sets that block's keys...
        ({"pretrain": {"lifter": {"dropout": 1.5}, "targets": {"3dhp": {"lifter": {"receptive_field": 1}}}}}, None,
         r"^pretrain\.lifter\.dropout: Input should be less than 1"),
        # ...and a command-line value (which wins over the per-target block) under the key it was given as
        ({"pretrain": {"lifter": {"dropout": 1.5}, "targets": {"3dhp": {"lifter": {"dropout": 0.1}}}}},
         {"pretrain": {"lifter": {"dropout": 1.5}}}, r"^pretrain\.lifter\.dropout: Input should be less than 1"),
        ({"pretrain": {"targets": {"skii": {}}}}, None, r"^pretrain\.targets: unknown targets \['skii'\]"),
        ({"ingest": {"targets": {"3dhp": None}}}, None, r"^ingest\.targets\.3dhp: missing from parameters_ingest\.yml"),
        ({"predict": {"targets": {"3dhp": {"fps": 30.0}}}}, None, None),  # every block may have per-target values
        ({"predict": {"targets": {"3dhp": {"fps": -1.0}}}}, None, r"^predict\.targets\.3dhp\.fps: Input should be greater than 0"),
    ],
)
def test_a_bad_value_is_named_where_it_was_written(change, command_line, match):
    from adaptpose_pipeline.pipelines.config import deep_merge

    params = deep_merge(_params("base"), change)
    if match is None:
        assert P.validate_parameters(params, command_line).predict.fps == 30.0
        return
    with pytest.raises(ValueError, match=match):
        P.validate_parameters(params, command_line)


@pytest.mark.parametrize("block, key", [("predict", "fps"), ("export", "units"), ("adapt", "keep_samples"),
                                        ("evaluate", "skeleton_frames")])
def test_a_key_missing_from_a_block_is_named_not_defaulted(block, key):
    params = _params("base")
    del params[block][key]
    with pytest.raises(ValueError, match=rf"^{block}\.{key}: missing$"):
        P.validate_parameters(params)


def test_a_guard_block_needs_its_switch_and_tolerance():
    from adaptpose_pipeline.pipelines.adapt.nodes import guard_params

    assert guard_params({}) == {"enabled": False, "tolerance_mm": 0.0, "min_reprojection_gain": 0.0}  # no block: off
    for key in ("enabled", "tolerance_mm"):
        guard = {"enabled": True, "tolerance_mm": 7.5}
        del guard[key]
        with pytest.raises(ValueError, match=rf"adapt\.guard\.{key}: missing"):
            guard_params({"guard": guard})
