"""A run whose inputs were never saved names the pipelines to run first."""

import pytest
from kedro.io import DataCatalog
from kedro.io.core import DatasetError, Version

from adaptpose_pipeline.datasets.kedro_io import NpzDataset, TorchDataset
from adaptpose_pipeline.hooks import MissingInputHook, missing_inputs_message, producer_of
from adaptpose_pipeline.pipelines import adapt


@pytest.mark.parametrize(
    "name, pipeline",
    [("target_test_arrays", "ingest"), ("lifter_baseline", "pretrain"), ("metrics_baseline", "evaluate"), ("lifter_adapted", "adapt"), ("nothing", None)],
)
def test_producer_of_each_versioned_input(name, pipeline):
    assert producer_of(name) == pipeline


def test_fresh_checkout_adapt_says_what_to_run_first(tmp_path):
    """The adapt pipeline's inputs, none saved: the message lists ingest then pretrain."""
    names = {"source_train_arrays": NpzDataset, "target_train_arrays": NpzDataset, "target_test_arrays": NpzDataset,
             "lifter_baseline": TorchDataset, "metrics_baseline": NpzDataset}  # fmt: skip
    # versioned, no version on disk
    catalog = DataCatalog(datasets={n: kind(filepath=str(tmp_path / n), version=Version(None, None)) for n, kind in names.items()})
    hook = MissingInputHook()
    hook._params = {"target": "ski"}
    with pytest.raises(DatasetError) as err:
        hook.before_pipeline_run({"env": None}, adapt.create_pipeline(), catalog)
    text = str(err.value)
    assert "kedro run --pipeline=ingest --params target=ski" in text and "kedro run --pipeline=pretrain --params target=ski" in text
    assert text.index("--pipeline=standin") < text.index("--pipeline=ingest") < text.index("--pipeline=pretrain")
    assert "lifter_baseline" in text.split("--pipeline=pretrain")[1].splitlines()[0]


def test_message_keeps_the_environment():
    text = missing_inputs_message(["lifter_baseline"], "3dhp", "paper")
    assert "kedro run --pipeline=pretrain --env paper --params target=3dhp" in text and "standin" not in text


@pytest.mark.parametrize("model, pipeline", [("adapted", "adapt"), ("baseline", "pretrain")])
def test_predict_lifter_names_the_pipeline_of_the_chosen_model(model, pipeline):
    text = missing_inputs_message(["predict_lifter"], "3dhp", None, {"predict": {"model": model}})
    assert f"kedro run --pipeline={pipeline} --params target=3dhp   (writes predict_lifter)" in text


@pytest.mark.slow
def test_kedro_run_adapt_on_a_fresh_checkout(project):
    out = project.run("--pipeline=adapt", "--params", "target=ski", check=False)
    assert out.returncode != 0
    assert "Run first" in out.text and "kedro run --pipeline=pretrain --params target=ski" in out.text
    assert "Did not find any versions" not in out.text
    assert not project.files("data")
