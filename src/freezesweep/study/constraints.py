"""Budgets: `hydra.sweeper.constraints`, told to Optuna's trial-level constraint API by the job.

The sweeper writes the budgets on each trial (system attr `CONSTRAINTS_ATTR`); the job, once its
freeze plan gives `trainable_params` (before anything trains), records `count - budget` with
`Trial.set_constraint` (Optuna 5; feasible when <= 0) and stops an over-budget trial at once:
`optuna.TrialPruned("over budget ...")`, before its MLflow run exists. PRUNED, not FAIL, because
TPE ranks PRUNED trials with a positive constraint as infeasible (the "bad" group it steers away
from) while it ignores FAIL trials, and PRUNED never counts against `max_failure_rate`.

Optuna only: no Hydra, no MLflow, no Keras.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna

from freezesweep import compat
from freezesweep.objectives import TRAINABLE_PARAMS
from freezesweep.study.attributes import CONSTRAINTS_ATTR, PRUNE_REASON_ATTR

__all__ = ["CONSTRAINT_METRICS", "enforce_budgets", "feasible"]

CONSTRAINT_METRICS = (TRAINABLE_PARAMS,)
"""Metrics a budget may name: those known before training."""


def enforce_budgets(trial: optuna.Trial, measured: Mapping[str, int]) -> None:
    """Record each budgeted metric's excess as a constraint; stop the trial if any is positive.

    Args:
        trial: the job's live trial (from `pruning.attach_trial`).
        measured: the trial's values of `CONSTRAINT_METRICS`, e.g. `{"trainable_params": 74053}`.

    Raises:
        optuna.TrialPruned: `over budget: ...`, when a value exceeds its budget.
    """
    attrs = trial.storage.get_trial_system_attrs(compat.trial_id(trial))
    budgets: Mapping[str, Any] = attrs.get(CONSTRAINTS_ATTR) or {}
    over = []
    for metric, limit in budgets.items():
        excess = int(measured[metric]) - int(limit)
        trial.set_constraint(metric, float(excess))
        if excess > 0:
            over.append(f"{metric}={measured[metric]} > {limit}")
    if over:
        trial.set_user_attr(PRUNE_REASON_ATTR, "over budget")
        raise optuna.TrialPruned(f"over budget: {', '.join(over)}; not trained.")


def feasible(constraints: Mapping[str, float]) -> bool | None:
    """True when every constraint is <= 0, False when one is positive, None with no constraints."""
    if not constraints:
        return None
    return all(value <= 0 for value in constraints.values())
