"""Asking a batch of trials: no more than the study's total, each stamped for its job and worker."""

from __future__ import annotations

import time
from typing import Any

import optuna
from omegaconf import DictConfig

from freezesweep import compat
from freezesweep.study.attributes import (
    CONSTRAINTS_ATTR,
    HEARTBEAT_ATTR,
    PRUNER_ATTR,
    WORKER_ATTR,
)

from ..definition._grammar import SearchSpace
from ..definition._settings import Settings
from ..trials._outcomes import fail_unfinished
from ..trials._shared_study import claim_place, count_trials
from ._signals import Interrupted


def ask_batch(
    study: optuna.Study,
    space: SearchSpace,
    settings: Settings,
    config: DictConfig,
    worker: str,
) -> list[optuna.Trial]:
    """Ask up to `n_jobs` trials, stopping at the study's total; fail them all if asking fails.

    Args:
        study: the study.
        space: the parsed search space.
        settings: the sweeper's settings.
        config: the sweep's config (passed to `custom_search_space`).
        worker: this worker's identity, stored on each trial.

    Returns:
        The asked trials, each already holding its place, pruner, budgets and first heartbeat.
    """
    batch: list[optuna.Trial] = []
    try:
        while len(batch) < settings.n_jobs:
            # RUNNING counts, this batch's trials and other workers' alike, so that the study
            # total is not overshot by workers asking at the same time.
            counts = count_trials(study)
            if counts.finished + counts.running >= settings.n_trials:
                break
            trial = study.ask(space.distributions)
            if not claim_place(study, trial, settings.n_trials):
                break  # Another worker asked for the last place(s) first.
            batch.append(trial)
            if settings.custom_search_space is not None:
                settings.custom_search_space(config, trial)
            _stamp(trial, settings, worker)
    except BaseException as error:
        fail_unfinished(study, batch, error, requeue=isinstance(error, Interrupted))
        raise
    return batch


def _stamp(trial: optuna.Trial, settings: Settings, worker: str) -> None:
    # The job's study decides pruning (it needs the spec) and checks the budgets (it knows
    # trainable_params); the worker runs the trial.
    attrs: tuple[tuple[str, Any], ...] = (
        (PRUNER_ATTR, settings.pruner),
        (CONSTRAINTS_ATTR, settings.constraints),
        (WORKER_ATTR, worker),
        # A first heartbeat at once: without one, liveness falls back on datetime_start, a
        # naive local time that hosts in different time zones would misread.
        (HEARTBEAT_ATTR, time.time()),
    )
    for key, value in attrs:
        trial.storage.set_trial_system_attr(compat.trial_id(trial), key, value)
