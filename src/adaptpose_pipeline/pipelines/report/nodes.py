"""Nodes of the report pipeline: the ablation rows, read back from MLflow, as tables
beside the paper's numbers (markdown, CSV) and a plot."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd

from adaptpose_pipeline.pipelines.ablation.nodes import TABLES
from adaptpose_pipeline.evaluation.metrics_file import PROTOCOL_PARAMS

METRICS = ("mpjpe", "p_mpjpe", "pck150", "auc")
TITLES = {5: "Table 5: supervision elements", 6: "Table 6: bone generation", 7: "Table 7: camera generation", 8: "Table 8: temporal information"}


def _experiment_ids(client: mlflow.MlflowClient, target: str) -> list[str]:
    """The run's own experiment (kedro-mlflow's, per target), else ``adaptpose/<target>``."""
    active = mlflow.active_run()
    if active is not None:
        return [active.info.experiment_id]
    exp = client.get_experiment_by_name(f"adaptpose/{target}")
    return [] if exp is None else [exp.experiment_id]


def collect_rows(target: str) -> pd.DataFrame:
    """The newest finished MLflow run of every (table, row) of ``target``: one line each,
    with the measured metrics and the paper's (``paper_<metric>``), in the paper's order."""
    client = mlflow.MlflowClient()
    runs, query = [], f"tags.target = '{target}' and attributes.status = 'FINISHED' and metrics.mpjpe >= 0"
    for exp_id in _experiment_ids(client, target):
        token = None
        while True:  # every page: a row run long ago still counts
            page = client.search_runs([exp_id], filter_string=query, order_by=["attributes.start_time DESC"], page_token=token)
            runs += list(page)
            token = page.token
            if not token:
                break
    lines, seen = [], set()
    for run in runs:
        tags = run.data.tags
        if "table" not in tags or "row" not in tags or (tags["table"], tags["row"]) in seen:
            continue
        seen.add((tags["table"], tags["row"]))
        line = {
            "table": int(tags["table"]), "row": tags["row"], "label": tags.get("label", tags["row"]),
            # the rows of one `adaptpose sweep` are one run of the study, each row in its own kedro run
            "run_id": run.info.run_id, "kedro_run": tags.get("sweep") or tags.get("mlflow.parentRunId", ""),
        }
        line.update({m: run.data.metrics.get(m, np.nan) for m in METRICS})
        line.update({k: run.data.params.get(f"protocol.{k}", "unrecorded") for k in PROTOCOL_PARAMS})
        line.update({f"paper_{m}": float(run.data.params[f"paper_{m}"]) if f"paper_{m}" in run.data.params else np.nan for m in METRICS})
        lines.append(line)
    if not lines:
        raise ValueError(
            f"report: no ablation runs for target {target!r} in MLflow ({mlflow.get_tracking_uri()}); "
            f"run `kedro run --pipeline=ablation --namespaces=table5 --params target={target}` first"
        )
    order = {(t, r): i for i, (t, r) in enumerate((t, r) for t, rows in TABLES.items() for r in rows)}
    df = pd.DataFrame(lines)
    df["_order"] = [order.get((t, r), len(order)) for t, r in zip(df["table"], df["row"])]
    df = df.sort_values("_order").drop(columns="_order").reset_index(drop=True)
    return df


def _ordering(df: pd.DataFrame, metric: str) -> str:
    """Whether the rows rank as the paper's do (Spearman's rho of the two MPJPE orders)."""
    both = df[[metric, f"paper_{metric}"]].dropna()
    if len(both) < 2:
        return "n/a"
    rho = both[metric].rank().corr(both[f"paper_{metric}"].rank())
    same = (both[metric].rank().values == both[f"paper_{metric}"].rank().values).all()
    return f"{'same order as the paper' if same else 'order differs from the paper'} (Spearman rho {rho:.2f})"


def _protocol(df: pd.DataFrame) -> str:
    """The rows' evaluation protocol (joint set, 3D coordinates, frames, averaging), or
    a warning naming what differs between rows."""
    if not set(PROTOCOL_PARAMS) <= set(df.columns):
        return "unrecorded"
    values = {k: sorted(df[k].astype(str).unique()) for k in PROTOCOL_PARAMS}
    differ = [k for k, v in values.items() if len(v) > 1]
    text = ", ".join(f"{k} {' / '.join(v)}" for k, v in values.items())
    return f"**rows differ in {', '.join(differ)}**: {text}" if differ else text


def ablation_markdown(rows: pd.DataFrame, target: str) -> str:
    """One markdown table per ablation table: measured vs the paper, best row in bold."""
    out = [f"# Ablations on the {target} target (measured vs paper, H36M -> 3DHP in the paper)", ""]
    for table, df in rows.groupby("table", sort=True):
        out += [
            f"## {TITLES.get(table, f'Table {table}')}", "",
            "| row | MPJPE | paper MPJPE | P-MPJPE | paper P-MPJPE | PCK@150 | paper PCK@150 | AUC | paper AUC |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        best = df["mpjpe"].min()
        for _, r in df.iterrows():
            mark = "**" if r["mpjpe"] == best else ""
            fmt = lambda v, p=1: "-" if pd.isna(v) else f"{v:.{p}f}"  # noqa: E731
            out.append(
                f"| {r['label']} | {mark}{fmt(r['mpjpe'])}{mark} | {fmt(r['paper_mpjpe'])} | {fmt(r['p_mpjpe'])} | "
                f"{fmt(r['paper_p_mpjpe'])} | {fmt(r['pck150'], 3)} | {fmt(r['paper_pck150'], 3)} | {fmt(r['auc'], 3)} | {fmt(r['paper_auc'], 3)} |"
            )
        out += ["", f"MPJPE ranking: {_ordering(df, 'mpjpe')}.", "", f"Protocol: {_protocol(df)}.", ""]
    groups = rows["kedro_run"].nunique() if "kedro_run" in rows else 1
    if groups > 1:
        out.append(f"**Note:** these rows come from {groups} different `kedro run`s or sweeps (column `kedro_run` of the CSV); "
                   "check that they share settings and seed before comparing them.")
        out.append("")
    out.append("Measured rows are the newest finished MLflow run with metrics of each (table, row); run ids in the CSV.")
    return "\n".join(out) + "\n"


def ablation_plot(rows: pd.DataFrame, target: str) -> plt.Figure:
    """Measured vs paper MPJPE per row, one panel per table."""
    tables = sorted(rows["table"].unique())
    fig, axes = plt.subplots(1, len(tables), figsize=(4.5 * len(tables), 4), squeeze=False)
    for ax, table in zip(axes[0], tables):
        df = rows[rows["table"] == table]
        x = np.arange(len(df))
        ax.bar(x - 0.2, df["mpjpe"], 0.4, label=f"measured ({target})")
        ax.bar(x + 0.2, df["paper_mpjpe"], 0.4, label="paper (3DHP)", alpha=0.6)
        ax.set_xticks(x, df["label"], rotation=35, ha="right", fontsize=8)
        ax.set_title(TITLES.get(table, f"Table {table}"), fontsize=10)
        ax.set_ylabel("MPJPE (mm)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
