"""Outages in the middle of a sweep, with real processes and real servers on 127.0.0.1.

- A real `mlflow server`, stopped while a trial runs and started again later: the trials go on,
  are told to Optuna, and their runs reach the server once, replayed from the sweep's spool.
- A throw-away PostgreSQL cluster of the test's own (never the machine's shared server), stopped
  when a trial finishes: the result is retried, saved, the worker exits 75, and the next start
  tells it to the study. Stopped while a trial trains, the trial fails with a reason naming the
  storage outage (not Optuna's "exceeding max length") and its parameters are re-queued: the
  sweep goes on when the server is back in time, else exits 75 and the same command finishes
  the study.

Every test ends with no Optuna trial and no MLflow run left RUNNING.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import optuna
import pytest
from optuna.trial import TrialState

from freezesweep import cli
from freezesweep.study.attributes import FAIL_REASON_ATTR, REQUEUED_ATTR, RETRY_OF_ATTR
from freezesweep.study.hooks import study_metrics
from hydra_plugins.freezesweep_sweeper.trials._shared_study import count_trials
from tests.cluster.test_cluster import finish, load, runs, trial_runs, wait_for, worker
from tests.cluster.test_mlflow_server import free_port
from tests.helpers.processes import Failed, Started, run, start, stop

pytestmark = pytest.mark.cluster

PG_BIN = Path("/usr/lib/postgresql/15/bin")


class MlflowServer:
    """`mlflow server` on a fixed 127.0.0.1 port over a SQLite store, stopped and restarted."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.folder = folder
        self.process: Started | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "mlflow", "server"]
        command += ["--backend-store-uri", f"sqlite:///{self.folder}/mlflow.db"]
        command += ["--artifacts-destination", str(self.folder / "artifacts")]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        self.process = start(
            command,
            env=dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true"),
            output="discarded",
            new_session=True,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2):
                    return
            except OSError:
                assert self.process.poll() is None, "mlflow server exited"
                assert time.monotonic() < deadline, "mlflow server did not start"
                time.sleep(0.3)

    def stop(self) -> None:
        """Stop the server and its worker processes (its own process group)."""
        if self.process is not None:
            stop(self.process)


@contextmanager
def killed_at_exit(process: Started) -> Iterator[None]:
    """The sweep process, killed if the block leaves it running (a failed assertion)."""
    try:
        yield
    finally:
        if process.poll() is None:
            process.kill()


