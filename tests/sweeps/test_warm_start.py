"""End to end: `python sweep.py -m` warm-started from an earlier study, read back from Optuna
and MLflow: the sampler's history, never a trial, a run or a report row of the new study."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from freezesweep.study.own_trials import is_warm_start
from tests.helpers.processes import Completed, run
from tests.helpers.shrink import ROOT

FAST = [
    "schedule.stages.0.epochs=1",
    "schedule.stages.1.epochs=1",
    "data.train_per_class=5",
    "trainer.log_model=none",
    "hydra.sweeper.n_trials=2",
]


def _sweep(tmp_path: Path, *overrides: str) -> Completed:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("MLFLOW_TRACKING_URI", "KERAS_BACKEND") and not key.startswith("SLURM_")
    }
    environment["MLFLOW_DISABLE_TELEMETRY"] = "true"
    command = [sys.executable, str(ROOT / "sweep.py"), "-m", *FAST, *overrides]
    process = run(command, cwd=tmp_path, env=environment, timeout=600)
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    return process


@pytest.mark.slow
def test_a_warm_started_sweep_trains_logs_and_reports_its_own_trials(tmp_path: Path) -> None:
    _sweep(tmp_path, "hydra.sweeper.study_name=old")
    done = _sweep(tmp_path, "hydra.sweeper.study_name=new", "hydra.sweeper.warm_start=[old]")
    assert "warm start: 'old' (2 trials)" in done.stdout + done.stderr
    study = optuna.load_study(study_name="new", storage=f"sqlite:///{tmp_path}/sweeps/optuna.db")
    own = [trial.number for trial in study.trials if not is_warm_start(trial)]
    assert len(study.trials) == 4 and own == [2, 3]
    # MLflow: one run per own trial under the parent, which names the earlier study.
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("new")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    names = sorted(run.info.run_name for run in runs if "mlflow.parentRunId" in run.data.tags)
    assert names == ["trial-0002", "trial-0003"]
    (parent,) = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    assert parent.data.params["warm_start"] == "'old' (2 trials)"
    assert int(parent.data.tags["freezesweep.best_trial"]) in own
    # The report's table: the own trials only.
    rows = (tmp_path / "sweeps" / "new" / "report" / "trials.csv").read_text().splitlines()
    assert len(rows) == 3
