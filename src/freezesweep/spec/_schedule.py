"""Reads `schedule.*`: the unit kind, the BN policy and the stages (`gradual` expanded)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from freezesweep import targets
from freezesweep.errors import ConfigError
from freezesweep.spec._checks import (
    choice,
    decay,
    default_of,
    integer,
    positive_number,
    require,
    str_keys,
)
from freezesweep.spec._types import (
    BN_POLICIES,
    DEFAULT_OPTIMIZER,
    UNIT_KINDS,
    EarlyStoppingSpec,
    MethodSpec,
    ScheduleSpec,
    StageSpec,
    Unfreeze,
)


def _unfreeze(value: Any, key: str) -> Unfreeze:
    if isinstance(value, bool) or value is None:
        raise ConfigError(
            f"{key} must be a unit count, 'all', 'none' or a layer-name pattern; got {value!r}."
        )
    if isinstance(value, int):
        return integer(value, key, 0)
    require(isinstance(value, str) and value != "", f"{key} must not be empty.")
    return str(value)


def _stage(
    raw: Mapping[str, Any], unresolved: Any, index: int, finetune_lr: float, lr_decay: float
) -> list[StageSpec]:
    key = f"schedule.stages.{index}"
    name = str(raw.get("name", f"stage{index}"))
    epochs = integer(raw.get("epochs"), f"{key}.epochs", 1)
    has_lr, has_multiplier = raw.get("lr") is not None, raw.get("lr_multiplier") is not None
    require(
        has_lr != has_multiplier,
        f"{key} needs exactly one of lr (absolute) or lr_multiplier (times finetune.lr).",
    )
    if has_lr:
        learning_rate = positive_number(raw["lr"], f"{key}.lr")
    else:
        learning_rate = positive_number(raw["lr_multiplier"], f"{key}.lr_multiplier") * finetune_lr
    optimizer = dict(raw.get("optimizer") or {})
    targets.check_tree(optimizer, key=f"{key}.optimizer", allowed=targets.KERAS_OPTIMIZERS)
    target = targets.check_target(
        optimizer.pop("_target_", DEFAULT_OPTIMIZER),
        key=f"{key}.optimizer._target_",
        allowed=targets.KERAS_OPTIMIZERS,
    )
    early_stopping = _early_stopping(raw.get("early_stopping"), f"{key}.early_stopping")
    offset_key = _interpolated_key(unresolved.get("offset")) or f"{key}.offset"
    decay_key = _interpolated_key(unresolved.get("lr_decay")) or f"{key}.lr_decay"
    common: dict[str, Any] = dict(
        lr_decay=decay(raw["lr_decay"], decay_key) if "lr_decay" in raw else lr_decay,
        offset=integer(raw.get("offset", default_of(StageSpec, "offset")), offset_key, 0),
        offset_key=offset_key,
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
        up_to = integer(raw.get("up_to"), source, 0)
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


def _early_stopping(value: Any, key: str) -> EarlyStoppingSpec | None:
    if not value:
        return None
    require(isinstance(value, Mapping), f"{key} must be a mapping or null; got {value!r}.")
    known = tuple(field.name for field in dataclasses.fields(EarlyStoppingSpec))
    unknown = sorted(set(value) - set(known))
    require(
        not unknown,
        f"{key} takes only {', '.join(known)}; got unknown key(s) {', '.join(unknown)}.",
    )
    spec = EarlyStoppingSpec(**value)
    require(
        isinstance(spec.patience, int)
        and not isinstance(spec.patience, bool)
        and spec.patience >= 0,
        f"{key}.patience must be an integer >= 0; got {spec.patience!r}.",
    )
    require(
        isinstance(spec.monitor, str) and spec.monitor != "",
        f"{key}.monitor must be a metric name such as val_loss; got {spec.monitor!r}.",
    )
    require(
        isinstance(spec.restore_best_weights, bool),
        f"{key}.restore_best_weights must be true or false; got {spec.restore_best_weights!r}.",
    )
    return spec


def _interpolated_key(value: Any) -> str | None:
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return value[2:-1]
    return None


_UNFREEZE = MethodSpec()


def read_schedule(
    cfg: DictConfig,
    finetune_lr: float,
    lr_decay: float = 1.0,
    method: MethodSpec = _UNFREEZE,
) -> ScheduleSpec:
    schedule = cfg.schedule
    unit = choice(schedule.get("unit"), "schedule.unit", UNIT_KINDS)
    bn = choice(schedule.get("bn"), "schedule.bn", BN_POLICIES)
    stages_raw = schedule.get("stages")
    require(
        isinstance(stages_raw, ListConfig) and len(stages_raw) > 0,
        "schedule.stages must be a non-empty list of stages.",
    )
    stages: list[StageSpec] = []
    for index, stage in enumerate(stages_raw):
        resolved = OmegaConf.to_container(stage, resolve=True)
        unresolved = OmegaConf.to_container(stage, resolve=False)
        assert isinstance(resolved, dict) and isinstance(unresolved, dict)
        stages.extend(_stage(str_keys(resolved), unresolved, index, finetune_lr, lr_decay))
    names = [stage.name for stage in stages]
    require(len(set(names)) == len(names), f"schedule.stages names must be unique; got {names}.")
    return ScheduleSpec(str(schedule.get("name", "custom")), unit, bn, tuple(stages), method)
