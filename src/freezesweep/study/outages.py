"""A trial failed by the study storage, told apart from a trial's own failure.

Optuna wraps SQLAlchemy's connection errors in `StorageInternalError` (whose message blames
"invalid data", e.g. "exceeding max length"), so the cause chain is what tells an outage. A job's
error reaches the sweeper pickled under submitit, which drops that chain and the traceback: the
job's own process says the outage first (`carry_outage`). Used by the sweeper's outcomes and by
its submitit launchers, which import nothing of each other.
"""

from __future__ import annotations

import traceback
from typing import Any

import sqlalchemy.exc

from freezesweep import compat
from freezesweep.redaction import redact

# Where Optuna's storages live: an OSError raised there is the storage's (a journal file).
_STORAGES = "optuna.storages"


class JobStorageOutage(RuntimeError):
    """A job failed by a storage outage, said in its own process (`carry_outage`): a job's
    error crosses to the sweeper pickled (submitit), which drops the cause chain and the
    traceback that tell an outage from the job's own failure. Holds the cause's `describe`."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


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


def carry_outage(result: Any) -> Any:
    """In the job's own process: a job failed by a storage outage carries a `JobStorageOutage`
    (its cause described) instead of its error, so `outcome` knows it after pickling; any other
    result is returned as it is.

    Args:
        result: the job's result, as Hydra's `run_job` returned it.
    """
    from hydra.core.utils import JobStatus

    if result.status == JobStatus.COMPLETED:
        return result
    error = compat.job_error(result)
    cause = job_outage(error) if isinstance(error, BaseException) else None
    if cause is not None:
        compat.set_job_error(result, JobStorageOutage(describe(cause)))
    return result
