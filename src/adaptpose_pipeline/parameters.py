"""The run's parameters as pydantic models: one model per parameter block.

Each block of ``conf/<env>/parameters*.yml`` has a model here (``extra="forbid"``:
a misspelt key is an error; ``Literal`` choices; bounded numbers). The sizes and
settings the method's code reads (``pretrain.lifter``, ``pretrain.train``,
``adapt.generator``, ``adapt.train``...) are typed by the ``core`` configuration
dataclasses themselves (``core.lifter.LifterConfig``, ``core.training.TrainConfig``,
``core.generator.GeneratorConfig``, ``core.adapt.AdaptConfig``), so each bound is
written once, on its field.

:func:`validate_parameters` checks the whole parameter set once, before a run
(``hooks.ParameterCheckHook``), as resolved for the run's target
(``pipelines.config.resolve_targets``: command line > ``<block>.targets.<target>`` >
the block), and every ablation row's overrides merged over its block. The models
describe resolved blocks (no ``targets`` key). The first error names the dotted key
where the bad value was written (``adapt.train.epochs: Input should be greater than
or equal to 1 (got 0)``, ``pretrain.targets.ski.lifter.receptive_field: ...``).
Kedro's own typed-parameter conversion is not used.

``python -m adaptpose_pipeline.parameters --write`` (or ``adaptpose schema``) writes
the JSON schema of all blocks to ``docs/parameters.schema.json``; a test checks that
the file is current.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator

from adaptpose_pipeline.core import bvh
from adaptpose_pipeline.core.adapt import PROPORTIONS, AdaptConfig, HardRatio
from adaptpose_pipeline.core.camera import NORMALISATIONS
from adaptpose_pipeline.core.generator import GeneratorConfig
from adaptpose_pipeline.core.lifter import LifterConfig, filter_widths_for
from adaptpose_pipeline.core.runtime import DEVICE_CHOICES
from adaptpose_pipeline.core.schema import (
    Bool,
    Float,
    Int,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Str,
    describe,
)
from adaptpose_pipeline.core.skeleton import SKELETONS
from adaptpose_pipeline.core.training import TrainConfig
from adaptpose_pipeline.datasets import registry
from adaptpose_pipeline.datasets.keypoints import FORMATS
from adaptpose_pipeline.pipelines.config import TARGETS_KEY, check_target, resolve_targets

SCHEMA_PATH = Path("docs") / "parameters.schema.json"
ROLES = ("source_train", "source_validation", "target_train", "target_test")
PREDICT_MODELS = ("baseline", "adapted")
EXPORT_UNITS = {"m": 1.0, "cm": 100.0}



def _registered(name: str) -> str:
    if name not in registry.names():
        raise ValueError(f"expected a dataset of datasets.registry, one of {list(registry.names())}; got {name!r}")
    return name


# A dataset name, checked against the registry when the parameters are checked (so a
# dataset registered at run time is a valid target too).
Target = Annotated[
    str, Field(strict=True, description="a dataset of datasets.registry", examples=list(registry.names())), AfterValidator(_registered)
]


class Block(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _field(cls, name: str):
    """The annotated type of ``cls``'s field ``name`` (with its bounds and choices)."""
    info = cls.__pydantic_fields__[name]
    return Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation


def _fields_model(name: str, cls, keys: tuple[str, ...], doc: str, base: type[BaseModel] = Block) -> type[BaseModel]:
    """A block model holding ``keys`` of the dataclass ``cls``, optional, bounds kept."""
    fields = {k: (_field(cls, k) | None, None) for k in keys}
    return create_model(name, __base__=base, __doc__=doc, **fields)


def _off_is_a_string(value):
    """YAML 1.1 reads a bare ``off`` as false; the choices spell it ``"off"``."""
    return "off" if value is False else value


# ---- run-wide -----------------------------------------------------------------------


class Checkpoints(Block):
    """Epoch checkpoints of the training loops, and whether a run resumes from them."""

    dir: Str | None = None
    resume: Bool = False

    @model_validator(mode="after")
    def _resume_needs_dir(self):
        if self.resume and self.dir is None:
            raise ValueError("checkpoints.resume: true needs checkpoints.dir (it is null)")
        return self


class Standin(Block):
    """The stand-in generator: ``scale`` multiplies every sequence's duration; the
    per-dataset settings are the makers' (``standin.makers``), checked there."""

    model_config = ConfigDict(extra="allow")
    scale: PositiveFloat = 1.0


# ---- ingest ---------------------------------------------------------------------------


