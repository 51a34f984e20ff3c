"""The MLflow spool: a run recorded while the tracking server is down, replayed exactly once.

A dead `http://127.0.0.1:<free port>` stands in for the stopped server and a local SQLite store
for the server that answers again; the cluster test does the same with a real `mlflow server`.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from freezesweep import cli
from freezesweep.spec import TrackingSpec
from freezesweep.tracking import (
    SPOOL_TAG,
    claim_study_run,
    client_for,
    is_connection_error,
    replay_spool,
    spool_study_end,
    trial_run,
)
from freezesweep.tracking._spool import SpoolWriter, new_spool_id
from freezesweep.tracking._spool_check import owner_digest
from freezesweep.tracking._trial_run import TrialRun


def dead_uri(credentials: str = "") -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://{credentials}127.0.0.1:{port}"


@pytest.fixture
def store(tmp_path: Path) -> TrackingSpec:
    """The store that answers: SQLite, artifacts in the test's folder."""
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    return TrackingSpec(True, uri, str(tmp_path / "mlruns" / "artifacts"), "toy")


@pytest.fixture(autouse=True)
def _no_http_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    # MLflow retries a refused connection for seconds; the tests need the error at once.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")


# A trial's data record (`freezesweep.trial_records.data_record`), spooled like the rest.
DATASET = {
    "name": "toy",
    "digest": "ab" * 32,
    "source": {"data.kind": "toy"},
    "profile": {"train_rows": 3, "val_rows": 2, "classes": 2},
}


def record_offline_trial(spool: Path, uri: str, number: int = 1) -> None:
    """A trial run against a server that is down from the start: all of it spooled."""
    spec = TrackingSpec(True, uri, "", "toy")
    with trial_run(
        spec,
        run_name=f"trial-{number:04d}",
        experiment="toy",
        tags={"freezesweep.trial": str(number)},
        study_name="toy",
        spool=spool,
    ) as run:
        assert run.spooled
        run.log_params({"x": "0.5", "tracking.uri": uri})
        run.log_dataset(DATASET)
        for epoch in range(3):
            run.log_metrics({"val_accuracy": 0.5 + epoch / 10}, step=epoch)
        run.log_text(f"uri: {uri}\n", "config.yaml")


def trial_runs(spec: TrackingSpec) -> list[Any]:
    client = client_for(spec)
    experiment = client.get_experiment_by_name("toy")
    assert experiment is not None
    found = client.search_runs([experiment.experiment_id], max_results=100)
    return [run for run in found if "freezesweep.trial" in run.data.tags]


def test_a_run_spooled_from_the_start_is_replayed_once(tmp_path: Path, store: TrackingSpec) -> None:
    spool = tmp_path / "mlflow_spool"
    record_offline_trial(spool, dead_uri())
    assert [p.name for p in spool.iterdir()] == ["trial-0001"]
    done = replay_spool(store, spool)
    # Sent, then deleted from the spool; a second replay has nothing left to send.
    assert done.sent == ["trial-0001"] and not done.left and not done.busy
    assert list(spool.iterdir()) == []
    assert replay_spool(store, spool).sent == []
    (run,) = trial_runs(store)
    assert run.info.status == "FINISHED"
    assert run.data.tags["freezesweep.state"] == "COMPLETE"
    assert run.data.params["x"] == "0.5"
    assert [entry.dataset.digest for entry in run.inputs.dataset_inputs] == ["ab" * 16]
    client = client_for(store)
    history = client.get_metric_history(run.info.run_id, "val_accuracy")
    assert [(point.step, point.value) for point in history] == [(0, 0.5), (1, 0.6), (2, 0.7)]
    # Nested under the study's parent run, as a run logged live would be.
    parent = client.get_run(run.data.tags["mlflow.parentRunId"])
    assert parent.data.tags["freezesweep.role"] == "study"
    listed = [entry.path for entry in client.list_artifacts(run.info.run_id)]
    assert listed == ["config.yaml"]
    assert all(r.info.status != "RUNNING" for r in trial_runs(store))


