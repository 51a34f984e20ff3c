"""One trial, top to bottom: spec -> prepare (build, plan) -> track -> train -> audit -> values.

The same `ScheduleResult` feeds MLflow and the value returned to the sweeper, so the two never
disagree.
"""

from __future__ import annotations

import logging
import math
import tempfile
from pathlib import Path
from typing import Any

import keras
from omegaconf import DictConfig, OmegaConf

from freezesweep import compat, disk, runtime, trial_context
from freezesweep import trial_records as records
from freezesweep.errors import OutOfMemory
from freezesweep.freeze import write_audit
from freezesweep.logged_model import EXAMPLE_FILE, MODEL_FILE, log_model_file, save_example
from freezesweep.model.export import save_merged
from freezesweep.prepare import PreparedTrial, prepare_trial
from freezesweep.redaction import redact_mapping
from freezesweep.spec import TrialSpec
from freezesweep.spec.read import trial_spec
from freezesweep.train import (
    EpochLogger,
    ScheduleResult,
    run_schedule,
    shared_store,
)
from freezesweep.train.memory import is_out_of_memory, out_of_memory, release_memory
from freezesweep.trial_summary import cache_summary, trial_summary

logger = logging.getLogger(__name__)


def run_trial(cfg: DictConfig, *, output_dir: Path | None = None) -> float | tuple[float, ...]:
    """Run one trial of the configured schedule and return its objective values.

    Reads the config (`freezesweep.spec.read.trial_spec`), seeds, builds and plans the trial
    (`freezesweep.prepare.prepare_trial`), opens its MLflow run, trains every stage
    (`freezesweep.train.run_schedule`), writes the freeze audit and returns what the sweeper
    tells Optuna: the same values the run records.

    Args:
        cfg: the composed Hydra job config.
        output_dir: the job's Hydra output folder: the freeze audit (and `model.keras`) go
            there, and in a sweep its parent is the sweep's folder. Defaults to `None` (a fresh
            temporary folder; not a sweep's job).

    Returns:
        `val_accuracy`, or a tuple in the order of `cfg.objectives`.

    Raises:
        ConfigError: a bad config value, naming its key, before anything trains.
        OutOfMemory: the trial ran out of device memory (its message names the batch size).
        optuna.TrialPruned: a sweep's pruner stopped the trial, or it is over the budget.
        FloatingPointError: the final `val_accuracy` is not finite.
    """
    spec = trial_spec(cfg)
    sweep_folder = _sweep_folder(spec, output_dir)
    if spec.tracking.enabled:
        from freezesweep import tracking

        # A store that cannot be written fails now, not after the model and data are built; in a
        # sweep, a tracking server that is down is spooled through (see `_tracked_run`).
        tracking.check_store(spec.tracking, require_server=sweep_folder is None)
    if spec.simulation is not None:  # a dry run of the sweep's machinery: nothing trains
        from freezesweep.simulate import run_simulated

        return run_simulated(spec, sweep_folder)
    runtime.seed_everything(spec.seed)
    try:
        # The policy is read by layers when they are built; restored to float32 after the trial.
        # TensorFlow's global registry would keep every traced train step of the trial alive.
        with runtime.precision(spec.trainer.mixed_precision), compat.tf_custom_gradients_released():
            return _run(spec, output_dir, sweep_folder)
    except OutOfMemory as error:
        reason = str(error)
    # Raised afresh outside the `except`: the first error's traceback holds the model and the
    # batches in its frames, and a sweep's next trial runs in this process.
    release_memory()
    raise OutOfMemory(reason)


def _sweep_folder(spec: TrialSpec, output_dir: Path | None) -> Path | None:
    """The sweep's folder when this trial is a sweep's job, else `None`: the one place that
    decides "are we in a sweep?".

    A sweep's job belongs to a study (`trial.study_name`, set by the sweeper) and writes in its
    own folder inside the sweep's (`output_dir`, `sweeps/<study>/trial-NNNN`). In a sweep the
    feature cache lives on disk in the sweep's folder, MLflow runs are spooled there while the
    tracking server is down, and the run is the study's child `trial-NNNN`.
    """
    if spec.trial.study_name is None or output_dir is None:
        return None
    return output_dir.parent


def _run(
    spec: TrialSpec, output_dir: Path | None, sweep_folder: Path | None
) -> float | tuple[float, ...]:
    # Build and plan every stage before anything trains; the counts are known untrained.
    store = _cache_store(spec, sweep_folder)
    trial = prepare_trial(spec, store)
    trainable_params, total_params = trial.trainable_params, trial.total_params
    pruning = trial_context.pruning_callback(spec, trainable_params)
    # Links refused before anything trains; a sweep's job folder is under hydra.sweep.dir.
    key = "hydra.run.dir" if spec.trial.number is None else "hydra.sweep.dir"
    audit_path = _audit_file(output_dir, key)
    with trial_context.tracked_run(spec, sweep_folder) as run:
        trial_context.link_run(spec, run, pruning)
        result = _train(trial, run, pruning, store)
        if pruning is not None:
            _record_costs(pruning.trial, result)
        summary = trial_summary(spec, result, trainable_params, total_params)
        _say(spec, f"feature cache: {cache_summary(result)['freezesweep.feature_cache']}")
        with disk.writing(audit_path, "the freeze audit"):
            write_audit(result.audits, audit_path)
        if run is not None:
            stopped_at = pruning.pruned_at_epoch if pruning is not None else None
            files = (audit_path, summary)
            records.log_end(run, result, files, trainable_params, total_params, stopped_at)
            run.set_tags(cache_summary(result))
        _keep_model(trial, run, audit_path.parent, pruning, result)
        _say(spec, summary)
        # Inside the run's context, so the run ends KILLED or FAILED as Optuna will record it.
        trial_context.raise_if_stopped(pruning, result.val_accuracy)
    return trial_context.objective_values(spec, result.val_accuracy, trainable_params)


