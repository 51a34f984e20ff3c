"""The end of a sweep when MLflow fails otherwise than by not answering: one line naming the step,
the report on disk, the study's parent run ended FAILED, nothing left RUNNING."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from freezesweep import tracking
from freezesweep.errors import SweepEndError
from freezesweep.study.hooks import on_sweep_end, on_sweep_start

SECRET = "s3cr/et#pw"


def _config(tmp_path: Path) -> DictConfig:
    section = {
        "enabled": True,
        "uri": f"sqlite:///{tmp_path}/mlruns/mlflow.db",
        "artifact_root": str(tmp_path / "art"),
        "experiment": "s",
    }
    return OmegaConf.create(
        {
            "hydra": {"sweep": {"dir": str(tmp_path / "sweep")}},
            "tracking": section,
            "trainer": {"log_model": "none"},
        }
    )


def _study() -> optuna.Study:
    study = optuna.create_study(study_name="s", direction="maximize")
    study.add_trial(
        optuna.trial.create_trial(
            params={"x": 0.5},
            distributions={"x": optuna.distributions.FloatDistribution(0, 1)},
            value=0.9,
        )
    )
    return study


def _statuses(config: DictConfig) -> list[str]:
    client = MlflowClient(str(config.tracking.uri))
    experiment = client.get_experiment_by_name("s")
    return [run.info.status for run in client.search_runs([experiment.experiment_id])]


@pytest.mark.parametrize(
    ("target", "step"),
    [
        ("publish_study_report", "publishing the report on the study's parent run"),
        ("end_orphan_runs", "ending the runs of dead workers"),
    ],
)
def test_an_mlflow_error_at_the_end_is_one_line_and_leaves_nothing_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, step: str
) -> None:
    config, study = _config(tmp_path), _study()
    on_sweep_start(study, config)
    assert _statuses(config) == ["RUNNING"]  # the parent run, claimed by this invocation

    def refuse(*args: Any, **kwargs: Any) -> None:
        # The server's refusal quotes a credential and a response body on further lines.
        raise MlflowException(f"INTERNAL_ERROR at https://u:{SECRET}@mlflow.example\nbody: <html>")

    monkeypatch.setattr(tracking, target, refuse)
    with pytest.raises(SweepEndError) as raised:
        on_sweep_end(study, config)
    report = tmp_path / "sweep" / "report"
    # One line: the step and MLflow's first line (its secret masked), where the report is, how
    # the parent run ended and what publishes it later.
    assert str(raised.value) == (
        f"the end of sweep 's' failed {step} (MlflowException: INTERNAL_ERROR at "
        f"https://u:***@mlflow.example): the trials are all told and the report is in {report}; "
        "its parent run ended FAILED. `freezesweep report --study s` publishes the report "
        "once MLflow accepts it"
    )
    assert (report / "trials.csv").is_file() and (report / "pareto.csv").is_file()
    assert _statuses(config) == ["FAILED"]


def test_an_mlflow_that_refuses_the_parent_runs_end_too_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, study = _config(tmp_path), _study()
    on_sweep_start(study, config)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise MlflowException("PERMISSION_DENIED")

    monkeypatch.setattr(tracking, "publish_study_report", refuse)
    monkeypatch.setattr(tracking, "end_study_run", refuse)
    with pytest.raises(SweepEndError) as raised:
        on_sweep_end(study, config)
    # The first failure stays the one named; the second is said, not hidden.
    assert "failed publishing the report on the study's parent run (MlflowException: " in str(
        raised.value
    )
    assert "its parent run could not be ended either (MlflowException: PERMISSION_DENIED)" in str(
        raised.value
    )
