"""A warm-started study reports, counts and promotes its own trials only."""

from __future__ import annotations

import re
from pathlib import Path

import optuna

from freezesweep.study.hooks import study_metrics
from freezesweep.study.own_trials import (
    hide_warm_start_trials,
    is_warm_start,
    own_best_trial,
    own_best_trials,
    own_trials,
    own_trials_dataframe,
)
from freezesweep.study.promote import champion_and_knee
from freezesweep.study.pruning import dominated
from freezesweep.study.report import trials_frame
from tests.helpers.summary_study import SPACE, warm_started

SRC = Path(__file__).resolve().parents[2] / "src"
# What reads a study's trials around `own_trials`: the sampler's view, not a report's.
_READERS = re.compile(
    r"\.get_trials\(|\.trials_dataframe\(|\bstudy\.(trials|best_trial|best_trials|best_value)\b"
)


def test_reports_and_promotion_see_the_own_trials_only(tmp_path: Path) -> None:
    study = warm_started(tmp_path)
    assert is_warm_start(study.trials[0]) and len(study.trials) == 7
    assert [t.number for t in own_trials(study)] == [1, 2, 3, 4, 5, 6]
    # The report's table (CSV, Pareto set, comparison page, parent run) has no warm-start row.
    table = trials_frame(study)
    assert list(table["number"]) == [1, 2, 3, 4, 5, 6]
    # The champion is the own 0.83 trial (#2), not the earlier study's 0.99; the knee is the
    # smallest own trial within 1 pp of it (#2 again, 74,053 params: #3 is 2 pp below).
    assert champion_and_knee(table) == (2, 2)
    best = own_best_trial(study)
    assert best is not None and best.number == 2
    assert own_trials_dataframe(study, ("number", "value"))["number"].tolist() == [1, 2, 3, 4, 5, 6]
    # The study metrics on the parent run count and rank the own trials.
    metrics = study_metrics(study)
    assert metrics["best_val_accuracy"] == 0.83
    assert (metrics["n_complete"], metrics["n_pruned"], metrics["n_failed"]) == (4, 1, 1)


def test_a_warm_start_trial_never_dominates_a_trial_that_keeps_its_model(tmp_path: Path) -> None:
    study = warm_started(tmp_path)
    trial = study.ask(SPACE)
    # The earlier 0.99 / 10 params would dominate 0.9 / 1000; among the own trials none does.
    assert not dominated(trial, 0.9, 1000)
    assert dominated(trial, 0.8, 200_000)  # #2 (0.83, 74,053) does


def test_the_pareto_set_is_the_own_trials_front(tmp_path: Path) -> None:
    study = warm_started(tmp_path, ["maximize", "minimize"])
    # Optuna's own front would be the warm-start trial alone; the own front is #1, #2.
    assert [t.number for t in study.best_trials] == [0]
    assert sorted(t.number for t in own_best_trials(study)) == [1, 2]


def test_the_dashboard_reads_each_study_without_its_warm_start_trials(tmp_path: Path) -> None:
    study = warm_started(tmp_path)
    storage = hide_warm_start_trials(optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/optuna.db"))
    study_id = storage.get_study_id_from_name("new")
    assert [t.number for t in storage.get_all_trials(study_id, deepcopy=False)] == [
        1,
        2,
        3,
        4,
        5,
        6,
    ]
    assert storage.get_best_trial(study_id).number == 2
    assert study.best_trial.number == 0  # what it would show otherwise


def test_no_module_reads_a_studys_trials_but_through_own_trials() -> None:
    # One chokepoint: a new reader of study.trials would count, report or promote warm-start
    # trials. (optuna's pruners and samplers read the study themselves: they are meant to.)
    found = [
        f"{path.relative_to(SRC)}:{number}: {line.strip()}"
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "own_trials.py"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if _READERS.search(line)
    ]
    assert found == []
