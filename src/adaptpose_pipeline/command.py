"""The ``adaptpose`` command: the project's usual runs, through a Kedro session.

``adaptpose run``, ``adaptpose predict`` and ``adaptpose report`` do what the matching
``kedro run --pipeline=... --params ...`` commands do (same hooks, MLflow runs and
catalog), with named options instead of Kedro's parameter syntax. Run it from the
project folder (the one holding ``pyproject.toml``), as ``kedro`` is.

(Not ``cli.py``: Kedro reads a package's ``cli.py`` as extra ``kedro`` commands.)
"""

from __future__ import annotations

import time
from pathlib import Path

import click

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def parse_params(pairs: tuple[str, ...]) -> dict:
    """``("adapt.train.epochs=2", "seed=1")`` -> nested, typed parameters, as ``kedro run
    --params`` reads them."""
    from omegaconf import OmegaConf

    for pair in pairs:
        key, sep, _ = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r}: expected key=value (e.g. adapt.train.epochs=2)", param_hint="--param")
    return OmegaConf.to_container(OmegaConf.from_dotlist(list(pairs))) if pairs else {}


def run_pipeline(
    pipeline: str | list[str], params: dict, env: str | None = None, namespaces: tuple[str, ...] = (),
    load_versions: dict[str, str] | None = None,
) -> str:
    """One ``kedro run`` in this process: the project found from the current folder.
    Returns the session id, which is the version of every dataset the run saved."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from adaptpose_pipeline.settings import PROJECT_ROOT

    root = Path.cwd() if (Path.cwd() / "pyproject.toml").is_file() else PROJECT_ROOT
    bootstrap_project(root)
    with KedroSession.create(project_path=root, env=env, runtime_params=params) as session:
        session.run(
            pipeline_names=[pipeline] if isinstance(pipeline, str) else list(pipeline),
            namespaces=list(namespaces) or None, load_versions=load_versions or None,
        )
        return session.session_id


def _common(target: str | None, seed: int | None, pairs: tuple[str, ...]) -> dict:
    params = parse_params(pairs)
    if target is not None:
        params["target"] = target
    if seed is not None:
        params["seed"] = seed
    return params


TARGET = click.option("--target", "-t", default=None, help="a dataset of datasets/registry.py: h36m, 3dhp, 3dpw, ski, ... (default: globals.yml's default_target)")
SEED = click.option("--seed", type=int, default=None, help="seed of every random draw (default 0)")
ENV = click.option("--env", "-e", default=None, help="Kedro environment, e.g. paper (default: local)")
PARAM = click.option("--param", "-p", "pairs", multiple=True, metavar="KEY=VALUE", help="any parameter, repeatable: -p adapt.train.epochs=2")


@click.group(context_settings=CONTEXT)
def main() -> None:
    """AdaptPose as a Kedro project: adapt a 3D pose lifter to a new dataset.

    \b
    adaptpose run --target ski                 # ingest -> pretrain -> evaluate -> adapt
    adaptpose run --pipeline adapt -t 3dhp -p adapt.train.epochs=8
    adaptpose predict keypoints.json -t 3dhp --bvh
    adaptpose report -t 3dhp
    adaptpose sweep --tables 6 --seeds 0,1,2 --targets 3dhp --workers 3 --tracking-uri http://127.0.0.1:5000
    adaptpose schema --write                   # docs/parameters.schema.json
    """


@main.command(context_settings=CONTEXT)
@click.option("--pipeline", default="chain", show_default=True, help="standin, ingest, pretrain, evaluate, adapt, chain, ablation, export, ...")
@TARGET
@SEED
@ENV
@PARAM
@click.option("--namespaces", default="", help="only these namespaces, comma-separated (ablation: table5,table6)")
def run(pipeline: str, target: str | None, seed: int | None, env: str | None, pairs: tuple[str, ...], namespaces: str) -> None:
    """Run one pipeline (default: the whole chain for the target)."""
    run_pipeline(pipeline, _common(target, seed, pairs), env, tuple(n for n in namespaces.split(",") if n))


@main.command(context_settings=CONTEXT)
@click.argument("keypoints", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@TARGET
@click.option("--model", type=click.Choice(["adapted", "baseline"]), default="adapted", show_default=True, help="which of the target's lifters")
@click.option("--image-size", default=None, metavar="WxH", help="image size in pixels, when the file gives none (e.g. 1920x1080)")
@click.option("--bvh/--no-bvh", default=False, help="also write the prediction as a BVH file (Blender, MotionBuilder)")
@ENV
@PARAM
def predict(keypoints: Path, target: str | None, model: str, image_size: str | None, bvh: bool, env: str | None, pairs: tuple[str, ...]) -> None:
    """Lift a file of 2D keypoints (COCO JSON, CSV or .npy/.npz) to 3D."""
    params = _common(target, None, pairs)
    params.setdefault("predict", {}).update({"input": str(keypoints.resolve()), "model": model, "bvh": bvh})
    if image_size is not None:
        params["predict"]["image_size"] = image_size
    run_pipeline("predict", params, env)


@main.command(context_settings=CONTEXT)
@TARGET
@ENV
@PARAM
def report(target: str | None, env: str | None, pairs: tuple[str, ...]) -> None:
    """The ablation tables beside the paper's, from the MLflow runs of the ablation pipeline."""
    run_pipeline("report", _common(target, None, pairs), env)


