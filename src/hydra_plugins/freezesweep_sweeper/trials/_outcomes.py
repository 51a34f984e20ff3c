"""A job's return value (or exception) -> the state, values and failure reason told to Optuna."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import optuna
from hydra.core.utils import JobReturn, JobStatus
from optuna.trial import FrozenTrial, TrialState

from freezesweep import compat
from freezesweep.redaction import redact
from freezesweep.study.attributes import FAIL_REASON_ATTR
from freezesweep.study.outages import JobStorageOutage, describe, job_outage

from ._liveness import requeue, retire

# How a trial failed by a storage outage starts its `fail_reason` (its retry stands in for it).
STORAGE_OUTAGE = "storage outage"

# What Study.stop raises outside `optimize`, where GridSampler and BruteForceSampler call it.
_STOP_OUTSIDE_OPTIMIZE = "`Study.stop` is supposed to be invoked"


class SearchSpaceExhausted(Exception):
    """The sampler has tried every point of the search space; `trial` was told all the same."""

    def __init__(self, trial: FrozenTrial) -> None:
        super().__init__(f"search space exhausted at trial {trial.number}")
        self.trial = trial


@dataclass(frozen=True)
class Outcome:
    """What the sweeper tells Optuna about one job."""

    state: TrialState
    values: list[float] | None = None
    fail_reason: str | None = None
    # Enqueue the parameters again: the trial failed for no fault of its own (a storage outage).
    requeue: bool = False


def outcome(result: JobReturn, objectives: Sequence[str]) -> Outcome:
    """COMPLETE with finite values, PRUNED for `optuna.TrialPruned`, FAIL (with a reason) else.

    Args:
        result: what the launcher returned for the job.
        objectives: the objective names; the job must return this many numbers.
    """
    if result.status != JobStatus.COMPLETED:
        # `result.return_value` would re-raise the job's exception; the sweep must go on.
        error = compat.job_error(result)
        if isinstance(error, optuna.TrialPruned):
            return Outcome(TrialState.PRUNED)
        cause: str | None
        if isinstance(error, JobStorageOutage):  # said by the job's process (submitit)
            cause = error.cause
        else:
            found = job_outage(error) if isinstance(error, BaseException) else None
            cause = None if found is None else describe(found)
        if cause is not None:
            # The job could not reach the study storage (reporting, pruning): not the trial's
            # fault, and Optuna's own message for it ("invalid data ... exceeding max length")
            # would mislead. Failed with the true cause and re-queued.
            reason = (
                f"{STORAGE_OUTAGE}: the study storage did not answer during the trial "
                f"({cause}); its parameters are re-queued"
            )
            return Outcome(TrialState.FAIL, fail_reason=reason, requeue=True)
        return Outcome(TrialState.FAIL, fail_reason=f"{type(error).__name__}: {error}")

    returned: Any = result.return_value
    values = (
        list(returned)
        if isinstance(returned, Sequence) and not isinstance(returned, str)
        else [returned]
    )
    if len(values) != len(objectives):
        return Outcome(
            TrialState.FAIL,
            fail_reason=f"returned {returned!r}; expected {len(objectives)} number(s) "
            f"({', '.join(objectives)})",
        )
    for name, value in zip(objectives, values, strict=True):
        if isinstance(value, bool) or not isinstance(value, Real):
            return Outcome(
                TrialState.FAIL, fail_reason=f"returned {value!r} for {name}; expected a number"
            )
        if not math.isfinite(value):
            return Outcome(TrialState.FAIL, fail_reason=f"returned {value} for {name}")
    return Outcome(TrialState.COMPLETE, values=[float(v) for v in values])


def tell(
    study: optuna.Study, trial: optuna.Trial, told: Outcome, *, skip_if_finished: bool = False
) -> FrozenTrial:
    """Records the outcome on the trial; `fail_reason`, redacted, becomes a user attr (set before
    `tell`); with `told.requeue`, the parameters are enqueued again first (once, even when a
    tell is retried). With `skip_if_finished`, a trial already finished is returned as it is (a
    retry after an attempt that did commit).

    Raises:
        SearchSpaceExhausted: the sampler asked the study to stop (its grid is done); the
            outcome is recorded all the same.
    """
    if skip_if_finished:
        stored = compat.study_storage(study).get_trial(compat.trial_id(trial))
        if stored.state.is_finished():
            return stored
    if told.requeue:
        requeue(study, compat.study_storage(study).get_trial(compat.trial_id(trial)))
    if told.fail_reason is not None:
        # Stored, printed in progress lines and reports: an exception may quote a secret URL.
        trial.set_user_attr(FAIL_REASON_ATTR, redact(told.fail_reason))
    try:
        return study.tell(trial, told.values, state=told.state, skip_if_finished=skip_if_finished)
    except RuntimeError as error:
        if _STOP_OUTSIDE_OPTIMIZE not in str(error):
            raise
        # Optuna stores the state before the sampler's after_trial hook asks to stop.
        stored = compat.study_storage(study).get_trial(compat.trial_id(trial))
        raise SearchSpaceExhausted(stored) from None


def fail_unfinished(
    study: optuna.Study, trials: Sequence[optuna.Trial], error: BaseException, *, requeue: bool
) -> None:
    """Fails the batch's trials that are still RUNNING when the sweeper itself stops on `error`,
    so no RUNNING trial is left behind to block the study total.

    Args:
        study: the study.
        trials: the batch.
        error: why the sweeper stopped (the trials' `fail_reason`).
        requeue: enqueue their parameters once more (the sweeper was stopped by SIGTERM or
            SIGINT: nothing was wrong with them).
    """
    reason = f"sweeper stopped: {type(error).__name__}: {error}"
    for trial in trials:
        try:
            frozen = compat.study_storage(study).get_trial(compat.trial_id(trial))
            if frozen.state == TrialState.RUNNING:
                retire(study, frozen, reason, requeue=requeue)
        except Exception:  # The storage itself may be what failed; the original error matters.
            continue
