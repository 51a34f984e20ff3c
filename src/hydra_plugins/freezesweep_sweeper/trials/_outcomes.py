"""A job's return value (or exception) -> the state, values and failure reason told to Optuna."""

from __future__ import annotations

import math
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import optuna
import sqlalchemy.exc
from hydra.core.utils import JobReturn, JobStatus
from optuna.trial import FrozenTrial, TrialState

from freezesweep import compat
from freezesweep.redaction import redact
from freezesweep.study.attributes import FAIL_REASON_ATTR

from ._liveness import requeue, retire

# How a trial failed by a storage outage starts its `fail_reason` (its retry stands in for it).
STORAGE_OUTAGE = "storage outage"

# Where Optuna's storages live: an OSError raised there is the storage's (a journal file).
_STORAGES = "optuna.storages"

# What Study.stop raises outside `optimize`, where GridSampler and BruteForceSampler call it.
_STOP_OUTSIDE_OPTIMIZE = "`Study.stop` is supposed to be invoked"


class SearchSpaceExhausted(Exception):
    """The sampler has tried every point of the search space; `trial` was told all the same."""

    def __init__(self, trial: FrozenTrial) -> None:
        super().__init__(f"search space exhausted at trial {trial.number}")
        self.trial = trial


class JobStorageOutage(RuntimeError):
    """A job failed by a storage outage, said in its own process (`carry_outage`): a job's
    error crosses to the sweeper pickled (submitit), which drops the cause chain and the
    traceback that tell an outage from the job's own failure. Holds the cause's `describe`."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


@dataclass(frozen=True)
class Outcome:
    """What the sweeper tells Optuna about one job."""

    state: TrialState
    values: list[float] | None = None
    fail_reason: str | None = None
    # Enqueue the parameters again: the trial failed for no fault of its own (a storage outage).
    requeue: bool = False


def outage_cause(error: BaseException) -> BaseException | None:
    """The error in `error`'s chain that says the storage did not answer, else `None` (the
    request itself was wrong, and retrying it would only delay the error).

    Optuna wraps SQLAlchemy's errors in `StorageInternalError` (whose message blames "invalid
    data", e.g. "exceeding max length"), so the cause chain is searched and the cause is what
    gets reported.
    """
    seen: BaseException | None = error
    for _ in range(8):  # a chain is short; the bound only guards against cycles
        if seen is None:
            return None
        if isinstance(
            seen, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError | OSError
        ):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def job_outage(error: BaseException) -> BaseException | None:
    """`outage_cause` for a job's error: a database connection error anywhere in its chain, or
    an `OSError` raised inside an Optuna storage (the journal file); a job's other `OSError`s
    (a missing data file, a full disk) are its own failures, not outages."""
    seen: BaseException | None = error
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, OSError) and not _raised_in_storage(seen):
            seen = seen.__cause__ or seen.__context__
            continue
        if outage_cause(seen) is seen:
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _raised_in_storage(error: BaseException) -> bool:
    frames = traceback.walk_tb(error.__traceback__)
    return any(frame.f_globals.get("__name__", "").startswith(_STORAGES) for frame, _ in frames)


def describe(error: BaseException) -> str:
    """`OperationalError: connection failed: ...`: an error's type and first line, redacted."""
    lines = redact(str(error)).strip().splitlines() or [""]
    return f"{type(error).__name__}: {lines[0]}"


def carry_outage(result: JobReturn) -> JobReturn:
    """In the job's own process: a job failed by a storage outage carries a `JobStorageOutage`
    (its cause described) instead of its error, so `outcome` knows it after pickling; any other
    result is returned as it is.

    Args:
        result: the job's result, as Hydra's `run_job` returned it.
    """
    if result.status == JobStatus.COMPLETED:
        return result
    error = compat.job_error(result)
    cause = job_outage(error) if isinstance(error, BaseException) else None
    if cause is not None:
        compat.set_job_error(result, JobStorageOutage(describe(cause)))
    return result


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
