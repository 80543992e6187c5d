"""Adaptation on real motion: the development benchmark (issue 14).

``python -m benchmarks.devbench --data <devbench folder>`` points a throw-away copy of
the project at a folder laid out as ``shared/devbench`` (real Human3.6M motion as the
source, real CMU motion capture as targets in the 3DHP test, 3DPW and Ski-PTZ layouts;
its README describes it) and, per target and seed, runs
``kedro run --pipeline=chain --params target=T,seed=S``: baseline, control (the
baseline fine-tuned as long on source alone) and adapted lifters, with the project's
default parameters plus the protocol below. The data never enter the repository; only
the path given on the command line is written into the copy's ``conf/local``.

Protocols: 3DHP layout, adapt on the 2D of TS1-TS3 and evaluate on TS4-TS6 (the two
halves share no recording); 3DPW layout, adapt on ``train`` 2D and evaluate on ``test``;
Ski layout, adapt on ``train`` 2D and evaluate on ``test``. Every figure is MPJPE over
the valid test frames (17 joints, ``annot3`` for 3DHP).

Goals (issue 14), on the means over seeds: 3DHP adapted MPJPE at least 15% below the
control; 3DPW and Ski adapted not above the control; adapted source validation MPJPE at
most 2 mm above the control's.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from benchmarks import common

NAME = "devbench"
TARGETS = ("3dhp", "3dpw", "ski")
MODELS = ("baseline", "control", "adapted")
LAYOUT = {"h36m": "h36m", "3dhp": ".", "3dpw": "3dpw", "ski": "ski"}
PROTOCOL = {
    "3dhp": {
        "target_train": {"dataset": "3dhp", "splits": ["test"], "sequences": ["TS1", "TS2", "TS3"]},
        "target_test": {"dataset": "3dhp", "splits": ["test"], "sequences": ["TS4", "TS5", "TS6"]},
    },
    "3dpw": {"target_train": {"dataset": "3dpw", "splits": ["train"]}, "target_test": {"dataset": "3dpw", "splits": ["test"]}},
    "ski": {"target_train": {"dataset": "ski", "splits": ["train"]}, "target_test": {"dataset": "ski", "splits": ["test"]}},
}
TINY = (
    "pretrain.train.epochs=1,pretrain.train.samples_per_epoch=512,pretrain.lifter.channels=32,"
    "adapt.train.epochs=2,adapt.train.warmup_epochs=1,adapt.train.samples_per_epoch=512,adapt.train.batch_size=64,"
    "adapt.generator.hidden=32,adapt.keep_samples=32"
)


def check_layout(data: Path) -> dict[str, Path]:
    """The four dataset roots under ``data``; a clear error naming what is missing."""
    need = {
        "h36m": ["h36m/data_3d_h36m.npz", "h36m/data_2d_h36m_gt.npz"],
        "3dhp": [f"mpi_inf_3dhp_test_set/TS{i}/annot_data.mat" for i in range(1, 7)],
        "3dpw": ["3dpw/sequenceFiles/train", "3dpw/sequenceFiles/test"],
        "ski": ["ski/train/labels.h5", "ski/test/labels.h5"],
    }
    missing = [p for files in need.values() for p in files if not (data / p).exists()]
    if missing:
        raise SystemExit(f"devbench: {data} lacks {missing} (expected the layout of shared/devbench, see its README)")
    return {k: (data / v).resolve() for k, v in LAYOUT.items()}


def configure(project: Path, roots: dict[str, Path]) -> None:
    """Write the copy's ``conf/local``: dataset paths and the evaluation protocols."""
    local = project / "conf" / "local"
    local.mkdir(parents=True, exist_ok=True)
    (local / "globals.yml").write_text(yaml.safe_dump({"paths": {k: str(v) for k, v in roots.items()}}))
    (local / "parameters_devbench.yml").write_text(yaml.safe_dump({"ingest": {"targets": PROTOCOL}}))


