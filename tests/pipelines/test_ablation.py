"""The ablation tables as MLflow runs, and the report that reads them back."""

import json

import mlflow
import pandas as pd

from tests.pipelines.test_adapt import ADAPT, PRETRAIN


def test_a_table_becomes_tagged_mlflow_runs_and_a_report_beside_the_paper(standin_project):
    p = standin_project
    p.run("--pipeline=chain", "--params", f"target=3dhp,{PRETRAIN},{ADAPT}")
    p.run("--pipeline=ablation", "--namespaces=table6,table5.baseline", "--params", f"target=3dhp,{ADAPT}")

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{p.path / 'mlruns.db'}")
    exp = client.get_experiment_by_name("adaptpose/3dhp")
    rows = {r.data.tags["row"]: r for r in client.search_runs([exp.experiment_id], "tags.table != ''")}
    assert set(rows) == {"baseline", "BG1", "BG2", "BG3"}
    for name, run in rows.items():
        assert run.data.tags["target"] == "3dhp" and run.data.tags["table"] in ("5", "6")
        assert {"mpjpe", "p_mpjpe", "pck150", "auc"} <= set(run.data.metrics), name  # the same names in every row
        assert "mlflow.parentRunId" in run.data.tags  # nested in the kedro run's MLflow run
    assert rows["BG1"].data.params["paper_mpjpe"] == "85.1"
    # runs read in MLflow's list, and the Compare view shows what each row changed
    assert rows["BG1"].info.run_name == "table6/BG1 3dhp seed0" and rows["baseline"].info.run_name == "table5/baseline 3dhp seed0"
    assert rows["BG1"].data.params["adapt.generator.bone_generation"] == "bg1"
    assert rows["BG3"].data.params["adapt.generator.bone_generation"] == "bg3"
    assert rows["BG1"].data.params["adapt.train.epochs"] == rows["BG3"].data.params["adapt.train.epochs"] == "2"
    names = {r.info.run_name for r in client.search_runs([exp.experiment_id])}
    assert {"chain 3dhp seed0", "ablation 3dhp seed0"} <= names
    assert [m.step for m in client.get_metric_history(rows["BG2"].info.run_id, "adapt_g_total")] == [0, 1]
    # the rows really differ in what they ran
    bg1 = json.loads(sorted(p.path.glob("data/08_reporting/3dhp/ablation/table6/BG1/row.json/*/row.json"))[0].read_text())
    assert bg1["label"] == "BG1" and bg1["measured"]["mpjpe"] == rows["BG1"].data.metrics["mpjpe"]
    # (their metrics may be equal: a row whose guard fell back reports the control, which
    # every row shares; the generators' losses show what each ran)
    losses = {r: [m.value for m in client.get_metric_history(rows[r].info.run_id, "adapt_g_total")] for r in ("BG1", "BG3")}
    assert len(losses["BG1"]) == 2 and losses["BG1"] != losses["BG3"]

    p.run("--pipeline=report", "--params", "target=3dhp")
    (csv,) = p.path.glob("data/08_reporting/3dhp/ablation/report.csv/*/report.csv")
    table = pd.read_csv(csv)
    assert list(table["row"]) == ["baseline", "BG1", "BG2", "BG3"]  # the paper's order
    assert table.loc[table["row"] == "BG2", "paper_mpjpe"].item() == 80.0
    (md,) = p.path.glob("data/08_reporting/3dhp/ablation/report.md/*/report.md")
    text = md.read_text()
    assert "Table 6: bone generation" in text and "| BG2 |" in text and "MPJPE ranking:" in text
    assert list(p.path.glob("data/08_reporting/3dhp/ablation/report.png/*/report.png"))
    report_run = client.search_runs([exp.experiment_id], "tags.kedro_pipeline_name = 'report'") or [
        r for r in client.search_runs([exp.experiment_id]) if r.info.run_name == "report 3dhp seed0"
    ]
    artifacts = {a.path for a in client.list_artifacts(report_run[0].info.run_id, "report")}
    assert {"report/report.md", "report/report.csv", "report/report.png"} <= artifacts  # the catalog's artifact entries


def test_report_without_ablation_runs_says_what_to_run(project):
    out = project.run("--pipeline=report", "--params", "target=ski", check=False)
    assert out.returncode != 0 and "no ablation runs for target 'ski'" in out.text and "--pipeline=ablation" in out.text


def test_report_states_the_rows_protocol_and_flags_a_difference():
    from adaptpose_pipeline.pipelines.report.nodes import ablation_markdown

    row = {"table": 6, "label": "BG1", "kedro_run": "r", "mpjpe": 90.0, "p_mpjpe": 60.0, "pck150": 0.8, "auc": 0.4,
           "paper_mpjpe": 80.0, "paper_p_mpjpe": None, "paper_pck150": 0.9, "paper_auc": 0.5,
           "joint_set": "h36m16", "coordinates": "univ_annot3", "frames": "24688", "averaging": "per frame, over valid frames"}
    same = ablation_markdown(pd.DataFrame([row, {**row, "label": "BG2", "mpjpe": 85.0}]), "3dhp")
    assert "Protocol: joint_set h36m16, coordinates univ_annot3, frames 24688, averaging per frame, over valid frames." in same
    mixed = ablation_markdown(pd.DataFrame([row, {**row, "label": "BG2", "coordinates": "annot3"}]), "3dhp")
    assert "**rows differ in coordinates**: joint_set h36m16, coordinates annot3 / univ_annot3" in mixed