@contextmanager
def mlflow_server(folder: Path) -> Iterator[MlflowServer]:
    server = MlflowServer(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Postgres:
    """A throw-away trust-auth PostgreSQL cluster on its own port, run as user postgres."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        # Outside pytest's tmp_path: user postgres cannot enter root's 0700 folders.
        self.folder = Path(tempfile.mkdtemp(prefix="freezesweep-outage-pg-"))
        shutil.chown(self.folder, "postgres")
        self._as_postgres("initdb", "-D", str(self.folder / "data"), "-U", "postgres")

    def _as_postgres(self, program: str, *arguments: str) -> None:
        run(
            ["runuser", "-u", "postgres", "--", PG_BIN / program, *arguments],
            check=True,
            timeout=120,
        )

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.folder}"
        log = str(self.folder / "server.log")
        self._as_postgres(
            "pg_ctl", "-D", str(self.folder / "data"), "-l", log, "-w", "-o", options, "start"
        )

    def stop(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(Failed):  # already stopped
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def throwaway_postgres() -> Iterator[Postgres]:
    if os.geteuid() != 0 or not (PG_BIN / "initdb").exists():
        pytest.skip(f"needs root and PostgreSQL 15 in {PG_BIN} for a throw-away cluster")
    server = Postgres()
    try:
        server.start()
        yield server
    finally:
        server.remove()


def _study_up_to(study: optuna.Study, number: int) -> optuna.Study:
    """The study as it stood once trial `number` was told (its trials told in order)."""
    copy = optuna.create_study(directions=study.directions)
    copy.add_trials([trial for trial in study.trials if trial.number <= number])
    return copy


def no_running_runs(uri: str) -> None:
    """No MLflow run of the study (trials and parent) is left RUNNING."""
    assert [r.info.status for r in runs(uri) if r.info.status == "RUNNING"] == []


@pytest.mark.timeout(420)
def test_a_tracking_server_stopped_mid_sweep_loses_and_duplicates_nothing(
    tmp_path: Path,
) -> None:
    storage = f"journal:{tmp_path}/optuna.log"
    spool = tmp_path / "multirun" / "mlflow_spool"
    with mlflow_server(tmp_path / "server") as server:
        process = worker(
            tmp_path,
            storage,
            "hydra.sweeper.n_trials=4",
            "epochs=3",
            "hold_on=[1,2]",
            "tracking.artifact_root=null",
            tracking_uri=server.url,
        )
        with killed_at_exit(process):
            # Trial 1 has its run and its first epoch on the server: stop the server under it.
            wait_for(lambda: (tmp_path / "held-1").exists(), timeout=180)
            server.stop()
            (tmp_path / "release-1").touch()
            # Trial 1 spools the rest of its run; trial 2 starts with the server down.
            wait_for(lambda: (tmp_path / "held-2").exists(), timeout=180)
            # Trial 1 ended with the server down: the study metrics it moved wait beside it.
            assert sorted(p.name for p in spool.iterdir()) == [
                "study-toy.metrics-0001",
                "trial-0001",
                "trial-0002",
            ]
            server.start()
            (tmp_path / "release-2").touch()
            code, output = finish(process, timeout=240)
        assert code == 0, output
        # Trial 3 replayed both spooled runs when it started.
        job_log = "".join(
            p.read_text() for p in (tmp_path / "multirun" / "trial-0003").glob("*.log")
        )
        assert "replayed spooled MLflow run trial-0001" in job_log
        assert "replayed spooled MLflow run trial-0002" in job_log
        assert list(spool.iterdir()) == []
        study = load(storage)
        assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
        found = trial_runs(server.url)
        # One run per trial, no more: nothing duplicated, nothing lost.
        assert sorted(found) == ["0", "1", "2", "3"]
        assert len([r for r in runs(server.url) if "freezesweep.trial" in r.data.tags]) == 4
        client = mlflow.MlflowClient(server.url)
        for number, run in found.items():
            assert run.info.status == "FINISHED"
            assert run.data.tags["freezesweep.state"] == "COMPLETE"
            assert run.data.params["x"] == str(study.trials[int(number)].params["x"])
            assert run.data.metrics["val_accuracy"] == pytest.approx(
                study.trials[int(number)].value
            )
            history = client.get_metric_history(run.info.run_id, "epoch_score")
            assert sorted(point.step for point in history) == [0, 1, 2], number
            listed = [entry.path for entry in client.list_artifacts(run.info.run_id)]
            assert listed == ["result.json"], number
        # The runs of trials 1 and 2 are nested under the study's parent like the others.
        parents = {run.data.tags["mlflow.parentRunId"] for run in found.values()}
        assert len(parents) == 1
        # Nothing left for `freezesweep sync`.
        assert cli.main(["sync", str(tmp_path / "multirun"), "--tracking-uri", server.url]) == 0
        no_running_runs(server.url)
        assert not [t for t in study.trials if t.state == TrialState.RUNNING]


@pytest.mark.timeout(420)
def test_a_storage_down_when_a_trial_ends_saves_the_result_and_the_next_start_tells_it(
    tmp_path: Path,
) -> None:
    tracking_uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    with throwaway_postgres() as postgres:
        settings = ("hydra.sweeper.n_trials=3", "epochs=1")
        retries = ("hydra.sweeper.tell_attempts=3", "hydra.sweeper.tell_backoff=0.5")
        process = worker(tmp_path, postgres.url, *settings, *retries, "hold_on=[1]")
        with killed_at_exit(process):
            wait_for(lambda: (tmp_path / "held-1").exists(), timeout=180)
            # Trial 1 has trained; the storage goes down before its result is told.
            postgres.stop()
            (tmp_path / "release-1").touch()
            code, output = finish(process, timeout=240)
        saved = tmp_path / "multirun" / "trial-0001" / "pending_result.json"
        # Exit status 75 (EX_TEMPFAIL), after the retries, with the result saved.
        assert code == 75, output
        assert output.count("the study storage did not answer (") == 2
        assert (
            "trial 1: the study storage did not answer after 3 attempts (OperationalError: "
            in output
        )
        assert f"is saved in {saved} and told to the study when this sweep starts again" in output
        record = json.loads(saved.read_text())
        assert record["state"] == "COMPLETE" and len(record["values"]) == 1

        postgres.start()
        assert load(postgres.url).trials[1].state == TrialState.RUNNING
        code, output = finish(worker(tmp_path, postgres.url, *settings, *retries), timeout=240)
        assert code == 0, output
        assert f"trial 1: told its saved result (COMPLETE, {record['values']})" in output
        assert not saved.exists()
        study = load(postgres.url)
        # The saved value, told once; the study reaches its total with nothing counted twice.
        assert study.trials[1].values == record["values"]
        assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
        no_running_runs(tracking_uri)


@pytest.mark.timeout(420)
def test_a_tracking_server_still_down_at_the_end_is_caught_up_by_sync(tmp_path: Path) -> None:
    storage = f"journal:{tmp_path}/optuna.log"
    sweep_dir = tmp_path / "multirun"
    with mlflow_server(tmp_path / "server") as server:
        process = worker(
            tmp_path,
            storage,
            "hydra.sweeper.n_trials=3",
            "epochs=2",
            "hold_on=[1]",
            "tracking.artifact_root=null",
            tracking_uri=server.url,
        )
        with killed_at_exit(process):
            wait_for(lambda: (tmp_path / "held-1").exists(), timeout=180)
            server.stop()
            (tmp_path / "release-1").touch()
            code, output = finish(process, timeout=240)
        # The sweep succeeds with the server down; the log names the command to catch up.
        assert code == 0, output
        assert f"run `freezesweep sync {sweep_dir}` once the server answers" in output
        spooled = sorted(p.name for p in (sweep_dir / "mlflow_spool").iterdir())
        # The study metrics logged after trials 1 and 2 wait with their runs.
        assert spooled == [
            "study-toy",
            "study-toy.metrics-0001",
            "study-toy.metrics-0002",
            "trial-0001",
            "trial-0002",
        ]
        server.start()
        assert cli.main(["sync", str(sweep_dir)]) == 0
        study = load(storage)
        assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
        found = trial_runs(server.url)
        assert sorted(found) == ["0", "1", "2"]
        assert len([r for r in runs(server.url) if "freezesweep.trial" in r.data.tags]) == 3
        client = mlflow.MlflowClient(server.url)
        for number, run in found.items():
            assert run.info.status == "FINISHED"
            assert run.data.metrics["val_accuracy"] == pytest.approx(
                study.trials[int(number)].value
            )
            history = client.get_metric_history(run.info.run_id, "epoch_score")
            assert sorted(point.step for point in history) == [0, 1], number
        # The report reached the parent run, which ended.
        (parent,) = [r for r in runs(server.url) if r.data.tags.get("freezesweep.role")]
        listed = {entry.path for entry in client.list_artifacts(parent.info.run_id)}
        assert {"trials.csv", "pareto.csv"} <= listed
        # Its study metrics, one point per trial, equal what an uninterrupted sweep logs: the
        # study as it stood when each trial was told (one worker: trials 0..N).
        for key in ("best_val_accuracy", "n_complete", "n_pruned", "n_failed"):
            history = client.get_metric_history(parent.info.run_id, key)
            points = sorted((point.step, point.value) for point in history)
            expected = [
                (n, study_metrics(_study_up_to(study, n))[key]) for n in range(len(study.trials))
            ]
            assert points == expected, key
        no_running_runs(server.url)
        assert not [t for t in study.trials if t.state == TrialState.RUNNING]


# The reason a trial failed by a storage outage gets (a PostgreSQL server stopped under it).
_OUTAGE_REASON = (
    "storage outage: the study storage did not answer during the trial (OperationalError: "
)


def check_outage_retried(storage: str, tracking_uri: str, number: int) -> None:
    """Trial `number` FAIL with the outage's reason and re-queued; its retry COMPLETE with the
    same parameters; the study's 3 places filled; nothing left RUNNING in Optuna or MLflow."""
    study = load(storage)
    failed = study.trials[number]
    assert failed.state == TrialState.FAIL
    assert failed.user_attrs[FAIL_REASON_ATTR].startswith(_OUTAGE_REASON)
    assert "exceeding max length" not in failed.user_attrs[FAIL_REASON_ATTR]
    assert failed.system_attrs[REQUEUED_ATTR] is True
    retries = [t for t in study.trials if t.user_attrs.get(RETRY_OF_ATTR) == number]
    assert [t.state for t in retries] == [TrialState.COMPLETE]
    assert retries[0].params == failed.params
    assert count_trials(study).finished == 3
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) == 3
    assert all(t.state not in (TrialState.RUNNING, TrialState.WAITING) for t in study.trials)
    no_running_runs(tracking_uri)


