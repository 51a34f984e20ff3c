"""Telling a result through a storage outage: retries with back-off, then a file in the trial's
folder that the next start of the sweep tells to the study.

A result is never told twice: a retry skips a trial the failed attempt did finish after all,
and a saved result is told only while its trial is still RUNNING (a trial another worker
failed as stale meanwhile keeps that state; its saved result is dropped, with a warning).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from freezesweep import compat
from freezesweep.redaction import redact
from freezesweep.study.outages import outage_cause
from freezesweep.study.own_trials import own_trials

from ._outcomes import Outcome, tell

log = logging.getLogger(__name__)

# In the trial's folder (`<sweep dir>/trial-NNNN/`, see `jobs._overrides`).
PENDING_FILE = "pending_result.json"
# The longest single wait between two attempts, whatever the back-off grew to.
_MAX_WAIT_S = 60.0


class StorageUnavailable(Exception):
    """The study storage did not answer a tell after every attempt."""


def tell_with_retry(
    study: optuna.Study, trial: optuna.Trial, told: Outcome, *, attempts: int, backoff: float
) -> FrozenTrial:
    """`tell`, retried while the storage does not answer: waits `backoff`, then twice as long
    each time (at most a minute).

    Args:
        study: the study.
        trial: the trial to tell.
        told: what to tell.
        attempts: how many tries in all.
        backoff: seconds before the second try.

    Raises:
        StorageUnavailable: after the last attempt, naming the last error.
    """
    for attempt in range(attempts):
        try:
            # A failed attempt may have committed before the connection dropped.
            return tell(study, trial, told, skip_if_finished=attempt > 0)
        except Exception as error:
            cause = outage_cause(error)
            if cause is None:
                raise
            last = cause
            if attempt < attempts - 1:
                wait = min(backoff * 2**attempt, _MAX_WAIT_S)
                log.warning(
                    f"trial {trial.number}: the study storage did not answer "
                    f"({type(cause).__name__}); retrying in {wait:g} s"
                )
                time.sleep(wait)
    raise StorageUnavailable(
        f"the study storage did not answer after {attempts} attempts "
        f"({type(last).__name__}: {redact(str(last)).splitlines()[0]})"
    )


def save_pending(folder: Path, study_name: str, number: int, told: Outcome) -> Path:
    """Write an untold result into its trial's folder; returns the file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PENDING_FILE
    record = {
        "study_name": study_name,
        "number": number,
        "state": told.state.name,
        "values": told.values,
        "fail_reason": told.fail_reason,
        "requeue": told.requeue,
    }
    # Written whole, then renamed: a half-written file is never mistaken for a result.
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(record, indent=2))
    partial.replace(path)
    return path


def save_untold(
    study_name: str,
    sweep_dir: Path,
    trials: Sequence[optuna.Trial],
    outcomes: Sequence[Outcome],
    down: StorageUnavailable,
) -> None:
    """Save results the storage did not take in their trials' folders, each with an error line.

    Args:
        study_name: the study.
        sweep_dir: `hydra.sweep.dir`.
        trials: the untold trials.
        outcomes: their results, in the same order.
        down: why they were not told.
    """
    for trial, told in zip(trials, outcomes, strict=True):
        # The job's folder, as `jobs._overrides` names it.
        folder = sweep_dir / f"trial-{trial.number:04d}"
        path = save_pending(folder, study_name, trial.number, told)
        requeued = "; its parameters re-queued" if told.requeue else ""
        log.error(
            f"trial {trial.number}: {down}; its result ({told.state.name}, {told.values}"
            f"{requeued}) is saved in {path} and told to the study when this sweep starts again"
        )


def tell_saved(study: optuna.Study, sweep_dir: Path) -> list[FrozenTrial]:
    """Tell the study the results an earlier invocation saved, for trials still RUNNING.

    Each file is deleted once told (or once found to be for a finished trial).

    Args:
        study: the study.
        sweep_dir: `hydra.sweep.dir`, whose `trial-*/` folders hold the files.

    Returns:
        The trials told.
    """
    told: list[FrozenTrial] = []
    trials = {trial.number: trial for trial in own_trials(study)}
    for path in sorted(sweep_dir.glob(f"trial-*/{PENDING_FILE}")):
        record = json.loads(path.read_text())
        if record["study_name"] != study.study_name:
            continue
        number = int(record["number"])
        trial = trials.get(number)
        if trial is None or trial.state != TrialState.RUNNING:
            state = "missing" if trial is None else trial.state.name
            log.warning(
                f"trial {number} is {state}: its saved result ({record['state']}, "
                f"{record['values']}) is not told again; {path} removed"
            )
            path.unlink()
            continue
        outcome = Outcome(
            TrialState[record["state"]],
            record["values"],
            record["fail_reason"],
            requeue=record.get("requeue") is True,
        )
        frozen = tell(study, optuna.Trial(study, compat.trial_id(trial)), outcome)
        path.unlink()
        log.info(f"trial {number}: told its saved result ({frozen.state.name}, {frozen.values})")
        told.append(frozen)
    return told