def test_a_replay_repeated_after_a_crash_duplicates_nothing(
    tmp_path: Path, store: TrackingSpec
) -> None:
    spool = tmp_path / "mlflow_spool"
    record_offline_trial(spool, dead_uri())
    copy = tmp_path / "copy"
    shutil.copytree(spool, copy)
    replay_spool(store, spool)
    # The same entry again, as if the first replay died before it deleted the entry.
    shutil.rmtree(spool)
    shutil.copytree(copy, spool)
    assert replay_spool(store, spool).sent == ["trial-0001"]
    (run,) = trial_runs(store)
    assert run.data.tags[SPOOL_TAG]
    # The data input is linked once, however often it was sent.
    assert len(run.inputs.dataset_inputs) == 1
    history = client_for(store).get_metric_history(run.info.run_id, "val_accuracy")
    assert len(history) == 3


def test_a_run_cut_off_mid_trial_continues_on_its_own_run(
    tmp_path: Path, store: TrackingSpec
) -> None:
    client = client_for(store)
    from freezesweep.tracking import experiment_id

    experiment = experiment_id(client, store, "toy")
    spool_id = new_spool_id()
    # Made as `trial_run` makes it: tagged with the digest of its writer's spool id.
    tags = {"freezesweep.trial": "2", SPOOL_TAG: owner_digest(spool_id)}
    created = client.create_run(experiment, run_name="trial-0002", tags=tags)
    spool = tmp_path / "mlflow_spool"
    header: dict[str, Any] = {
        "experiment": "toy",
        "run_name": "trial-0002",
        "tags": {},
        "study_name": None,
        "spool_id": spool_id,
    }
    run = TrialRun(client, created.info.run_id, spool, header)
    run.log_params({"x": "0.1"})
    run.log_metrics({"loss": 1.0}, step=0)
    # The server stops answering: the rest of the run is spooled, the trial goes on.
    run.client = MlflowClient(tracking_uri=dead_uri())
    run.log_metrics({"loss": 0.5}, step=1)
    run.set_tags({"freezesweep.state": "COMPLETE"})
    run.end("FINISHED")
    assert run.spooled
    assert client.get_run(created.info.run_id).info.status == "RUNNING"
    assert replay_spool(store, spool).sent == ["trial-0002"]
    (replayed,) = trial_runs(store)
    # The same run, not a second one; its earlier points kept, the spooled ones added once.
    assert replayed.info.run_id == created.info.run_id
    assert replayed.info.status == "FINISHED"
    history = client.get_metric_history(created.info.run_id, "loss")
    assert [(point.step, point.value) for point in history] == [(0, 1.0), (1, 0.5)]


def test_a_run_being_written_is_not_replayed(tmp_path: Path, store: TrackingSpec) -> None:
    spool = tmp_path / "mlflow_spool"
    writer = SpoolWriter(spool, "trial-0003", {"experiment": "toy", "run_name": "trial-0003"})
    # Its writer holds the lock: a replay (another worker's next trial) leaves it alone.
    done = replay_spool(store, spool)
    assert done.busy == ["trial-0003"] and done.sent == []
    writer.close()


def test_a_run_whose_writer_died_is_replayed_killed(tmp_path: Path, store: TrackingSpec) -> None:
    spool = tmp_path / "mlflow_spool"
    header = {"experiment": "toy", "run_name": "trial-0004", "tags": {"freezesweep.trial": "4"}}
    writer = SpoolWriter(spool, "trial-0004", {**header, "study_name": None, "start_time": 1})
    writer.append({"op": "metrics", "metrics": [["loss", 1.0, 2, 0]]})
    writer.close()  # the lock is free and no `end` was written: its worker died
    assert replay_spool(store, spool).sent == ["trial-0004"]
    (run,) = trial_runs(store)
    # Never left RUNNING.
    assert run.info.status == "KILLED"
    assert run.data.tags["freezesweep.error"] == "its worker died while the run was spooled"


def test_credentials_of_the_tracking_uri_never_reach_the_spool(tmp_path: Path) -> None:
    spool = tmp_path / "mlflow_spool"
    record_offline_trial(spool, dead_uri("alice:s3cr3t@"))
    # Params, texts and the header are redacted as they are for MLflow itself.
    for path in spool.rglob("*"):
        if path.is_file():
            assert "s3cr3t" not in path.read_text(), path


def test_a_replay_stops_at_a_server_that_is_still_down(tmp_path: Path) -> None:
    spool = tmp_path / "mlflow_spool"
    record_offline_trial(spool, dead_uri(), number=1)
    record_offline_trial(spool, dead_uri(), number=2)
    done = replay_spool(TrackingSpec(True, dead_uri(), "", "toy"), spool)
    # Nothing sent, nothing deleted.
    assert done.sent == [] and done.left == ["trial-0001", "trial-0002"]
    assert sorted(p.name for p in spool.iterdir()) == ["trial-0001", "trial-0002"]


