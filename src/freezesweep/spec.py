"""The one reader of the Hydra config: typed, validated, frozen objects for everything below.

Every check that needs only the config happens here, before any model, storage or run exists.
Checks that need the backbone (is `finetune.top_k` within its units, does a pattern match a layer)
happen in `freezing.plan_schedule`, still before training or tracking starts.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from omegaconf import DictConfig, ListConfig, OmegaConf

UNIT_KINDS = ("layer", "block")
BN_POLICIES = ("frozen", "train")
OBJECTIVES = ("val_accuracy", "trainable_params")
DEFAULT_OPTIMIZER = "keras.optimizers.Adam"

Unfreeze = int | Literal["all", "none"] | str


class ConfigError(ValueError):
    """A configuration value that cannot work; the message names the key to fix."""


@dataclass(frozen=True)
class EarlyStoppingSpec:
    monitor: str = "val_loss"
    patience: int = 3
    restore_best_weights: bool = False


@dataclass(frozen=True)
class StageSpec:
    """One stage: which top part of the backbone trains, for how long, how fast."""

    name: str
    # An int is a count of top units; "all", "none", or a shell pattern over layer names.
    unfreeze: Unfreeze
    epochs: int
    learning_rate: float
    optimizer: str = DEFAULT_OPTIMIZER
    optimizer_kwargs: Mapping[str, Any] = field(default_factory=dict)
    early_stopping: EarlyStoppingSpec | None = None
    # The config key a user should fix when `unfreeze` is out of range.
    unfreeze_key: str = ""


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    unit: Literal["layer", "block"]
    bn: Literal["frozen", "train"]
    stages: tuple[StageSpec, ...]


@dataclass(frozen=True)
class BackboneSpec:
    source: Literal["embedded", "file", "keras_app"]
    path: Path | None
    sha256: str | None
    dropout: float
    # keras_app: the builder's name in keras.applications, "imagenet" / a weights file / None,
    # the input shape the data is resized to, and the global pooling of its feature map.
    name: str | None = None
    weights: str | None = None
    input_shape: tuple[int, int, int] | None = None
    pooling: Literal["avg", "max"] | None = None
    # The layer whose output the head attaches to; None: the backbone's output.
    feature_layer: str | None = None
    # The head's class count; None: taken from the data (a number must equal the data's).
    classes: int | None = None


@dataclass(frozen=True)
class DataSpec:
    kind: Literal["digits", "npz", "image_folder"]
    train_per_class: int
    split_seed: int
    path: Path | None
    # image_folder: the folder, the held-out fraction (without train/ and val/ folders),
    # in-memory caching, and augmentation layers (`_target_` + kwargs) for training batches.
    directory: Path | None = None
    validation_split: float = 0.2
    cache: bool = True
    augmentation: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class TrainerSpec:
    batch_size: int
    verbose: Literal["auto", 0, 1, 2]
    # "off" (float32) or a Keras mixed-precision policy, set while the model is built.
    mixed_precision: Literal["off", "mixed_float16", "mixed_bfloat16"] = "off"
    # `model.compile(jit_compile=...)`: "auto" lets Keras decide (XLA where it can on TF/JAX).
    jit_compile: Literal["auto"] | bool = "auto"


@dataclass(frozen=True)
class TrackingSpec:
    enabled: bool
    uri: str
    artifact_root: str
    experiment: str


@dataclass(frozen=True)
class TrialRef:
    """The Optuna trial a sweep job belongs to; all `None` for a plain run."""

    number: int | None = None
    study_name: str | None = None
    storage: str | None = None


@dataclass(frozen=True)
class TrialSpec:
    seed: int
    top_k: int
    finetune_lr: float
    objectives: tuple[str, ...]
    backbone: BackboneSpec
    data: DataSpec
    schedule: ScheduleSpec
    trainer: TrainerSpec
    tracking: TrackingSpec
    trial: TrialRef
    # The fully resolved config, exactly what gets logged.
    resolved: Mapping[str, Any]


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _positive_number(value: Any, key: str) -> float:
    _require(
        isinstance(value, int | float) and not isinstance(value, bool),
        f"{key} must be a number; got {value!r}.",
    )
    number = float(value)
    _require(math.isfinite(number) and number > 0, f"{key} must be > 0; got {value}.")
    return number


def _integer(value: Any, key: str, minimum: int) -> int:
    _require(
        isinstance(value, int) and not isinstance(value, bool),
        f"{key} must be an integer; got {value!r}.",
    )
    _require(value >= minimum, f"{key} must be >= {minimum}; got {value}.")
    return int(value)


def _choice(value: Any, key: str, allowed: tuple[str, ...]) -> Any:
    _require(value in allowed, f"{key} must be one of {', '.join(allowed)}; got {value!r}.")
    return value


def _unfreeze(value: Any, key: str) -> Unfreeze:
    if isinstance(value, bool) or value is None:
        raise ConfigError(
            f"{key} must be a unit count, 'all', 'none' or a layer-name pattern; got {value!r}."
        )
    if isinstance(value, int):
        return _integer(value, key, 0)
    _require(isinstance(value, str) and value != "", f"{key} must not be empty.")
    return str(value)


def _stage(
    raw: Mapping[str, Any], unresolved: Any, index: int, finetune_lr: float
) -> list[StageSpec]:
    key = f"schedule.stages.{index}"
    name = str(raw.get("name", f"stage{index}"))
    epochs = _integer(raw.get("epochs"), f"{key}.epochs", 1)
    has_lr, has_multiplier = raw.get("lr") is not None, raw.get("lr_multiplier") is not None
    _require(
        has_lr != has_multiplier,
        f"{key} needs exactly one of lr (absolute) or lr_multiplier (times finetune.lr).",
    )
    if has_lr:
        learning_rate = _positive_number(raw["lr"], f"{key}.lr")
    else:
        learning_rate = _positive_number(raw["lr_multiplier"], f"{key}.lr_multiplier") * finetune_lr
    optimizer = dict(raw.get("optimizer") or {})
    target = str(optimizer.pop("_target_", DEFAULT_OPTIMIZER))
    stopping = raw.get("early_stopping")
    early_stopping = EarlyStoppingSpec(**stopping) if stopping else None
    common: dict[str, Any] = dict(
        epochs=epochs,
        learning_rate=learning_rate,
        optimizer=target,
        optimizer_kwargs=optimizer,
        early_stopping=early_stopping,
    )
    unfreeze_raw = raw.get("unfreeze")
    if unfreeze_raw == "gradual":
        # Which key the user should change: the interpolation source if there is one.
        source = _interpolated_key(unresolved.get("up_to")) or f"{key}.up_to"
        up_to = _integer(raw.get("up_to"), source, 0)
        return [
            StageSpec(name=f"{name}_{depth}", unfreeze=depth, unfreeze_key=source, **common)
            for depth in range(1, up_to + 1)
        ]
    source = _interpolated_key(unresolved.get("unfreeze")) or f"{key}.unfreeze"
    return [
        StageSpec(
            name=name, unfreeze=_unfreeze(unfreeze_raw, source), unfreeze_key=source, **common
        )
    ]


def _interpolated_key(value: Any) -> str | None:
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return value[2:-1]
    return None


def _schedule(cfg: DictConfig, finetune_lr: float) -> ScheduleSpec:
    schedule = cfg.schedule
    unit = _choice(schedule.get("unit"), "schedule.unit", UNIT_KINDS)
    bn = _choice(schedule.get("bn"), "schedule.bn", BN_POLICIES)
    stages_raw = schedule.get("stages")
    _require(
        isinstance(stages_raw, ListConfig) and len(stages_raw) > 0,
        "schedule.stages must be a non-empty list of stages.",
    )
    stages: list[StageSpec] = []
    for index, stage in enumerate(stages_raw):
        resolved = OmegaConf.to_container(stage, resolve=True)
        unresolved = OmegaConf.to_container(stage, resolve=False)
        assert isinstance(resolved, dict) and isinstance(unresolved, dict)
        stages.extend(_stage(_str_keys(resolved), unresolved, index, finetune_lr))
    names = [stage.name for stage in stages]
    _require(len(set(names)) == len(names), f"schedule.stages names must be unique; got {names}.")
    return ScheduleSpec(str(schedule.get("name", "custom")), unit, bn, tuple(stages))


def _weights(value: Any) -> str | None:
    if value is None or value == "imagenet":
        return value
    _require(
        isinstance(value, str) and Path(value).is_file(),
        f"backbone.weights must be imagenet, null or the path of a weights file; "
        f"{value!r} is not a file.",
    )
    return str(value)


def _backbone(cfg: DictConfig) -> BackboneSpec:
    backbone = cfg.backbone
    source = _choice(backbone.get("source"), "backbone.source", ("embedded", "file", "keras_app"))
    path = backbone.get("path")
    if source == "file":
        _require(path is not None, "backbone.path is required when backbone.source=file.")
    head = backbone.get("head") or {}
    dropout = float(head.get("dropout", 0.0))
    _require(0 <= dropout < 1, f"backbone.head.dropout must be in [0, 1); got {dropout}.")
    classes = head.get("classes")
    sha256 = backbone.get("sha256")
    feature_layer = backbone.get("feature_layer")
    common: dict[str, Any] = dict(
        path=Path(path) if path else None,
        sha256=str(sha256) if sha256 else None,
        dropout=dropout,
        feature_layer=str(feature_layer) if feature_layer else None,
        classes=None if classes is None else _integer(classes, "backbone.head.classes", 2),
    )
    if source != "keras_app":
        return BackboneSpec(source, **common)
    from freezesweep.keras_app import is_application

    name = backbone.get("name")
    _require(
        isinstance(name, str) and is_application(name),
        f"backbone.name must be a keras.applications architecture (e.g. MobileNetV3Small, "
        f"ResNet50, EfficientNetB0); got {name!r}.",
    )
    size = _integer(backbone.get("input_size"), "backbone.input_size", 1)
    channels = _integer(backbone.get("channels", 3), "backbone.channels", 1)
    pooling = backbone.get("pooling")
    _require(
        pooling in ("avg", "max", None),
        f"backbone.pooling must be one of avg, max, null; got {pooling!r}.",
    )
    return BackboneSpec(
        source,
        name=name,
        weights=_weights(backbone.get("weights")),
        input_shape=(size, size, channels),
        pooling=pooling,
        **common,
    )


def _augmentation(value: Any) -> tuple[Mapping[str, Any], ...]:
    items = OmegaConf.to_container(value, resolve=True) if value is not None else []
    _require(
        isinstance(items, list)
        and all(isinstance(item, dict) and "_target_" in item for item in items),
        "data.augmentation must be a list of layers, each with a _target_ "
        "(e.g. {_target_: keras.layers.RandomFlip, mode: horizontal}).",
    )
    assert isinstance(items, list)
    return tuple(_str_keys(item) for item in items)


def _data(cfg: DictConfig) -> DataSpec:
    data = cfg.data
    kind = _choice(data.get("kind"), "data.kind", ("digits", "npz", "image_folder"))
    path = data.get("path")
    if kind == "npz":
        _require(path is not None, "data.path is required when data.kind=npz.")
    directory = data.get("directory")
    if kind == "image_folder":
        _require(directory is not None, "data.directory is required when data.kind=image_folder.")
    split = data.get("validation_split", 0.2)
    _require(
        isinstance(split, float) and 0 < split < 1,
        f"data.validation_split must be a fraction in (0, 1); got {split!r}.",
    )
    return DataSpec(
        kind=kind,
        train_per_class=_integer(data.get("train_per_class", 20), "data.train_per_class", 1),
        split_seed=_integer(data.get("split_seed", 0), "data.split_seed", 0),
        path=Path(path) if path else None,
        directory=Path(directory) if directory else None,
        validation_split=float(split),
        cache=bool(data.get("cache", True)),
        augmentation=_augmentation(data.get("augmentation")),
    )


def tracking_spec(cfg: Any, environment: Mapping[str, str] | None = None) -> TrackingSpec:
    """The tracking slice of a config (for the sweeper's hooks and `freezesweep report`).

    Args:
        cfg: a config with a `tracking` section. No default.
        environment: environment variables. Defaults to `None` (use `os.environ`).
    """
    return _tracking(cfg, os.environ if environment is None else environment)


def _tracking(cfg: Any, environment: Mapping[str, str]) -> TrackingSpec:
    tracking = cfg.tracking
    uri = tracking.get("uri") or environment.get("MLFLOW_TRACKING_URI") or tracking.default_uri
    return TrackingSpec(
        enabled=bool(tracking.get("enabled", True)),
        uri=str(uri),
        artifact_root=str(tracking.get("artifact_root") or ""),
        experiment=str(tracking.experiment),
    )


def trial_spec(cfg: DictConfig, environment: Mapping[str, str] | None = None) -> TrialSpec:
    """Validate a composed config and turn it into a `TrialSpec`.

    Args:
        cfg: the composed Hydra job config. No default.
        environment: environment variables to honour (`MLFLOW_TRACKING_URI`).
            Defaults to `None` (use `os.environ`).

    Returns:
        The validated, fully resolved trial specification.

    Raises:
        ValueError: with a message naming the offending key.
    """
    environment = os.environ if environment is None else environment
    finetune = cfg.get("finetune") or {}
    top_k = _integer(finetune.get("top_k"), "finetune.top_k", 0)
    finetune_lr = _positive_number(finetune.get("lr"), "finetune.lr")
    objectives = tuple(cfg.get("objectives") or ("val_accuracy",))
    for name in objectives:
        _choice(name, "objectives", OBJECTIVES)
    trainer = cfg.trainer
    verbose = trainer.get("verbose", "auto")
    _require(
        verbose in ("auto", 0, 1, 2), f"trainer.verbose must be auto, 0, 1 or 2; got {verbose!r}."
    )
    mixed_precision = _choice(
        trainer.get("mixed_precision", "off"),
        "trainer.mixed_precision",
        ("off", "mixed_float16", "mixed_bfloat16"),
    )
    jit_compile = trainer.get("jit_compile", "auto")
    _require(
        jit_compile == "auto" or isinstance(jit_compile, bool),
        f"trainer.jit_compile must be auto, true or false; got {jit_compile!r}.",
    )
    trial = cfg.get("trial") or {}
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(resolved, dict)
    return TrialSpec(
        seed=_integer(cfg.get("seed", 0), "seed", 0),
        top_k=top_k,
        finetune_lr=finetune_lr,
        objectives=objectives,
        backbone=_backbone(cfg),
        data=_data(cfg),
        schedule=_schedule(cfg, finetune_lr),
        trainer=TrainerSpec(
            batch_size=_integer(trainer.get("batch_size"), "trainer.batch_size", 1),
            verbose=verbose,
            mixed_precision=mixed_precision,
            jit_compile=jit_compile,
        ),
        tracking=_tracking(cfg, environment),
        trial=TrialRef(
            number=trial.get("number"),
            study_name=trial.get("study_name"),
            storage=trial.get("storage"),
        ),
        resolved=_str_keys(resolved),
    )


def _str_keys(mapping: dict[Any, Any]) -> dict[str, Any]:
    return {str(key): value for key, value in mapping.items()}
