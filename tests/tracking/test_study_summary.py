"""The study's parent run as its summary, in a real SQLite store: search space params, the best
trial's run (tags and description), the report artifacts, and the address the sweep prints."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from freezesweep.spec import TrackingSpec
from freezesweep.study.report import publish
from freezesweep.study.summary import comparison_lines
from freezesweep.tracking import ui_base
from tests.helpers.summary_study import summary_study, warm_started


def _spec(tmp_path: Path, uri: str | None = None) -> TrackingSpec:
    uri = uri or f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    return TrackingSpec(True, uri, str(tmp_path / "mlruns" / "artifacts"), "toy")


def test_the_parent_run_summarizes_the_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    spec = _spec(tmp_path)
    address = publish(summary_study(), tmp_path / "report", spec, end_parent=False)
    client = MlflowClient(tracking_uri=spec.uri)
    experiment = client.get_experiment_by_name("toy")
    assert experiment is not None
    (parent,) = client.search_runs([experiment.experiment_id])
    run_id, experiment_id = parent.info.run_id, experiment.experiment_id
    # The search space, one param per searched name.
    assert parent.data.params == {
        "search_space.finetune.lr": "float [1e-05, 0.01] log",
        "search_space.finetune.top_k": "int [0, 4]",
    }
    # The best trial (1: 0.83) by number, run id and address; the description opens with it.
    tags = parent.data.tags
    assert tags["freezesweep.best_trial"] == "1"
    assert tags["freezesweep.best_run_id"] == "run-1"
    assert tags["freezesweep.best_run_url"] == (
        f"http://127.0.0.1:5000/#/experiments/{experiment_id}/runs/run-1"
        "?workflowType=machine_learning"
    )
    assert tags["mlflow.note.content"].startswith(
        f"Best trial: [trial-0001](#/experiments/{experiment_id}/runs/run-1) (run `run-1`)."
    )
    # The report's files are its artifacts; the depth table says each depth's best.
    names = {item.path for item in client.list_artifacts(run_id)}
    assert {"comparison.html", "depths.csv", "pareto.csv", "pareto.png", "trials.csv"} <= names
    depths = pd.read_csv(tmp_path / "report" / "depths.csv")
    assert depths[["depth", "val_accuracy"]].values.tolist() == [[0, 0.70], [1, 0.83], [2, 0.80]]
    # The address printed last opens the comparison page in the parent run's artifact view.
    assert address == (
        f"http://127.0.0.1:5000/#/experiments/{experiment_id}/runs/{run_id}"
        "/artifacts/comparison.html?workflowType=machine_learning"
    )
    assert comparison_lines(address, spec.uri).splitlines() == [
        f"MLflow UI: mlflow ui --backend-store-uri {spec.uri}  (then open:)",
        f"comparison of all trials: {address}",
    ]


def test_publishing_again_keeps_the_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A second report (a later invocation) logs no param twice and keeps one parent run.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    spec = _spec(tmp_path)
    first = publish(summary_study(), tmp_path / "report", spec, end_parent=False)
    assert publish(summary_study(), tmp_path / "report", spec) == first


def test_the_ui_address_of_a_server_has_no_credentials(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "https://user:secret@mlflow.example.org:8443/?token=abc")
    assert ui_base(spec) == "https://mlflow.example.org:8443"
    # A local store: `mlflow ui`'s default address.
    assert ui_base(_spec(tmp_path)) == "http://127.0.0.1:5000"


def test_a_warm_started_studys_parent_run_names_its_earlier_study_and_sums_up_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    spec = TrackingSpec(True, f"sqlite:///{tmp_path}/mlruns/mlflow.db", str(tmp_path / "a"), "new")
    publish(warm_started(tmp_path), tmp_path / "report", spec)
    client = MlflowClient(tracking_uri=spec.uri)
    experiment = client.get_experiment_by_name("new")
    assert experiment is not None
    (parent,) = client.search_runs([experiment.experiment_id])
    # Which studies the sampler started from, as a param beside the search space.
    assert parent.data.params["warm_start"] == "'old' (1 trial)"
    # The best trial and every report file are the study's own (#2, 0.83), not the earlier 0.99.
    assert parent.data.tags["freezesweep.best_trial"] == "2"
    trials = pd.read_csv(tmp_path / "report" / "trials.csv")
    assert trials["number"].tolist() == [1, 2, 3, 4, 5, 6]
    assert 0.99 not in pd.read_csv(tmp_path / "report" / "pareto.csv")["val_accuracy"].tolist()
