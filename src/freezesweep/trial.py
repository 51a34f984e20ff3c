"""One trial, top to bottom: spec -> build -> plan -> track -> train -> audit -> values.

The same `ScheduleResult` feeds MLflow and the value returned to the sweeper, so the two never
disagree.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import keras
from omegaconf import DictConfig, OmegaConf

from freezesweep import compat, disk, runtime
from freezesweep.errors import OutOfMemory
from freezesweep.freeze import StagePlan, count_params, plan_schedule, write_audit
from freezesweep.model.assemble import build_backbone, build_model, load_data
from freezesweep.model.export import save_merged
from freezesweep.objectives import ACCURACY, TRAINABLE_PARAMS
from freezesweep.redaction import redact_mapping
from freezesweep.spec import TrialSpec
from freezesweep.spec.read import trial_spec
from freezesweep.train import (
    EpochLogger,
    ScheduleResult,
    StageResult,
    build_optimizer,
    run_schedule,
    shared_store,
)
from freezesweep.train.memory import is_out_of_memory, out_of_memory, release_memory
from freezesweep.trial_summary import model_summary, trial_summary

logger = logging.getLogger(__name__)


def run_trial(cfg: DictConfig, *, output_dir: Path | None = None) -> float | tuple[float, ...]:
    """Run one trial of the configured schedule and return its objective values.

    Args:
        cfg: the composed Hydra job config. No default.
        output_dir: where the freeze audit is written (the job's Hydra output folder).
            Defaults to `None` (a fresh temporary folder).

    Returns:
        `val_accuracy`, or a tuple in the order of `cfg.objectives`.
    """
    spec = trial_spec(cfg)
    if spec.tracking.enabled:
        from freezesweep import tracking

        # A store that cannot be written fails now, not after the model and data are built; in a
        # sweep, a tracking server that is down is spooled through (see `_tracked_run`).
        in_sweep = spec.trial.number is not None and output_dir is not None
        tracking.check_store(spec.tracking, require_server=not in_sweep)
    runtime.seed_everything(spec.seed)
    try:
        # The policy is read by layers when they are built; restored to float32 after the trial.
        # TensorFlow's global registry would keep every traced train step of the trial alive.
        with runtime.precision(spec.trainer.mixed_precision), compat.tf_custom_gradients_released():
            return _run(spec, output_dir)
    except OutOfMemory as error:
        reason = str(error)
    # Raised afresh outside the `except`: the first error's traceback holds the model and the
    # batches in its frames, and a sweep's next trial runs in this process.
    release_memory()
    raise OutOfMemory(reason)


def _run(spec: TrialSpec, output_dir: Path | None) -> float | tuple[float, ...]:
    # Build, cheapest failure first; then plan every stage before anything trains.
    backbone, preprocess = build_backbone(spec)
    data = load_data(spec, tuple(backbone.input_shape[1:]), preprocess)
    model = build_model(spec, backbone, data.num_classes)
    plans = plan_schedule(model, backbone, spec.schedule)
    for stage in spec.schedule.stages:
        build_optimizer(stage)  # a bad optimizer fails now, not after the first stage trained
    # Known before any training: the most parameters any stage trains.
    trainable_params = max(plan.trainable_params for plan in plans)
    total_params = count_params(model.weights)
    pruning = _pruning_callback(spec, trainable_params)

    with _tracked_run(spec, output_dir) as run:
        callbacks: list[keras.callbacks.Callback] = []
        if run is not None:
            _log_start(run, spec, plans, model)
            callbacks.append(EpochLogger(run))
        if pruning is not None:
            callbacks.append(pruning)
        try:
            result = run_schedule(
                model,
                backbone,
                plans,
                data,
                bn=spec.schedule.bn,
                batch_size=spec.trainer.batch_size,
                verbose=spec.trainer.verbose,
                jit_compile=spec.trainer.jit_compile,
                callbacks=callbacks,
                on_stage_end=_stage_logger(run),
                should_stop=(lambda: pruning.pruned) if pruning is not None else None,
                cache=_cache_store(spec, output_dir),
                seed=spec.seed,
            )
        except Exception as error:
            if not is_out_of_memory(error):
                raise
            # Inside the run's context: the MLflow run ends FAILED with the same reason.
            raise out_of_memory(error, spec.trainer.batch_size) from None
        cache_tags = cache_summary(result)
        cache_line = f"feature cache: {cache_tags['freezesweep.feature_cache']}"
        if spec.trial.number is None:  # in a sweep, the sweeper prints one line per trial
            print(cache_line, flush=True)
        else:
            logger.info(cache_line)
        audit_path = _audit_file(output_dir)
        with disk.writing(audit_path, "the freeze audit"):
            write_audit(result.audits, audit_path)
        summary = trial_summary(spec, result, trainable_params, total_params)
        if run is not None:
            _log_end(run, result, audit_path, summary, trainable_params, total_params)
            run.set_tags(cache_tags)
        if spec.trainer.save_model:  # beside the audit; LoRA merged, loads with plain Keras
            with disk.writing(audit_path.parent / "model.keras", "the model") as path:
                saved = save_merged(model, path)
            if run is not None:
                run.log_file(saved)
        if spec.trial.number is None:  # in a sweep, the sweeper prints one line per trial
            print(summary, flush=True)
        # Inside the run's context, so the run ends KILLED or FAILED as Optuna will record it.
        _raise_if_stopped(pruning, result)

    values = {ACCURACY: result.val_accuracy, TRAINABLE_PARAMS: float(trainable_params)}
    chosen = tuple(values[name] for name in spec.objectives)
    return chosen[0] if len(chosen) == 1 else chosen


def _cache_store(spec: TrialSpec, output_dir: Path | None) -> Any:
    """The shared cache of this process; on disk under `sweeps/<study>/cache/` in a sweep."""
    if spec.trainer.feature_cache == "off":
        return None
    in_sweep = spec.trial.study_name is not None and output_dir is not None
    directory = output_dir.parent / "cache" if in_sweep and output_dir is not None else None
    return shared_store(directory, int(spec.trainer.feature_cache_gb * 10**9))


def cache_summary(result: ScheduleResult) -> dict[str, str]:
    """The run's tags: `freezesweep.feature_cache` (`hit`, `miss` or `off: <reason>`) and
    `freezesweep.reused_prefix` (the restored stages, or `none`).

    A miss in any trained stage makes the run a miss; a run with no cached stage reports the
    first stage's reason.
    """
    trained = [stage.feature_cache for stage in result.stages if stage.feature_cache != "reused"]
    reused = [stage.name for stage in result.stages if stage.feature_cache == "reused"]
    cached = [status for status in trained if status in ("hit", "miss")]
    if "miss" in cached:
        status = "miss"
    elif cached:
        status = "hit"
    elif trained:
        status = trained[0]
    else:
        status = "hit"  # every stage restored: nothing computed at all
    return {
        "freezesweep.feature_cache": status,
        "freezesweep.reused_prefix": ",".join(reused) or "none",
    }


def _pruning_callback(spec: TrialSpec, trainable_params: int) -> Any:
    """The Optuna pruning callback of a sweep job (re-attached to its trial), else `None`.

    Raises:
        optuna.TrialPruned: the trial trains more parameters than the sweep's budget.
    """
    ref = spec.trial
    if ref.number is None or not ref.study_name or not ref.storage:
        return None
    from freezesweep.study import constraints, pruning

    optuna_trial = pruning.attach_trial(ref.study_name, ref.storage, ref.number)
    pruning.record_trainable_params(optuna_trial, trainable_params, spec.schedule.method.name)
    # Before the MLflow run and the first step: an over-budget trial ends PRUNED, untrained.
    constraints.enforce_budgets(optuna_trial, {TRAINABLE_PARAMS: trainable_params})
    return pruning.PruningCallback(optuna_trial)


@contextmanager
def _tracked_run(spec: TrialSpec, output_dir: Path | None) -> Iterator[Any]:
    """The trial's MLflow run (`trial-NNNN` under the study's parent in a sweep), or `None`.

    In a sweep, the run is spooled to `<sweep dir>/mlflow_spool/` while the tracking server is
    down, and runs spooled there are replayed when a trial starts.
    """
    if not spec.tracking.enabled:
        yield None
        return
    from freezesweep import tracking

    in_sweep = spec.trial.number is not None and spec.trial.study_name is not None
    with tracking.trial_run(
        spec.tracking,
        run_name=f"trial-{spec.trial.number:04d}" if in_sweep else "trial",
        experiment=spec.trial.study_name or spec.tracking.experiment,
        study_name=spec.trial.study_name if in_sweep else None,
        tags={tracking.TRIAL_TAG: str(spec.trial.number)} if in_sweep else None,
        spool=output_dir.parent / tracking.SPOOL_FOLDER if in_sweep and output_dir else None,
    ) as run:
        yield run


def _log_start(run: Any, spec: TrialSpec, plans: list[StagePlan], model: keras.Model) -> None:
    from freezesweep import tracking

    run.log_params({**tracking.flatten(spec.resolved), **tracking.stage_params(plans)})
    # Where and how this trial computed, next to what it found.
    compute = runtime.describe(spec.trainer.mixed_precision, spec.trainer.jit_compile)
    run.set_tags({f"freezesweep.{key}": value for key, value in compute.items()})
    config = OmegaConf.to_yaml(OmegaConf.create(redact_mapping(dict(spec.resolved))))
    run.log_text(config, "config.yaml")
    run.log_text(model_summary(model), "model_summary.txt")


def _stage_logger(run: Any) -> Callable[[StageResult, Any], None] | None:
    """Per-stage metrics at step = the stage's index (epochs are logged by `EpochLogger`)."""
    if run is None:
        return None
    steps = itertools.count()

    def log(stage: StageResult, _audit: Any) -> None:
        metrics = {
            "stage_val_accuracy": stage.val_accuracy,
            TRAINABLE_PARAMS: stage.trainable_params,
        }
        run.log_metrics(metrics, step=next(steps))

    return log


