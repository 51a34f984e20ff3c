"""`hydra/launcher=submitit_slurm|submitit_local` resolve to freezesweep's tolerant launchers,
with the documented keys; a job that dies becomes a FAILED JobReturn instead of an exception."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hydra.core.utils import JobStatus
from hydra.utils import instantiate

from hydra_plugins.freezesweep_sweeper.launchers._sbatch import _last_line
from hydra_plugins.freezesweep_sweeper.launchers._watcher import GONE, FallbackWatcher
from hydra_plugins.freezesweep_sweeper.launchers.submitit import (
    LocalLauncher,
    SlurmLauncher,
    _result,
)
from tests.helpers.processes import run
from tests.helpers.shrink import compose_config

APP = Path(__file__).parents[1] / "helpers" / "sweeper_app" / "app.py"


@pytest.mark.filterwarnings("ignore:(?s).*validated against ConfigStore schema")
def test_submitit_slurm_config_has_the_documented_keys(tmp_path: Path) -> None:
    cfg = compose_config(
        tmp_path,
        "hydra/launcher=submitit_slurm",
        "hydra.launcher.partition=gpu",
        "hydra.launcher.array_parallelism=4",
        return_hydra_config=True,
    )
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.freezesweep_sweeper.launchers.submitit.SlurmLauncher"
    assert launcher.partition == "gpu" and launcher.array_parallelism == 4
    assert launcher.gpus_per_task == 1 and launcher.additional_parameters.requeue is True
    assert {"timeout_min", "cpus_per_task", "mem_gb", "max_num_timeout", "setup"} <= set(launcher)
    built = instantiate(launcher)
    assert _name(built) == _name(SlurmLauncher)  # Hydra's plugin scan loads its own module copy
    assert built.params["partition"] == "gpu"


@pytest.mark.filterwarnings("ignore:(?s).*validated against ConfigStore schema")
def test_submitit_local_config_builds_the_local_launcher(tmp_path: Path) -> None:
    cfg = compose_config(tmp_path, "hydra/launcher=submitit_local", return_hydra_config=True)
    assert _name(instantiate(cfg.hydra.launcher)) == _name(LocalLauncher)


def _name(thing: object) -> str:
    kind = thing if isinstance(thing, type) else type(thing)
    return f"{kind.__module__}.{kind.__qualname__}"


class _DeadJob:
    job_id = "4242_0"

    def results(self) -> list[object]:
        raise RuntimeError("Job 4242_0 (task: 0) failed: killed by the OOM killer\nmore lines")


def test_a_dead_job_becomes_a_failed_job_return() -> None:
    result = _result(_DeadJob(), ["x=1"])
    assert result.status == JobStatus.FAILED
    assert str(result._return_value) == (
        "job 4242_0 died at the scheduler level: RuntimeError: Job 4242_0 (task: 0) failed: "
        "killed by the OOM killer"
    )
    with pytest.raises(RuntimeError):
        _ = result.return_value


def test_squeue_fallback_reads_states_and_ends_jobs_squeue_forgot() -> None:
    # Without accounting, submitit's watcher reads squeue's listing (finished jobs stay there for
    # MinJobAge); a registered job squeue no longer lists has ended too.
    watcher = FallbackWatcher()
    for job in ("7_0", "7_1", "8_0"):
        watcher.register_job(job)
    info = watcher.read_info("JOBID|STATE|NODELIST\n7_0|RUNNING|vm\n7_1|CANCELLED|vm\n")
    assert {job: info[job]["State"] for job in ("7_0", "7_1", "8_0")} == {
        "7_0": "RUNNING",
        "7_1": "CANCELLED",
        "8_0": GONE,
    }


def test_sbatch_reasons_keep_only_slurms_words() -> None:
    submitted = "sbatch: error: Batch job submission failed: Invalid generic resource (gres) spec"
    tested = "allocation failure: Requested node configuration is not available"
    assert _last_line(f"warning\n{submitted}\n") == "Invalid generic resource (gres) spec"
    assert _last_line(tested) == "Requested node configuration is not available"


def test_submitit_slurm_without_sbatch_is_one_line(tmp_path: Path) -> None:
    # A machine with no SLURM client: the sweep stops at once, before any study exists.
    environment = dict(os.environ, PATH=str(Path(sys.executable).parent))
    done = run(
        [
            sys.executable,
            str(APP),
            "-m",
            f"hydra.sweep.dir={tmp_path}/multirun",
            f"hydra.sweeper.storage=journal:{tmp_path}/optuna.log",
            "hydra/launcher=submitit_slurm",
        ],
        cwd=tmp_path,
        env=environment,
        timeout=120,
    )
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.startswith("hydra/launcher")]
    assert lines == [
        "hydra/launcher=submitit_slurm: sbatch is not on PATH (no SLURM client on this host)"
    ], done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "optuna.log").exists()
