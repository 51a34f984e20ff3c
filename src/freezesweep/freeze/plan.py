"""Freeze plans: which backbone layers train in each stage, applying them, and counting weights.

Pure Keras: knows nothing of Hydra, Optuna or MLflow. A plan is computed for every stage before
anything trains, so a bad depth or pattern fails first and the trainable-parameter count of a
trial is known in advance.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import keras

from freezesweep import compat
from freezesweep.errors import ConfigError
from freezesweep.freeze.methods import check_method, enable_adapters, method_variables
from freezesweep.model.units import Unit, find_units, layers_matching
from freezesweep.spec import ScheduleSpec, StageSpec


@dataclass(frozen=True)
class StagePlan:
    """What one stage unfreezes, and the parameter counts that must result (`plan_schedule`).

    Args:
        stage: the stage.
        units: the backbone units it trains, bottom to top.
        layers: the backbone layers it trains.
        trainable_params: the trainable parameters it must give (head included).
        non_trainable_params: the non-trainable parameters it must give.
        unit_layers: the layers of each unit in `units`, in the same order. Defaults to `()`.
        method: `finetune.method`. Defaults to `"unfreeze"`.
        variables: for all but `unfreeze`, the variables that train in `layers` (their other
            variables stay frozen). Defaults to `None` (every weight of `layers`).
        skipped: the window's layers the method trains nothing in. Defaults to `()`.
    """

    stage: StageSpec
    units: tuple[str, ...]
    layers: tuple[keras.layers.Layer, ...]
    trainable_params: int
    non_trainable_params: int
    unit_layers: tuple[tuple[keras.layers.Layer, ...], ...] = ()
    method: str = "unfreeze"
    variables: tuple[keras.Variable, ...] | None = None
    skipped: tuple[str, ...] = ()


def count_params(weights: Iterable[keras.Variable]) -> int:
    """Sum of `prod(shape)` over weights: what `model.summary()` reports."""
    return sum(math.prod(weight.shape) for weight in weights)


def _is_batch_norm(layer: keras.layers.Layer) -> bool:
    return isinstance(layer, keras.layers.BatchNormalization)


def _selected_units(stage: StageSpec, units: Sequence[Unit], kind: str) -> list[Unit]:
    """The window: `unfreeze` units with `offset` top units left frozen above them."""
    count, offset = len(units), stage.offset
    if offset and not isinstance(stage.unfreeze, int) and stage.unfreeze != "none":
        raise ConfigError(
            f"{stage.offset_key} needs a unit count in {stage.unfreeze_key}; "
            f"got {stage.unfreeze!r}."
        )
    if stage.unfreeze == "all":
        return list(units)
    if not isinstance(stage.unfreeze, int) or stage.unfreeze == 0:
        return []
    if offset == 0 and stage.unfreeze > count:
        raise ConfigError(
            f"{stage.unfreeze_key} must be between 0 and {count} (the backbone has "
            f"{count} {kind} units); got {stage.unfreeze}."
        )
    if stage.unfreeze + offset > count:
        raise ConfigError(
            f"{stage.unfreeze_key} + {stage.offset_key} must be at most {count} (the backbone "
            f"has {count} {kind} units); got {stage.unfreeze} + {offset} = "
            f"{stage.unfreeze + offset}."
        )
    return list(units[count - offset - stage.unfreeze : count - offset])


def check_depths(backbone: keras.Model, schedule: ScheduleSpec) -> None:
    """Whether every stage's depth fits the backbone's units (the cheap part of `plan_schedule`).

    Needs only the backbone, not the head or the data, so a sweep checks each searched depth
    before its study exists.

    Args:
        backbone: the backbone.
        schedule: the validated schedule.

    Raises:
        ConfigError: a depth larger than the backbone's number of units, or a method with
            nothing to train in a window (or a LoRA rank larger than a kernel it adapts).
    """
    units = find_units(backbone, schedule.unit)
    for stage in schedule.stages:
        window = _window(backbone, stage, units, schedule.unit)[1]
        check_method(schedule.method, stage, window)


def _window(
    backbone: keras.Model, stage: StageSpec, units: Sequence[Unit], kind: str
) -> tuple[list[Unit], tuple[keras.layers.Layer, ...]]:
    """The units a stage selects, and their layers (only the matched ones for a pattern)."""
    if isinstance(stage.unfreeze, str) and stage.unfreeze not in ("all", "none"):
        matched = layers_matching(backbone, stage.unfreeze)
        if not matched:
            raise ConfigError(
                f"{stage.unfreeze_key}: pattern {stage.unfreeze!r} matches no weight-bearing "
                f"layer of backbone {backbone.name!r}."
            )
        return [u for u in units if any(layer in matched for layer in u.layers)], tuple(matched)
    chosen = _selected_units(stage, units, kind)
    return chosen, tuple(layer for unit in chosen for layer in unit.layers)


def plan_schedule(
    model: keras.Model, backbone: keras.Model, schedule: ScheduleSpec
) -> list[StagePlan]:
    """Plan every stage of a schedule against a concrete model, before anything trains.

    With `finetune.method: lora`, LoRA factors are added here to every supported layer of every
    stage's window (the model gains their variables), so all counts include them.

    Args:
        model: the full model (backbone nested inside, plus head).
        backbone: the nested backbone.
        schedule: the validated schedule.

    Returns:
        One plan per stage with the exact trainable and non-trainable counts it must give.

    Raises:
        ConfigError: naming the key, for a depth larger than the backbone's units, a pattern
            matching no layer, or a method with nothing to train in a window.
    """
    units = find_units(backbone, schedule.unit)
    windows = [_window(backbone, stage, units, schedule.unit) for stage in schedule.stages]
    for stage, (_, window) in zip(schedule.stages, windows, strict=True):
        check_method(schedule.method, stage, window)
    enable_adapters(schedule.method, [layer for _, window in windows for layer in window])
    trainable_kind = _trainable_by_nature(model)
    backbone_layers = {id(layer) for unit in units for layer in unit.layers}
    head_weights = [
        weight
        for layer in model.layers
        if layer is not backbone and layer.weights and id(layer) not in backbone_layers
        for weight in layer.weights
        if id(weight) in trainable_kind
    ]
    counts = _Counts(trainable_kind, count_params(head_weights), count_params(model.weights))
    return [
        _stage_plan(stage, chosen_units, window, schedule, counts)
        for stage, (chosen_units, window) in zip(schedule.stages, windows, strict=True)
    ]


def _trainable_by_nature(model: keras.Model) -> set[int]:
    """Ids of the variables trainable by nature (kernels, gammas) as opposed to always
    non-trainable (BN moving statistics): read with everything unfrozen, then restored.

    Every layer is set one by one: on the TensorFlow backend `model.trainable = True` is a
    no-op when the model's own flag is already True, even if its layers are frozen.
    """
    previous = [(layer, layer.trainable) for layer in _all_layers(model)]
    for layer, _ in previous:
        layer.trainable = True
    trainable_kind = {id(weight) for weight in model.trainable_weights}
    for layer, flag in previous:
        layer.trainable = flag
    return trainable_kind


@dataclass(frozen=True)
class _Counts:
    """What every stage's count starts from: which variables can train, the head's trainable
    parameters (they always train) and the model's total."""

    trainable_kind: set[int]
    head_params: int
    total: int


