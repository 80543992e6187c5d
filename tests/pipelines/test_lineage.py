"""Lineage as Kedro-Viz shows it: ``kedro viz build`` in a copy of the project, then
paths in the pipeline graph it writes (``build/api/pipelines/<name>``: nodes with ids,
names, tags, types and modular pipelines; edges from input to output)."""

import json
import subprocess
from pathlib import Path

import pytest

from adaptpose_pipeline.datasets import registry
from tests.pipelines.conftest import KEDRO, make_project

METRICS = ("metrics_baseline", "metrics_adapted")
PLOT_TYPES = ("MatplotlibDataset", "plotly")


class Graph:
    """One pipeline of a Kedro-Viz build: its nodes by id and the edges out of each."""

    def __init__(self, api: dict):
        self.api = api
        self.nodes = {n["id"]: n for n in api["nodes"]}
        self.out: dict[str, set[str]] = {}
        for edge in api["edges"]:
            self.out.setdefault(edge["source"], set()).add(edge["target"])

    def ids(self, **match) -> set[str]:
        return {i for i, n in self.nodes.items() if all(n.get(k) == v for k, v in match.items())}

    def data(self, name: str) -> str:
        found = self.ids(type="data", name=name)
        assert len(found) == 1, f"{len(found)} datasets {name!r} in the {self.api['selected_pipeline']} pipeline"
        return found.pop()

    def tasks(self, tag: str) -> set[str]:
        return {i for i in self.ids(type="task") if tag in self.nodes[i]["tags"]}

    def producers(self, data_id: str) -> set[str]:
        return {i for i, outs in self.out.items() if data_id in outs and self.nodes[i]["type"] == "task"}

    def descendants(self, starts: set[str]) -> set[str]:
        seen, todo = set(), list(starts)
        while todo:
            for nxt in self.out.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    def path_through(self, start: str, stages: list[set[str]], end: str) -> bool:
        """Whether a directed path ``start -> s1 -> s2 -> ... -> end`` exists with each
        ``s_i`` a node of ``stages[i]``, in that order."""
        frontier = {start}
        for stage in stages:
            frontier = self.descendants(frontier) & stage
            if not frontier:
                return False
        return end in self.descendants(frontier)


