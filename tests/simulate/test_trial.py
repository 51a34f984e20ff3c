"""Tests for `freezesweep.simulate.trial`: a simulated sweep through the real sweeper, pruner and
MLflow, and a simulated single run."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from freezesweep.simulate import SIMULATED_TAG
from freezesweep.study.attributes import RUN_ID_ATTR, STAGE_EPOCHS_ATTR, TRAINABLE_PARAMS_ATTR
from tests.helpers.app_inprocess import run_app
from tests.helpers.shrink import ROOT

TRIAL = "freezesweep.trial"


@pytest.mark.timeout(300)
def test_a_simulated_sweep_reaches_its_total_with_one_run_per_trial(tmp_path: Path) -> None:
    storage, uri = f"sqlite:///{tmp_path}/optuna.db", f"sqlite:///{tmp_path}/mlflow.db"
    finished = run_app(
        tmp_path, "-m", "trainer.simulate=surface", "trainer.log_model=none",
        "hydra.sweeper.n_trials=9", "hydra.sweeper.study_name=dry",
        f"hydra.sweeper.storage={storage}", f"hydra.sweep.dir={tmp_path}/sweeps/dry",
        f"tracking.default_uri={uri}",
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr[-3000:]
    trials = optuna.load_study(study_name="dry", storage=storage).trials
    # Exactly the total, all finished; the default sweep's median pruner stopped some, each
    # after the epochs it was reported.
    assert len(trials) == 9 and all(t.state.is_finished() for t in trials)
    assert {t.state for t in trials} == {TrialState.COMPLETE, TrialState.PRUNED}
    for trial in trials:
        assert sum(trial.user_attrs[STAGE_EPOCHS_ATTR]) == len(trial.intermediate_values)
    # The same user attrs as a trained trial: its size, its cost, its MLflow run.
    assert all(t.user_attrs[TRAINABLE_PARAMS_ATTR] > 0 for t in trials)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("dry")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    children = [run for run in runs if TRIAL in run.data.tags]
    # One run per trial, each the trial's own, marked simulated, ended as Optuna ended it.
    assert sorted(int(r.data.tags[TRIAL]) for r in children) == list(range(9))
    assert {r.info.run_id for r in children} == {t.user_attrs[RUN_ID_ATTR] for t in trials}
    assert all(r.data.tags[SIMULATED_TAG] == "surface" for r in children)
    states = {int(r.data.tags[TRIAL]): r.info.status for r in children}
    expected = {"COMPLETE": "FINISHED", "PRUNED": "KILLED"}
    assert states == {t.number: expected[t.state.name] for t in trials}
    # Its values are the study's: the final val_accuracy of each completed trial.
    values = {int(r.data.tags[TRIAL]): r.data.metrics["val_accuracy"] for r in children}
    assert all(values[t.number] == pytest.approx(t.value) for t in trials if t.value is not None)
    assert all(run.info.status != "RUNNING" for run in runs)


def test_a_simulated_single_run_answers_from_a_recorded_table(tmp_path: Path) -> None:
    table = ROOT / "benchmarks" / "tables" / "t3_digits_animals.csv"
    finished = run_app(
        tmp_path, f"trainer.simulate={table}", "finetune.top_k=3", "finetune.lr=1e-3",
        f"tracking.default_uri=sqlite:///{tmp_path}/mlflow.db", f"hydra.run.dir={tmp_path}/run",
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_experiment_by_name("freezesweep")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    # The recorded point (3, 1e-3): its final value and trainable count, tagged with the table.
    assert run.data.tags[SIMULATED_TAG] == str(table)
    assert run.data.metrics["val_accuracy"] == pytest.approx(0.7739999890327454)
    assert run.data.metrics["trainable_params"] == 143498
