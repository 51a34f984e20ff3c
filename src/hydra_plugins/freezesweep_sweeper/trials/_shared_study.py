"""The shared Optuna study: opening it, the per-worker sampler seed, enqueue-once, trial counts.

Several `python sweep.py -m` processes (a SLURM array, a nightly cron job) cooperate on one study
through its storage, so everything here reads the storage rather than this process's memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from freezesweep import compat
from freezesweep.redaction import redact
from freezesweep.study.attributes import (
    ENQUEUED_ATTR,
    REGISTERED_HOST_ATTR,
    REGISTERED_PID_ATTR,
    REQUEUED_ATTR,
    SURPLUS_ATTR,
    WORKERS_SUFFIX,
)
from freezesweep.study.own_trials import is_warm_start, own_trials
from freezesweep.study.pruning import pruner_from_spec
from freezesweep.study.storage import open_storage

from ..definition._sampler import build_sampler
from ..definition._settings import Settings

FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)

REGISTRY_SUFFIX = WORKERS_SUFFIX
"""A study named `<study_name>:workers` numbers the invocations of `<study_name>` (see
`register_worker`): one trial per invocation, numbered by the storage in arrival order."""


@dataclass(frozen=True)
class OpenedStudy:
    """The study, plus how this invocation seeded its sampler (for the start-up line)."""

    study: optuna.Study
    worker: str
    sampler_seed: int | None
    created: bool


def open_study(
    settings: Settings, search_space: Mapping[str, BaseDistribution] | None = None
) -> OpenedStudy:
    """Creates the study, or loads it when another invocation or worker already did.

    Args:
        settings: the sweeper's settings.
        search_space: the parsed `params`, a grid sampler's grid. Defaults to `None`.
    """
    storage = open_storage(settings.storage)
    pruner = pruner_from_spec(settings.pruner)
    try:
        # Exactly one of several workers starting together creates the study (the storage's
        # unique name decides); that one enqueues the fixed parameter sets.
        study = optuna.create_study(
            storage=storage,
            study_name=settings.study_name,
            directions=settings.directions,
            pruner=pruner,
        )
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=settings.study_name, storage=storage, pruner=pruner)
        created = False
    stored = [direction.name.lower() for direction in study.directions]
    if stored != settings.directions:
        raise ValueError(
            f"hydra.sweeper.direction is {settings.directions} but study "
            f"'{settings.study_name}' in {redact(settings.storage)} was created with {stored}; "
            "use another study_name."
        )
    if study.metric_names != settings.objectives:
        with warnings.catch_warnings():  # set_metric_names is marked experimental.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(settings.objectives)

    # Counted before this invocation adds anything, so the seed depends on the study's state
    # only, never on which host or process runs the sweep.
    n_existing = len(own_trials(study))
    worker = worker_identity(settings.worker)
    seed = None
    if settings.seed is not None:
        if worker is None:
            worker = f"registered={register_worker(storage, settings.study_name)}"
        seed = derive_seed(settings.seed, worker, n_existing)
    study.sampler = build_sampler(settings.sampler, seed, search_space)
    return OpenedStudy(study, worker or "unnamed", seed, created)


def worker_identity(explicit: str | None = None) -> str | None:
    """`hydra.sweeper.worker`, else SLURM's array task id, else its process id, else None.

    None means no stable name: `register_worker` numbers the invocation instead. Host names and
    process ids are never used, since they differ between two runs of the same command.
    """
    if explicit is not None:
        return f"worker={explicit}"
    for variable in ("SLURM_ARRAY_TASK_ID", "SLURM_PROCID"):
        value = os.environ.get(variable)
        if value:
            return f"{variable}={value}"
    return None


def register_worker(storage: BaseStorage, study_name: str) -> int:
    """This invocation's place (0, 1, ...) among all invocations that opened `study_name`.

    The storage numbers trials atomically, so a trial in a side study `<study_name>:workers` is
    a ticket that no concurrent worker can share; the first invocation on a fresh storage is 0.
    The ticket is COMPLETE at once, with its host and process as user attrs for diagnosis.
    """
    registry = optuna.create_study(
        storage=storage, study_name=study_name + REGISTRY_SUFFIX, load_if_exists=True
    )
    trial_id = storage.create_new_trial(compat.study_id(registry))
    storage.set_trial_user_attr(trial_id, REGISTERED_HOST_ATTR, socket.gethostname())
    storage.set_trial_user_attr(trial_id, REGISTERED_PID_ATTR, os.getpid())
    number = storage.get_trial_number_from_id(trial_id)
    storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [float(number)])
    return number


def derive_seed(base: int, worker: str, n_existing_trials: int) -> int:
    """A sampler seed that differs between workers, and between invocations of one worker.

    The trial count makes a rerun of the same array task (tonight's cron job) continue the search
    instead of replaying yesterday's suggestions, while staying reproducible from the study state.
    """
    digest = hashlib.sha256(f"{base}|{worker}|{n_existing_trials}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def enqueue_once(study: optuna.Study, param_sets: list[dict[str, Any]], *, created: bool) -> int:
    """Enqueues the sets this study has never had enqueued; returns how many were new.

    The worker that created the study enqueues them all, then records them in a study user attr.
    Others add only sets missing from that record (a sweep file that gained a baseline), and
    nothing while the record does not exist yet: its creator is still enqueueing, and two workers
    started together must not enqueue the same baselines twice.

    Args:
        study: the study.
        param_sets: the `enqueue` list.
        created: this invocation created the study.
    """
    if not created and ENQUEUED_ATTR not in study.user_attrs:
        return 0
    done: list[str] = list(study.user_attrs.get(ENQUEUED_ATTR, []))
    new = [
        (key, params)
        for key, params in ((json.dumps(p, sort_keys=True), p) for p in param_sets)
        if key not in done
    ]
    for _, params in new:
        study.enqueue_trial(params)
    if new or created:
        study.set_user_attr(ENQUEUED_ATTR, done + [key for key, _ in new])
    return len(new)


@dataclass(frozen=True)
class Counts:
    """Trials of the whole study (all workers) by state, as they count toward `n_trials`."""

    finished: int
    running: int


def counts_toward_total(trial: FrozenTrial) -> bool:
    """Whether a trial takes one of the study's `n_trials` places.

    Not counted: a warm-start trial (an earlier study's, see `study.warm_start`), a FAIL trial
    whose parameters were re-queued (its retry stands in for it), and a WAITING trial put back as
    surplus (see `claim_place`). Everything else is: finished and
    RUNNING trials, and enqueued ones that some worker will run.
    """
    if is_warm_start(trial):  # an earlier study's, copied in for the sampler only
        return False
    if trial.state == TrialState.FAIL:
        return not trial.system_attrs.get(REQUEUED_ATTR, False)
    if trial.state == TrialState.WAITING:
        return not trial.system_attrs.get(SURPLUS_ATTR, False)
    return True


def count_trials(study: optuna.Study) -> Counts:
    """How many counted trials are finished (COMPLETE, PRUNED, FAIL) and RUNNING, in the storage."""
    trials = own_trials(study, (*FINISHED_STATES, TrialState.RUNNING))
    counted = [trial for trial in trials if counts_toward_total(trial)]
    running = sum(trial.state == TrialState.RUNNING for trial in counted)
    return Counts(finished=len(counted) - running, running=running)


def claim_place(study: optuna.Study, trial: optuna.Trial, n_trials: int) -> bool:
    """Whether a freshly asked trial is within the study's `n_trials`; if not, put it back.

    Workers that ask at the same instant can all pass the count check before asking. Trial
    numbers are handed out by the storage in creation order, so "counted trials numbered below
    mine" is the same answer for every worker: the first `n_trials` places win. A trial past
    them goes back to WAITING, marked surplus (it keeps its parameters and is the first trial a
    later invocation with a larger `n_trials` runs).
    """
    ahead = sum(
        1
        for other in own_trials(study)
        if other.number < trial.number and counts_toward_total(other)
    )
    if ahead < n_trials:
        return True
    compat.study_storage(study).set_trial_system_attr(compat.trial_id(trial), SURPLUS_ATTR, True)
    compat.study_storage(study).set_trial_state_values(compat.trial_id(trial), TrialState.WAITING)
    return False
