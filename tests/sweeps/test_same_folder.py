"""Two `python sweep.py -m` processes started in the same second in one folder, each with its own
study: separate outputs, no file written by both, both studies and experiments complete."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from tests.helpers.processes import SWEEP, Completed, app_environment, finish, start

pytestmark = pytest.mark.slow  # two real sweeps side by side, ~1 min each pair on 2 cores

SMALL = [
    "schedule.stages.0.epochs=1",
    "schedule.stages.1.epochs=1",
    "data.train_per_class=5",
    "trainer.verbose=0",
    "hydra.sweeper.n_trials=1",
    "hydra.sweeper.enqueue=[]",  # the default sweep's two baselines would stay WAITING
]


def _start_together(cwd: Path, *studies: str | None) -> list[Completed]:
    """Starts one sweep per study name (None: unnamed) back to back, then waits for all."""
    processes = []
    started = []
    try:
        for study in studies:
            name = "null" if study is None else study
            command = [sys.executable, str(SWEEP), "-m", *SMALL, f"hydra.sweeper.study_name={name}"]
            started.append(time.time())
            processes.append(start(command, cwd=cwd, env=app_environment()))
        # Started within the same second: Hydra's `${now:...}` folders could not tell them apart.
        assert max(started) - min(started) < 1.0
        return [finish(process, timeout=400) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def _check_separate(cwd: Path, names: list[str]) -> None:
    storage = f"sqlite:///{cwd}/sweeps/optuna.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{cwd}/mlruns/mlflow.db")
    for name in names:
        folder = cwd / "sweeps" / name
        # The sweep's own folder, its multirun.yaml and its job naming this study only.
        multirun = yaml.safe_load((folder / "multirun.yaml").read_text())
        assert multirun["hydra"]["sweeper"]["study_name"] == name
        job = yaml.safe_load((folder / "trial-0000" / ".hydra" / "config.yaml").read_text())
        assert job["trial"]["study_name"] == name
        assert (folder / "trial-0000" / "freeze_audit.json").is_file()
        study = optuna.load_study(study_name=name, storage=storage)
        assert [trial.state for trial in study.trials] == [TrialState.COMPLETE]
        experiment = client.get_experiment_by_name(name)
        assert experiment is not None
        runs = client.search_runs([experiment.experiment_id])
        assert sorted(
            run.info.run_name for run in runs if run.info.run_name.startswith("trial-")
        ) == ["trial-0000"]
        # Nothing left RUNNING, in Optuna or MLflow.
        assert all(run.info.status != "RUNNING" for run in runs)
        assert not study.get_trials(states=(TrialState.RUNNING,))
    # Every output lies in one study's folder (the shared stores aside): nothing written by both.
    outputs = {
        path.relative_to(cwd).parts[1]
        for path in (cwd / "sweeps").rglob("*")
        if path.is_file() and path.name != "optuna.db"
    }
    assert outputs == set(names)


@pytest.mark.timeout(600)
def test_two_named_sweeps_started_together_write_separate_outputs(tmp_path: Path) -> None:
    first, second = _start_together(tmp_path, "alpha", "beta")
    assert first.returncode == 0, first.stderr[-3000:]
    assert second.returncode == 0, second.stderr[-3000:]
    _check_separate(tmp_path, ["alpha", "beta"])


@pytest.mark.timeout(600)
def test_two_unnamed_sweeps_started_together_write_separate_outputs(tmp_path: Path) -> None:
    # study_name=null: each invocation is a new study no-name-<uuid>, and its own folder (not a
    # shared sweeps/None).
    first, second = _start_together(tmp_path, None, None)
    assert first.returncode == 0, first.stderr[-3000:]
    assert second.returncode == 0, second.stderr[-3000:]
    names = sorted(
        s.study_name
        for s in optuna.get_all_study_summaries(f"sqlite:///{tmp_path}/sweeps/optuna.db")
        if not s.study_name.endswith(":workers")
    )
    assert len(names) == 2 and all(name.startswith("no-name-") for name in names)
    assert not (tmp_path / "sweeps" / "None").exists()
    _check_separate(tmp_path, names)
