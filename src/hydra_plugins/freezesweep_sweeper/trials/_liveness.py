"""Which RUNNING trials are alive: heartbeats, stale trials, and re-queueing their parameters.

Optuna's own heartbeat exists for the RDB storage only and runs inside `study.optimize`; the
sweeper uses ask/tell and also supports the journal storage, so it keeps its own: a thread in the
sweeper process (the process that will `tell` the result) stamps each of its RUNNING trials with
the wall-clock time (trial system attr `HEARTBEAT_ATTR`) every `interval` seconds. A RUNNING trial
whose last stamp is older than the grace period belongs to a dead worker: it is failed, and its
parameters are enqueued once more (a retry carries user attr `retry_of`; a retry is not retried).

Hosts that share a study must keep their clocks in sync (NTP), as the stamps are compared across
them; the grace period should be several heartbeat intervals.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from freezesweep import compat
from freezesweep.redaction import redact
from freezesweep.study.attributes import (
    FAIL_REASON_ATTR,
    HEARTBEAT_ATTR,
    REQUEUED_ATTR,
    RETRY_OF_ATTR,
)
from freezesweep.study.own_trials import own_trials
from freezesweep.study.storage import open_storage

log = logging.getLogger(__name__)


def last_beat(trial: FrozenTrial) -> float:
    """Unix time of the trial's last heartbeat (its start when it has none yet)."""
    beat = trial.system_attrs.get(HEARTBEAT_ATTR)
    if isinstance(beat, int | float):
        return float(beat)
    start = trial.datetime_start
    return start.timestamp() if start is not None else time.time()


def retire(study: optuna.Study, trial: FrozenTrial, reason: str, *, requeue: bool) -> bool:
    """Fail a RUNNING trial with `reason`; with `requeue`, enqueue its parameters once more.

    Safe when several workers retire the same trial at once: the storage lets one of them
    finish it, and only that one re-queues.

    Args:
        study: the study.
        trial: the trial, as last read.
        reason: the trial's `fail_reason`.
        requeue: enqueue the parameters again (ignored for a trial that is itself a retry).

    Returns:
        Whether this call failed the trial (False: it had finished, or another worker won).
    """
    storage = compat.study_storage(study)
    requeue_it = requeue and RETRY_OF_ATTR not in trial.user_attrs
    try:
        if requeue_it:
            storage.set_trial_system_attr(compat.trial_id(trial), REQUEUED_ATTR, True)
        storage.set_trial_user_attr(compat.trial_id(trial), FAIL_REASON_ATTR, redact(reason))
        storage.set_trial_state_values(compat.trial_id(trial), TrialState.FAIL)
    except UpdateFinishedTrialError:
        return False
    if requeue_it:
        study.enqueue_trial(dict(trial.params), user_attrs={RETRY_OF_ATTR: trial.number})
    return True


def requeue(study: optuna.Study, trial: FrozenTrial) -> None:
    """Mark a RUNNING trial re-queued and enqueue its parameters, unless a retry of it exists
    (an earlier attempt got this far before the storage dropped the connection).

    Unlike `retire`, a retry is re-queued too: a storage outage says nothing about the trial.
    Call before the trial is told FAIL: only a RUNNING trial's attrs can be set.
    """
    compat.study_storage(study).set_trial_system_attr(compat.trial_id(trial), REQUEUED_ATTR, True)
    if any(t.user_attrs.get(RETRY_OF_ATTR) == trial.number for t in own_trials(study)):
        return
    study.enqueue_trial(dict(trial.params), user_attrs={RETRY_OF_ATTR: trial.number})


def fail_stale(study: optuna.Study, grace_period: float) -> list[int]:
    """Fail (and re-queue once) every RUNNING trial silent for longer than `grace_period` s.

    Returns:
        The numbers of the trials this call failed.
    """
    now = time.time()
    failed = []
    for trial in own_trials(study, (TrialState.RUNNING,)):
        silence = now - last_beat(trial)
        if silence > grace_period:
            reason = (
                f"stale: no heartbeat for {silence:.0f} s (grace period {grace_period:g} s); "
                "its worker died"
            )
            if retire(study, trial, reason, requeue=True):
                failed.append(trial.number)
    if failed:
        log.warning(f"trial(s) {failed} were stale (their workers died): failed and re-queued")
    return failed


def silent_others(study: optuna.Study, interval: float) -> list[int]:
    """RUNNING trials whose heartbeat is late by more than two intervals: maybe dead, not yet stale.

    A worker out of trials waits on these before it exits, so a trial of a killed worker is
    retried by the next worker that finishes rather than left for a later invocation.
    """
    now = time.time()
    return [
        trial.number
        for trial in own_trials(study, (TrialState.RUNNING,))
        if now - last_beat(trial) > 2 * interval
    ]


def unproven(study: optuna.Study, interval: float, seen: dict[int, float]) -> list[int]:
    """RUNNING trials whose workers are not shown alive: silent ones (`silent_others`), and
    those that have not beaten since this worker first saw them here.

    A worker out of places waits on these: a trial whose heartbeat moves on has a live worker,
    which tells it; one that stops beating is failed as stale after the grace period, and
    re-queued for a worker that waits (so `kill -9` and the same command at once still end
    with the study's total).

    Args:
        study: the study.
        interval: the heartbeat interval, in seconds.
        seen: each trial's heartbeat when this worker first saw it (filled in by this call).
    """
    silent = set(silent_others(study, interval))
    waiting = []
    for trial in own_trials(study, (TrialState.RUNNING,)):
        beat = last_beat(trial)
        if trial.number in silent or seen.setdefault(trial.number, beat) == beat:
            waiting.append(trial.number)
    return waiting


class Heartbeat:
    """A daemon thread that stamps the trials this worker runs, every `interval` seconds.

    It owns its own storage connection, so it never shares a session with the sweep loop.

    Args:
        storage_url: the study's storage.
        interval: seconds between beats.
    """

    def __init__(self, storage_url: str, interval: float) -> None:
        self._storage = open_storage(storage_url)
        self._interval = interval
        self._trial_ids: set[int] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name="freezesweep-heartbeat", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._thread.join(timeout=self._interval + 5)

    def track(self, trial_ids: Iterable[int]) -> None:
        """Beat for these trials from now on (one beat at once)."""
        ids = set(trial_ids)
        with self._lock:
            self._trial_ids |= ids
        self._beat(ids)

    def untrack(self, trial_ids: Iterable[int]) -> None:
        """Stop beating for these trials (they were told)."""
        with self._lock:
            self._trial_ids -= set(trial_ids)

    def _loop(self) -> None:
        while not self._stopped.wait(self._interval):
            with self._lock:
                ids = set(self._trial_ids)
            self._beat(ids)

    def _beat(self, trial_ids: set[int]) -> None:
        now = time.time()
        for trial_id in trial_ids:
            try:
                self._storage.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, now)
            except UpdateFinishedTrialError:
                # Another worker judged it stale (a long pause here): the result cannot be told.
                log.warning(f"trial id {trial_id} was finished by another worker; heartbeat stops")
                self.untrack([trial_id])
            except Exception as error:  # A storage hiccup must not kill the thread.
                log.warning(f"heartbeat failed: {type(error).__name__}: {error}")
