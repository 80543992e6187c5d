"""Reproducibility check: run a small configuration twice, compare artifact hashes.

``python -m adaptpose_pipeline.repro`` (``make repro-check``) copies the project's
configuration into two fresh folders, runs the stand-ins and the whole chain for one
target in each with the same seed, and compares the output hashes in the two runs'
manifests. It prints the artifacts that differ and exits 1 if any do or if the
manifests list none (0 when all are identical).
``--seed-b`` gives the second run another seed, which must make the check fail.
``--control-seed N`` adds a third run with seed ``N`` that must differ from the first,
so the check proves it can fail (exit 2 if the control run comes out identical);
``make repro-check`` (and so ``make test`` and CI) runs with it.

On CUDA (``--device cuda``) bits are not promised (docs/reliability.md says which
operations): the check then passes when every overall metric of the two runs agrees
within ``--tolerance`` (mm for MPJPE-type metrics, x 0.001 for PCK and AUC), and lists
differing hashes for information only. Missing metrics (in either run, or the control) fail it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from adaptpose_pipeline.datasets import registry
from adaptpose_pipeline.manifest import compare_outputs, merged_outputs, newest_version

TINY = (
    "standin.scale=0.25,"
    "pretrain.train.epochs=2,pretrain.train.samples_per_epoch=2048,pretrain.lifter.channels=64,"
    "adapt.train.epochs=2,adapt.train.warmup_epochs=1,adapt.train.samples_per_epoch=512,adapt.train.batch_size=128,"
    "adapt.generator.hidden=64"
)


def project_copy(root: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    shutil.copytree(root / "conf", dest / "conf", ignore=shutil.ignore_patterns("local"))
    (dest / "conf" / "local").mkdir()
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(root / name, dest / name)
    (dest / "src").mkdir()  # kedro wants a source folder; the package is installed
    return dest


def latest_metrics(project: Path, target: str) -> dict[str, dict[str, float]]:
    """``{metrics_<model>: overall metrics}`` of the newest version of each metrics file."""
    out = {}
    for folder in sorted((project / "data" / "08_reporting" / target).glob("metrics_*.json")):
        newest = newest_version(folder)
        if newest is not None:
            out[folder.stem] = json.loads(newest.read_text())["overall"]
    return out


def metrics_beyond(a: dict, b: dict, tolerance: float) -> list[str]:
    """Names ``file:metric`` whose values differ by more than ``tolerance`` (mm, or
    ``tolerance / 1000`` for the unit-less PCK and AUC), or exist in one run only."""
    bad = []
    for name in sorted(set(a) | set(b)):
        ma, mb = a.get(name, {}), b.get(name, {})
        for key in sorted(set(ma) | set(mb)):
            tol = tolerance / 1000 if key.startswith(("pck", "auc")) else tolerance
            if key not in ma or key not in mb or abs(ma[key] - mb[key]) > tol:
                bad.append(f"{name}:{key}")
    return bad


def run_once(root: Path, dest: Path, seed: int, target: str, device: str = "cpu") -> tuple[dict, dict]:
    project = project_copy(root, dest)
    env = dict(
        os.environ,
        DO_NOT_TRACK="true",
        MLFLOW_TRACKING_URI=f"sqlite:///{project / 'mlruns.db'}",
        OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"),  # bits depend on the thread count
    )
    kedro = str(Path(sys.executable).parent / "kedro")
    common = f"seed={seed},device={device},{TINY}"
    for pipeline, params in (("standin", common), ("chain", f"target={target},{common}")):
        out = subprocess.run([kedro, "run", f"--pipeline={pipeline}", "--params", params], cwd=project, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"repro-check: `kedro run --pipeline={pipeline}` failed in {project}:\n{out.stderr[-3000:]}")
    return merged_outputs(project / "data" / "08_reporting" / "manifests"), latest_metrics(project, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seed-b", type=int, default=None, help="seed of the second run (default: the same)")
    parser.add_argument("--target", default="ski", choices=registry.names())
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="cpu (bitwise check) or cuda (metrics within --tolerance)")
    parser.add_argument("--tolerance", type=float, default=0.5, help="CUDA: allowed metric difference (mm; x0.001 for PCK/AUC)")
    parser.add_argument("--control-seed", type=int, default=None, help="a third run with this seed must differ")
    parser.add_argument("--keep", type=Path, default=None, help="keep the two runs in this folder")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parents[2]
    work = Path(tempfile.mkdtemp(prefix="repro-")) if args.keep is None else args.keep
    try:
        a, ma = run_once(root, work / "a", args.seed, args.target, args.device)
        b, mb = run_once(root, work / "b", args.seed if args.seed_b is None else args.seed_b, args.target, args.device)
        control = None
        if args.control_seed is not None:
            control = run_once(root, work / "control", args.control_seed, args.target, args.device)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    differ = compare_outputs(a, b)
    bitwise = not args.device.startswith("cuda")
    print(f"repro-check: {len(a)} artifacts compared (target {args.target}, {args.device})")
    for name in differ:
        print(f"  DIFFERS  {name}: {a.get(name)} vs {b.get(name)}")
    if bitwise and not (a or b):
        print("repro-check: FAILED, no artifacts to compare (the runs' manifests list no outputs)")
        return 1
    if bitwise and differ:
        print(f"repro-check: FAILED, {len(differ)} of {len(set(a) | set(b))} artifacts differ")
        return 1
    if not bitwise:
        if not ma or set(ma) != set(mb):
            print(f"repro-check: FAILED, no metrics to compare (run a: {sorted(ma)}, run b: {sorted(mb)})")
            return 1
        off = metrics_beyond(ma, mb, args.tolerance)
        for name in off:
            print(f"  BEYOND TOLERANCE  {name}")
        if off:
            print(f"repro-check: FAILED, {len(off)} metrics differ by more than {args.tolerance}")
            return 1
        print(f"repro-check: OK, metrics within {args.tolerance} ({len(differ)} artifacts not bitwise identical)")
    else:
        print("repro-check: OK, identical artifacts")
    if control is not None:
        if not bitwise and set(control[1]) != set(ma):
            print(f"repro-check: FAILED, the control run's metrics {sorted(control[1])} are not those of run a {sorted(ma)}")
            return 1
        # On CUDA hashes differ anyway: the control must move the metrics beyond the tolerance.
        changed = compare_outputs(a, control[0]) if bitwise else metrics_beyond(ma, control[1], args.tolerance)
        what = "artifacts" if bitwise else "metrics beyond the tolerance"
        print(f"repro-check: control run with seed {args.control_seed}: {len(changed)} {what} differ")
        if not changed:
            print("repro-check: FAILED, another seed gave identical artifacts: the check could not catch a difference")
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
