"""Reproducibility check: run a small configuration twice, compare artifact hashes.

``python -m adaptpose_pipeline.repro`` (``make repro-check``) copies the project's
configuration into two fresh folders, runs the stand-ins and the whole chain for one
target in each with the same seed, and compares the output hashes in the two runs'
manifests. It prints the artifacts that differ and exits 1 if any do (0 if none).
``--seed-b`` gives the second run another seed, which must make the check fail.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from adaptpose_pipeline.manifest import compare_outputs, merged_outputs

TINY = (
    "standin.scale=0.25,"
    "pretrain.train.epochs=2,pretrain.train.samples_per_epoch=2048,pretrain.lifter.channels=64,"
    "adapt.train.epochs=2,adapt.train.warmup_epochs=1,adapt.train.samples_per_epoch=512,adapt.train.batch_size=128,"
    "adapt.generator.hidden=64"
)


def _project_copy(root: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    shutil.copytree(root / "conf", dest / "conf", ignore=shutil.ignore_patterns("local"))
    (dest / "conf" / "local").mkdir()
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(root / name, dest / name)
    (dest / "src").mkdir()  # kedro wants a source folder; the package is installed
    return dest


def run_once(root: Path, dest: Path, seed: int, target: str) -> dict:
    project = _project_copy(root, dest)
    env = dict(
        os.environ,
        DO_NOT_TRACK="true",
        MLFLOW_TRACKING_URI=f"sqlite:///{project / 'mlruns.db'}",
        OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"),  # bits depend on the thread count
    )
    kedro = str(Path(sys.executable).parent / "kedro")
    for pipeline, params in (("standin", f"seed={seed},{TINY}"), ("chain", f"target={target},seed={seed},{TINY}")):
        out = subprocess.run([kedro, "run", f"--pipeline={pipeline}", "--params", params], cwd=project, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"repro-check: `kedro run --pipeline={pipeline}` failed in {project}:\n{out.stderr[-3000:]}")
    return merged_outputs(project / "data" / "08_reporting" / "manifests")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seed-b", type=int, default=None, help="seed of the second run (default: the same)")
    parser.add_argument("--target", default="ski", choices=["h36m", "3dhp", "3dpw", "ski"])
    parser.add_argument("--keep", type=Path, default=None, help="keep the two runs in this folder")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parents[2]
    work = Path(tempfile.mkdtemp(prefix="repro-")) if args.keep is None else args.keep
    try:
        a = run_once(root, work / "a", args.seed, args.target)
        b = run_once(root, work / "b", args.seed if args.seed_b is None else args.seed_b, args.target)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    differ = compare_outputs(a, b)
    print(f"repro-check: {len(a)} artifacts compared (target {args.target})")
    for name in differ:
        print(f"  DIFFERS  {name}: {a.get(name)} vs {b.get(name)}")
    if differ:
        print(f"repro-check: FAILED, {len(differ)} of {len(set(a) | set(b))} artifacts differ")
        return 1
    print("repro-check: OK, identical artifacts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
