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
    source: Literal["embedded", "file"]
    path: Path | None
    sha256: str | None
    dropout: float


@dataclass(frozen=True)
class DataSpec:
    kind: Literal["digits", "npz"]
    train_per_class: int
    split_seed: int
    path: Path | None


@dataclass(frozen=True)
class TrainerSpec:
    batch_size: int
    verbose: Literal["auto", 0, 1, 2]


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


def _backbone(cfg: DictConfig) -> BackboneSpec:
    backbone = cfg.backbone
    source = _choice(backbone.get("source"), "backbone.source", ("embedded", "file"))
    path = backbone.get("path")
    if source == "file":
        _require(path is not None, "backbone.path is required when backbone.source=file.")
    head = backbone.get("head") or {}
    dropout = float(head.get("dropout", 0.0))
    _require(0 <= dropout < 1, f"backbone.head.dropout must be in [0, 1); got {dropout}.")
    sha256 = backbone.get("sha256")
    return BackboneSpec(
        source, Path(path) if path else None, str(sha256) if sha256 else None, dropout
    )


def _data(cfg: DictConfig) -> DataSpec:
    data = cfg.data
    kind = _choice(data.get("kind"), "data.kind", ("digits", "npz"))
    path = data.get("path")
    if kind == "npz":
        _require(path is not None, "data.path is required when data.kind=npz.")
    return DataSpec(
        kind=kind,
        train_per_class=_integer(data.get("train_per_class", 20), "data.train_per_class", 1),
        split_seed=_integer(data.get("split_seed", 0), "data.split_seed", 0),
        path=Path(path) if path else None,
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
            batch_size=_integer(trainer.get("batch_size"), "trainer.batch_size", 1), verbose=verbose
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
