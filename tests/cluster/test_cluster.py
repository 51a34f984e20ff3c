"""Cluster behaviour with real processes: concurrent workers on one study (journal, PostgreSQL,
SQLite), a worker killed with SIGKILL and rerun, SIGTERM/SIGINT, and jobs dying under submitit.

The sweeper app of tests/helpers/sweeper_app (a cheap objective, MLflow tracking on) stands in
for the Keras trial: these tests are about processes, storages and runs, not training.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow
import optuna
import pytest
from optuna.trial import TrialState

from freezesweep.study.attributes import (
    FAIL_REASON_ATTR,
    REQUEUED_ATTR,
    RETRY_OF_ATTR,
    SURPLUS_ATTR,
)
from freezesweep.study.storage import open_storage
from hydra_plugins.freezesweep_sweeper.trials._shared_study import count_trials
from tests.helpers.postgres import postgres_database
from tests.helpers.processes import Started, start

pytestmark = pytest.mark.cluster

APP = Path(__file__).parents[1] / "helpers" / "sweeper_app" / "app.py"
# The toy app's jobs are not trials: its preflight is the store check alone.
HOOKS = [
    "hydra.sweeper.preflight=freezesweep.study.hooks.check_tracking",
    *(
        f"hydra.sweeper.{hook}=freezesweep.study.hooks.{hook}"
        for hook in ("on_sweep_start", "on_trial_end", "on_sweep_end")
    ),
]


def worker(
    tmp_path: Path, storage: str, *overrides: str, tracking_uri: str | None = None
) -> Started:
    """Start `app.py -m` as its own process (and process group, as a scheduler would)."""
    # No SLURM_* of an enclosing job (they would seed the sampler), but the cluster's config.
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SLURM_") or key == "SLURM_CONF"
    }
    environment["MLFLOW_DISABLE_TELEMETRY"] = "true"
    uri = tracking_uri or f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    command = [
        sys.executable,
        str(APP),
        "-m",
        f"hydra.sweep.dir={tmp_path}/multirun",
        f"hydra.sweeper.storage={storage}",
        "tracking.enabled=true",
        f"tracking.uri={uri}",
        f"tracking.artifact_root={tmp_path}/mlruns/artifacts",
        *HOOKS,
        *overrides,
    ]
    return start(command, cwd=tmp_path, env=environment, output="merged", new_session=True)


def finish(process: Started, timeout: float = 240) -> tuple[int, str]:
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def load(storage: str) -> optuna.Study:
    return optuna.load_study(study_name="toy", storage=open_storage(storage))


def wait_for(condition: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def runs(tracking_uri: str) -> list[mlflow.entities.Run]:
    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("toy")
    assert experiment is not None
    return list(client.search_runs([experiment.experiment_id], max_results=1000))


def trial_runs(tracking_uri: str) -> dict[str, mlflow.entities.Run]:
    """The trial runs of the study, by trial number (as a string)."""
    return {
        run.data.tags["freezesweep.trial"]: run
        for run in runs(tracking_uri)
        if "freezesweep.trial" in run.data.tags
    }


def check_one_study(study: optuna.Study, n_trials: int, tracking_uri: str, tmp_path: Path) -> None:
    """Exactly n_trials counted trials, unique numbers and params, one parent, one run each."""
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state != TrialState.WAITING]
    assert count_trials(study).finished == n_trials
    assert all(t.state == TrialState.COMPLETE for t in done), [t.state for t in done]
    assert len(done) == n_trials
    # Places past the total that racing workers asked for went back, marked surplus.
    assert all(t.system_attrs.get(SURPLUS_ATTR) for t in trials if t.state == TrialState.WAITING)
    parameter_sets = {tuple(sorted(t.params.items())) for t in done}
    assert len(parameter_sets) == n_trials
    all_runs = runs(tracking_uri)
    parents = [r for r in all_runs if r.data.tags.get("freezesweep.role") == "study"]
    children = [r for r in all_runs if "freezesweep.trial" in r.data.tags]
    assert len(parents) == 1
    assert sorted(int(r.data.tags["freezesweep.trial"]) for r in children) == sorted(
        t.number for t in done
    )
    assert all(r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for r in children)
    assert all(r.info.status == "FINISHED" for r in all_runs)
    directories = sorted(p.name for p in (tmp_path / "multirun").glob("trial-*"))
    assert directories == [f"trial-{t.number:04d}" for t in sorted(done, key=lambda t: t.number)]


@pytest.fixture(params=["journal", "postgresql", "sqlite"])
def shared_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "journal":
        yield f"journal:{tmp_path}/optuna.log"
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/optuna.db"
    else:
        with postgres_database() as url:
            yield url


def test_three_workers_started_together_share_one_study(
    tmp_path: Path, shared_storage: str
) -> None:
    # Three `app.py -m` started at the same instant: 9 trials in all, nothing counted twice.
    tracking_uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    overrides = ("hydra.sweeper.n_trials=9", "sleep_s=0.1", "hydra.sweeper.seed=1")
    workers = [worker(tmp_path, shared_storage, *overrides) for _ in range(3)]
    outputs = [finish(process) for process in workers]
    for code, output in outputs:
        assert code == 0, output
    check_one_study(load(shared_storage), 9, tracking_uri, tmp_path)
    # Every worker ran something: they did share the work.
    assert all("COMPLETE val_accuracy" in output for _, output in outputs)


def test_killed_worker_trial_is_failed_as_stale_and_retried_by_the_rerun(tmp_path: Path) -> None:
    # kill -9 during trial 1; the same command again: trial 1 FAIL (stale), its run KILLED,
    # its params re-run once as a retry, and the study still reaches its 3 trials.
    storage = f"journal:{tmp_path}/optuna.log"
    tracking_uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    overrides = (
        "hydra.sweeper.n_trials=3",
        "sleep_s=0.5",
        "hydra.sweeper.heartbeat_interval=0.5",
        "hydra.sweeper.grace_period=3",
    )
    first = worker(tmp_path, storage, *overrides)
    wait_for(lambda: (tmp_path / "multirun" / "trial-0001" / "result.json").exists())
    time.sleep(0.5)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    study = load(storage)
    assert study.trials[1].state == TrialState.RUNNING  # what the dead worker left behind

    code, output = finish(worker(tmp_path, storage, *overrides))
    assert code == 0, output
    trials = load(storage).trials
    killed = trials[1]
    assert killed.state == TrialState.FAIL
    assert killed.user_attrs[FAIL_REASON_ATTR].startswith("stale: no heartbeat")
    assert killed.system_attrs[REQUEUED_ATTR] is True
    retries = [t for t in trials if t.user_attrs.get(RETRY_OF_ATTR) == 1]
    assert len(retries) == 1 and retries[0].params == killed.params
    assert retries[0].state == TrialState.COMPLETE
    assert count_trials(load(storage)).finished == 3
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 3
    by_trial = {
        r.data.tags["freezesweep.trial"]: r
        for r in runs(tracking_uri)
        if r.data.tags.get("freezesweep.trial")
    }
    assert by_trial["1"].info.status == "KILLED"
    assert by_trial["1"].data.tags["freezesweep.state"] == "FAIL"
    assert all(r.info.status != "RUNNING" for r in runs(tracking_uri))


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGTERM, 75), (signal.SIGINT, 130)])
def test_sigterm_and_sigint_end_the_trial_cleanly_and_exit_with_a_telling_code(
    tmp_path: Path, signum: int, exit_code: int
) -> None:
    # The signal lands mid-trial: within seconds the trial is FAIL and re-queued, its run KILLED,
    # and the exit code says whether to requeue the worker (75) or not (130).
    storage = f"journal:{tmp_path}/optuna.log"
    tracking_uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    process = worker(tmp_path, storage, "hydra.sweeper.n_trials=3", "sleep_s=2", "epochs=10")
    wait_for(lambda: (tmp_path / "multirun" / "trial-0000" / "result.json").exists())
    time.sleep(1.0)
    signalled = time.monotonic()
    os.kill(process.pid, signum)
    code, output = finish(process, timeout=60)
    assert code == exit_code, output
    assert time.monotonic() - signalled < 20
    trials = load(storage).trials
    assert trials[0].state == TrialState.FAIL
    assert signal.Signals(signum).name in trials[0].user_attrs[FAIL_REASON_ATTR]
    assert [t.user_attrs.get(RETRY_OF_ATTR) for t in trials if t.state == TrialState.WAITING] == [0]
    assert trial_runs(tracking_uri)["0"].info.status == "KILLED"
    assert all(r.info.status != "RUNNING" for r in runs(tracking_uri))


def test_submitit_local_runs_parallel_jobs_and_a_dead_job_fails_its_trial(tmp_path: Path) -> None:
    # hydra/launcher=submitit_local: trials run as separate processes, 2 at a time, in one study
    # and one experiment; trial 1 SIGKILLs its own process and becomes FAIL, the sweep goes on.
    storage = f"journal:{tmp_path}/optuna.log"
    tracking_uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    process = worker(
        tmp_path,
        storage,
        "hydra/launcher=submitit_local",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.n_jobs=2",
        "die_on=[1]",
    )
    code, output = finish(process)
    assert code == 0, output
    trials = load(storage).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert "died at the scheduler level" in trials[1].user_attrs[FAIL_REASON_ATTR]
    pids = {
        (tmp_path / "multirun" / f"trial-{n:04d}" / "result.json").read_text() for n in (0, 2, 3)
    }
    assert len(pids) == 3
    job_pids = {int(text.split('"pid": ')[1].rstrip("}")) for text in pids}
    assert process.pid not in job_pids and len(job_pids) == 3
    children = [r for r in runs(tracking_uri) if "freezesweep.trial" in r.data.tags]
    assert sorted(
        r.data.tags["freezesweep.trial"] for r in children if r.info.status == "FINISHED"
    ) == ["0", "2", "3"]


def test_sigterm_under_submitit_cancels_the_running_jobs(tmp_path: Path) -> None:
    # The sweeper's trials are failed and re-queued, so their job processes must stop too.
    storage = f"journal:{tmp_path}/optuna.log"
    process = worker(
        tmp_path,
        storage,
        "hydra/launcher=submitit_local",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.n_jobs=2",
        "sleep_s=2",
        "epochs=30",
    )
    results = [tmp_path / "multirun" / f"trial-{n:04d}" / "result.json" for n in (0, 1)]
    wait_for(lambda: all(path.exists() for path in results))
    job_pids = [int(path.read_text().split('"pid": ')[1].rstrip("}")) for path in results]
    os.kill(process.pid, signal.SIGTERM)
    code, output = finish(process, timeout=60)
    assert code == 75, output
    assert [t.state.name for t in load(storage).trials[:2]] == ["FAIL", "FAIL"]

    def gone(pid: int) -> bool:
        # Exited: no /proc entry, or a zombie nobody has reaped yet (PID 1 in some containers).
        status = Path(f"/proc/{pid}/status")
        try:
            return "\tZ" in status.read_text().split("State:")[1].splitlines()[0]
        except FileNotFoundError:
            return True

    wait_for(lambda: all(gone(pid) for pid in job_pids), timeout=30)
