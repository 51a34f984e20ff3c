"""freezesweep.replay.from_study: a finished study read as a grid table."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState

from freezesweep.errors import ConfigError
from freezesweep.replay.from_study import table_from_study
from freezesweep.study.pruning import record_costs, record_trainable_params


def _run(study: optuna.Study, depth: int, curve: list[float], state: TrialState) -> None:
    trial = study.ask({"finetune.top_k": optuna.distributions.IntDistribution(0, 4)})
    for epoch, value in enumerate(curve):
        trial.report(value, epoch)
    record_trainable_params(trial, 100 * (depth + 1), "unfreeze")
    record_costs(trial, [2, len(curve) - 2], [1.5, 0.25 * len(curve)])
    study.tell(trial, curve[-1] if state == TrialState.COMPLETE else None, state=state)


def test_complete_and_pruned_trials_become_points_failed_ones_do_not() -> None:
    study = optuna.create_study(study_name="s", direction="maximize")
    study.enqueue_trial({"finetune.top_k": 1})
    _run(study, 1, [0.5, 0.6, 0.7, 0.8], TrialState.COMPLETE)
    study.enqueue_trial({"finetune.top_k": 2})
    _run(study, 2, [0.5, 0.6, 0.55], TrialState.PRUNED)
    study.tell(study.ask(), state=TrialState.FAIL)
    table = table_from_study(study, {"commit": "c", "machine": "m", "seed": "0"})
    assert table.provenance == {"commit": "c", "machine": "m", "seed": "0", "study": "s"}
    done, pruned = table.points
    assert done.params == {"finetune.top_k": 1} and done.value == 0.8
    assert done.curve == (0.5, 0.6, 0.7, 0.8) and done.trainable_params == 200
    assert done.stage_epochs == (2, 2) and done.stage_seconds == (1.5, 1.0)
    assert pruned.state == "PRUNED" and math.isnan(pruned.value) and len(pruned.curve) == 3


def test_a_study_without_recorded_costs_is_refused_naming_the_trial() -> None:
    study = optuna.create_study(study_name="old", direction="maximize")
    trial = study.ask({"x": optuna.distributions.IntDistribution(0, 1)})
    trial.report(0.5, 0)
    study.tell(trial, 0.5)
    with pytest.raises(ConfigError, match=r"^study 'old': trial 0 has no stage_seconds"):
        table_from_study(study)


def test_empty_and_multi_objective_studies_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"^study 'e': no COMPLETE or PRUNED trial to replay\.$"):
        table_from_study(optuna.create_study(study_name="e"))
    two = optuna.create_study(study_name="m", directions=["maximize", "minimize"])
    with pytest.raises(ConfigError, match=r"^study 'm': a multi-objective study cannot be"):
        table_from_study(two)
