"""Baseline vs adapted accuracy on every stand-in target, over several seeds.

In a throw-away copy of the project: ``kedro run --pipeline=standin`` once, then
``kedro run --pipeline=chain --params target=T,seed=S`` per target and seed; after each
run the newest versions of ``data/08_reporting/<T>/metrics_{baseline,adapted}.json``
give MPJPE, P-MPJPE (mm), PCK@150 and AUC on the target's test split. Reported: mean ±
std over seeds and the relative MPJPE / P-MPJPE reduction (``1 - adapted / baseline``,
per seed, then averaged).

Goal (issue 9): MPJPE at least 20% lower after adaptation on every target (mean over seeds).

``python -m benchmarks.adaptation_gain [--targets ...] [--seeds 0 1 2] [--params k=v,...] [--quick]``
"""

from __future__ import annotations

from adaptpose_pipeline.datasets import registry
from adaptpose_pipeline.repro import TINY
from benchmarks import common

NAME = "adaptation_gain"
GOAL_REDUCTION = 0.20
MODELS = ("baseline", "adapted")


def overall(metrics: dict) -> dict:
    """``mpjpe``, ``p_mpjpe``, ``pck`` (at the file's threshold) and ``auc`` of a metrics file."""
    o = metrics["overall"]
    return {"mpjpe": o["mpjpe"], "p_mpjpe": o["p_mpjpe"], "pck": o[f"pck{metrics['protocol']['pck_threshold_mm']}"], "auc": o["auc"]}


def reduction(baseline: float, adapted: float) -> float:
    return 1.0 - adapted / baseline


def summarise(runs: list[dict], targets: list[str]) -> tuple[dict, list[list], list[dict]]:
    """Per target: the seeds' values, a display row and the goal."""
    per_target, rows, goals = {}, [], []
    for t in targets:
        rs = [r for r in runs if r["target"] == t]
        col = lambda model, key: [r[model][key] for r in rs]  # noqa: E731
        red = [reduction(r["baseline"]["mpjpe"], r["adapted"]["mpjpe"]) for r in rs]
        red_p = [reduction(r["baseline"]["p_mpjpe"], r["adapted"]["p_mpjpe"]) for r in rs]
        mean_red = common.mean_std(red)[0]
        per_target[t] = {"seeds": [r["seed"] for r in rs], "mpjpe_reduction": red, "p_mpjpe_reduction": red_p,
                         "mean_mpjpe_reduction": mean_red, "goal_met": mean_red >= GOAL_REDUCTION}
        rows.append([
            t, len(rs),
            common.pm(col("baseline", "mpjpe")), common.pm(col("adapted", "mpjpe")), common.pm([100 * x for x in red]) + "%",
            common.pm(col("baseline", "p_mpjpe")), common.pm(col("adapted", "p_mpjpe")), common.pm([100 * x for x in red_p]) + "%",
            common.pm(col("baseline", "pck"), 3), common.pm(col("adapted", "pck"), 3),
            common.pm(col("baseline", "auc"), 3), common.pm(col("adapted", "auc"), 3),
        ])
        goals.append({"goal": f"{t}: MPJPE at least 20% lower after adaptation", "met": mean_red >= GOAL_REDUCTION,
                      "detail": f"{100 * mean_red:.1f}% (mean of {len(rs)} seed(s))"})
    return per_target, rows, goals


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__)
    p.add_argument("--targets", nargs="+", default=list(registry.names()), choices=list(registry.names()))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--params", default="", help="extra --params for every kedro run")
    common.add_keep(p)
    args = p.parse_args(argv)
    targets, seeds, extra = args.targets, args.seeds, args.params
    if args.quick:
        targets, seeds, extra = ["ski"], [0], common.join_params(TINY, extra)
    print(f"adaptation_gain: targets {targets}, seeds {seeds}", flush=True)
    runs, seen = [], set()
    with common.TempProject(keep=args.keep) as project:
        project.kedro("--pipeline=standin", params=extra)
        for target in targets:
            for seed in seeds:
                rec = project.kedro("--pipeline=chain", params=common.join_params(f"target={target},seed={seed}", extra))
                run = {"target": target, "seed": seed, "seconds": rec.seconds}
                for model in MODELS:
                    version, metrics = project.newest_json(f"data/08_reporting/{target}/metrics_{model}.json")
                    if (target, model, version) in seen:
                        raise RuntimeError(f"{target} seed {seed}: the run wrote no new metrics_{model}.json")
                    seen.add((target, model, version))
                    run[model] = overall(metrics)
                    run["frames"] = metrics["protocol"]["frames"]
                print(f"    {target} seed {seed}: MPJPE {run['baseline']['mpjpe']:.1f} -> {run['adapted']['mpjpe']:.1f} mm", flush=True)
                runs.append(run)
    per_target, rows, goals = summarise(runs, targets)
    rec = common.record(
        NAME, "Adaptation gain on the stand-ins",
        quick=args.quick, devices=[common.kedro_device()],
        settings={"targets": targets, "seeds": seeds, "params": extra},
        results={"runs": runs, "per_target": per_target},
        tables=[{
            "title": "MPJPE and P-MPJPE in mm (mean ± std over seeds), all valid test frames",
            "columns": ["target", "seeds", "baseline MPJPE", "adapted MPJPE", "MPJPE reduction",
                        "baseline P-MPJPE", "adapted P-MPJPE", "P-MPJPE reduction",
                        "baseline PCK150", "adapted PCK150", "baseline AUC", "adapted AUC"],
            "rows": rows,
        }],
        goals=goals,
        notes=["Reduction = 1 - adapted / baseline per seed, then mean ± std; each seed pretrains its own baseline.",
               "The stand-in data are written once (seed 0); seeds change pretraining and adaptation."],
    )
    common.save(rec, common.out_dir(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