def _stage_plan(
    stage: StageSpec,
    chosen_units: Sequence[Unit],
    window: tuple[keras.layers.Layer, ...],
    schedule: ScheduleSpec,
    counts: _Counts,
) -> StagePlan:
    method = schedule.method
    layers, variables, skipped = window, None, ()
    if method.name == "unfreeze":
        trainable_layers = [
            layer for layer in layers if schedule.bn == "train" or not _is_batch_norm(layer)
        ]
        weights = [w for layer in trainable_layers for w in layer.weights]
        trainable = count_params(w for w in weights if id(w) in counts.trainable_kind)
    else:
        # Only the layers the method trains something in: the feature cache cuts below them.
        layers = tuple(layer for layer in window if method_variables(layer, method.name))
        skipped = tuple(layer.name for layer in window if layer not in layers)
        variables = tuple(v for layer in layers for v in method_variables(layer, method.name))
        trainable = count_params(variables)
    trainable += counts.head_params
    return StagePlan(
        stage=stage,
        units=tuple(unit.name for unit in chosen_units),
        layers=layers,
        unit_layers=tuple(
            tuple(layer for layer in unit.layers if layer in layers) for unit in chosen_units
        ),
        trainable_params=trainable,
        non_trainable_params=counts.total - trainable,
        method=method.name,
        variables=variables,
        skipped=skipped,
    )


def _all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    return compat.flatten_layers(model)


def apply_plan(model: keras.Model, backbone: keras.Model, plan: StagePlan, bn: str) -> None:
    """Set `trainable` on every layer so exactly the plan's layers (and the head) train.

    The model must be recompiled afterwards: Keras ignores `trainable` changes made after compile.

    Args:
        model: the full model.
        backbone: the nested backbone.
        plan: the stage's plan.
        bn: BatchNormalization policy, `frozen` or `train`.
    """
    chosen = {id(layer) for layer in plan.layers}
    variables = {id(weight) for weight in plan.variables or ()}
    in_backbone = {id(layer) for layer in compat.flatten_layers(backbone, include_self=False)}
    # Containers come before their layers here, so each layer's own setting is the last word.
    for layer in _all_layers(model):
        if isinstance(layer, keras.Model):
            layer.trainable = True  # containers stay trainable so chosen sublayers can train
        elif id(layer) in in_backbone and plan.variables is not None:
            # Per variable. `layer.trainable = True` marks every trainable-kind variable trainable
            # (the LoRA base kernel too), which lists them. A BN layer under `frozen` then stays
            # non-trainable as a layer, so Keras keeps it in inference mode (moving statistics
            # fixed) while its chosen gamma/beta train: a model collects trainable weights by
            # each variable's own flag, whatever the flag of the layer holding it.
            layer.trainable = True
            kinds = list(layer.trainable_weights)
            frozen_bn = _is_batch_norm(layer) and bn == "frozen"
            layer.trainable = id(layer) in chosen and not frozen_bn
            for weight in kinds:
                weight.trainable = id(weight) in variables
        elif id(layer) in in_backbone:
            frozen_bn = _is_batch_norm(layer) and bn == "frozen"
            layer.trainable = id(layer) in chosen and not frozen_bn
        else:
            layer.trainable = True  # the head always trains


def trainable_fingerprint(model: keras.Model) -> str:
    """A digest of which variables are trainable now; compared before each fit."""
    paths = "\n".join(sorted(weight.path for weight in model.trainable_weights))
    return hashlib.sha256(paths.encode()).hexdigest()
