"""Both SLURM patterns on a real (single-node) SLURM cluster, preemption included.

Marked `slurm`: .ci/run starts a throw-away cluster (.ci/slurm_cluster.sh) and runs
`python -m pytest -m slurm` with FREEZESWEEP_TEST_SLURM=1; elsewhere these tests skip, saying
why. The array tests run deploy/slurm_array.sh from a clean copy of the checkout exactly as
docs/cluster.md shows it, with its CPU-node resource options and tiny real trials; the submitit
test uses the cheap sweeper app of tests/helpers/sweeper_app.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import optuna
import pytest
from optuna.trial import TrialState

from freezesweep.study.attributes import FAIL_REASON_ATTR, REQUEUED_ATTR, RETRY_OF_ATTR, WORKER_ATTR
from freezesweep.study.storage import open_storage
from hydra_plugins.freezesweep_sweeper.launchers._executor import build_executor
from hydra_plugins.freezesweep_sweeper.launchers._sbatch import SbatchRefused
from hydra_plugins.freezesweep_sweeper.launchers.submitit import SlurmLauncher
from hydra_plugins.freezesweep_sweeper.trials._shared_study import count_trials
from tests.cluster.test_cluster import finish, wait_for, worker
from tests.helpers.checkout import clean_checkout
from tests.helpers.processes import run
from tests.helpers.slurm import (
    CPU_NODE,
    cancel,
    job_environment,
    job_field,
    queued,
    sbatch,
    wait_gone,
    why_no_cluster,
)

_WHY_NOT = why_no_cluster()
pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(_WHY_NOT is not None, reason=_WHY_NOT or ""),
    pytest.mark.timeout(420),
]

# Tiny real trials (about 10 s each on one core): one epoch per stage, 5 images per class.
SMALL = [
    "schedule.stages.0.epochs=1",
    "schedule.stages.1.epochs=1",
    "data.train_per_class=5",
    "trainer.verbose=0",
]


class ArrayRun:
    """A clean checkout, its environment file (journal study, SQLite MLflow store) and the jobs
    submitted from it, cancelled at the end whatever happened."""

    def __init__(self, tmp_path: Path) -> None:
        self.checkout = clean_checkout(tmp_path / "checkout")
        self.storage = f"journal:{tmp_path}/shared/optuna.log"
        self.tracking_uri = f"sqlite:///{tmp_path}/shared/mlflow.db"
        env_file = tmp_path / "freezesweep.env"
        env_file.write_text(
            f"FREEZESWEEP_STORAGE={self.storage}\nMLFLOW_TRACKING_URI={self.tracking_uri}\n"
        )
        env_file.chmod(0o600)
        self.environment = job_environment(self.checkout, env_file)
        self.jobs: list[str] = []

    def submit(self, *arguments: str) -> str:
        job = sbatch(list(arguments), self.checkout, self.environment)
        self.jobs.append(job)
        return job

    def study(self, name: str = "nightly") -> optuna.Study:
        return optuna.load_study(study_name=name, storage=open_storage(self.storage))

    def log(self, job: str, task: int) -> str:
        path = self.checkout / "logs" / f"freezesweep-{job}_{task}.out"
        return path.read_text() if path.exists() else ""


@pytest.fixture
def array_run(tmp_path: Path) -> Iterator[ArrayRun]:
    run = ArrayRun(tmp_path)
    try:
        yield run
    finally:
        for job in run.jobs:
            cancel(job)


def mlflow_runs(tracking_uri: str, experiment: str) -> list[mlflow.entities.Run]:
    client = mlflow.MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    return list(client.search_runs([found.experiment_id], max_results=1000))


def assert_nothing_running(study: optuna.Study, tracking_uri: str) -> None:
    """No Optuna trial and no MLflow run of the study is left RUNNING."""
    assert not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    runs = mlflow_runs(tracking_uri, study.study_name)
    assert runs and all(run.info.status != "RUNNING" for run in runs)


def test_array_script_from_a_clean_checkout_shares_one_study(array_run: ArrayRun) -> None:
    # `sbatch deploy/slurm_array.sh` as docs/cluster.md shows it, on a fresh copy of the repository
    # (logs/ as git has it): two workers, one journal study, one MLflow store, exactly 4 trials.
    assert [p.name for p in (array_run.checkout / "logs").iterdir()] == [".gitignore"]
    job = array_run.submit(*CPU_NODE, "--array=0-1", "deploy/slurm_array.sh", *SMALL,
                           "hydra.sweeper.n_trials=4")  # fmt: skip
    wait_gone(job, timeout=300)
    logs = [array_run.log(job, task) for task in (0, 1)]
    study = array_run.study()
    trials = study.get_trials(deepcopy=False)
    assert count_trials(study).finished == 4, logs
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4, logs
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 4
    # Both array tasks were workers of this study (each logs its own start-up line).
    for task, text in enumerate(logs):
        assert f"worker SLURM_ARRAY_TASK_ID={task}," in text, text
    children = [
        run
        for run in mlflow_runs(array_run.tracking_uri, "nightly")
        if "freezesweep.trial" in run.data.tags
    ]
    assert sorted(int(run.data.tags["freezesweep.trial"]) for run in children) == [0, 1, 2, 3]
    assert all(run.info.status == "FINISHED" for run in children)
    assert_nothing_running(study, array_run.tracking_uri)


def test_preempted_array_task_requeues_and_its_trial_is_retried(array_run: ArrayRun) -> None:
    # SIGTERM to one task's batch shell mid-trial (what SLURM sends before preemption): the
    # trial fails and is re-queued, the worker exits 75, the script requeues its task, the
    # retry completes and the study still ends with exactly its total.
    # Uncached, longer fine-tuning: the trial must still be running when the signal lands.
    job = array_run.submit(*CPU_NODE, "--array=0-1", "deploy/slurm_array.sh", *SMALL,
                           "hydra.sweeper.n_trials=4", "trainer.feature_cache=off",
                           "schedule.stages.1.epochs=15")  # fmt: skip
    task = f"{job}_1"

    def trial_of_task_1() -> int | None:
        # The sweeper names each trial's worker; task 1 is SLURM_ARRAY_TASK_ID=1.
        try:
            trials = array_run.study().get_trials(states=(TrialState.RUNNING,))
        except KeyError:  # no worker has created the study yet
            return None
        running = [
            trial.number
            for trial in trials
            if trial.system_attrs.get(WORKER_ATTR) == "SLURM_ARRAY_TASK_ID=1"
        ]
        return running[-1] if running else None

    wait_for(lambda: trial_of_task_1() is not None, timeout=180)
    number = trial_of_task_1()
    assert number is not None
    time.sleep(2)  # well inside the trial (about 10 s), past its start-up
    run(["scancel", "--signal=TERM", "--batch", task], check=True, timeout=30)
    # The script requeued its task (Restarts=1); SLURM holds a requeued batch job about two
    # minutes before it is eligible again. That wait tests nothing of ours: start it now.
    wait_for(
        lambda: job_field(task, "Restarts") == "1" and job_field(task, "JobState") == "PENDING",
        timeout=120,
    )
    # Not in the second SLURM revoked the old run's credential: slurmd refuses a batch job whose
    # credential is no newer than the revocation ("Job credential revoked", the task FAILED).
    time.sleep(3)
    run(["scontrol", "update", f"JobId={task}", "StartTime=now"], check=True)
    wait_gone(job, timeout=300)

    study = array_run.study()
    trials = study.get_trials(deepcopy=False)
    preempted = trials[number]
    assert preempted.state == TrialState.FAIL
    assert "received SIGTERM" in preempted.user_attrs[FAIL_REASON_ATTR]
    assert preempted.system_attrs[REQUEUED_ATTR] is True
    retries = [t for t in trials if t.user_attrs.get(RETRY_OF_ATTR) == number]
    assert len(retries) == 1 and retries[0].params == preempted.params
    assert retries[0].state == TrialState.COMPLETE
    assert count_trials(study).finished == 4
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 4
    # The task went back to the queue once (exit 75 -> scontrol requeue) and then ended well.
    assert job_field(task, "Restarts") == "1"
    assert job_field(task, "JobState") == "COMPLETED"
    assert job_field(task, "ExitCode") == "0:0"
    assert_nothing_running(study, array_run.tracking_uri)


def test_submitit_slurm_two_jobs_at_once_and_a_cancelled_job_fails_its_trial(
    tmp_path: Path,
) -> None:
    # hydra/launcher=submitit_slurm with n_jobs=2: each batch is a 2-task SLURM array. The job
    # of trial 1 is cancelled with scancel mid-trial: FAIL with the scheduler's reason, and the
    # sweep goes on to its 4 trials.
    storage = f"journal:{tmp_path}/optuna.log"
    tracking_uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    process = worker(
        tmp_path,
        storage,
        "hydra/launcher=submitit_slurm",
        "hydra.launcher.gpus_per_task=null",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=1",
        "hydra.launcher.timeout_min=10",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.n_jobs=2",
        "sleep_s=1",
        "epochs=8",
    )
    try:
        wait_for(
            lambda: (tmp_path / "multirun" / "trial-0001" / "result.json").exists(), timeout=120
        )
        # The first batch is one array; its task 1 runs trial 1.
        tasks = [line.split()[0] for line in _own_tasks(tmp_path)]
        victim = next(task for task in tasks if task.endswith("_1"))
        run(["scancel", victim], check=True, timeout=30)
        code, output = finish(process, timeout=240)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for task in _own_tasks(tmp_path):
            cancel(task.split()[0])
    assert code == 0, output
    study = optuna.load_study(study_name="toy", storage=open_storage(storage))
    trials = study.get_trials(deepcopy=False)
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    reason = trials[1].user_attrs[FAIL_REASON_ATTR]
    assert reason.startswith(
        f"RuntimeError: job {victim} died at the scheduler level (CANCELLED): UncompletedJobError: "
        f"Job {victim} (task: 0) with path "
    ), reason
    assert_nothing_running(study, tracking_uri)


def _own_tasks(tmp_path: Path) -> list[str]:
    """Queued tasks of the submitit jobs of this test (their folders live under tmp_path)."""
    folders = tmp_path / "multirun" / ".submitit"
    mine = {p.name.split("_")[0] for p in folders.iterdir()} if folders.exists() else set()
    return [line for job in sorted(mine) for line in queued(job)]


def test_sbatch_refusals_are_one_line_naming_the_key_before_any_trial(tmp_path: Path) -> None:
    # The default gpus_per_task=1 on a CPU partition, an unknown partition, more memory than
    # the node has: one line each, naming the key, and no study, trial or run is created.
    storage = f"journal:{tmp_path}/optuna.log"
    cases = {
        ("hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1"): (
            "hydra.launcher.gpus_per_task=1: sbatch refuses the job: Invalid generic resource "
            "(gres) specification (set hydra.launcher.gpus_per_task to null on a partition "
            "without GPUs)"
        ),
        ("hydra.launcher.gpus_per_task=null", "hydra.launcher.partition=nosuch",
         "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1"): (
            "hydra.launcher.partition=nosuch: sbatch refuses the job: Invalid partition name "
            "specified (set hydra.launcher.partition to a partition `sinfo` lists, or null for "
            "the default one)"
        ),
        ("hydra.launcher.gpus_per_task=null", "hydra.launcher.cpus_per_task=1",
         "hydra.launcher.mem_gb=4096"): (
            "hydra.launcher.mem_gb=4096: sbatch refuses the job: Requested node configuration "
            "is not available (set hydra.launcher.mem_gb to a value the partition allows)"
        ),
        ("hydra.launcher.gpus_per_task=null",): (
            "hydra.launcher.cpus_per_task=8, hydra.launcher.mem_gb=32: sbatch refuses the job: "
            "Requested node configuration is not available (set them to values the partition "
            "allows)"
        ),
    }  # fmt: skip
    for overrides, message in cases.items():
        code, output = finish(
            worker(tmp_path, storage, "hydra/launcher=submitit_slurm", *overrides), timeout=60
        )
        assert code == 1, output
        lines = [line for line in output.splitlines() if line.startswith("hydra.launcher")]
        assert lines == [message], output
        assert "Traceback" not in output
    assert not (tmp_path / "optuna.log").exists()
    assert not (tmp_path / "mlruns").exists()


def test_a_refusal_at_submission_is_the_same_one_line(tmp_path: Path) -> None:
    # Should the cluster change between the preflight and a batch, sbatch's refusal at
    # submission (submitit's FailedJobError) becomes the same one-line error, not a traceback.
    params = {
        "submitit_folder": f"{tmp_path}/.submitit/%j",
        "timeout_min": 5,
        "cpus_per_task": 1,
        "gpus_per_task": 1,
        "mem_gb": 1,
        "nodes": 1,
        "tasks_per_node": 1,
        "name": "refused",
        "max_num_timeout": 0,
    }
    launcher = SlurmLauncher(**params)
    arguments = [([f"x={n}"], "hydra.sweep.dir", n, f"job_id_for_{n}", {}) for n in (0, 1)]
    with pytest.raises(SbatchRefused) as refused:
        launcher._submit(build_executor("slurm", params), arguments)
    assert str(refused.value) == (
        "hydra.launcher.gpus_per_task=1: sbatch refuses the job: Invalid generic resource (gres) "
        "specification (set hydra.launcher.gpus_per_task to null on a partition without GPUs)"
    )
