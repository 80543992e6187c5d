"""The paper's ablation orderings (Tables 5-7), checked on the stand-ins.

Each row is a set of ``adapt`` parameter overrides over the full method (bg3 bones,
probabilistic axis-angle camera, domain discriminator, selection). In a throw-away copy:
``kedro run --pipeline=standin``, ``kedro run --pipeline=chain --params target=T,seed=S``
(pretraining the seed's baseline), then ``kedro run --pipeline=adapt`` with each distinct
row's overrides, reading the newest ``metrics_adapted.json`` after each. Rows with the
same overrides (the full method is Table 5's "full", Table 6's BG3 and Table 7's
prob. axis-angle) share one run.

Orderings checked on the mean MPJPE over seeds (and counted per seed):
Table 6 BG3 < BG2 < BG1; Table 7 prob. axis-angle lowest of the four camera kinds;
Table 5 full < A5 (BG+Cam+DD) < A3 (BG+Cam).

``--via-pipeline`` runs the project's ablation pipeline instead
(``kedro run --pipeline=ablation --namespaces=table<N>`` per table and seed, after the
chain) and reads its rows' MLflow runs; ``--from-mlflow URI`` only reads runs already
logged: experiment ``adaptpose/<target>``, tags ``table`` and ``row`` (row names as in
:data:`TABLES`), metric ``mpjpe``.

``--data <devbench folder>`` runs the same rows on real motion instead of the stand-ins: the
copy is pointed at a folder laid out as ``shared/devbench`` with the protocols of
``benchmarks.devbench`` (3DHP layout: adapt on TS1-TS3, evaluate on TS4-TS6), and the
result goes to ``ablation_ordering_devbench_<target>.json``.

``python -m benchmarks.ablation_ordering [--target 3dhp] [--tables 5 6 7] [--seeds 0 1 2] [--via-pipeline] [--data DIR] [--quick]``
"""

from __future__ import annotations

from pathlib import Path

import yaml

from adaptpose_pipeline.datasets import registry
from adaptpose_pipeline.repro import TINY
from benchmarks import common
from benchmarks.common import ROOT

NAME = "ablation_ordering"
BONES, CAMERA = "adapt.generator.bone_generation", "adapt.generator.camera_generation"
DD, SELECT = "adapt.domain_discriminator", "adapt.selection.enabled"
FULL = {BONES: "bg3", CAMERA: "prob_axis_angle", DD: "true", SELECT: "true"}
BASELINE = "baseline"  # no adaptation: the chain's metrics_baseline.json



def _flatten(d: dict, prefix: str = "") -> dict[str, str]:
    """Nested overrides as ``--params`` keys and values (``adapt.selection.enabled: false``)."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = str(v).lower()
    return out


def load_tables(path: Path = ROOT / "conf" / "base" / "parameters_ablation.yml") -> dict[str, dict[str, tuple[str, dict | None]]]:
    """table -> row -> (label, overrides over FULL as --params; None: the baseline), read
    from the ablation pipeline's own parameters so both run the same rows."""
    conf = yaml.safe_load(path.read_text())
    return {
        t: {row: (spec["row"]["label"], None if "overrides" not in spec else _flatten(spec["overrides"])) for row, spec in conf[f"table{t}"].items()}
        for t in ("5", "6", "7")
    }


TABLES = load_tables()
# (table, description, rows from best to worst, kind): "chain" needs each row strictly
# below the next; "best" needs the first row below every other.
ORDERINGS = (
    ("6", "BG3 < BG2 < BG1", ("BG3", "BG2", "BG1"), "chain"),
    ("7", "prob. axis-angle lowest", ("prob_axis_angle", "det_axis_angle", "prob_quaternion", "prob_euler"), "best"),
    ("5", "full < A5 < A3", ("full", "A5", "A3"), "chain"),
)
QUICK_ROWS = {"6": ("BG1", "BG3")}


def overrides(table: str, row: str) -> dict | None:
    extra = TABLES[table][row][1]
    return None if extra is None else {**FULL, **extra}


def holds(values: dict[str, float], rows: tuple[str, ...], kind: str) -> bool | None:
    """Whether MPJPE ``values`` (row -> mm) follow the ordering; None if a row is missing."""
    if any(r not in values for r in rows):
        return None
    if kind == "chain":
        return all(values[a] < values[b] for a, b in zip(rows, rows[1:]))
    return all(values[rows[0]] < values[r] for r in rows[1:])


def check_orderings(per_seed: dict[int, dict[str, dict[str, float]]], tables: list[str]) -> list[dict]:
    """Each ordering on the seed means, and on how many seeds it holds.
    ``per_seed``: seed -> table -> row -> MPJPE."""
    goals = []
    for table, text, rows, kind in ORDERINGS:
        if table not in tables:
            continue
        seeds = [s for s in per_seed if table in per_seed[s]]
        means = {r: common.mean_std([per_seed[s][table][r] for s in seeds])[0] for r in rows
                 if seeds and all(r in per_seed[s][table] for s in seeds)}
        each = [holds(per_seed[s][table], rows, kind) for s in seeds]
        met = holds(means, rows, kind)
        shown = ", ".join(f"{r} {means[r]:.1f}" for r in rows if r in means)
        detail = (f"not evaluated: rows {[r for r in rows if r not in means]} missing" if met is None
                  else f"{shown} mm; holds on {sum(bool(x) for x in each)} of {len(each)} seed(s)")
        goals.append({"goal": f"Table {table}: {text} (MPJPE)", "met": met, "detail": detail})
    return goals