@pytest.mark.timeout(420)
def test_a_storage_down_while_a_trial_trains_requeues_it_and_the_rerun_finishes(
    tmp_path: Path,
) -> None:
    tracking_uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    with throwaway_postgres() as postgres:
        settings = ("hydra.sweeper.n_trials=3", "epochs=3", "sleep_s=0.2")
        retries = ("hydra.sweeper.tell_attempts=2", "hydra.sweeper.tell_backoff=0.5")
        process = worker(tmp_path, postgres.url, *settings, *retries, "hold_on=[1]")
        with killed_at_exit(process):
            wait_for(lambda: (tmp_path / "held-1").exists(), timeout=180)
            # Trial 1 has reported its first epoch; the storage goes down under its second.
            postgres.stop()
            (tmp_path / "release-1").touch()
            code, output = finish(process, timeout=240)
        saved = tmp_path / "multirun" / "trial-0001" / "pending_result.json"
        # Still down when the failure is told: saved with its true reason, exit 75, one line.
        assert code == 75, output
        assert "exceeding max length" not in output
        assert (
            "trial 1: the study storage did not answer after 2 attempts (OperationalError: "
            in output
        )
        assert f"(FAIL, None; its parameters re-queued) is saved in {saved}" in output
        record = json.loads(saved.read_text())
        assert record["fail_reason"].startswith(_OUTAGE_REASON) and record["requeue"] is True

        postgres.start()
        code, output = finish(worker(tmp_path, postgres.url, *settings, *retries), timeout=240)
        assert code == 0, output
        assert "trial 1: told its saved result (FAIL, None)" in output
        check_outage_retried(postgres.url, tracking_uri, 1)


