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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from sqlalchemy.engine import make_url

from freezesweep.pruning import pruner_from_spec

from ._settings import Settings, build_sampler

ENQUEUED_ATTR = "freezesweep:enqueued"
"""Study user attr: the parameter sets already enqueued, as canonical JSON strings."""

FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass(frozen=True)
class OpenedStudy:
    """The study, plus how this invocation seeded its sampler (for the start-up line)."""

    study: optuna.Study
    worker: str
    sampler_seed: int | None


def open_study(settings: Settings) -> OpenedStudy:
    """Creates the study, or loads it when another invocation or worker already did."""
    _make_sqlite_parent(settings.storage)
    study = optuna.create_study(
        storage=settings.storage,
        study_name=settings.study_name,
        directions=settings.directions,
        load_if_exists=True,
        pruner=pruner_from_spec(settings.pruner),
    )
    stored = [direction.name.lower() for direction in study.directions]
    if stored != settings.directions:
        raise ValueError(
            f"hydra.sweeper.direction is {settings.directions} but study "
            f"'{settings.study_name}' in {redacted(settings.storage)} was created with {stored}; "
            "use another study_name."
        )
    if study.metric_names != settings.objectives:
        with warnings.catch_warnings():  # set_metric_names is marked experimental.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(settings.objectives)

    worker = worker_identity()
    seed = None
    if settings.seed is not None:
        seed = derive_seed(settings.seed, worker, len(study.get_trials(deepcopy=False)))
    study.sampler = build_sampler(settings.sampler, seed)
    return OpenedStudy(study, worker, seed)


def worker_identity() -> str:
    """SLURM's array task id, else its process id, else this host and process."""
    for variable in ("SLURM_ARRAY_TASK_ID", "SLURM_PROCID"):
        value = os.environ.get(variable)
        if value:
            return f"{variable}={value}"
    return f"{socket.gethostname()}:{os.getpid()}"


def derive_seed(base: int, worker: str, n_existing_trials: int) -> int:
    """A sampler seed that differs between workers, and between invocations of one worker.

    The trial count makes a rerun of the same array task (tonight's cron job) continue the search
    instead of replaying yesterday's suggestions, while staying reproducible from the study state.
    """
    digest = hashlib.sha256(f"{base}|{worker}|{n_existing_trials}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def enqueue_once(study: optuna.Study, param_sets: list[dict[str, Any]]) -> int:
    """Enqueues the sets this study has never had enqueued; returns how many were new.

    Remembered in a study user attr, so a second invocation or another worker does not enqueue
    them again (two workers starting in the same instant may both enqueue; that race is narrow).
    """
    done: list[str] = list(study.user_attrs.get(ENQUEUED_ATTR, []))
    new = [
        (key, params)
        for key, params in ((json.dumps(p, sort_keys=True), p) for p in param_sets)
        if key not in done
    ]
    for _, params in new:
        study.enqueue_trial(params)
    if new:
        study.set_user_attr(ENQUEUED_ATTR, done + [key for key, _ in new])
    return len(new)


@dataclass(frozen=True)
class Counts:
    """Trials of the whole study (all workers) by state."""

    finished: int
    running: int


def count_trials(study: optuna.Study) -> Counts:
    """How many trials are finished (COMPLETE, PRUNED, FAIL) and RUNNING, in the storage."""
    trials = study.get_trials(deepcopy=False, states=(*FINISHED_STATES, TrialState.RUNNING))
    running = sum(trial.state == TrialState.RUNNING for trial in trials)
    return Counts(finished=len(trials) - running, running=running)


def redacted(url: str) -> str:
    """The storage URL without its password, for logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<storage>"


def _make_sqlite_parent(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
