"""Warm-up reports written in the background: all in the study once flushed, errors raised."""

from __future__ import annotations

import threading

import optuna
import pytest

from freezesweep.study._reports import LaterReports


def test_every_queued_value_is_in_the_study_after_flush() -> None:
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    later = LaterReports(trial)
    for step in range(5):
        later.report(step / 10, step)
    later.flush()
    assert study.trials[0].intermediate_values == {step: step / 10 for step in range(5)}
    # The writer thread is gone: a sweep's trials in one process do not pile threads up.
    assert not [t for t in threading.enumerate() if t.name.startswith("freezesweep-report")]


def test_a_failed_write_is_raised_by_flush() -> None:
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    study.tell(trial, 1.0)  # told: the storage refuses any further value
    later = LaterReports(trial)
    later.report(0.5, 0)
    with pytest.raises(RuntimeError, match="finished"):
        later.flush()
