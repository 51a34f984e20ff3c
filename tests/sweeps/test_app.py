"""End to end: the real `python sweep.py` as a subprocess, read back from MLflow."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers.processes import Completed, run_script

FAST = [
    "schedule.stages.0.epochs=2",
    "schedule.stages.1.epochs=2",
    "data.train_per_class=10",
]


def _sweep(tmp_path: Path, *overrides: str) -> Completed:
    return run_script(tmp_path, *overrides)


@pytest.mark.slow
def test_one_trial_runs_and_lands_in_mlflow(tmp_path: Path) -> None:
    first = _sweep(tmp_path, *FAST, "finetune.top_k=2", "finetune.lr=1e-3")
    assert first.returncode == 0, first.stderr[-3000:]
    # The summary shows each stage with its units, trainable params and fraction.
    assert re.search(r"^head\s+-\s+325\s+0\.2%\s+2\s", first.stdout, re.MULTILINE)
    assert re.search(r"^finetune\s+block3,block4\s+129,349\s+88\.0%\s+2\s", first.stdout, re.M)
    # Keras prints one line per epoch when not on a terminal, never a per-batch bar.
    assert "Epoch 4/4" in first.stdout and "\x08" not in first.stdout
    # The default store is ./mlruns/mlflow.db with artifacts under ./mlruns/artifacts.
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("freezesweep")
    assert experiment is not None
    assert experiment.artifact_location.startswith((tmp_path / "mlruns" / "artifacts").as_uri())
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.metrics["trainable_params"] == 129349

    # Same seed, same command: the same validation accuracy.
    second = _sweep(tmp_path, *FAST, "finetune.top_k=2", "finetune.lr=1e-3")
    accuracy = re.compile(r"^val_accuracy=(\S+)", re.MULTILINE)
    assert accuracy.findall(first.stdout) == accuracy.findall(second.stdout)


@pytest.mark.slow
def test_bad_input_is_one_clear_line_and_no_run(tmp_path: Path) -> None:
    result = _sweep(tmp_path, "finetune.top_k=9")
    # Exit code 2, one line naming the key, nothing created in MLflow.
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: finetune.top_k must be between 0 and 4 (the backbone has 4 block units); got 9."
    )
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "mlruns").exists()


@pytest.mark.slow
def test_a_failing_trial_leaves_its_run_failed(tmp_path: Path) -> None:
    # A tampered optimizer argument makes Keras raise inside fit, after the run started.
    result = _sweep(tmp_path, *FAST, "+schedule.stages.1.optimizer.beta_1=nope")
    assert result.returncode != 0
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("freezesweep")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    # Never left RUNNING: the run is FAILED and tagged with the failure.
    assert run.info.status == "FAILED"
    assert run.data.tags["freezesweep.state"] == "FAIL"
