"""Tests for P10's checks (`freezesweep.bench._many_workers`), and a small P10 in the cluster
tier: 3 simulated workers on one study, each trial exactly once in the study and in MLflow."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from freezesweep.bench._many_workers import check_study, run_workers
from tests.helpers.postgres import postgres_database
from tests.helpers.shrink import CONF


def _study(*params: float, running: bool = False) -> optuna.Study:
    study = optuna.create_study()
    for x in params:
        study.enqueue_trial({"x": x})
        trial = study.ask()
        study.tell(trial, trial.suggest_float("x", 0, 1))
    if running:
        study.ask()
    return study


def test_a_study_is_checked_for_its_total_running_trials_and_repeated_sets() -> None:
    assert sorted(check_study(_study(0.1, 0.2), 2)) == [0, 1]
    with pytest.raises(RuntimeError) as short:
        check_study(_study(0.1), 2)
    assert str(short.value) == (
        "P10: 1 finished trials of 2, RUNNING [], 0 parameter set(s) run twice"
    )
    with pytest.raises(RuntimeError) as twice:
        check_study(_study(0.1, 0.1, running=True), 2)
    assert str(twice.value) == (
        "P10: 2 finished trials of 2, RUNNING [2], 1 parameter set(s) run twice"
    )


@pytest.mark.cluster
@pytest.mark.timeout(900)
@pytest.mark.parametrize("kind", ["journal", "postgresql"])
def test_three_simulated_workers_finish_the_study_exactly(tmp_path: Path, kind: str) -> None:
    # run_workers raises unless exactly 6 trials finished, none RUNNING, no set twice, and each
    # has exactly one ended MLflow run.
    if kind == "journal":
        side = run_workers(CONF, tmp_path, f"journal:{tmp_path}/optuna.journal", 3, 6, 0.2)
    else:
        with postgres_database() as url:
            side = run_workers(CONF, tmp_path, url, 3, 6, 0.2)
    assert (side.workers, side.n_trials) == (3, 6) and side.per_minute > 0
