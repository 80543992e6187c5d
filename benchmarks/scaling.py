"""How time and memory grow with the data: stand-ins and ingest at several sizes.

For each ``standin.scale`` (every stand-in sequence's duration times the scale), in a
fresh throw-away copy: ``kedro run --pipeline=standin --params standin.scale=S``, then
``kedro run --pipeline=ingest --params target=T`` and, with ``--pretrain``, one
pretraining epoch over every valid source frame
(``pretrain.train.epochs=1,pretrain.train.samples_per_epoch=null``). Recorded per
stage: wall time, peak RSS, and the data's size (frames in ``poses.parquet``, bytes
under ``data/01_raw``). A least-squares line ``y = a + b * scale`` per stage shows
whether growth is linear (R^2) and how much is fixed start-up cost (``a``).

``python -m benchmarks.scaling [--scales 1 2 4] [--target 3dhp] [--pretrain] [--quick]``
"""

from __future__ import annotations

import pyarrow.parquet as pq

from adaptpose_pipeline.datasets import registry
from benchmarks import common

NAME = "scaling"
LINEAR_R2 = 0.95
PRETRAIN_ONE_EPOCH = "pretrain.train.epochs=1,pretrain.train.samples_per_epoch=null"


def tree_bytes(folder) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def fits(points: list[dict], stages: list[str]) -> dict:
    """Per stage and for the total: linear fits of seconds and peak RSS against the scale."""
    scales = [p["scale"] for p in points]
    out = {}
    for stage in [*stages, "total"]:
        secs = [p["seconds"][stage] for p in points]
        rss = [p["max_rss_mb"][stage] for p in points]
        out[stage] = {"seconds": common.linear_fit(scales, secs), "max_rss_mb": common.linear_fit(scales, rss),
                      "seconds_ratio": secs[-1] / secs[0], "scale_ratio": scales[-1] / scales[0]}
    return out


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__)
    p.add_argument("--scales", nargs="+", type=float, default=[1.0, 2.0, 4.0])
    p.add_argument("--target", default="3dhp", choices=list(registry.names()))
    p.add_argument("--pretrain", action="store_true", help="also one pretraining epoch over every source frame")
    p.add_argument("--params", default="", help="extra --params for every kedro run")
    args = p.parse_args(argv)
    scales = [0.25, 0.5] if args.quick else sorted(args.scales)
    if len(scales) < 2:
        p.error("--scales: give at least two sizes")
    stages = ["standin", "ingest"] + (["pretrain"] if args.pretrain else [])
    points = []
    for scale in scales:
        print(f"scaling: standin.scale={scale:g}", flush=True)
        with common.TempProject() as project:
            project.kedro("--pipeline=standin", params=common.join_params(args.params, f"standin.scale={scale:g}"))
            target = common.join_params(args.params, f"target={args.target}")
            project.kedro("--pipeline=ingest", params=target)
            if args.pretrain:
                project.kedro("--pipeline=pretrain", params=common.join_params(target, PRETRAIN_ONE_EPOCH))
            _, poses = project.newest(f"data/02_intermediate/{args.target}/poses.parquet")
            seconds = {s: r.seconds for s, r in zip(stages, project.records)}
            rss = {s: r.max_rss_mb for s, r in zip(stages, project.records)}
            points.append({
                "scale": scale,
                "frames": pq.ParquetFile(poses).metadata.num_rows,
                "raw_bytes": tree_bytes(project.path / "data" / "01_raw"),
                "seconds": {**seconds, "total": sum(seconds.values())},
                "max_rss_mb": {**rss, "total": max(rss.values())},
            })
    fit = fits(points, stages)
    rows = [[f"{pt['scale']:g}", f"{pt['frames']:,}", f"{pt['raw_bytes'] / 2**20:.1f}"]
            + [f"{pt['seconds'][s]:.1f} / {pt['max_rss_mb'][s]:.0f}" for s in [*stages, "total"]] for pt in points]
    fit_rows = [[s, f"{f['seconds']['intercept']:.1f} + {f['seconds']['slope']:.1f} x", f"{f['seconds']['r2']:.3f}",
                 f"{f['seconds_ratio']:.2f} (scale x{f['scale_ratio']:g})",
                 f"{f['max_rss_mb']['intercept']:.0f} + {f['max_rss_mb']['slope']:.0f} x", f"{f['max_rss_mb']['r2']:.3f}"]
                for s, f in fit.items()]
    total = fit["total"]["seconds"]
    goals = [] if len(scales) < 3 else [{
        "goal": f"time grows linearly with the data (R^2 >= {LINEAR_R2} for the total)",
        "met": total["r2"] >= LINEAR_R2, "detail": f"R^2 {total['r2']:.3f}, {total['slope']:.1f} s per unit of scale"}]
    rec = common.record(
        NAME, f"Scaling with the stand-in size (target {args.target})",
        quick=args.quick, devices=[common.kedro_device()],
        settings={"scales": scales, "target": args.target, "stages": stages, "params": args.params},
        results={"points": points, "fits": fit},
        tables=[
            {"title": "seconds / peak RSS MB per stage", "columns": ["scale", "frames (poses.parquet)", "raw MB",
                                                                      *stages, "total"], "rows": rows},
            {"title": "least-squares fits against the scale x", "columns": ["stage", "seconds", "R^2",
                                                                             "time ratio largest / smallest", "peak RSS MB", "R^2"], "rows": fit_rows},
        ],
        goals=goals,
        notes=["Each scale runs in a fresh copy; the intercept is mostly fixed start-up (Python, kedro, MLflow).",
               "With two scales the fit is exact (R^2 = 1) and says nothing about linearity; use three or more."],
    )
    common.save(rec, common.out_dir(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
