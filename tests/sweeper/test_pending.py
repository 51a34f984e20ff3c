"""A result told through a storage outage: retried with back-off, else saved and told on the
next start, never twice; a job that lost the storage fails with that reason and is re-queued.
The outage is simulated here; tests/cluster/test_outages.py stops a
real PostgreSQL."""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy.exc
from hydra.core.utils import JobReturn
from optuna.trial import TrialState

from freezesweep import compat
from freezesweep.study.attributes import FAIL_REASON_ATTR, REQUEUED_ATTR, RETRY_OF_ATTR
from freezesweep.study.outages import JobStorageOutage, carry_outage, outage_cause
from hydra_plugins.freezesweep_sweeper.trials._outcomes import Outcome, outcome
from hydra_plugins.freezesweep_sweeper.trials._pending import (
    PENDING_FILE,
    StorageUnavailable,
    save_untold,
    tell_saved,
    tell_with_retry,
)
from hydra_plugins.freezesweep_sweeper.trials._shared_study import count_trials

DOWN = sqlalchemy.exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))


def study_with_trial() -> tuple[optuna.Study, optuna.Trial]:
    study = optuna.create_study(study_name="toy")
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    return study, trial


def failing_tell(study: optuna.Study, failures: int, *, commit_first: bool = False) -> list[int]:
    """Make `study.tell` raise DOWN `failures` times (after committing, if `commit_first`)."""
    calls: list[int] = []
    real = study.tell

    def tell(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= failures:
            if commit_first and len(calls) == 1:
                real(*args, **kwargs)
            raise optuna.exceptions.StorageInternalError("commit failed") from DOWN
        return real(*args, **kwargs)

    study.tell = tell  # type: ignore[method-assign]
    return calls


def test_a_tell_is_retried_until_the_storage_answers(caplog: pytest.LogCaptureFixture) -> None:
    study, trial = study_with_trial()
    calls = failing_tell(study, 2)
    told = Outcome(TrialState.COMPLETE, [0.5])
    frozen = tell_with_retry(study, trial, told, attempts=3, backoff=0.01)
    assert frozen.state == TrialState.COMPLETE and frozen.value == 0.5
    assert len(calls) == 3
    # Each wait is twice the one before.
    waits = [r.message for r in caplog.records if "retrying" in r.message]
    assert waits == [
        "trial 0: the study storage did not answer (OperationalError); retrying in 0.01 s",
        "trial 0: the study storage did not answer (OperationalError); retrying in 0.02 s",
    ]


def test_a_retry_after_a_committed_attempt_tells_nothing_twice() -> None:
    study, trial = study_with_trial()
    calls = failing_tell(study, 1, commit_first=True)
    frozen = tell_with_retry(
        study, trial, Outcome(TrialState.COMPLETE, [0.5]), attempts=3, backoff=0.01
    )
    # The first attempt did commit: the retry finds the trial finished and tells nothing.
    assert frozen.state == TrialState.COMPLETE and len(calls) == 1


def test_a_storage_that_stays_down_raises_with_the_last_error() -> None:
    study, trial = study_with_trial()
    failing_tell(study, 99)
    with pytest.raises(StorageUnavailable) as down:
        tell_with_retry(study, trial, Outcome(TrialState.COMPLETE, [0.5]), attempts=2, backoff=0.01)
    assert str(down.value) == (
        "the study storage did not answer after 2 attempts "
        "(OperationalError: (builtins.ConnectionRefusedError) refused)"
    )
    assert study.trials[0].state == TrialState.RUNNING


def test_other_errors_are_not_retried() -> None:
    # A wrong request is not an outage: retrying it would only delay the error.
    wrapped = optuna.exceptions.StorageInternalError("commit failed")
    wrapped.__cause__ = DOWN
    assert outage_cause(wrapped) is DOWN
    assert outage_cause(ConnectionRefusedError()) is not None
    assert outage_cause(ValueError("bad value")) is None


def test_a_saved_result_is_told_on_the_next_start_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    study, trial = study_with_trial()
    down = StorageUnavailable("the study storage did not answer after 5 attempts (X: y)")
    save_untold("toy", tmp_path, [trial], [Outcome(TrialState.COMPLETE, [0.75])], down)
    saved = tmp_path / "trial-0000" / PENDING_FILE
    assert json.loads(saved.read_text())["values"] == [0.75]
    assert caplog.records[-1].message == (
        f"trial 0: {down}; its result (COMPLETE, [0.75]) is saved in {saved} and told to the "
        "study when this sweep starts again"
    )
    told = tell_saved(study, tmp_path)
    assert [t.number for t in told] == [0] and study.trials[0].value == 0.75
    # Told once: the file is gone, and a second start has nothing to tell.
    assert not saved.exists()
    assert tell_saved(study, tmp_path) == []


def test_a_saved_result_of_a_finished_trial_is_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    study, trial = study_with_trial()
    save_untold(
        "toy", tmp_path, [trial], [Outcome(TrialState.COMPLETE, [0.75])], StorageUnavailable()
    )
    # Another worker failed the silent trial as stale meanwhile: its state stands.
    study.tell(trial, state=TrialState.FAIL)
    with caplog.at_level(logging.WARNING):
        assert tell_saved(study, tmp_path) == []
    assert study.trials[0].state == TrialState.FAIL
    assert not (tmp_path / "trial-0000" / PENDING_FILE).exists()
    assert "trial 0 is FAIL: its saved result (COMPLETE, [0.75]) is not told again" in caplog.text


def failed_job(error: BaseException) -> JobReturn:
    """A FAILED JobReturn carrying `error` raised for real (so it has a traceback)."""
    try:
        raise error
    except BaseException as raised:
        return compat.failed_job_return(["x=0.5"], raised)


def test_a_job_that_lost_the_storage_fails_with_the_true_reason_and_is_requeued() -> None:
    # Optuna wraps the connection error in a message blaming "invalid data ... exceeding max
    # length"; the reason names the outage and its cause instead, and the trial is re-queued.
    wrapped = optuna.exceptions.StorageInternalError(
        "An exception is raised during the commit. This typically happens due to invalid data "
        "in the commit, e.g. exceeding max length. "
    )
    wrapped.__cause__ = DOWN
    told = outcome(failed_job(wrapped), ["val_accuracy"])
    assert told.state == TrialState.FAIL and told.requeue
    assert told.fail_reason == (
        "storage outage: the study storage did not answer during the trial (OperationalError: "
        "(builtins.ConnectionRefusedError) refused); its parameters are re-queued"
    )


def test_an_outage_said_in_the_jobs_process_survives_pickling() -> None:
    # Under submitit a job's result crosses to the sweeper pickled, which drops the cause chain:
    # Optuna's misleading message alone would be told and the trial not re-queued.
    wrapped = optuna.exceptions.StorageInternalError("... e.g. exceeding max length. ")
    wrapped.__cause__ = DOWN
    assert not outcome(pickle.loads(pickle.dumps(failed_job(wrapped))), ["val_accuracy"]).requeue
    # Said in the job's process (`carry_outage`), it arrives with the same reason and re-queue
    # as a job of the basic launcher's.
    carried = pickle.loads(pickle.dumps(carry_outage(failed_job(wrapped))))
    assert isinstance(compat.job_error(carried), JobStorageOutage)
    assert outcome(carried, ["val_accuracy"]) == outcome(failed_job(wrapped), ["val_accuracy"])
    assert outcome(carried, ["val_accuracy"]).requeue
    # A job's own failure is left as it is.
    own = failed_job(FileNotFoundError("data/digits.npz"))
    assert compat.job_error(carry_outage(own)) is compat.job_error(own)


@pytest.mark.parametrize(
    "error",
    [
        FileNotFoundError("data/digits.npz"),  # the job's own file, not the storage
        OSError(28, "No space left on device"),
        optuna.exceptions.StorageInternalError("value too long"),  # a wrong request
        ValueError("bad value"),
    ],
)
def test_a_job_failing_on_its_own_is_not_requeued(error: BaseException) -> None:
    told = outcome(failed_job(error), ["val_accuracy"])
    assert told.state == TrialState.FAIL and not told.requeue
    assert told.fail_reason is not None and not told.fail_reason.startswith("storage outage")


def test_an_outage_trial_is_requeued_once_even_when_its_tell_is_retried() -> None:
    study, trial = study_with_trial()
    calls = failing_tell(study, 1)
    told = Outcome(TrialState.FAIL, fail_reason="storage outage: x", requeue=True)
    frozen = tell_with_retry(study, trial, told, attempts=3, backoff=0.01)
    # One retry with the same parameters, waiting; the failed trial no longer counts.
    assert len(calls) == 2 and frozen.state == TrialState.FAIL
    assert frozen.system_attrs[REQUEUED_ATTR] is True
    retries = [t for t in study.trials if t.user_attrs.get(RETRY_OF_ATTR) == 0]
    assert [t.state for t in retries] == [TrialState.WAITING]
    assert retries[0].system_attrs["fixed_params"] == frozen.params  # what it will run
    assert count_trials(study).finished == 0


def test_a_saved_outage_result_is_requeued_when_told_on_the_next_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    study, trial = study_with_trial()
    told = Outcome(TrialState.FAIL, fail_reason="storage outage: x", requeue=True)
    save_untold("toy", tmp_path, [trial], [told], StorageUnavailable("down"))
    assert "its result (FAIL, None; its parameters re-queued) is saved in" in caplog.text
    tell_saved(study, tmp_path)
    assert study.trials[0].state == TrialState.FAIL
    assert study.trials[0].user_attrs[FAIL_REASON_ATTR] == "storage outage: x"
    assert [t.user_attrs.get(RETRY_OF_ATTR) for t in study.trials] == [None, 0]