def test_sync_replays_a_sweep_folder(
    tmp_path: Path, store: TrackingSpec, capsys: pytest.CaptureFixture[str]
) -> None:
    record_offline_trial(tmp_path / "mlflow_spool", dead_uri())
    assert cli.main(["sync", str(tmp_path), "--tracking-uri", store.uri]) == 0
    assert capsys.readouterr().out == f"replayed 1 spooled run(s) to {store.uri}\n"
    assert len(trial_runs(store)) == 1
    record_offline_trial(tmp_path / "mlflow_spool", dead_uri())
    down = dead_uri()
    # Still down: the entry stays, the exit status says so.
    assert cli.main(["sync", str(tmp_path / "mlflow_spool"), "--tracking-uri", down]) == 1
    assert capsys.readouterr().err == "not replayed: trial-0001 (tracking server unreachable)\n"


def test_sync_reads_the_sweeps_own_tracking_settings(
    tmp_path: Path, store: TrackingSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    record_offline_trial(tmp_path / "mlflow_spool", dead_uri())
    # The sweep saved its config as multirun.yaml; sync sends to the store named there.
    tracking = f"tracking: {{enabled: true, uri: '{store.uri}', default_uri: null, "
    tracking += f"artifact_root: '{store.artifact_root}', experiment: toy}}\n"
    (tmp_path / "multirun.yaml").write_text(tracking)
    assert cli.main(["sync", str(tmp_path)]) == 0
    assert len(trial_runs(store)) == 1


def test_the_end_of_a_sweep_is_replayed_onto_the_studys_parent_run(
    tmp_path: Path, store: TrackingSpec
) -> None:
    spool = tmp_path / "mlflow_spool"
    record_offline_trial(spool, dead_uri())
    report = tmp_path / "trials.csv"
    report.write_text("number,value\n1,0.5\n")
    # The sweep claimed the parent run when it started (the server answered then).
    spool_study_end(spool, "toy", [report], claim_study_run(store, "toy"))
    assert replay_spool(store, spool).sent == ["study-toy", "trial-0001"]
    client = client_for(store)
    (run,) = trial_runs(store)
    # The report lands on the same parent the trial run is nested under, and it ends FINISHED.
    parent = client.get_run(run.data.tags["mlflow.parentRunId"])
    assert parent.info.status == "FINISHED"
    assert [entry.path for entry in client.list_artifacts(parent.info.run_id)] == ["trials.csv"]


def test_connection_errors_are_told_from_other_errors() -> None:
    client = MlflowClient(tracking_uri=dead_uri())
    with pytest.raises(Exception) as refused:
        client.search_experiments()
    assert is_connection_error(refused.value)
    assert not is_connection_error(ValueError("Changing param values is not allowed"))


@pytest.mark.slow  # a real Keras trial (~15 s on 2 cores); the default tier has no room for it
def test_a_sweep_trial_trains_through_a_down_server_and_its_run_is_replayed(
    tmp_path: Path, store: TrackingSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    from freezesweep.trial import run_trial
    from tests.helpers.shrink import compose_config

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    overrides = ("finetune.top_k=1", "trial.number=3", "trial.study_name=toy")
    config = compose_config(tmp_path, *overrides, f"tracking.uri={dead_uri()}")
    # A sweep's trial (its job folder under the sweep's): it trains and returns its value.
    value = run_trial(config, output_dir=tmp_path / "sweep" / "trial-0003")
    spool = tmp_path / "sweep" / "mlflow_spool"
    assert [p.name for p in spool.iterdir()] == ["trial-0003"]
    assert replay_spool(store, spool).sent == ["trial-0003"]
    (run,) = trial_runs(store)
    # The same records a live run gets: the value told to Optuna, epochs, params, artifacts.
    assert run.info.status == "FINISHED"
    assert run.data.metrics["val_accuracy"] == pytest.approx(value)
    assert run.data.params["finetune.top_k"] == "1"
    client = client_for(store)
    assert [m.step for m in client.get_metric_history(run.info.run_id, "epoch_loss")] == [0, 1]
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert artifacts == {
        "config.yaml",
        "freeze_audit.json",
        "model_summary",
        "summary.txt",
        "stages.json",
    }
