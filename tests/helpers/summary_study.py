"""A small finished study for the summary and comparison tests: six trials of every state."""

from __future__ import annotations

from collections.abc import Mapping

import optuna
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

SPACE = {
    "finetune.top_k": IntDistribution(0, 4),
    "finetune.lr": FloatDistribution(1e-5, 1e-2, log=True),
}
# (top_k, lr, state, val_accuracy, trainable_params)
TRIALS = [
    (0, 1e-3, TrialState.COMPLETE, 0.70, 325),
    (1, 3e-4, TrialState.COMPLETE, 0.83, 74_053),
    (1, 1e-4, TrialState.COMPLETE, 0.81, 74_053),
    (2, 3e-4, TrialState.COMPLETE, 0.80, 129_349),
    (4, 1e-2, TrialState.PRUNED, 0.55, 145_621),
    (3, 1e-3, TrialState.FAIL, None, 140_000),
]


def summary_study(name: str = "toy", runs: Mapping[int, str] | None = None) -> optuna.Study:
    """The six trials above, each with its run id (`runs`, else `run-<number>`)."""
    study = optuna.create_study(study_name=name, direction="maximize")
    for number, (top_k, lr, state, accuracy, params) in enumerate(TRIALS):
        attrs = {
            "trainable_params": params,
            "mlflow_run_id": (runs or {}).get(number, f"run-{number}"),
        }
        study.add_trial(
            create_trial(
                state=state,
                params={"finetune.top_k": top_k, "finetune.lr": lr},
                distributions=SPACE,
                value=accuracy if state == TrialState.COMPLETE else None,
                intermediate_values={3: accuracy} if state == TrialState.PRUNED else None,
                user_attrs=attrs,
            )
        )
    return study