@pytest.fixture(scope="module")
def viz_build(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("viz"))
    env = project.env() | {"KEDRO_DISABLE_TELEMETRY": "true"}
    out = subprocess.run(
        [str(KEDRO), "viz", "build", "--include-previews"], cwd=project.path, env=env, capture_output=True, text=True, timeout=300
    )
    api = project.path / "build" / "api"
    # kedro viz can print an error and still exit 0: check what it wrote.
    assert out.returncode == 0 and (api / "main").is_file(), (
        f"kedro viz build failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    )
    return api


def _graph(api, pipeline: str) -> Graph:
    return Graph(json.loads((api / "pipelines" / pipeline).read_text()))


def _stages(g: Graph, tags: set[str]) -> list[tuple[str, set[str]]]:
    """The stages a dataset made by a task with ``tags`` must come through, in order."""
    pretrain = g.ids(type="task", name="pretrain_lifter")
    # The adaptation loop: whatever adapt-tagged task reads what pretraining wrote.
    fed_by_pretrain = {t for p in pretrain for d in g.out.get(p, ()) for t in g.out.get(d, ())}
    stages = [("ingest", g.ids(type="task", name="read_common_form")), ("pretrain", pretrain)]
    if tags & {"adapt", "adapted"}:
        stages.append(("adapt", g.tasks("adapt") & fed_by_pretrain))
    if "evaluate" in tags:
        stages.append(("evaluate", g.tasks("evaluate")))
    return stages


def test_raw_data_reach_every_metric_and_plot_through_each_stage(viz_build):
    g = _graph(viz_build, "chain")
    raws = {g.data(f"raw_{ds}") for ds in registry.names()}
    plots = {i for i in g.ids(type="data") if any(t in str(g.nodes[i]["dataset_type"]) for t in PLOT_TYPES)}
    targets = plots | {g.data(name) for name in METRICS}
    assert {"eval_per_joint_adapted", "adapt_curves", "pretrain_curves"} <= {g.nodes[i]["name"] for i in plots}
    for stage, members in _stages(g, {"adapt", "evaluate"}):
        assert members, f"no {stage} task in the chain pipeline"
    for target in sorted(targets):
        (producer,) = g.producers(target)
        stages = _stages(g, set(g.nodes[producer]["tags"]))
        for raw in raws:
            assert g.path_through(raw, [members for _, members in stages], target), (
                f"no path {g.nodes[raw]['name']} -> {' -> '.join(s for s, _ in stages)} -> {g.nodes[target]['name']}"
            )


def test_adapted_metrics_come_through_the_adaptation_loop(viz_build):
    g = _graph(viz_build, "chain")
    stages = dict(_stages(g, {"adapt", "evaluate"}))
    loop_names = sorted(g.nodes[i]["name"] for i in stages["adapt"])
    # The adapted lifter's predictions, and so its metrics, come through the loop; the
    # metrics file also reads the baseline's and the control's (for the gains), so the
    # loop-only dependency is checked on the predictions.
    without_loop = [stages["ingest"], stages["pretrain"], g.tasks("evaluate")]
    assert g.path_through(g.data("raw_3dhp"), without_loop, g.data("predictions_adapted"))
    assert g.data("metrics_adapted") in g.descendants({g.data("predictions_adapted")})
    for name in ("metrics_baseline", "metrics_control"):
        assert g.data("metrics_adapted") in g.descendants({g.data(name)}), name
    for loop in stages["adapt"]:
        g.out.pop(loop)
    assert not g.path_through(g.data("raw_3dhp"), without_loop, g.data("predictions_adapted")), loop_names


def test_namespaced_pipelines_show_as_collapsible_groups(viz_build):
    pipelines = {p["id"] for p in json.loads((viz_build / "main").read_text())["pipelines"]}
    assert "ablation" in pipelines, f"no ablation pipeline in the kedro-viz build; found {sorted(pipelines)}"
    g = _graph(viz_build, "ablation")
    groups = g.api["modular_pipelines"]
    namespaced = [n for n in g.nodes.values() if n["type"] == "task" and n["full_name"] != n["name"]]
    assert namespaced, "the ablation pipeline has no namespaced nodes"
    for n in namespaced:
        namespace = n["full_name"].rsplit(".", 1)[0]
        assert n["modular_pipelines"] == [namespace], n
        # Each level of a nested namespace (table5 > table5.A1) is a group in its parent.
        parts = namespace.split(".")
        for depth in range(1, len(parts) + 1):
            group = ".".join(parts[:depth])
            parent = ".".join(parts[: depth - 1]) or "__root__"
            assert group in groups and g.nodes[group]["type"] == "modularPipeline", group
            assert {"id": group, "type": "modularPipeline"} in groups[parent]["children"], (parent, group)


def test_every_dataset_has_a_layer_and_the_layers_have_no_cycle(viz_build):
    for pipeline in ("chain", "ablation", "predict"):
        g = _graph(viz_build, pipeline)
        # kedro-viz orders the layers only when they form no cycle (else it drops them)
        layers = g.api["layers"]
        assert set(layers) >= {"raw", "model_input", "models", "reporting"}, (pipeline, layers)
        if pipeline == "chain":
            order = [layers.index(x) for x in ("raw", "intermediate", "primary", "model_input", "models", "model_output", "reporting")]
            assert order == sorted(order), layers
        # every dataset the catalog declares has a layer (memory datasets between nodes do not)
        declared = [n for n in g.nodes.values() if n["type"] == "data" and n.get("dataset_type") != "io.memory_dataset.MemoryDataset"]
        assert declared and all(n.get("layer") for n in declared), [n["name"] for n in declared if not n.get("layer")]


def test_interactive_figures_are_plotly_previews(viz_build):
    wanted = {"pretrain_curves_interactive", "adapt_curves_interactive", "generated_keypoints_interactive",
              "eval_per_joint_interactive_adapted", "predict_skeleton_viewer"}
    found = {}
    for path in (viz_build / "nodes").iterdir():
        meta = json.loads(path.read_text())
        if meta.get("preview_type") == "PlotlyPreview":
            found[meta["filepath"]] = meta
    names = {Path(f).stem for f in found}
    assert {"pretrain_curves", "adapt_curves", "generated_keypoints", "per_joint_adapted", "skeletons_3d"} <= names, sorted(names)
    assert all(meta["type"].endswith("JSONDataset") for meta in found.values())
    assert wanted <= {n["name"] for p in ("chain", "predict") for n in _graph(viz_build, p).nodes.values()}


def test_predict_input_is_a_catalog_entry_upstream_of_every_prediction(viz_build):
    """The user's keypoint file is read through ``predict_keypoints`` and what was read is
    the versioned ``user_keypoints``, so lineage reaches the predictions from the file."""
    g = _graph(viz_build, "predict")
    source = g.data("predict_keypoints")
    read = g.data("user_keypoints")
    assert read in g.descendants({source})
    for name in ("predicted_poses", "predict_report", "predicted_poses_bvh", "predict_skeleton_viewer"):
        assert g.data(name) in g.descendants({read}), name
