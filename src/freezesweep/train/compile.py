"""A stage's fresh optimizer, its compile, and the guard that refuses a fit after a stale one."""

from __future__ import annotations

import sys
from typing import Any

import keras
from keras.optimizers import Optimizer

from freezesweep import targets
from freezesweep.errors import ConfigError, RecompileGuardError
from freezesweep.freeze.plan import trainable_fingerprint
from freezesweep.spec import StageSpec


def build_optimizer(stage: StageSpec) -> keras.optimizers.Optimizer:
    """A fresh optimizer instance for one stage (never reused: Keras raises on unknown variables).

    Args:
        stage: the stage, with `optimizer` as a dotted class path. No default.
    """
    key = f"stage {stage.name!r}: optimizer._target_"
    optimizer_class = targets.resolve(stage.optimizer, key=key, allowed=targets.KERAS_OPTIMIZERS)
    if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, Optimizer)):
        raise ConfigError(f"{key} {stage.optimizer!r} is not a Keras optimizer.")
    try:
        optimizer = optimizer_class(learning_rate=stage.learning_rate, **stage.optimizer_kwargs)
    except (TypeError, ValueError) as error:  # an unknown or bad argument: name the stage
        raise ConfigError(f"stage {stage.name!r}: optimizer {stage.optimizer}: {error}") from None
    return optimizer


def compile_stage(model: keras.Model, stage: StageSpec, jit_compile: str | bool = "auto") -> str:
    """Compile with a fresh optimizer and return the trainable fingerprint at compile time."""
    model.compile(
        optimizer=build_optimizer(stage),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )
    return trainable_fingerprint(model)


def guarded_fit(model: keras.Model, compiled_fingerprint: str, **fit_kwargs: Any) -> Any:
    """`model.fit`, refusing to run when `trainable` changed since the last compile."""
    if trainable_fingerprint(model) != compiled_fingerprint:
        raise RecompileGuardError(
            "The model's trainable state changed after it was compiled; Keras would keep "
            "training the old set of weights. Recompile with a fresh optimizer first."
        )
    return model.fit(**fit_kwargs)


def resolve_verbose(verbose: str | int) -> int:
    """`auto`: a progress bar on a terminal, one line per epoch in logs and CI."""
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    return int(verbose)
