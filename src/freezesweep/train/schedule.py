"""Run a schedule: per stage freeze -> fresh optimizer -> compile -> guard -> fit -> audit.

Pure Keras: callbacks from the caller carry tracking and pruning, so this module knows nothing of
MLflow or Optuna. With a cache store, a stage trains on features cached at its frozen boundary
(`stage_fit`) and a prefix of stages equal to an earlier trial's is restored (`prefix_reuse`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras

from freezesweep.data.feed import Dataset, TrainingData, evaluate_arguments
from freezesweep.errors import RecompileGuardError
from freezesweep.freeze.audit import StageAudit, StageAuditor
from freezesweep.freeze.plan import StagePlan, apply_plan
from freezesweep.spec import StageSpec
from freezesweep.train.compile import compile_stage, guarded_fit, resolve_verbose
from freezesweep.train.feature_cache import data_digest
from freezesweep.train.optimizers import build_optimizer
from freezesweep.train.prefix_reuse import PrefixReuse, base_key, replay, stage_key
from freezesweep.train.results import ScheduleResult, StageResult
from freezesweep.train.stage_fit import fit_stage
from freezesweep.train.store import ArrayStore

__all__ = [
    "RecompileGuardError",
    "ScheduleResult",
    "StageResult",
    "build_optimizer",
    "compile_stage",
    "guarded_fit",
    "resolve_verbose",
    "run_schedule",
]


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
    cache: ArrayStore | None = None,
    seed: int | None = None,
) -> ScheduleResult:
    """Train a model through the planned stages, auditing each one.

    Args:
        model: the full model.
        backbone: the nested backbone.
        plans: one plan per stage, from `freezing.plan_schedule`.
        data: train and validation arrays, or batched pipelines.
        bn: BatchNormalization policy. Defaults to `"frozen"`.
        batch_size: batch size of arrays. Defaults to `32`.
        verbose: Keras verbosity or `"auto"`. Defaults to `"auto"`.
        jit_compile: `model.compile`'s `jit_compile`. Defaults to `"auto"`.
        callbacks: Keras callbacks for every stage (tracking, pruning). Defaults to `()`.
        on_stage_end: called after each audited stage. Defaults to `None`.
        should_stop: polled after each stage; `True` skips the remaining stages (pruning).
            Defaults to `None`.
        cache: where cached features and stage prefixes are kept; `None` trains every stage in
            full. Defaults to `None`.
        seed: reseeds Keras at each stage's start (`seed + stage index`), so a stage's result
            depends only on its starting state and a restored prefix continues exactly as a
            retrained one. Defaults to `None` (no reseeding).

    Returns:
        Per-stage results and audits, and the final validation accuracy.

    Raises:
        ConfigError: a bad optimizer setting of a stage.
        FreezeAuditError: a stage's parameter counts differ from its plan, or a frozen weight
            changed.
        RecompileGuardError: the trainable state changed between compile and fit.
    """
    started = time.perf_counter()
    reuse = PrefixReuse(cache) if cache is not None and seed is not None else None
    run = _Run(bn, batch_size, verbose, jit_compile, tuple(callbacks), cache, seed, reuse)
    key = _start_key(model, data, seed, bn, batch_size, jit_compile) if reuse else ""
    stages, audits, evaluate, stopped = _stages(
        run, model, backbone, plans, data, key, on_stage_end, should_stop
    )
    val_loss, val_accuracy = _final(run, model, plans[len(stages) - 1], stages[-1], evaluate, data)
    seconds = time.perf_counter() - started
    return ScheduleResult(stages, audits, float(val_accuracy), float(val_loss), stopped, seconds)


def _stages(
    run: _Run,
    model: keras.Model,
    backbone: keras.Model,
    plans: Sequence[StagePlan],
    data: TrainingData,
    key: str,
    on_stage_end: Callable[[StageResult, StageAudit], None] | None,
    should_stop: Callable[[], bool] | None,
) -> tuple[list[StageResult], list[StageAudit], Callable[[], tuple[float, float]] | None, bool]:
    """Each stage in turn, until the last or until `should_stop` says so: the results, the
    audits, how to evaluate the last trained stage's model, and whether it stopped early."""
    stages: list[StageResult] = []
    audits: list[StageAudit] = []
    epoch = 0
    evaluate: Callable[[], tuple[float, float]] | None = None
    for index, plan in enumerate(plans):
        key = stage_key(key, plan)
        result, audit, evaluate, restored = _stage(
            run, model, backbone, plan, data, index, epoch, key
        )
        epoch += result.epochs
        stages.append(result)
        audits.append(audit)
        if on_stage_end is not None:
            on_stage_end(result, audit)
        if should_stop is not None and should_stop():
            return stages, audits, evaluate, True
        if run.reuse is not None and not restored:
            run.reuse.save(key, model, result)
    return stages, audits, evaluate, False