def prepare(project: common.TempProject, args, extra: str) -> None:
    """The copy's data: the stand-ins, or (``--data``) a devbench folder in conf/local."""
    if args.data is None:
        project.kedro("--pipeline=standin", params=extra)
        return
    from benchmarks import devbench

    devbench.configure(project.path, devbench.check_layout(args.data))


def run_rows(args, tables: list[str], rows_of: dict[str, tuple[str, ...]], extra: str) -> tuple[dict, list[dict]]:
    """Run the chain and every distinct row per seed; seed -> table -> row -> MPJPE.
    Each run's record also says whether the label-free guard fell back to the control
    (``fallback``; its MPJPE is then the control's) and the control's MPJPE."""
    per_seed: dict[int, dict[str, dict[str, float]]] = {}
    runs: list[dict] = []
    with common.TempProject(keep=args.keep) as project:
        prepare(project, args, extra)
        for seed in args.seeds:
            base = common.join_params(f"target={args.target},seed={seed}", extra)
            project.kedro("--pipeline=chain", params=base)
            _, baseline = project.newest_json(f"data/08_reporting/{args.target}/metrics_baseline.json")
            _, chain = project.newest_json(f"data/08_reporting/{args.target}/metrics_adapted.json")
            runs.append({"seed": seed, "row": "chain", "overrides": "conf/base", "mpjpe": chain["overall"]["mpjpe"], **guard_of(chain)})
            done: dict[str, tuple[str, float]] = {}  # overrides -> (version, MPJPE)
            per_seed[seed] = {}
            for table in tables:
                for row in rows_of[table]:
                    ov = overrides(table, row)
                    if ov is None:
                        mpjpe = baseline["overall"]["mpjpe"]
                    else:
                        key = common.join_params(ov)
                        if key not in done:
                            rec = project.kedro("--pipeline=adapt", params=common.join_params(base, ov))
                            version, metrics = project.newest_json(f"data/08_reporting/{args.target}/metrics_adapted.json")
                            if any(version == v for v, _ in done.values()):
                                raise RuntimeError(f"row {row}: the adapt run wrote no new metrics_adapted.json")
                            done[key] = (version, metrics["overall"]["mpjpe"])
                            guard = guard_of(metrics)
                            runs.append({"seed": seed, "row": row, "overrides": ov, "mpjpe": done[key][1], "seconds": rec.seconds, **guard})
                            print(f"    seed {seed} table {table} {row}: MPJPE {done[key][1]:.1f} mm"
                                  + (" (the guard fell back to the control)" if guard["fallback"] else ""), flush=True)
                        mpjpe = done[key][1]
                    per_seed[seed].setdefault(table, {})[row] = mpjpe
    return per_seed, runs


def guard_of(metrics: dict) -> dict:
    """The guard's decision in an adapted metrics file, and the control's MPJPE."""
    gain = (metrics.get("gain_vs_control") or {}).get("mpjpe")
    return {
        "fallback": metrics.get("fallback"), "selected_epoch": metrics.get("selected_epoch"),
        "control_mpjpe": None if gain is None else metrics["overall"]["mpjpe"] + gain,
    }


def fallbacks(runs: list[dict], table: str, row: str) -> str:
    """``k/n``: of the row's runs over seeds, how many fell back to the control ('-': not recorded)."""
    ov = overrides(table, row)
    if ov is None:
        return "-"
    mine = [r for r in runs if isinstance(r.get("overrides"), dict) and common.join_params(r["overrides"]) == common.join_params(ov)]
    known = [r["fallback"] for r in mine if r.get("fallback") is not None]
    return f"{sum(known)}/{len(known)}" if known else "-"


def run_pipeline(args, tables: list[str], extra: str) -> tuple[dict, list[dict]]:
    """The chain per seed, then ``kedro run --pipeline=ablation --namespaces=table<N>``
    per table; the rows' MLflow runs are read back from the copy's store."""
    with common.TempProject(keep=args.keep) as project:
        prepare(project, args, extra)
        for seed in args.seeds:
            base = common.join_params(f"target={args.target},seed={seed}", extra)
            project.kedro("--pipeline=chain", params=base)
            for table in tables:
                project.kedro("--pipeline=ablation", f"--namespaces=table{table}", params=base)
        return read_mlflow(project.env()["MLFLOW_TRACKING_URI"], args.target, tables)


