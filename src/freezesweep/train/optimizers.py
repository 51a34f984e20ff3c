"""A stage's optimizer: a fresh instance of the configured class, with layer-wise rates.

With `lr_decay < 1` the head and the top trainable unit train at the stage's learning rate and
each unit below at `lr_decay` times the unit above it (ULMFiT's discriminative rates, BEiT's
layer decay). Built on Keras's own `MultiOptimizer`: one optimizer instance per depth, each
variable mapped by its path, so every backend applies its own update rule unchanged.
"""

from __future__ import annotations

import re

import keras
from keras.optimizers import Optimizer

from freezesweep import targets
from freezesweep.errors import ConfigError
from freezesweep.freeze.plan import StagePlan
from freezesweep.spec import StageSpec


def build_optimizer(stage: StageSpec, learning_rate: float | None = None) -> Optimizer:
    """A fresh optimizer instance for one stage (never reused: Keras raises on unknown variables).

    Args:
        stage: the stage, with `optimizer` as a dotted class path.
        learning_rate: overrides the stage's rate. Defaults to `None` (the stage's).
    """
    key = f"stage {stage.name!r}: optimizer._target_"
    optimizer_class = targets.resolve(stage.optimizer, key=key, allowed=targets.KERAS_OPTIMIZERS)
    if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, Optimizer)):
        raise ConfigError(f"{key} {stage.optimizer!r} is not a Keras optimizer.")
    rate = stage.learning_rate if learning_rate is None else learning_rate
    try:
        return optimizer_class(learning_rate=rate, **stage.optimizer_kwargs)
    except (TypeError, ValueError) as error:  # an unknown or bad argument: name the stage
        raise ConfigError(f"stage {stage.name!r}: optimizer {stage.optimizer}: {error}") from None


def unit_learning_rates(plan: StagePlan) -> dict[str, float]:
    """The effective rate of every trainable unit of a stage, top unit first.

    Args:
        plan: the stage's plan.
    """
    return plan.stage.unit_learning_rates(plan.units)


def stage_optimizer(plan: StagePlan) -> Optimizer:
    """The optimizer a stage compiles with: plain, or a `MultiOptimizer` when rates decay.

    Args:
        plan: the stage's plan (its units, bottom to top, and their layers).
    """
    stage = plan.stage
    if stage.lr_decay == 1.0 or len(plan.units) < 2:
        return build_optimizer(stage)
    # The head and the top unit keep the default; each lower unit gets its own instance.
    mapping = keras.optimizers.OptimizerMap(default_optimizer=build_optimizer(stage))
    rates = unit_learning_rates(plan)
    for name, layers in zip(plan.units[:-1], plan.unit_layers[:-1], strict=True):
        optimizer = build_optimizer(stage, learning_rate=rates[name])
        for layer in layers:
            # By each variable's flag: a frozen-policy BN layer is not trainable as a layer,
            # yet its gamma/beta train under bitfit and norm.
            for weight in layer.weights:
                if weight.trainable:
                    mapping[re.escape(weight.path)] = optimizer
    return keras.optimizers.MultiOptimizer(mapping)
