"""Budgets: the job records Optuna constraints and stops over-budget trials before training."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from freezesweep import trial as trial_module
from freezesweep.study.attributes import CONSTRAINTS_ATTR, PRUNE_REASON_ATTR
from freezesweep.study.constraints import enforce_budgets, feasible
from freezesweep.study.pruning import attach_trial
from freezesweep.study.report import trials_frame
from freezesweep.trial import run_trial
from tests.helpers.shrink import compose_config


def _study_with_budget(storage: str, budget: int | None) -> tuple[optuna.Study, int]:
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    trial = study.ask()
    if budget is not None:
        trial.storage.set_trial_system_attr(
            trial._trial_id, CONSTRAINTS_ATTR, {"trainable_params": budget}
        )
    return study, trial.number


def test_within_budget_records_a_feasible_constraint(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study, number = _study_with_budget(storage, 1000)
    enforce_budgets(attach_trial("s", storage, number), {"trainable_params": 325})
    # Optuna's own constraint record: count - budget, <= 0 means feasible.
    assert study.trials[number].constraints == {"trainable_params": 325.0 - 1000.0}
    assert feasible(study.trials[number].constraints) is True


def test_no_budget_records_no_constraint(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study, number = _study_with_budget(storage, None)
    enforce_budgets(attach_trial("s", storage, number), {"trainable_params": 10**6})
    # Without a budget the study stays unconstrained (no feasibility column in reports).
    assert study.trials[number].constraints == {}
    assert feasible(study.trials[number].constraints) is None


def test_over_budget_raises_pruned_with_the_reason(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study, number = _study_with_budget(storage, 1000)
    with pytest.raises(optuna.TrialPruned) as caught:
        enforce_budgets(attach_trial("s", storage, number), {"trainable_params": 74053})
    assert str(caught.value) == "over budget: trainable_params=74053 > 1000; not trained."
    frozen = study.trials[number]
    assert frozen.constraints == {"trainable_params": 73053.0}
    assert frozen.user_attrs[PRUNE_REASON_ATTR] == "over budget"


def test_infeasible_trial_is_never_trained_and_has_no_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A sweep job over its budget stops before the MLflow run exists and before any fit.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study, number = _study_with_budget(storage, 1000)

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("an over-budget trial must not train")

    monkeypatch.setattr(trial_module, "run_schedule", no_training)
    cfg = compose_config(
        tmp_path,
        "finetune.top_k=1",
        f"trial.number={number}",
        "trial.study_name=s",
        f"trial.storage={storage}",
    )
    with pytest.raises(optuna.TrialPruned, match=r"^over budget"):
        run_trial(cfg)
    # No MLflow store was even created, so no run of any state exists.
    assert not (tmp_path / "mlruns").exists()
    frozen = study.trials[number]
    assert frozen.user_attrs["trainable_params"] == 73728 + 325
    assert frozen.constraints == {"trainable_params": 73728 + 325 - 1000.0}


def test_report_marks_feasibility(tmp_path: Path) -> None:
    study = optuna.create_study(direction="maximize")
    for params, state in ((325, TrialState.COMPLETE), (74053, TrialState.PRUNED)):
        trial = study.ask()
        trial.set_user_attr("trainable_params", params)
        trial.set_constraint("trainable_params", params - 1000)
        if state == TrialState.PRUNED:
            trial.set_user_attr(PRUNE_REASON_ATTR, "over budget")
        study.tell(trial, 0.9 if state == TrialState.COMPLETE else None, state=state)
    table = trials_frame(study)
    # One column says which trials kept the budget; over-budget ones say why they stopped.
    assert table["feasible"].tolist() == [True, False]
    assert table[PRUNE_REASON_ATTR].fillna("").tolist() == ["", "over budget"]


def _toy_sweep(budget: float | None, seed: int) -> list[float]:
    """TPE maximizing x on [0, 10] (bigger is better, like accuracy vs. depth), each trial told
    the way a freezesweep job tells it: over budget -> constraint > 0 and PRUNED, untrained."""
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=8)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    suggestions = []
    for _ in range(40):
        trial = study.ask()
        x = trial.suggest_float("x", 0.0, 10.0)
        suggestions.append(x)
        if budget is None:
            study.tell(trial, x)
            continue
        trial.set_constraint("x", x - budget)
        if x > budget:
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, x)
    return suggestions[8:]


def test_tpe_suggestions_shift_into_the_feasible_region_under_a_budget() -> None:
    # Without a budget TPE climbs towards x = 10 (a few % of its suggestions at x <= 3); with
    # x <= 3 infeasible trials rank worst and about half its suggestions land at or below 3
    # (the rest probe just above the boundary, where the best feasible values are).
    for seed in range(3):
        free = _toy_sweep(None, seed)
        bounded = _toy_sweep(3.0, seed)
        share_free = sum(x <= 3.0 for x in free) / len(free)
        share_bounded = sum(x <= 3.0 for x in bounded) / len(bounded)
        assert share_bounded >= share_free + 0.3, (seed, share_free, share_bounded)
