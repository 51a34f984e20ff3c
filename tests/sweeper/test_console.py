"""The sweep's progress line: finished of total, the best so far, elapsed time and an ETA."""

from __future__ import annotations

import datetime

import optuna

from freezesweep.study.attributes import PRUNE_REASON_ATTR
from hydra_plugins.freezesweep_sweeper.loop._progress import sweep_progress


def _study(seconds: list[float], values: list[float]) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    start = datetime.datetime(2026, 1, 1)
    for duration, value in zip(seconds, values, strict=True):
        study.add_trial(
            optuna.trial.FrozenTrial(
                number=0,
                trial_id=0,
                state=optuna.trial.TrialState.COMPLETE,
                value=value,
                datetime_start=start,
                datetime_complete=start + datetime.timedelta(seconds=duration),
                params={},
                distributions={},
                user_attrs={},
                system_attrs={},
                intermediate_values={},
            )
        )
    return study


def test_progress_line_counts_the_best_and_the_time_left() -> None:
    study = _study([10.0, 30.0, 20.0], [0.5, 0.9, 0.7])
    # 3 of 10 finished; 7 left at the median trial time (20 s) is 2m20s.
    assert sweep_progress(study, 10, 1, 65.0) == "[3/10] best 0.9 (#1) · 1m05s elapsed · ETA 2m20s"
    # Two jobs at a time: 7 left take 4 rounds of the median.
    assert sweep_progress(study, 10, 2, 5.0).endswith("· 5s elapsed · ETA 1m20s")
    # The study total reached: nothing left to estimate.
    assert sweep_progress(study, 3, 1, 3725.0) == "[3/3] best 0.9 (#1) · 1h02m elapsed · done"


def test_progress_line_before_any_completed_trial() -> None:
    study = optuna.create_study()
    study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)
    # A failed trial has no duration worth estimating from, and no best yet.
    assert sweep_progress(study, 4, 1, 1.0).startswith("[1/4] best none yet · 1s elapsed · ")


def test_progress_line_says_why_an_over_budget_trial_was_pruned() -> None:
    from hydra_plugins.freezesweep_sweeper.loop._progress import progress_line

    study = optuna.create_study(direction="maximize")
    trial = study.ask({"finetune.top_k": optuna.distributions.IntDistribution(1, 4)})
    trial.set_user_attr("trainable_params", 74053)
    trial.set_user_attr(PRUNE_REASON_ATTR, "over budget")
    frozen = study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    # The reason the job recorded is on the trial's one console line.
    line = progress_line(frozen, study, ["val_accuracy"])
    assert line.startswith("trial 0 PRUNED trainable_params=74053 top_k=")
    assert "reason=over budget" in line