def _keep_model(
    trial: PreparedTrial, run: Any, folder: Path, pruning: Any, result: ScheduleResult
) -> None:
    """`model.keras` beside the audit, LoRA merged (plain Keras loads it in safe mode): for
    `trainer.save_model` (and as an MLflow artifact), and for `trainer.log_model` with its input
    example, when the trial completed, is tracked and is not dominated already. A sweep's trial
    only keeps it: the sweep's end logs the models of the trials it chose
    (`freezesweep.logged_model` says why); a single run, and every trial under `log_model=all`,
    log theirs now."""
    spec = trial.spec
    stopped = pruning is not None and pruning.pruned
    completed = not stopped and math.isfinite(result.val_accuracy)
    to_log = run is not None and spec.trainer.log_model != "none" and completed
    if to_log and pruning is not None and spec.trainer.log_model != "all":
        from freezesweep.study.pruning import dominated

        # Dominated already: never on the front, so never logged (and no file to keep).
        to_log = not dominated(pruning.trial, result.val_accuracy, trial.trainable_params)
    if not (spec.trainer.save_model or to_log):
        return
    with disk.writing(folder / MODEL_FILE, "the model") as path:
        saved = save_merged(trial.model, path)
    if spec.trainer.save_model and run is not None:
        run.log_file(saved)
    if not to_log:
        return
    with disk.writing(folder / EXAMPLE_FILE, "the model's input example") as path:
        save_example(trial.data, path)
    if pruning is not None:
        from freezesweep.study.pruning import record_model_file

        record_model_file(pruning.trial, saved)
    at_once = pruning is None or spec.trainer.log_model == "all"
    if at_once and not run.spooled:  # a spooled run's model waits for the sweep's end
        model_id = log_model_file(spec.tracking, run.run_id, saved)
        _say(spec, f"MLflow model (Keras flavor): models:/{model_id}")


def _train(trial: PreparedTrial, run: Any, pruning: Any, cache: Any) -> ScheduleResult:
    """Every stage of the prepared trial, logged to the run and reported to the pruner."""
    spec = trial.spec
    callbacks: list[keras.callbacks.Callback] = []
    if run is not None:
        config = OmegaConf.to_yaml(OmegaConf.create(redact_mapping(dict(spec.resolved))))
        records.log_start(run, spec, list(trial.plans), config, trial.data, trial.backbone)
        callbacks.append(EpochLogger(run, prefix=records.EPOCH_PREFIX))
    if pruning is not None:
        callbacks.append(pruning)
    try:
        return run_schedule(
            trial.model,
            trial.backbone,
            list(trial.plans),
            trial.data,
            bn=spec.schedule.bn,
            batch_size=spec.trainer.batch_size,
            verbose=spec.trainer.verbose,
            jit_compile=spec.trainer.jit_compile,
            callbacks=callbacks,
            on_stage_end=records.stage_logger(run, trial.model),
            should_stop=(lambda: pruning.pruned) if pruning is not None else None,
            cache=cache,
            seed=spec.seed,
        )
    except Exception as error:
        if not is_out_of_memory(error):
            raise
        # Inside the run's context: the MLflow run ends FAILED with the same reason.
        raise out_of_memory(error, spec.trainer.batch_size) from None


def _say(spec: TrialSpec, line: str) -> None:
    """Print a line for a run started by hand; a job the sweeper started (it sets
    `trial.number`) logs it instead: the sweeper prints one line per trial."""
    if spec.trial.number is None:
        print(line, flush=True)
    else:
        logger.info(line)


def _cache_store(spec: TrialSpec, sweep_folder: Path | None) -> Any:
    """The shared cache of this process; on disk under `sweeps/<study>/cache/` in a sweep."""
    if spec.trainer.feature_cache == "off":
        return None
    directory = sweep_folder / "cache" if sweep_folder is not None else None
    trainer = spec.trainer
    bounds = (int(trainer.feature_cache_gb * 10**9), int(trainer.feature_disk_gb * 10**9))
    return shared_store(directory, *bounds)


def _record_costs(optuna_trial: Any, result: ScheduleResult) -> None:
    """Each stage's epochs and cost on the sweep's trial (what a replayed grid charges)."""
    from freezesweep.study.pruning import record_costs

    stages = result.stages
    record_costs(optuna_trial, [s.epochs for s in stages], [s.cost_seconds for s in stages])


def _audit_file(output_dir: Path | None, key: str) -> Path:
    folder = output_dir or Path(tempfile.mkdtemp(prefix="freezesweep-"))
    folder.mkdir(parents=True, exist_ok=True)
    disk.refuse_link(folder / MODEL_FILE, "the model", key)
    disk.refuse_link(folder / EXAMPLE_FILE, "the model's input example", key)
    disk.refuse_link(folder / "freeze_audit.json", "the freeze audit", key)
    return folder / "freeze_audit.json"
