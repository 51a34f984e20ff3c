"""The study's summary values: the search space as text, the best trial, best val_accuracy per
depth."""

from __future__ import annotations

import optuna
from optuna.distributions import CategoricalDistribution, IntDistribution

from freezesweep.study.report import trials_frame
from freezesweep.study.summary import best_trial, depth_table, search_space
from tests.helpers.summary_study import summary_study


def test_the_search_space_reads_as_params() -> None:
    # One param per searched name, saying kind, range and scale.
    assert search_space(summary_study()) == {
        "search_space.finetune.lr": "float [1e-05, 0.01] log",
        "search_space.finetune.top_k": "int [0, 4]",
    }


def test_the_best_trial_is_the_most_accurate_completed_one() -> None:
    # Trial 1 (0.83); the pruned and failed trials never count.
    best = best_trial(trials_frame(summary_study()))
    assert best is not None
    assert (int(best["number"]), best["run_id"]) == (1, "run-1")


def test_no_best_trial_before_one_completed() -> None:
    study = summary_study()
    table = trials_frame(study)
    assert best_trial(table[table["state"] != "COMPLETE"]) is None


def test_the_depth_table_has_each_depths_best_completed_trial() -> None:
    depths = depth_table(trials_frame(summary_study()))
    # Depths 3 (failed) and 4 (pruned) have no completed trial; depth 1's best is trial 1 of 2.
    assert depths["depth"].tolist() == [0, 1, 2]
    assert depths["val_accuracy"].tolist() == [0.70, 0.83, 0.80]
    assert depths["number"].tolist() == [0, 1, 3]
    assert depths["trials"].tolist() == [1, 2, 1]
    assert depths["trainable_params"].tolist() == [325, 74_053, 129_349]


def test_searched_keys_added_with_plus_are_valid_param_names() -> None:
    # A sweep may search a key its config lacks (`+schedule.stages.1.optimizer.beta_1=0.9,nope`);
    # MLflow refuses `+` in a param name, and the summary used to crash the sweep's end.
    study = optuna.create_study()
    space = {
        "+schedule.stages.1.optimizer.beta_1": CategoricalDistribution(["0.9", "nope"]),
        "++trainer.x@y": IntDistribution(0, 3),
    }
    study.add_trial(
        optuna.trial.create_trial(
            params={"+schedule.stages.1.optimizer.beta_1": "0.9", "++trainer.x@y": 1},
            distributions=space,
            value=0.5,
        )
    )
    assert search_space(study) == {
        "search_space.schedule.stages.1.optimizer.beta_1": "categorical ['0.9', 'nope']",
        "search_space.trainer.x_y": "int [0, 3]",
    }
