"""A study's own trials: everything but the warm-start trials copied in from earlier studies.

A warm-started study (`hydra.sweeper.warm_start`, see `study.warm_start`) holds the finished
trials of earlier studies so that its sampler sees them as its own history. Nothing else may:
the trial count toward `n_trials`, the progress line, the summary, the report, the parent run,
the comparison page, promotion, liveness and pending results all read trials through this
module, never through `study.get_trials`, `study.trials`, `study.best_trial(s)` or
`study.trials_dataframe` (tests/study/test_own_trials.py greps for them); a job's pruner reads
`own_trials_study` (its median, percentile and start-up count are the study's own trials). Only
the sampler reads the whole study.

Optuna only: no Hydra, no MLflow.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence

import optuna
import pandas as pd
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from freezesweep import compat
from freezesweep.study.attributes import WARM_START_ATTR

__all__ = [
    "hide_warm_start_trials",
    "is_warm_start",
    "own_best_trial",
    "own_best_trials",
    "own_trials",
    "own_trials_dataframe",
    "own_trials_study",
]


def is_warm_start(trial: FrozenTrial) -> bool:
    """Whether a trial was copied in from an earlier study (it names that study)."""
    return WARM_START_ATTR in trial.system_attrs


def own_trials(
    study: optuna.Study, states: Iterable[TrialState] | None = None
) -> list[FrozenTrial]:
    """The study's trials (by number) without its warm-start trials, as `study.get_trials`.

    Args:
        study: the study.
        states: the states to keep. Defaults to `None` (all).
    """
    trials = study.get_trials(deepcopy=False, states=None if states is None else tuple(states))
    return [trial for trial in trials if not is_warm_start(trial)]


def own_trials_study(study: optuna.Study) -> optuna.Study:
    """The study as its pruner must see it: the same study, its warm-start trials hidden from
    `get_trials`, `trials` and `best_trial` (a job's trial is attached to it)."""
    return compat.study_view(study, lambda trial: not is_warm_start(trial))


def own_best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best COMPLETE own trial of a single-objective study (feasible ones only when the
    study has constraints, as `study.best_trial`); `None` before any."""
    completed = _feasible(own_trials(study, (TrialState.COMPLETE,)))
    if not completed:
        return None
    pick = min if study.direction == StudyDirection.MINIMIZE else max
    return pick(completed, key=lambda trial: float(trial.value))  # type: ignore[arg-type]


def own_best_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The Pareto front of the study's own COMPLETE trials (feasible ones only when the study
    has constraints, as `study.best_trials`)."""
    completed = _feasible(own_trials(study, (TrialState.COMPLETE,)))
    return compat.pareto_front(completed, study.directions)


def own_trials_dataframe(study: optuna.Study, attrs: Sequence[str]) -> pd.DataFrame:
    """`study.trials_dataframe(attrs)` of the own trials only (rows in trial-number order).

    Args:
        study: the study.
        attrs: as `optuna.Study.trials_dataframe` takes them.
    """
    frame = study.trials_dataframe(attrs=(*attrs, "system_attrs"))
    column = f"system_attrs_{WARM_START_ATTR}"
    if column in frame:
        frame = frame[frame[column].isna()].reset_index(drop=True)
    hidden = [c for c in frame.columns if str(c).startswith("system_attrs")]
    return frame.drop(columns=[] if "system_attrs" in attrs else hidden)


def _feasible(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    # As Optuna's best_trial(s): once any trial has constraints, only feasible ones qualify.
    if not any(trial.constraints for trial in trials):
        return trials
    return [t for t in trials if all(v <= 0 for v in t.constraints.values())]


def hide_warm_start_trials(storage: optuna.storages.BaseStorage) -> optuna.storages.BaseStorage:
    """`storage`, reading every study without its warm-start trials (what optuna-dashboard shows:
    its trial list, charts and best trial are the study's own).

    Args:
        storage: an opened storage (`study.storage.open_storage`); only read through afterwards.
    """
    listed = storage.get_all_trials

    def all_own(
        study_id: int, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        trials = listed(study_id, deepcopy=deepcopy, states=states)
        return [trial for trial in trials if not is_warm_start(trial)]

    def best_own(study_id: int) -> FrozenTrial:
        completed = _feasible(all_own(study_id, False, (TrialState.COMPLETE,)))
        if not completed:
            raise ValueError("No trials are completed yet.")  # as the storages say it
        minimize = storage.get_study_directions(study_id)[0] == StudyDirection.MINIMIZE
        return (min if minimize else max)(completed, key=lambda t: float(t.value))  # type: ignore[arg-type]

    storage.get_all_trials = all_own  # type: ignore[method-assign]
    storage.get_best_trial = best_own  # type: ignore[method-assign]
    return storage
