"""Wall time of ``adaptpose sweep`` with 1 and with 2 Dask workers on this machine.

In a throw-away copy: the stand-ins (``standin.scale=0.25``), a local MLflow tracking
server (``sweep.local_tracking_server``), then the same sweep once per worker count:
``adaptpose sweep --tables 6 --rows BG1,BG3 --seeds 0 --targets 3dhp --workers N``
with the tiny settings of ``repro.TINY`` (one ``prepare`` run, then the two rows, side
by side with 2 workers), ``--repeats`` times, the worker counts interleaved (a shared
machine's load drifts). Recorded: each command's wall time, each task's (from its
summary), and the 1-minute load average when it started (other jobs on the machine).

``python -m benchmarks.sweep_workers [--workers 1 2] [--repeats 2] [--rows BG1,BG3] [--quick]``
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

from adaptpose_pipeline.repro import TINY
from adaptpose_pipeline.sweep import local_tracking_server
from benchmarks import common

NAME = "sweep_workers"
ADAPTPOSE = Path(sys.executable).parent / "adaptpose"
# tests/pipelines/test_adapt.py's tiny settings
QUICK = (
    "pretrain.train.epochs=1,pretrain.train.samples_per_epoch=256,pretrain.train.batch_size=64,pretrain.lifter.channels=16,"
    "adapt.train.epochs=2,adapt.train.warmup_epochs=1,adapt.train.batch_size=32,adapt.train.samples_per_epoch=64,"
    "adapt.generator.hidden=32,adapt.keep_samples=40,adapt.reprojection.batch=4"
)


def task_seconds(stdout: str) -> dict[str, float]:
    """``{task: seconds}`` from the sweep's summary table."""
    return {m[1].strip(): float(m[2]) for m in re.finditer(r"^(\S.*?)\s+ok\*?\s+\d+\s+(\d+) s$", stdout, re.M)}


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__)
    common.add_keep(p)
    p.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    p.add_argument("--rows", default="BG1,BG3", help="rows of Table 6 to sweep")
    p.add_argument("--repeats", type=int, default=2, help="sweeps per worker count, interleaved")
    args = p.parse_args(argv)
    tiny = [x for kv in (QUICK if args.quick else TINY).split(",") if not kv.startswith("standin.") for x in ("-p", kv)]
    points = []
    with common.TempProject(args.keep) as project:
        project.kedro("--pipeline=standin", params="standin.scale=0.25")
        with local_tracking_server(project.work / "mlflow") as uri:
            for workers in [w for _ in range(1 if args.quick else args.repeats) for w in args.workers]:
                argv_ = [str(ADAPTPOSE), "sweep", "--tables", "6", "--rows", args.rows, "--seeds", "0", "--targets", "3dhp",
                         "--workers", str(workers), "--tracking-uri", uri, *tiny]
                shown = shlex.join(["adaptpose", *argv_[1:]]).replace(uri, "http://127.0.0.1:PORT")
                print(f"  $ {shown}", flush=True)
                load = os.getloadavg()[0]
                start = time.perf_counter()
                out = subprocess.run(argv_, cwd=project.path, env=project.env(), capture_output=True, text=True)
                seconds = time.perf_counter() - start
                if out.returncode != 0:
                    raise RuntimeError(f"sweep with {workers} worker(s) failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
                tasks = task_seconds(out.stdout)
                print(f"    {seconds:.1f} s, load average {load:.1f} before ({tasks})", flush=True)
                points.append({"workers": workers, "seconds": round(seconds, 1), "load_average_1min": round(load, 2),
                               "tasks": tasks, "command": shown})
    best = {w: min(pt["seconds"] for pt in points if pt["workers"] == w) for w in args.workers}
    base = best[args.workers[0]]
    rows = [[pt["workers"], pt["seconds"], f"{base / best[pt['workers']]:.2f}x", pt["load_average_1min"],
             ", ".join(f"{k} {v:.0f} s" for k, v in pt["tasks"].items())] for pt in sorted(points, key=lambda q: q["workers"])]
    rec = common.record(
        NAME, "Ablation sweep on a local Dask cluster: 1 vs 2 workers", quick=args.quick, devices=["cpu"],
        settings={"rows": args.rows, "workers": args.workers, "params": QUICK if args.quick else TINY},
        results={"points": points, "best_seconds": best},
        tables=[{"title": f"adaptpose sweep --tables 6 --rows {args.rows} --seeds 0 --targets 3dhp (one prepare run, then the rows)",
                 "columns": ["workers", "wall s", "speed-up (best vs best)", "load average before", "per task"], "rows": rows}],
        notes=["The prepare run (ingest, pretrain, evaluate) comes first in every sweep; only the rows run side by side.",
               "Each task is a kedro run in its own process (about 10 s of imports each); the workers share this "
               "machine's usable CPUs, and the load average shows what else ran on them."],
    )
    common.save(rec, common.out_dir(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
