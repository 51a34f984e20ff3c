"""Out of memory in a trial: a FAIL naming the batch size, memory released, the next trial runs."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import tensorflow as tf
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from freezesweep.errors import OutOfMemory
from freezesweep.study.attributes import FAIL_REASON_ATTR
from freezesweep.train.memory import is_out_of_memory, out_of_memory
from tests.helpers import memory_hog
from tests.helpers.app_inprocess import run_app
from tests.helpers.shrink import small_overrides


def test_out_of_memory_errors_of_every_backend_are_recognised() -> None:
    # Python's MemoryError, TF's ResourceExhaustedError, JAX's RESOURCE_EXHAUSTED status, torch's.
    class OutOfMemoryError(RuntimeError):  # torch.OutOfMemoryError's name, without torch
        pass

    assert is_out_of_memory(MemoryError())
    assert is_out_of_memory(tf.errors.ResourceExhaustedError(None, None, "OOM"))
    assert is_out_of_memory(RuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 4 GiB"))
    assert is_out_of_memory(OutOfMemoryError("CUDA out of memory"))
    assert not is_out_of_memory(ValueError("shapes differ"))


def test_reason_names_the_batch_size_and_the_backend_first_line() -> None:
    # One line: the batch size to lower, and what the backend said (its statistics cut off).
    error = tf.errors.ResourceExhaustedError(None, None, "OOM when allocating\nallocator stats")
    assert str(out_of_memory(error, 64)) == (
        "out of memory at trainer.batch_size=64 (ResourceExhaustedError: OOM when allocating); "
        "a smaller trainer.batch_size needs less"
    )
    assert isinstance(out_of_memory(MemoryError(), 8), OutOfMemory)


@pytest.mark.slow  # a real two-trial sweep, ~40 s
@pytest.mark.timeout(300)
def test_out_of_memory_trial_fails_and_the_next_trial_runs(tmp_path: Path) -> None:
    hog = (
        "{_target_: tests.helpers.memory_hog.HungryAdam,"
        " batch_size: '${trainer.batch_size}', limit: 32}"
    )
    memory_hog.ALIVE_AT_BUILD.clear()
    finished = run_app(
        tmp_path,
        "-m",
        *small_overrides(tmp_path),
        "allowed_targets=[tests.helpers.memory_hog]",
        f"+schedule.stages.1.optimizer={hog}",
        "hydra.sweeper.study_name=oom",
        f"hydra.sweeper.storage=sqlite:///{tmp_path}/optuna.db",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.max_failure_rate=1.0",
        "trainer.batch_size=choice(64,8)",
        "hydra.sweeper.enqueue=[{trainer.batch_size: 64}, {trainer.batch_size: 8}]",
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    study = optuna.load_study(study_name="oom", storage=f"sqlite:///{tmp_path}/optuna.db")
    first, second = study.trials
    # The trial at batch 64 failed out of memory, its reason naming the batch size.
    assert first.state == TrialState.FAIL
    assert first.user_attrs[FAIL_REASON_ATTR] == (
        "OutOfMemory: out of memory at trainer.batch_size=64 (ResourceExhaustedError: OOM when "
        "allocating tensor with shape[64,7,7,32]); a smaller trainer.batch_size needs less"
    )
    # The next trial ran in the same process and completed.
    assert second.state == TrialState.COMPLETE and second.params["trainer.batch_size"] == 8
    # Released while the sweep still runs: when the next trial built its optimizers, nothing
    # kept the failed trial's (nor the model they refer to) alive.
    assert memory_hog.ALIVE_AT_BUILD[-1] == 0
    # MLflow agrees: the failed trial's run FAILED with the same reason; nothing RUNNING anywhere.
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("oom").experiment_id])
    children = {run.info.run_name: run for run in runs if run.info.run_name.startswith("trial-")}
    assert children["trial-0000"].info.status == RunStatus.to_string(RunStatus.FAILED)
    assert (
        children["trial-0000"]
        .data.tags["freezesweep.error"]
        .startswith("OutOfMemory: out of memory at trainer.batch_size=64")
    )
    assert children["trial-0001"].info.status == "FINISHED"
    assert all(run.info.status != "RUNNING" for run in runs)
    assert not study.get_trials(states=(TrialState.RUNNING,))
