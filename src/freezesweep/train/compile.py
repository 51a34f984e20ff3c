"""A stage's compile with a fresh optimizer, and the guard that refuses a fit after a stale one."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import keras

from freezesweep.errors import RecompileGuardError
from freezesweep.freeze.plan import StagePlan, trainable_fingerprint
from freezesweep.spec import StageSpec
from freezesweep.train.optimizers import build_optimizer, stage_optimizer


class _FreshModelRetracing(logging.Filter):
    """Drops TensorFlow's "N out of the last M calls to <function ...> triggered tf.function
    retracing" warning.

    Every stage compiles a fresh model (or the fresh model above a cache cut) by design, so its
    step function is traced anew; TensorFlow counts traces per Python code object across models,
    and a sweep of short (cached, pruned) stages crosses its threshold and warns of a retracing
    that is expected, in the middle of the sweep's console.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


logging.getLogger("tensorflow").addFilter(_FreshModelRetracing())


def compile_stage(
    model: keras.Model,
    stage: StageSpec,
    jit_compile: str | bool = "auto",
    *,
    plan: StagePlan | None = None,
    steps_per_execution: int = 1,
) -> str:
    """Compile with a fresh optimizer and return the trainable fingerprint at compile time.

    Args:
        model: the model, with the stage's plan applied (the full model, or the part above a
            feature-cache cut: its variables have the same paths).
        stage: the stage.
        jit_compile: `model.compile`'s setting. Defaults to `"auto"`.
        plan: the stage's plan, for layer-wise rates (`lr_decay`). Defaults to `None` (one rate).
        steps_per_execution: batches per call into the compiled step (ignored on torch, whose
            trainer runs one). Defaults to `1`.
    """
    model.compile(
        optimizer=build_optimizer(stage) if plan is None else stage_optimizer(plan),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
        jit_compile=jit_compile,
        steps_per_execution=1 if keras.backend.backend() == "torch" else steps_per_execution,
    )
    return trainable_fingerprint(model)


def guarded_fit(
    model: keras.Model,
    compiled_fingerprint: str,
    *,
    fit: Callable[..., Any] | None = None,
    **fit_kwargs: Any,
) -> Any:
    """`model.fit` (or `fit(model, ...)`), refusing to run when `trainable` changed since the
    last compile.

    Args:
        model: the compiled model.
        compiled_fingerprint: `compile_stage`'s return value.
        fit: called as `fit(model, **fit_kwargs)` instead of `model.fit`. Defaults to `None`.
        **fit_kwargs: the fit's arguments.
    """
    if trainable_fingerprint(model) != compiled_fingerprint:
        raise RecompileGuardError(
            "The model's trainable state changed after it was compiled; Keras would keep "
            "training the old set of weights. Recompile with a fresh optimizer first."
        )
    return model.fit(**fit_kwargs) if fit is None else fit(model, **fit_kwargs)


def resolve_verbose(verbose: str | int) -> int:
    """`auto`: a progress bar on a terminal, one line per epoch in logs and CI."""
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    return int(verbose)
