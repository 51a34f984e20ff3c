"""Workers logging to a real `mlflow server` over HTTP, checked through the server's REST API;
and a sweep pointed at a server that is not there fails within seconds, before any storage."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.test_cluster import finish, load, worker
from tests.helpers.postgres import VARIABLE, postgres_database
from tests.helpers.processes import start

pytestmark = pytest.mark.cluster


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rest(base: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{base}/api/2.0/mlflow/{path}", data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


@contextmanager
def serve_mlflow(backend: str, artifacts: Path) -> Iterator[str]:
    """`mlflow server` on 127.0.0.1 over `backend`, until the block ends; yields its base URL."""
    port = free_port()
    environment = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend]
    command += ["--artifacts-destination", str(artifacts)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    server = start(command, env=environment, output="discarded", new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2):
                    break
            except OSError:
                assert server.poll() is None, "mlflow server exited"
                assert time.monotonic() < deadline, "mlflow server did not start"
                time.sleep(0.5)
        yield base
    finally:
        server.terminate()
        server.wait(30)


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    """`mlflow server` on 127.0.0.1: PostgreSQL backend when the test server exists, else SQLite."""
    with ExitStack() as stack:
        if os.environ.get(VARIABLE):
            backend = stack.enter_context(postgres_database())
        else:
            backend = f"sqlite:///{tmp_path}/server/mlflow.db"
            (tmp_path / "server").mkdir()
        yield stack.enter_context(serve_mlflow(backend, tmp_path / "server" / "artifacts"))


def test_two_workers_log_to_a_tracking_server(tmp_path: Path, mlflow_server: str) -> None:
    # Two workers, one study, one server: the REST API shows one parent and one child per trial.
    storage = f"journal:{tmp_path}/optuna.log"
    # artifact_root=null: artifacts go through the server (mlflow-artifacts:/), as on a cluster
    # whose nodes share no file system with the server.
    overrides = ("hydra.sweeper.n_trials=4", "tracking.artifact_root=null")
    workers = [worker(tmp_path, storage, *overrides, tracking_uri=mlflow_server) for _ in range(2)]
    for process in workers:
        code, output = finish(process)
        assert code == 0, output
    experiment = rest(mlflow_server, "experiments/get-by-name?experiment_name=toy")["experiment"]
    found = rest(
        mlflow_server,
        "runs/search",
        {"experiment_ids": [experiment["experiment_id"]], "max_results": 100},
    )["runs"]
    tags = [{tag["key"]: tag["value"] for tag in run["data"].get("tags", [])} for run in found]
    parents = [run for run, tag in zip(found, tags, strict=True) if tag.get("freezesweep.role")]
    children = {
        tag["freezesweep.trial"]: run
        for run, tag in zip(found, tags, strict=True)
        if "freezesweep.trial" in tag
    }
    assert len(parents) == 1 and sorted(children) == ["0", "1", "2", "3"]
    for number, run in children.items():
        assert run["info"]["status"] == "FINISHED"
        metrics = {metric["key"]: metric["value"] for metric in run["data"]["metrics"]}
        assert metrics["val_accuracy"] == pytest.approx(load(storage).trials[int(number)].value)
    assert experiment["artifact_location"].startswith("mlflow-artifacts:")
    parent_id = parents[0]["info"]["run_id"]
    listed = rest(mlflow_server, f"artifacts/list?run_id={parent_id}")["files"]
    assert {"trials.csv", "pareto.csv"} <= {entry["path"] for entry in listed}
    assert list((tmp_path / "server" / "artifacts").rglob("trials.csv"))
    assert all(
        tag.get("mlflow.parentRunId") == parent_id for tag in tags if "freezesweep.trial" in tag
    )


def test_an_unreachable_server_fails_the_sweep_within_seconds(tmp_path: Path) -> None:
    # Nothing listens on the port: one clear line, well under a minute, and no study storage.
    uri = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    code, output = finish(
        worker(tmp_path, f"journal:{tmp_path}/optuna.log", tracking_uri=uri), timeout=120
    )
    assert code != 0
    assert time.monotonic() - started < 60
    assert f"tracking.uri: no MLflow tracking server answers at {uri}" in output
    assert not (tmp_path / "optuna.log").exists()
    assert not (tmp_path / "multirun").exists()
