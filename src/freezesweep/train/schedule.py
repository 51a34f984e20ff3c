"""Run a schedule: per stage freeze -> fresh optimizer -> compile -> guard -> fit -> audit.

Pure Keras: callbacks from the caller carry tracking and pruning, so this module knows nothing of
MLflow or Optuna.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras

from freezesweep.data.feed import TrainingData, evaluate_arguments, fit_arguments
from freezesweep.errors import RecompileGuardError
from freezesweep.freeze.audit import StageAudit, StageAuditor
from freezesweep.freeze.plan import StagePlan, apply_plan, trainable_fingerprint
from freezesweep.spec import StageSpec
from freezesweep.train.optimizers import build_optimizer, stage_optimizer


@dataclass
class StageResult:
    name: str
    units: tuple[str, ...]
    trainable_params: int
    non_trainable_params: int
    epochs: int
    first_epoch: int
    val_accuracy: float
    seconds: float
    learning_rate: float
    history: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class ScheduleResult:
    stages: list[StageResult]
    audits: list[StageAudit]
    val_accuracy: float
    val_loss: float
    stopped: bool
    seconds: float


def compile_stage(
    model: keras.Model,
    stage: StageSpec,
    jit_compile: str | bool = "auto",
    *,
    plan: StagePlan | None = None,
) -> str:
    """Compile with a fresh optimizer and return the trainable fingerprint at compile time.

    Args:
        model: the model, with the stage's plan applied. No default.
        stage: the stage. No default.
        jit_compile: `model.compile`'s setting. Defaults to `"auto"`.
        plan: the stage's plan, for layer-wise rates (`lr_decay`). Defaults to `None` (one rate).
    """
    model.compile(
        optimizer=build_optimizer(stage) if plan is None else stage_optimizer(plan),
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


def _stage_callbacks(stage: StageSpec) -> list[keras.callbacks.Callback]:
    if stage.early_stopping is None:
        return []
    return [
        keras.callbacks.EarlyStopping(
            monitor=stage.early_stopping.monitor,
            patience=stage.early_stopping.patience,
            restore_best_weights=stage.early_stopping.restore_best_weights,
        )
    ]


def run_schedule(
    model: keras.Model,
    backbone: keras.Model,
    plans: Sequence[StagePlan],
    data: TrainingData,
    *,
    bn: str = "frozen",
    batch_size: int = 32,
    verbose: str | int = "auto",
    jit_compile: str | bool = "auto",
    callbacks: Sequence[keras.callbacks.Callback] = (),
    on_stage_end: Callable[[StageResult, StageAudit], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ScheduleResult:
    """Train a model through the planned stages, auditing each one.

    Args:
        model: the full model. No default.
        backbone: the nested backbone. No default.
        plans: one plan per stage, from `freezing.plan_schedule`. No default.
        data: train and validation arrays, or batched pipelines. No default.
        bn: BatchNormalization policy. Defaults to `"frozen"`.
        batch_size: batch size of arrays. Defaults to `32`.
        verbose: Keras verbosity or `"auto"`. Defaults to `"auto"`.
        jit_compile: `model.compile`'s `jit_compile`. Defaults to `"auto"`.
        callbacks: Keras callbacks for every stage (tracking, pruning). Defaults to `()`.
        on_stage_end: called after each audited stage. Defaults to `None`.
        should_stop: polled after each stage; `True` skips the remaining stages (pruning).
            Defaults to `None`.

    Returns:
        Per-stage results and audits, and the final validation accuracy.
    """
    started = time.perf_counter()
    stages: list[StageResult] = []
    audits: list[StageAudit] = []
    epoch = 0
    stopped = False
    for plan in plans:
        stage_started = time.perf_counter()
        apply_plan(model, backbone, plan, bn)
        fingerprint = compile_stage(model, plan.stage, jit_compile, plan=plan)
        moving = _moving_statistics(plan) if bn == "train" else ()
        auditor = StageAuditor(model, plan, expected_to_move=moving)
        auditor.check_counts()
        history = guarded_fit(
            model,
            fingerprint,
            **fit_arguments(data, batch_size),
            initial_epoch=epoch,
            epochs=epoch + plan.stage.epochs,
            callbacks=[*callbacks, *_stage_callbacks(plan.stage)],
            verbose=resolve_verbose(verbose),
        )
        audit = auditor.finish()
        epochs_run = len(history.epoch)
        result = StageResult(
            name=plan.stage.name,
            units=plan.units,
            trainable_params=audit.actual_trainable,
            non_trainable_params=audit.actual_non_trainable,
            epochs=epochs_run,
            first_epoch=epoch,
            val_accuracy=float(history.history["val_accuracy"][-1]) if epochs_run else float("nan"),
            seconds=time.perf_counter() - stage_started,
            learning_rate=plan.stage.learning_rate,
            history={key: [float(v) for v in values] for key, values in history.history.items()},
        )
        epoch += epochs_run
        stages.append(result)
        audits.append(audit)
        if on_stage_end is not None:
            on_stage_end(result, audit)
        if should_stop is not None and should_stop():
            stopped = True
            break
    val_loss, val_accuracy = model.evaluate(**evaluate_arguments(data, batch_size), verbose=0)
    return ScheduleResult(
        stages=stages,
        audits=audits,
        val_accuracy=float(val_accuracy),
        val_loss=float(val_loss),
        stopped=stopped,
        seconds=time.perf_counter() - started,
    )


def _moving_statistics(plan: StagePlan) -> tuple[str, ...]:
    # Under the `train` policy the moving mean/variance of BN layers that train are meant to move.
    return tuple(
        weight.path
        for layer in plan.layers
        if isinstance(layer, keras.layers.BatchNormalization)
        for weight in layer.non_trainable_weights
    )