def _final(
    run: _Run,
    model: keras.Model,
    last: StagePlan,
    result: StageResult,
    evaluate: Callable[[], tuple[float, float]] | None,
    data: TrainingData,
) -> tuple[float, float]:
    """The final weights' `(val_loss, val_accuracy)`: the last epoch's, or evaluated."""
    final = _last_validation(result, last.stage)
    if final is not None:
        return final
    if evaluate is None:  # the last stage was restored: the full model was never compiled
        compile_stage(model, last.stage, run.jit_compile, plan=last)
        evaluate = lambda: model.evaluate(**evaluate_arguments(data, run.batch_size), verbose=0)  # noqa: E731
    return evaluate()


@dataclass(frozen=True)
class _Run:
    """`run_schedule`'s settings, shared by its stages."""

    bn: str
    batch_size: int
    verbose: str | int
    jit_compile: str | bool
    callbacks: tuple[keras.callbacks.Callback, ...]
    cache: ArrayStore | None
    seed: int | None
    reuse: PrefixReuse | None


def _stage(
    run: _Run,
    model: keras.Model,
    backbone: keras.Model,
    plan: StagePlan,
    data: TrainingData,
    index: int,
    epoch: int,
    key: str,
) -> tuple[StageResult, StageAudit, Callable[[], tuple[float, float]] | None, bool]:
    """One stage, audited: restored from an earlier trial's prefix under `key`, else trained.

    Returns the stage's result and audit, how to evaluate the model it leaves (`None` when
    restored: nothing was compiled), and whether it was restored.
    """
    stage_started = time.perf_counter()
    if run.seed is not None:
        keras.utils.set_random_seed(run.seed + index)
    apply_plan(model, backbone, plan, run.bn)
    moving = _moving_statistics(plan) if run.bn == "train" else ()
    auditor = StageAuditor(model, plan, expected_to_move=moving)
    auditor.check_counts()
    stored = run.reuse.restore(key, model) if run.reuse is not None else None
    evaluate: Callable[[], tuple[float, float]] | None = None
    if stored is not None:
        # The audit still digests every frozen weight before and after the restore.
        history: dict[str, list[float]] = stored["history"]
        replay(run.callbacks, model, history, epoch)
        status = "reused"
    else:
        outcome = fit_stage(
            model,
            backbone,
            plan,
            data,
            bn=run.bn,
            batch_size=run.batch_size,
            jit_compile=run.jit_compile,
            store=run.cache,
            initial_epoch=epoch,
            epochs=epoch + plan.stage.epochs,
            callbacks=[*run.callbacks, *_stage_callbacks(plan.stage)],
            verbose=resolve_verbose(run.verbose),
        )
        status, evaluate = outcome.status, outcome.evaluate
        logged = outcome.history.history
        history = {name: [float(v) for v in values] for name, values in logged.items()}
    audit = auditor.finish()
    seconds = time.perf_counter() - stage_started
    result = _stage_result(plan, audit, history, epoch, seconds, status)
    if stored is not None:  # charged what it cost the trial that trained it
        result.cost_seconds = float(stored.get("cost_seconds", stored["seconds"]))
    return result, audit, evaluate, stored is not None


def _stage_result(
    plan: StagePlan,
    audit: StageAudit,
    history: dict[str, list[float]],
    epoch: int,
    seconds: float,
    status: str,
) -> StageResult:
    epochs_run = len(history.get("val_accuracy", history.get("loss", [])))
    return StageResult(
        name=plan.stage.name,
        units=plan.units,
        trainable_params=audit.actual_trainable,
        non_trainable_params=audit.actual_non_trainable,
        epochs=epochs_run,
        first_epoch=epoch,
        val_accuracy=float(history["val_accuracy"][-1]) if epochs_run else float("nan"),
        seconds=seconds,
        learning_rate=plan.stage.learning_rate,
        history=history,
        feature_cache=status,
        cost_seconds=seconds,
    )


def _last_validation(stage: StageResult, spec: StageSpec) -> tuple[float, float] | None:
    """The final weights' `(val_loss, val_accuracy)` when the last epoch already measured them.

    Keras validates after every epoch and nothing changes the weights after the last one (a
    restored prefix comes with the history of the very weights it restores), unless early
    stopping restores its best epoch: then, or without a validated epoch, None (evaluate).
    Saves a pass over the validation split per trial.
    """
    early = spec.early_stopping
    if early is not None and early.restore_best_weights:
        return None
    losses, accuracies = stage.history.get("val_loss"), stage.history.get("val_accuracy")
    if not losses or not accuracies:
        return None
    return float(losses[-1]), float(accuracies[-1])


def _start_key(
    model: keras.Model,
    data: TrainingData,
    seed: int | None,
    bn: str,
    batch_size: int,
    jit_compile: str | bool,
) -> str:
    # Pipelines have no cheap digest; their trials never share a prefix (a unique key).
    data_key = data_digest(data) if isinstance(data, Dataset) else f"pipeline-{id(data)}"
    return base_key(model, data_key, seed, bn, batch_size, jit_compile)


def _moving_statistics(plan: StagePlan) -> tuple[str, ...]:
    # Under the `train` policy the moving mean/variance of BN layers that train are meant to move.
    return tuple(
        weight.path
        for layer in plan.layers
        if isinstance(layer, keras.layers.BatchNormalization)
        for weight in layer.non_trainable_weights
    )