def _audit_file(output_dir: Path | None) -> Path:
    folder = output_dir or Path(tempfile.mkdtemp(prefix="freezesweep-"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "freeze_audit.json"


def _log_end(
    run: Any,
    result: ScheduleResult,
    audit_path: Path,
    summary: str,
    trainable_params: int,
    total_params: int,
) -> None:
    run.log_file(audit_path)
    run.log_metrics(
        {
            ACCURACY: result.val_accuracy,
            TRAINABLE_PARAMS: trainable_params,
            "non_trainable_params": total_params - trainable_params,
            "trainable_fraction": trainable_params / total_params,
            "train_seconds": result.seconds,
        },
        step=sum(stage.epochs for stage in result.stages),
    )
    run.log_text(summary, "summary.txt")
    run.log_text(json.dumps([asdict(s) for s in result.stages], indent=2), "stages.json")


def _raise_if_stopped(pruning: Any, result: ScheduleResult) -> None:
    """Pruned: `optuna.TrialPruned`; a non-finite accuracy: `FloatingPointError` (a FAIL)."""
    if pruning is not None:
        pruning.flush()  # a restored last stage replays its epochs without a fit to end
    if pruning is not None and pruning.pruned:
        import optuna

        raise optuna.TrialPruned(f"pruned at epoch {pruning.pruned_at_epoch}")
    if not math.isfinite(result.val_accuracy):
        raise FloatingPointError(f"val_accuracy is {result.val_accuracy}")