@pytest.mark.timeout(420)
@pytest.mark.parametrize("launcher", ["basic", "submitit_local"])
def test_a_storage_back_before_the_tell_requeues_the_trial_and_the_sweep_goes_on(
    tmp_path: Path, launcher: str
) -> None:
    # Under submitit the job's error crosses to the sweeper pickled (no cause chain): the job's
    # process says the outage itself, so the trial gets the same reason and retry.
    tracking_uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    with throwaway_postgres() as postgres:
        # Waits of 2, 4, 8 and 16 s between tells: the server is back well within them.
        settings = ("hydra.sweeper.n_trials=3", "epochs=3", "sleep_s=0.2")
        retries = ("hydra.sweeper.tell_attempts=5", "hydra.sweeper.tell_backoff=2")
        process = worker(
            tmp_path,
            postgres.url,
            *settings,
            *retries,
            "hold_on=[1]",
            f"hydra/launcher={launcher}",
        )
        with killed_at_exit(process):
            wait_for(lambda: (tmp_path / "held-1").exists(), timeout=180)
            postgres.stop()
            (tmp_path / "release-1").touch()
            time.sleep(1.0)  # the job reports its second epoch, fails; the tell waits 2 s
            postgres.start()
            code, output = finish(process, timeout=240)
        assert code == 0, output
        # One line tells what happened to the trial, with the true reason.
        (line,) = [row for row in output.splitlines() if "trial 1 FAIL" in row]
        assert "reason=storage outage: the study storage did not answer" in line, output
        assert "exceeding max length" not in output
        check_outage_retried(postgres.url, tracking_uri, 1)