class Selection(Block):
    """Which frames of a dataset a role reads (``datasets.tables.select``)."""

    dataset: Target
    splits: list[Str] | None = None
    subjects: list[Str | Int] | None = None
    sequences: list[Str] | None = None  # whole names, e.g. 3DHP's TS1
    actions: list[Str] | None = None  # matched on the sequence name before a space
    exclude_actions: list[Str] | None = None

    @model_validator(mode="after")
    def _splits_of_the_dataset(self):
        known = registry.get(self.dataset).splits
        unknown = [s for s in self.splits or () if s not in known]
        if unknown:
            raise ValueError(f"splits: {self.dataset} has the splits {list(known)}; got {unknown}")
        return self


class IngestTarget(Block):
    """The run's target's roles and 2D normalisation: the ``ingest`` block, resolved
    for the target. Every target needs its own ``ingest.targets.<target>``."""

    source_train: Selection
    source_validation: Selection
    target_train: Selection
    target_test: Selection
    normalisation: Literal[NORMALISATIONS]
    # the native 3D field, where a dataset has a choice (3DHP: annot3 | univ_annot3)
    coordinates: Str | None = None
    pad_to_square: Bool = False  # screen normalisation: portrait frames padded to square first

    @model_validator(mode="after")
    def _coordinates_of_a_dataset_read(self):
        if self.coordinates is None:
            return self
        read = {getattr(self, r).dataset for r in ROLES if getattr(self, r) is not None}
        choices = [c for ds in registry.names() if ds in read and len(registry.get(ds).coordinates) > 1 for c in registry.get(ds).coordinates]
        if not choices:
            with_choice = " and ".join(ds for ds in registry.names() if len(registry.get(ds).coordinates) > 1)
            raise ValueError(f"coordinates: only {with_choice} has a choice of coordinates, and no role reads it")
        if self.coordinates not in choices:
            raise ValueError(f"coordinates: Input should be {' or '.join(map(repr, choices))} (got {self.coordinates!r})")
        return self


# ---- pretrain -------------------------------------------------------------------------


class PretrainLifter(Block):
    """VideoPose3D's sizes. ``receptive_field`` (1, 27, 81, ...) picks the filter widths;
    an explicit ``filter_widths`` list wins over it."""

    receptive_field: PositiveInt | None = None
    filter_widths: list[PositiveInt] | None = None
    channels: _field(LifterConfig, "channels") = LifterConfig.__pydantic_fields__["channels"].default
    dropout: _field(LifterConfig, "dropout") = LifterConfig.__pydantic_fields__["dropout"].default

    @model_validator(mode="after")
    def _builds(self):
        self.config()
        return self

    def config(self) -> LifterConfig:
        widths = self.filter_widths
        if widths is None:
            if self.receptive_field is None:
                raise ValueError("pretrain.lifter.receptive_field: missing (or give lifter.filter_widths)")
            widths = filter_widths_for(self.receptive_field)
        return LifterConfig(filter_widths=tuple(widths), channels=self.channels, dropout=self.dropout)


class Pretrain(Block):
    lifter: PretrainLifter
    train: TrainConfig


# ---- evaluate -------------------------------------------------------------------------