def _ints(text: str, option: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected comma-separated integers, e.g. 0,1,2", param_hint=option) from None


@main.command(context_settings=CONTEXT)
@click.option("--tables", default="5,6,7,8", show_default=True, help="ablation tables, comma-separated")
@click.option("--seeds", default="0", show_default=True, help="seeds, comma-separated")
@click.option("--targets", default=None, help="targets, comma-separated (default: globals.yml's default_target)")
@click.option("--rows", default="", help="only these rows of the tables, comma-separated (e.g. A1,BG2)")
@click.option("--workers", type=int, default=None, help="worker processes of a local Dask cluster (default 1)")
@click.option("--scheduler", default=None, metavar="ADDRESS", help="an existing Dask scheduler, e.g. tcp://10.0.0.1:8786")
@click.option("--tracking-uri", default=None, metavar="URI",
              help="MLflow tracking server for every run (default: MLFLOW_TRACKING_URI, else the project's mlruns.db)")
@ENV
@PARAM
def sweep(tables: str, seeds: str, targets: str | None, rows: str, workers: int | None, scheduler: str | None,
          tracking_uri: str | None, env: str | None, pairs: tuple[str, ...]) -> None:
    """Ablation rows x seeds x targets, one kedro run each, on a Dask cluster.

    \b
    Per target and seed, one run of ingest -> pretrain -> evaluate first; then every
    row as its own run reading that run's artifacts. A failed run is retried once; the
    summary lists every run, and the exit status is 1 if any failed twice.
    \b
    adaptpose sweep --tables 6 --seeds 0,1,2 --targets 3dhp --workers 3 --tracking-uri http://127.0.0.1:5000
    adaptpose sweep --tables 5,6,7 --targets 3dhp,ski --scheduler tcp://head:8786 --tracking-uri postgresql://...
    """
    from adaptpose_pipeline import sweep as sw

    if workers is not None and scheduler is not None:
        raise click.UsageError("--workers starts a local cluster, --scheduler uses an existing one: give one of them")
    if workers is not None and workers < 1:
        raise click.BadParameter(f"{workers}: expected 1 or more", param_hint="--workers")
    root = Path.cwd()
    if not (root / "pyproject.toml").is_file():
        raise click.UsageError(f"run `adaptpose sweep` from the project folder (the one holding pyproject.toml); {root} has none")
    params = parse_params(pairs)
    for key in ("target", "seed"):
        if key in params:
            raise click.UsageError(f"-p {key}=...: give --{key}s instead (a sweep sets {key} per run)")
    if targets is None:
        from adaptpose_pipeline.settings import CONFIG_LOADER_ARGS, ProjectConfigLoader

        targets = ProjectConfigLoader(str(root / "conf"), env=env, **CONFIG_LOADER_ARGS)["globals"]["default_target"]
    from adaptpose_pipeline.datasets import registry

    unknown = [t for t in targets.split(",") if t and t not in registry.names()]
    if unknown:
        raise click.BadParameter(f"{unknown}: expected some of {list(registry.names())}", param_hint="--targets")
    uri = tracking_uri or sw.default_tracking_uri(root)
    try:
        pairs_ = sw.select_rows(_ints(tables, "--tables"), [r for r in rows.split(",") if r])
        sw.check_tracking_uri(uri, workers, scheduler)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    tasks = sw.plan(pairs_, _ints(seeds, "--seeds"), [t for t in targets.split(",") if t], params)
    start = time.perf_counter()
    outcomes, _ = sw.sweep(tasks, root, uri, workers=workers or 1, scheduler=scheduler, kedro_env=env, echo=click.echo)
    click.echo("\n" + sw.summary(outcomes, time.perf_counter() - start))
    if any(o.status != "ok" for o in outcomes.values()):
        raise SystemExit(1)


@main.command(context_settings=CONTEXT)
@click.option("--write", is_flag=True, help="write the file (default: print the schema)")
@click.option("--check", is_flag=True, help="exit 1 if the file is not current")
@click.option("--path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="default: docs/parameters.schema.json")
def schema(write: bool, check: bool, path: Path | None) -> None:
    """The JSON schema of every parameter block (the pydantic models of ``parameters.py``)."""
    from adaptpose_pipeline.parameters import main as schema_main

    argv = (["--write"] if write else []) + (["--check"] if check else []) + (["--path", str(path)] if path else [])
    raise SystemExit(schema_main(argv))


if __name__ == "__main__":
    main()