def retargeted_control(project: common.TempProject, target: str, joint_set: str) -> float | None:
    """MPJPE (mm) of the control lifter used with the adapted lifter's retargeting
    (``adapt.proportions.mode: retarget``; ``lifter.Retargeted``): how much of the gain
    over the control is the proportions', and how much the generator's. None when the
    adapted checkpoint carries no retargeting (another mode, or the guard fell back)."""
    import numpy as np
    import torch

    from adaptpose_pipeline.core.lifter import LifterCheckpoint
    from adaptpose_pipeline.core.training import predict_sequences
    from adaptpose_pipeline.evaluation.metrics_file import evaluate_predictions

    adapted = torch.load(project.newest(f"data/06_models/{target}/lifter_adapted.pt")[1], weights_only=True)
    retarget = adapted["info"].get("retarget")
    if retarget is None:
        return None
    control = LifterCheckpoint.from_payload(torch.load(project.newest(f"data/06_models/{target}/lifter_control.pt")[1], weights_only=True))
    control.info = {"retarget": retarget}
    with np.load(project.newest(f"data/05_model_input/{target}/target_test.npz")[1], allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    pred = predict_sequences(control.model(), arrays, torch.device("cpu"))
    return float(evaluate_predictions(pred, arrays, joint_set)["overall"]["mpjpe"])


def row_of(run: dict) -> dict:
    return {m: run[m]["mpjpe"] for m in MODELS}


def summarise(runs: list[dict], targets: list[str]) -> tuple[dict, list[list], list[dict]]:
    per_target, rows, goals = {}, [], []
    for t in targets:
        mine = [r for r in runs if r["target"] == t]
        if not mine:
            continue
        vals = {m: [r[m]["mpjpe"] for r in mine] for m in MODELS}
        src = {m: [r["source_val"][m] for r in mine] for m in ("control", "adapted")}
        pose = {m: [(r.get("source_pose_val") or {}).get(m) for r in mine] for m in ("control", "adapted")}
        pose = {m: [x for x in v if x is not None] for m, v in pose.items()}
        mean = {m: common.mean_std(v)[0] for m, v in vals.items()}
        gain = 100.0 * (mean["control"] - mean["adapted"]) / mean["control"]
        retargeted = [r["control_retargeted"] for r in mine if r.get("control_retargeted") is not None]
        per_target[t] = {"mpjpe": vals, "source_val": src, "source_pose_val": pose, "gain_vs_control_percent": gain,
                         "fallbacks": sum(bool(r["fallback"]) for r in mine), "control_retargeted": retargeted}
        rows.append([
            t, len(mine), common.pm(vals["baseline"]), common.pm(vals["control"]),
            common.pm(retargeted) if len(retargeted) == len(mine) else "-", common.pm(vals["adapted"]),
            f"{gain:.1f}%", f"{100.0 * (mean['baseline'] - mean['adapted']) / mean['baseline']:.1f}%",
            common.pm(src["control"]), common.pm(src["adapted"]),
            common.pm(pose["control"]) if pose["control"] else "-", common.pm(pose["adapted"]) if pose["adapted"] else "-",
            f"{per_target[t]['fallbacks']}/{len(mine)}",
        ])
        need = 15.0 if t == "3dhp" else 0.0
        goals.append({"goal": f"{t}: adapted MPJPE >= {need:.0f}% below the control (mean over seeds)",
                      "detail": f"{gain:.1f}%", "met": gain >= need})
        dsrc = common.mean_std(src["adapted"])[0] - common.mean_std(src["control"])[0]
        goals.append({"goal": f"{t}: adapted source validation MPJPE <= control + 2 mm",
                      "detail": f"{dsrc:+.1f} mm", "met": dsrc <= 2.0})
    return per_target, rows, goals


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__)
    p.add_argument("--data", type=Path, help="a folder laid out as shared/devbench")
    p.add_argument("--targets", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--params", default="", help="extra --params for every kedro run")
    p.add_argument("--merge", nargs="+", type=Path, default=None, metavar="RESULT_JSON",
                   help="no runs: combine the runs of earlier result files (e.g. targets run in parallel with --out)")
    common.add_keep(p)
    args = p.parse_args(argv)
    if args.merge:
        return merge(args)
    if args.data is None:
        p.error("--data is required (unless --merge)")
    roots = check_layout(args.data)
    targets, seeds, extra = args.targets, args.seeds, args.params
    if args.quick:
        targets, seeds, extra = targets[:1], seeds[:1], common.join_params(TINY, extra)
    print(f"devbench: targets {targets}, seeds {seeds}", flush=True)
    runs = []
    with common.TempProject(keep=args.keep) as project:
        configure(project.path, roots)
        for target in targets:
            for seed in seeds:
                rec = project.kedro("--pipeline=chain", params=common.join_params(f"target={target},seed={seed}", extra))
                run = {"target": target, "seed": seed, "seconds": rec.seconds}
                for model in MODELS:
                    _, metrics = project.newest_json(f"data/08_reporting/{target}/metrics_{model}.json")
                    run[model] = {k: float(v) for k, v in metrics["overall"].items()}
                    run["frames"] = metrics["protocol"]["frames"]
                run["control_retargeted"] = retargeted_control(project, target, metrics["protocol"]["joint_set"])
                guard = metrics.get("guard") or {}
                chosen = guard.get("selected") or {}
                run["fallback"] = bool(metrics.get("fallback"))
                run["selected_epoch"] = metrics.get("selected_epoch")
                for key, name in (("source_val", "source_val_mpjpe_mm"), ("source_pose_val", "source_val_pose_mpjpe_mm")):
                    control_src = guard.get("control", {}).get(name)
                    run[key] = {"control": control_src, "adapted": control_src if run["fallback"] else chosen.get(name, control_src)}
                print(f"    {target} seed {seed}: baseline {run['baseline']['mpjpe']:.1f}, control {run['control']['mpjpe']:.1f}, "
                      f"adapted {run['adapted']['mpjpe']:.1f} mm (fallback {run['fallback']})", flush=True)
                runs.append(run)
                # saved after every run, so an interrupted benchmark keeps what it measured
                per_target = save(args, targets, seeds, extra, runs, done=len(runs) == len(targets) * len(seeds))
    print(json.dumps({t: v["gain_vs_control_percent"] for t, v in per_target.items()}), flush=True)
    return 0


def merge(args) -> int:
    """Summarise the runs of earlier result files as one result (``--merge``)."""
    recs = [json.loads(Path(f).read_text()) for f in args.merge]
    runs = [r for rec in recs for r in rec["results"]["runs"]]
    if not runs:
        raise SystemExit(f"devbench: no runs in {[str(f) for f in args.merge]}")
    targets = [t for t in TARGETS if any(r["target"] == t for r in runs)]
    seeds = sorted({r["seed"] for r in runs})
    extras = {rec["settings"]["params"] for rec in recs}
    if len(extras) > 1:
        raise SystemExit(f"devbench: the files were run with different --params {sorted(extras)}")
    per_target = save(args, targets, seeds, extras.pop(), runs, done=len(runs) == len(targets) * len(seeds))
    print(json.dumps({t: v["gain_vs_control_percent"] for t, v in per_target.items()}), flush=True)
    return 0


def save(args, targets, seeds, extra, runs, done: bool) -> dict:
    per_target, rows, goals = summarise(runs, targets)
    rec = common.record(
        NAME, "Adaptation on real motion (devbench: H3.6M -> CMU in the 3DHP, 3DPW and Ski layouts)",
        quick=args.quick, devices=[common.kedro_device()],
        settings={"targets": targets, "seeds": seeds, "params": extra, "protocol": PROTOCOL},
        results={"runs": runs, "per_target": per_target},
        tables=[{
            "title": "MPJPE in mm over the valid test frames (mean ± std over seeds)",
            "columns": ["target", "seeds", "baseline", "control", "control, retargeted", "adapted", "adapted vs control", "adapted vs baseline",
                        "control source val", "adapted source val", "control source pose val", "adapted source pose val",
                        "guard fallbacks"],
            "rows": rows,
        }],
        goals=goals,
        notes=["control = the baseline fine-tuned on source alone with the adapted lifter's steps, schedule and seed.",
               "control, retargeted = the control used with the adapted lifter's retargeting (its proportion estimate): "
               "the part of the gain that is the proportions' alone.",
               "The adapted lifter is the one the label-free guard kept (core/guard.py): an adapted epoch, or the control on fallback.",
               "Data: the folder given by --data; its path is written only into the throw-away copy's conf/local."]
        + ([] if done else [f"INCOMPLETE: {len(runs)} of {len(targets) * len(seeds)} runs finished."]),
    )
    # the data's location stays out of the result file (it may be committed)
    if args.data is not None:
        rec["command"] = rec["command"].replace(str(args.data), "<devbench>")
    common.save(rec, common.out_dir(args))
    return per_target


if __name__ == "__main__":
    raise SystemExit(main())