class Evaluate(Block):
    joint_set: Literal[tuple(SKELETONS)]
    # a whole number of mm: it names the metric (pck150)
    pck_threshold_mm: Annotated[int, Field(gt=0)]
    skeleton_frames: PositiveInt  # evenly spaced valid test frames drawn

    @field_validator("pck_threshold_mm", mode="before")
    @classmethod
    def _whole_mm(cls, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
            raise ValueError(f"expected a positive whole number of mm, got {value!r}")
        return int(value)  # 150.0 -> 150; the bound is checked after


# ---- adapt ----------------------------------------------------------------------------

class _GeneratorBlock(Block):
    @model_validator(mode="before")
    @classmethod
    def _off(cls, value):
        """``--params adapt.generator.bone_generation=off`` parses as false."""
        if isinstance(value, dict):
            return {k: _off_is_a_string(v) if k in ("bone_generation", "camera_generation") else v for k, v in value.items()}
        return value


GENERATOR_KEYS = tuple(k for k in GeneratorConfig.__pydantic_fields__ if k != "frames")
AdaptGenerator = _fields_model(
    "AdaptGenerator", GeneratorConfig, GENERATOR_KEYS,
    "The human motion generator (``core.generator.GeneratorConfig``; ``frames`` is the lifter's receptive field).",
    _GeneratorBlock,
)
TRAIN_KEYS = (
    "epochs", "warmup_epochs", "batch_size", "samples_per_epoch", "lr_generator", "lr_discriminator", "lr_lifter",
    "lr_lengths", "d_every", "grad_clip", "pool_size", "beta_deg", "frames_3d", "stride_min", "stride_max",
    "schedule", "feedback_warmup_epochs", "buffer_memory_mb",
)
AdaptTrain = _fields_model("AdaptTrain", AdaptConfig, TRAIN_KEYS, "The adaptation loop's schedule (``core.adapt.AdaptConfig``).")


class Weights(Block):
    """Loss weights: the generator's terms (Eqs. 16-22) and the fakes' share of the lifter step (Eq. 23)."""

    adv_2d: Float
    adv_3d: Float
    proj: Float
    range: Float
    lambda_: Float = Field(alias="lambda")
    match: Float = 0.0
    fake: _field(AdaptConfig, "w_fake") = 1.0


class HardRatios(Block):
    semantics: _field(AdaptConfig, "hard_ratio_semantics") = "printed"
    bone: HardRatio
    camera: HardRatio


class AdaptSelection(Block):
    """Eq. 14: keep (ratio - a)^2 < b^2, and every normalised 2D coordinate within ``bound``."""

    enabled: Bool
    a: Float
    b: _field(AdaptConfig, "selection_b")
    bound: Float | None


class Reprojection(Block):
    batch: _field(AdaptConfig, "proj_batch")
    inner_lr: Float


class Proportions(Block):
    """The target's skeleton proportions from its 2D alone (``core.proportions``)."""

    mode: Literal[PROPORTIONS] = "off"
    quantile: _field(AdaptConfig, "proportions_quantile") = 99.0
    labels: _field(AdaptConfig, "proportion_labels") = "target"
    estimator: _field(AdaptConfig, "proportions_estimator") = "tail"
    min_foreshortening: _field(AdaptConfig, "proportions_min_foreshortening") = 0.5
    min_change: _field(AdaptConfig, "proportions_min_change") = 0.0
    reprojection_tolerance: _field(AdaptConfig, "proportions_reprojection_tolerance") = 0.02

    @field_validator("mode", mode="before")
    @classmethod
    def _off(cls, value):
        return _off_is_a_string(value)

    def config_keywords(self) -> dict:
        """As :class:`AdaptConfig` keywords."""
        return {
            "proportions": self.mode, "proportions_quantile": self.quantile, "proportion_labels": self.labels,
            "proportions_estimator": self.estimator, "proportions_min_foreshortening": self.min_foreshortening,
            "proportions_min_change": self.min_change, "proportions_reprojection_tolerance": self.reprojection_tolerance,
        }


class Guard(Block):
    """The label-free guard (``core.guard``): keep an epoch or fall back to the control."""

    enabled: Bool
    tolerance_mm: NonNegativeFloat
    min_reprojection_gain: Annotated[float, Field(strict=True, ge=0, lt=1)] = 0.0

    @classmethod
    def off(cls) -> "Guard":
        """An absent ``adapt.guard`` block: no guard."""
        return cls(enabled=False, tolerance_mm=0.0)


class Adapt(Block):
    generator: AdaptGenerator
    domain_discriminator: Bool
    kcs_2d: Bool
    critic_3d_lengths: Bool = True
    lambda_limit: _field(AdaptConfig, "lambda_limit") = 0.1
    proportions: Proportions = Proportions()
    selection: AdaptSelection
    train: AdaptTrain
    weights: Weights
    hard_ratio: HardRatios
    reprojection: Reprojection
    keep_samples: _field(AdaptConfig, "keep_samples")
    guard: Guard = Guard.off()

    @model_validator(mode="after")
    def _builds(self):
        self.config()
        self.generator_config(frames=1)
        return self

    def generator_params(self) -> dict:
        return self.generator.model_dump(exclude_none=True)

    def generator_config(self, frames: int) -> GeneratorConfig:
        return GeneratorConfig(frames=frames, **self.generator_params())

    def config(self) -> AdaptConfig:
        """The loop's flat configuration (relations between fields checked there)."""
        w = self.weights
        return AdaptConfig(
            **self.train.model_dump(exclude_none=True),
            domain_discriminator=self.domain_discriminator, kcs_2d=self.kcs_2d,
            critic_3d_lengths=self.critic_3d_lengths, lambda_limit=self.lambda_limit,
            w_adv_2d=w.adv_2d, w_adv_3d=w.adv_3d, w_proj=w.proj, w_range=w.range, w_lambda=w.lambda_,
            w_match=w.match, w_fake=w.fake,
            proj_batch=self.reprojection.batch, proj_inner_lr=self.reprojection.inner_lr,
            hard_ratio_bone=self.hard_ratio.bone, hard_ratio_camera=self.hard_ratio.camera,
            hard_ratio_semantics=self.hard_ratio.semantics,
            selection=self.selection.enabled, selection_a=self.selection.a, selection_b=self.selection.b,
            selection_bound=self.selection.bound, keep_samples=self.keep_samples,
            **self.proportions.config_keywords(),
        )


# ---- predict, export ------------------------------------------------------------------


class Predict(Block):
    """Lifting a user's keypoint file (``kedro run --pipeline=predict``)."""

    # every key is required (parameters_predict.yml has them all); input may be null
    # except in a predict run
    input: Annotated[str, Field(strict=True, min_length=1, pattern=r"\S")] | None
    format: Literal[("auto", *FORMATS)]
    model: Literal[PREDICT_MODELS]
    image_size: tuple[PositiveInt, PositiveInt] | None  # [w, h] or "WxH" px
    min_score: Annotated[float, Field(strict=True, ge=0, le=1)]
    plot_frames: PositiveInt
    bvh: Bool
    fps: PositiveFloat  # of the input; the BVH's frame time

    @field_validator("image_size", mode="before")
    @classmethod
    def _wxh(cls, value):
        """``"WxH"``: the command line cannot carry a list."""
        if isinstance(value, str):
            match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", value)
            if not match:
                raise ValueError(f"expected null, [w, h] or 'WxH' with positive integers (pixels), got {value!r}")
            return int(match[1]), int(match[2])
        if isinstance(value, list):
            return tuple(value)
        return value


class Export(Block):
    """The adaptation's generated motions as files (``kedro run --pipeline=export``)."""

    # every key is required (parameters_export.yml has them all)
    bvh_motions: NonNegativeInt
    selected_only: Bool
    fps: PositiveFloat
    units: Literal[tuple(EXPORT_UNITS)]
    rotation_order: Literal[bvh.ORDERS]


# ---- ablation tables --------------------------------------------------------------------


class AblationRowLabel(Block):
    label: Str
    paper: dict[str, Float] = {}


class AblationOverrides(Block):
    adapt: dict[str, Any] | None = None
    pretrain: dict[str, Any] | None = None


class AblationRow(Block):
    row: AblationRowLabel
    overrides: AblationOverrides = AblationOverrides()


# ---- the whole set ----------------------------------------------------------------------


class Parameters(Block):
    """Every parameter of a run (``context.params``)."""

    target: Target
    seed: NonNegativeInt
    device: Annotated[str, Field(strict=True, pattern=rf"^({'|'.join(DEVICE_CHOICES)})(:\d+)?$")]
    checkpoints: Checkpoints | None = None
    standin: Standin | None = None
    ingest: IngestTarget | None = None
    pretrain: Pretrain | None = None
    evaluate: Evaluate | None = None
    adapt: Adapt | None = None
    predict: Predict | None = None
    export: Export | None = None
    table5: dict[str, AblationRow] | None = None
    table6: dict[str, AblationRow] | None = None
    table7: dict[str, AblationRow] | None = None
    table8: dict[str, AblationRow] | None = None


# The blocks an ablation row overrides.
ROW_BLOCKS = {"adapt": Adapt, "pretrain": Pretrain}


def check(model: type[BaseModel], value, prefix: str):
    """``model.model_validate(value)`` with errors that name ``prefix.<key>``."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise ValueError(describe(exc, prefix)) from None


class _OneError:
    """One error of a ``ValidationError``, for :func:`describe` (which reads ``errors()``)."""

    def __init__(self, error: dict) -> None:
        self._error = error

    def errors(self) -> list[dict]:
        return [self._error]


def written_at(params: dict, command_line: dict | None, key: str) -> str:
    """``key`` (dotted, of the resolved parameters) as it was written: under its block's
    ``targets.<target>`` when that per-target block gave the value and the command
    line did not; else ``key`` itself."""
    block, *path = key.split(".")
    written = params.get(block)
    target = params.get("target")
    if not path or not isinstance(written, dict) or not isinstance(written.get(TARGETS_KEY), dict):
        return key
    per = written[TARGETS_KEY].get(target)
    base = {k: v for k, v in written.items() if k != TARGETS_KEY}
    given = (command_line or {}).get(block)
    for part in path:
        if isinstance(given, dict) and part in given and not isinstance(given[part], dict):
            return key  # the command line's value wins
        if not isinstance(per, dict) or part not in per:
            return key
        if not isinstance(per[part], dict) or not isinstance(base, dict) or part not in base:
            return ".".join((block, TARGETS_KEY, target, *path))  # the per-target block alone wrote this
        per, base = per[part], base[part]
        given = given.get(part) if isinstance(given, dict) else None
    return key


def check_written(model: type[BaseModel], params: dict, command_line: dict | None, resolved: dict):
    """``model.model_validate(resolved)``, each error naming the key where ``params``
    (as written) set the bad value."""
    try:
        return model.model_validate(resolved)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            line = describe(_OneError(error))
            key = re.match(r"([\w.]+): ", line)
            lines.append(written_at(params, command_line, key[1]) + line[key.end(1):] if key else line)
        raise ValueError("; ".join(lines)) from None


def validate_parameters(params: dict, command_line: dict | None = None) -> Parameters:
    """Check every block once, before a run; raise ``ValueError`` naming the key.

    ``params`` as written (per-target blocks and all; or already resolved),
    ``command_line`` the ``--params`` values. The blocks are checked as resolved for
    the run's target, ``ingest`` also for the target's own block, and every ablation
    row's overrides merged over its block.
    """
    from adaptpose_pipeline.pipelines.ablation.nodes import TABLES, row_parameters

    target = check_target(params.get("target"))
    resolved = resolve_targets(params, command_line)
    ingest = params.get("ingest")
    if isinstance(ingest, dict) and not (ingest.get(TARGETS_KEY) or {}).get(target) and not set(ROLES) <= set(resolved["ingest"]):
        raise ValueError(f"ingest.targets.{target}: missing from parameters_ingest.yml (each target names its own {', '.join(ROLES)})")
    out = check_written(Parameters, params, command_line, resolved)
    for number, rows in TABLES.items():
        table = f"table{number}"
        given = resolved.get(table)
        if given is None:
            continue
        missing, unknown = sorted(set(rows) - set(given)), sorted(set(given) - set(rows))
        if missing or unknown:
            raise ValueError(f"{table}: expected rows {list(rows)}; missing {missing}, unknown {unknown}")
        for row, spec in given.items():
            overrides = spec.get("overrides") or {}
            for block, model in ROW_BLOCKS.items():
                if block in resolved and (block == "adapt" or block in overrides):
                    check(model, row_parameters(resolved[block], overrides, block), f"{table}.{row}.overrides.{block}")
    return out


def json_schema() -> dict:
    """The JSON schema of every parameter block (``docs/parameters.schema.json``)."""
    schema = Parameters.model_json_schema(by_alias=True)
    for name, prop in schema["properties"].items():  # the files' per-target blocks (pipelines.config)
        refs = [p["$ref"] for p in prop.get("anyOf", [prop]) if "$ref" in p]
        if refs:
            block = schema["$defs"][refs[0].rsplit("/", 1)[1]]
            block["properties"][TARGETS_KEY] = {
                "description": f"Per-target blocks: {name}.targets.<target> is merged over the rest of {name} for that "
                "target; a --params value beats both (pipelines/config.py, conf/README.md).",
                "type": "object",
                "propertyNames": {"enum": list(registry.names())},
                "additionalProperties": {"type": ["object", "null"]},
            }
    # each target's roles are written in its own ingest.targets.<target>
    schema["$defs"]["IngestTarget"].pop("required")
    schema["title"] = "adaptpose-pipeline parameters"
    schema["description"] = (
        "Every block of conf/<env>/parameters*.yml. Generated by `adaptpose schema` "
        "(python -m adaptpose_pipeline.parameters --write) from src/adaptpose_pipeline/parameters.py; do not edit."
    )
    return schema


def schema_text() -> str:
    return json.dumps(json_schema(), indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="adaptpose schema", description="Write or check docs/parameters.schema.json.")
    parser.add_argument("--write", action="store_true", help="write the schema file")
    parser.add_argument("--check", action="store_true", help="exit 1 if the schema file is not current")
    parser.add_argument("--path", type=Path, default=SCHEMA_PATH)
    args = parser.parse_args(argv)
    text = schema_text()
    if args.check:
        current = args.path.read_text() if args.path.exists() else None
        if current != text:
            print(f"{args.path} is not current: run `adaptpose schema --write`", file=sys.stderr)
            return 1
        print(f"{args.path} is current")
        return 0
    if args.write:
        args.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(args.path)
        print(f"wrote {args.path}")
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
