"""What a sweep's trial opens around its work, trained or simulated: the pruning callback
re-attached to its Optuna trial, and its MLflow run (`trial-NNNN` under the study's parent).

`freezesweep.trial` (training) and `freezesweep.simulate` (a dry run of the sweep's machinery)
both open these, so a simulated trial records what a trained one does.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from freezesweep.objectives import ACCURACY, TRAINABLE_PARAMS
from freezesweep.spec import TrialSpec

__all__ = [
    "link_run",
    "objective_values",
    "pruning_callback",
    "raise_if_stopped",
    "tracked_run",
]


def pruning_callback(spec: TrialSpec, trainable_params: int, method: str | None = None) -> Any:
    """The Optuna pruning callback of a sweep job (re-attached to its trial), else `None`.

    Args:
        spec: the trial's spec.
        trainable_params: the trial's trainable parameters, known before training.
        method: recorded beside them. Defaults to `None` (`spec.schedule.method.name`).

    Raises:
        optuna.TrialPruned: the trial trains more parameters than the sweep's budget.
    """
    ref = spec.trial
    if ref.number is None or not ref.study_name or not ref.storage:
        return None
    from freezesweep.study import constraints, pruning

    optuna_trial = pruning.attach_trial(ref.study_name, ref.storage, ref.number)
    method = spec.schedule.method.name if method is None else method
    pruning.record_trainable_params(optuna_trial, trainable_params, method)
    # Before the MLflow run and the first step: an over-budget trial ends PRUNED, untrained.
    constraints.enforce_budgets(optuna_trial, {TRAINABLE_PARAMS: trainable_params})
    return pruning.PruningCallback(optuna_trial)


@contextmanager
def tracked_run(spec: TrialSpec, sweep_folder: Path | None) -> Iterator[Any]:
    """The trial's MLflow run (`trial-NNNN` under the study's parent in a sweep), or `None`.

    In a sweep, the run is spooled to `<sweep dir>/mlflow_spool/` while the tracking server is
    down, and runs spooled there are replayed when a trial starts.
    """
    if not spec.tracking.enabled:
        yield None
        return
    from freezesweep import tracking

    number = spec.trial.number
    numbered = sweep_folder is not None and number is not None
    with tracking.trial_run(
        spec.tracking,
        run_name=f"trial-{number:04d}" if numbered else "trial",
        experiment=spec.trial.study_name or spec.tracking.experiment,
        study_name=spec.trial.study_name if sweep_folder is not None else None,
        tags={tracking.TRIAL_TAG: str(number)} if numbered else None,
        spool=sweep_folder / tracking.SPOOL_FOLDER if sweep_folder is not None else None,
    ) as run:
        yield run


def link_run(spec: TrialSpec, run: Any, pruning: Any) -> None:
    """The run's id and address on the sweep's trial (user attrs): optuna-dashboard shows user
    attrs, not MLflow's run ids. Nothing for a spooled run (its id is made when replayed)."""
    if run is None or pruning is None or run.run_id is None:
        return
    from freezesweep import tracking
    from freezesweep.study.pruning import record_run_id

    address = tracking.run_address(spec.tracking, run.client, run.run_id)
    record_run_id(pruning.trial, run.run_id, address)


def raise_if_stopped(pruning: Any, value: float) -> None:
    """Pruned: `optuna.TrialPruned`; a non-finite `value`: `FloatingPointError` (a FAIL)."""
    if pruning is not None:
        pruning.flush()  # a restored last stage replays its epochs without a fit to end
    if pruning is not None and pruning.pruned:
        import optuna

        raise optuna.TrialPruned(f"pruned at epoch {pruning.pruned_at_epoch}")
    if not math.isfinite(value):
        raise FloatingPointError(f"val_accuracy is {value}")


def objective_values(
    spec: TrialSpec, val_accuracy: float, trainable_params: int
) -> float | tuple[float, ...]:
    """What the trial returns to the sweeper: `val_accuracy`, or a tuple in the order of
    `spec.objectives` (the same values its run records)."""
    values = {ACCURACY: val_accuracy, TRAINABLE_PARAMS: float(trainable_params)}
    chosen = tuple(values[name] for name in spec.objectives)
    return chosen[0] if len(chosen) == 1 else chosen
