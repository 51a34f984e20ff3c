"""A small finished study for the summary and comparison tests: six trials of every state, alone
or after a warm-start trial from an earlier study."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import optuna
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from freezesweep.study.warm_start import WarmSource, add_warm_start, read_sources

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


def warm_started(tmp_path: Path, directions: list[str] | None = None) -> optuna.Study:
    """The summary study's six trials (#1-#6) after one warm-start trial (#0) that beats them
    all: more accurate (0.99) with fewer trainable parameters (10)."""
    url = f"sqlite:///{tmp_path}/optuna.db"
    directions = directions or ["maximize"]
    earlier = optuna.create_study(study_name="old", storage=url, directions=directions)
    earlier.add_trial(
        create_trial(
            params={"finetune.top_k": 4, "finetune.lr": 1e-3},
            distributions=SPACE,
            values=[0.99, 10][: len(directions)],
            user_attrs={"trainable_params": 10, "mlflow_run_id": "old-run"},
        )
    )
    study = optuna.create_study(study_name="new", storage=url, directions=directions)
    warm = read_sources(
        [WarmSource("old", url)],
        SPACE,
        directions=directions,
        objectives=["val_accuracy", "trainable_params"][: len(directions)],
        budgets={},
        own=WarmSource("new", url),
    )
    add_warm_start(study, warm, created=True)
    for number, (top_k, lr, state, accuracy, params) in enumerate(TRIALS, start=1):
        complete = state == TrialState.COMPLETE
        study.add_trial(
            create_trial(
                state=state,
                params={"finetune.top_k": top_k, "finetune.lr": lr},
                distributions=SPACE,
                values=[accuracy, params][: len(directions)] if complete else None,
                intermediate_values={3: accuracy} if state == TrialState.PRUNED else None,
                user_attrs={"trainable_params": params, "mlflow_run_id": f"run-{number}"},
            )
        )
    return study
