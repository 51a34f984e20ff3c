"""The private Optuna APIs freezesweep touches (see `freezesweep.compat`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def study_storage(study: Any) -> Any:
    """The storage object behind an `optuna.Study` (to write trial state and system attrs).

    Optuna 5.0: `Study._storage`; the public API has no setter for another worker's trial.
    """
    return study._storage


def study_id(study: Any) -> int:
    """The storage id of an `optuna.Study` (to create a trial in it through the storage).

    Optuna 5.0: `Study._study_id`.
    """
    return int(study._study_id)


def study_view(study: Any, keep: Callable[[Any], bool]) -> Any:
    """`study` (an `optuna.Study`) reading only the trials `keep` accepts: what its pruner sees.

    Optuna 5.0: `Study._get_trials` (behind `get_trials`, `trials` and every pruner's reads),
    `Study._get_best_trial` (behind `best_trial`, read by `WilcoxonPruner`) and `Study._storage`.
    Optuna's own `HyperbandPruner` gives its brackets such a view (`_BracketStudy`).
    """
    import optuna
    from optuna.study import StudyDirection
    from optuna.trial import TrialState

    class _View(optuna.Study):
        def _get_trials(
            self, deepcopy: bool = True, states: Any = None, use_cache: bool = False
        ) -> list[Any]:
            return [t for t in super()._get_trials(deepcopy, states, use_cache) if keep(t)]

        def _get_best_trial(self, deepcopy: bool) -> Any:
            if len(self.directions) > 1:
                return super()._get_best_trial(deepcopy)  # raises, as for any Pareto study
            completed = self._get_trials(deepcopy, (TrialState.COMPLETE,))
            feasible = [t for t in completed if all(v <= 0 for v in t.constraints.values())]
            if not feasible:
                raise ValueError("No feasible trials are completed yet.")
            pick = min if self.direction == StudyDirection.MINIMIZE else max
            return pick(feasible, key=lambda trial: trial.value)

    return _View(study.study_name, study._storage, sampler=study.sampler, pruner=study.pruner)


def trial_id(trial: Any) -> int:
    """The storage id of an `optuna.Trial` or `FrozenTrial` (not its per-study number).

    Optuna 5.0: `Trial._trial_id` and `FrozenTrial._trial_id`.
    """
    return int(trial._trial_id)


def distribution_contains(distribution: Any, value: Any) -> bool:
    """Whether an Optuna distribution holds `value` (in range, on its step, among its choices).

    Optuna 5.0: `BaseDistribution._contains` on `to_internal_repr(value)` (which raises
    ValueError for a value of the wrong kind or a choice it lacks).
    """
    try:
        return bool(distribution._contains(distribution.to_internal_repr(value)))
    except (ValueError, TypeError):
        return False


def pareto_front(trials: Any, directions: Any) -> list[Any]:
    """The COMPLETE trials among `trials` that no other one dominates (Optuna's own rule).

    Optuna 5.0: `optuna.study._multi_objective._get_pareto_front_trials_by_trials`; the public
    `Study.best_trials` reads every trial of the study, warm-start trials included.
    """
    from optuna.study._multi_objective import _get_pareto_front_trials_by_trials

    return list(_get_pareto_front_trials_by_trials(list(trials), list(directions)))


def pruner_warmup_steps(pruner: Any) -> int:
    """The steps before which an Optuna pruner never prunes (0 when unknown).

    Optuna 5.0: `PercentilePruner._n_warmup_steps` (`MedianPruner` is one); its `prune` returns
    `False` for any step below it, after reading every trial of the study.
    """
    import optuna

    if isinstance(pruner, optuna.pruners.PercentilePruner):
        return int(pruner._n_warmup_steps)
    return 0
