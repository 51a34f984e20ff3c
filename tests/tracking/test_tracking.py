"""MLflow tracking: redaction, flattening, and one study parent run under concurrent workers."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from freezesweep.tracking import flatten, redact
from tests.helpers.processes import start


def test_passwords_in_urls_are_redacted() -> None:
    url = "postgresql+psycopg://optuna:s3cr3t@db.example:5432/studies"
    # The password never survives; user, host and database stay readable.
    assert redact(url) == "postgresql+psycopg://optuna:***@db.example:5432/studies"
    assert "s3cr3t" not in str(flatten({"trial": {"storage": url}, "db": {"password": "x"}}))


def test_flatten_prefixes_list_items_by_index() -> None:
    flat = flatten({"schedule": {"stages": [{"name": "head"}, {"name": "finetune", "epochs": 3}]}})
    # Stage settings are prefixed by their index, so stages never collide as MLflow params.
    assert flat == {
        "schedule.stages.0.name": "head",
        "schedule.stages.1.name": "finetune",
        "schedule.stages.1.epochs": "3",
    }


WORKER = """
import pathlib, sys, time
from freezesweep.spec import TrackingSpec
from freezesweep.tracking import study_parent_run
uri, root, gate, name = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3]), sys.argv[4]
spec = TrackingSpec(enabled=True, uri=uri, artifact_root=root, experiment="unused")
(gate / name).touch()
while not (gate / "go").exists():  # start all workers at the same moment
    time.sleep(0.001)
print(study_parent_run(spec, "shared"))
"""


@pytest.mark.cluster
def test_workers_starting_together_share_one_parent_run(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    # The store exists before the workers start, as after a first invocation.
    (tmp_path / "mlruns").mkdir()
    MlflowClient(tracking_uri=uri).search_experiments()
    environment = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    gate = tmp_path / "gate"
    gate.mkdir()
    workers = [
        start(
            [sys.executable, "-c", WORKER, uri, str(tmp_path / "artifacts"), str(gate), str(i)],
            env=environment,
        )
        for i in range(3)
    ]
    deadline = time.monotonic() + 120
    while len(list(gate.iterdir())) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    (gate / "go").touch()
    outputs = [worker.communicate(timeout=300) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), [err[-2000:] for _, err in outputs]
    # Every worker got the same parent run, and exactly one parent is left active.
    parents = {out.strip().splitlines()[-1] for out, _ in outputs}
    assert len(parents) == 1
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("shared")
    assert experiment is not None
    active = client.search_runs([experiment.experiment_id], "tags.`freezesweep.role` = 'study'")
    assert [run.info.run_id for run in active] == list(parents)