def read_mlflow(uri: str, target: str, tables: list[str]) -> tuple[dict, list[dict]]:
    """seed -> table -> row -> MPJPE from the runs of ``adaptpose/<target>`` tagged
    ``table`` and ``row``; the seed is the run's parameter, else its parent run's (the
    ablation pipeline nests a run per row); a later run of the same row wins."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(f"adaptpose/{target}")
    if exp is None:
        raise SystemExit(f"{uri}: no experiment adaptpose/{target}")
    per_seed: dict[int, dict[str, dict[str, float]]] = {}
    runs, parent_seed = [], {}
    for table in tables:
        found = client.search_runs([exp.experiment_id], filter_string=f"tags.table = '{table}'", order_by=["attributes.start_time ASC"])
        for run in found:
            row, mpjpe = run.data.tags.get("row"), run.data.metrics.get("mpjpe")
            if row is None or mpjpe is None:
                continue
            seed = run.data.params.get("seed")
            parent = run.data.tags.get("mlflow.parentRunId")
            if seed is None and parent:
                if parent not in parent_seed:
                    parent_seed[parent] = client.get_run(parent).data.params.get("seed")
                seed = parent_seed[parent]
            seed = int(seed or 0)
            per_seed.setdefault(seed, {}).setdefault(table, {})[row] = mpjpe
            runs.append({"seed": seed, "table": table, "row": row, "mpjpe": mpjpe, "run_id": run.info.run_id})
    if not runs:
        raise SystemExit(f"{uri}: no runs of adaptpose/{target} tagged table in {tables} with an mpjpe metric")
    return per_seed, runs


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__)
    p.add_argument("--target", default="3dhp", choices=list(registry.names()))
    p.add_argument("--tables", nargs="+", default=list(TABLES), choices=list(TABLES))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--params", default="", help="extra --params for every kedro run")
    p.add_argument("--from-mlflow", default=None, metavar="URI", help="read logged ablation runs instead of running them")
    p.add_argument("--via-pipeline", action="store_true", help="run the project's ablation pipeline (per table) instead of adapt per row")
    p.add_argument("--data", type=Path, default=None, help="a folder laid out as shared/devbench: real motion instead of the stand-ins")
    common.add_keep(p)
    args = p.parse_args(argv)
    tables, extra = args.tables, args.params
    rows_of = {t: tuple(TABLES[t]) for t in tables}
    if args.quick:
        args.target, args.seeds, tables = "ski", [0], list(QUICK_ROWS)
        rows_of, extra = dict(QUICK_ROWS), common.join_params(TINY, extra)
    if args.data is not None:
        from benchmarks import devbench

        if args.target not in devbench.TARGETS:
            p.error(f"--data: --target must be one of {list(devbench.TARGETS)}, got {args.target!r}")
        devbench.check_layout(args.data)  # before any run
    print(f"ablation_ordering: target {args.target}, tables {tables}, seeds {args.seeds}"
          + (" (devbench)" if args.data is not None else ""), flush=True)
    if args.from_mlflow:
        per_seed, runs = read_mlflow(args.from_mlflow, args.target, tables)
    elif args.via_pipeline:
        per_seed, runs = run_pipeline(args, tables, extra)
    else:
        per_seed, runs = run_rows(args, tables, rows_of, extra)
    seeds = sorted(per_seed)
    table_rows = []
    for table in tables:
        for row in TABLES[table]:
            values = [per_seed[s][table][row] for s in seeds if row in per_seed[s].get(table, {})]
            if values:
                label, ov = TABLES[table][row]
                table_rows.append([table, row, label, "-" if ov is None else (common.join_params(ov) or "(none)"),
                                   len(values), common.pm(values), fallbacks(runs, table, row)])
    goals = check_orderings(per_seed, tables)
    rec = common.record(
        NAME, f"Ablation orderings ({args.target}{', devbench real motion' if args.data is not None else ''})",
        quick=args.quick, devices=[common.kedro_device()],
        settings={"target": args.target, "tables": tables, "seeds": args.seeds, "params": extra,
                  "source": args.from_mlflow or ("ablation pipeline" if args.via_pipeline else "adapt runs per row"), "full": FULL,
                  "data": "stand-ins" if args.data is None else "devbench (real motion; protocol of benchmarks.devbench)"},
        results={"per_seed": {str(s): v for s, v in per_seed.items()}, "runs": runs},
        tables=[{"title": "MPJPE in mm (mean ± std over seeds) on the target's test split",
                 "columns": ["table", "row", "label", "overrides of the full method", "seeds", "MPJPE", "guard fell back"], "rows": table_rows}],
        goals=goals,
        notes=[f"Full method: {common.join_params(FULL)}; every other setting as conf/base."
               + ("" if args.from_mlflow or args.via_pipeline else " Rows with identical overrides share one adapt run."),
               "Every row of a seed adapts that seed's baseline (the chain's)."],
    )
    if args.data is not None:
        rec["command"] = rec["command"].replace(str(args.data), "<devbench>")
    common.save(rec, common.out_dir(args), name=None if args.data is None else f"{NAME}_devbench_{args.target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
