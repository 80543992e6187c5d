"""The project wiring: the core stays free of kedro/mlflow, Kedro finds the project."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "src" / "adaptpose_pipeline" / "core"


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_core_never_imports_kedro_or_mlflow(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            assert name.split(".")[0] not in {"kedro", "kedro_datasets", "mlflow", "kedro_mlflow"}, (
                f"{path.name} imports {name}"
            )



def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            names |= {base} | {f"{base}.{a.name}" for a in node.names}
    return names


# Which of the project's packages each package may import (docs/architecture.md): the
# method (core) stands alone; readers and the evaluation library build on it; stand-ins
# use the readers (their makers and writers register themselves with datasets.registry),
# and nothing below the pipelines uses the stand-ins.
ALLOWED = {
    "core": {"core"},
    "datasets": {"core", "datasets"},
    "evaluation": {"core", "evaluation", "parameters"},
    "standin": {"core", "datasets", "standin"},
}
KEDRO_FREE = ("core", "evaluation", "standin")


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_packages_import_only_what_the_architecture_allows(package):
    for path in sorted((CORE.parent / package).glob("*.py")):
        used = {n.split(".")[1] for n in _imported(path) if n.startswith("adaptpose_pipeline.")}
        assert used <= ALLOWED[package], f"{package}/{path.name} imports {sorted(used - ALLOWED[package])}"
        if package in KEDRO_FREE:
            heavy = {n.split(".")[0] for n in _imported(path)} & {"kedro", "kedro_datasets", "mlflow", "kedro_mlflow"}
            assert not heavy, f"{package}/{path.name} imports {sorted(heavy)}"


def test_kedro_registry_lists_pipelines():
    env = dict(os.environ, DO_NOT_TRACK="true")
    kedro = Path(sys.executable).parent / "kedro"
    out = subprocess.run(
        [str(kedro), "registry", "list"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "__default__" in out.stdout


def test_parameters_have_seed_and_device():
    from kedro.config import OmegaConfigLoader

    params = OmegaConfigLoader(str(ROOT / "conf"), base_env="base", default_run_env="base")["parameters"]
    assert isinstance(params["seed"], int)
    assert params["device"] == "auto"


def test_telemetry_off():
    assert "consent: false" in (ROOT / ".telemetry").read_text()


def test_default_pipeline_is_the_documented_chain():
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(ROOT)
    names = {n.name for n in pipelines["__default__"].nodes}
    chain = {"read_common_form", "pretrain_lifter", "compute_metrics_baseline", "generate_motion_and_finetune_lifter", "compute_metrics_adapted"}
    assert {"generate_standin_h36m"} | chain <= names
    assert chain == chain & {n.name for n in pipelines["chain"].nodes}
    assert {"generate_motion_and_finetune_lifter", "compute_metrics_adapted"} <= {n.name for n in pipelines["adapt"].nodes}
