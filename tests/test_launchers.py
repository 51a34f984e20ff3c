"""`hydra/launcher=submitit_slurm|submitit_local` resolve to freezesweep's tolerant launchers,
with the documented keys; a job that dies becomes a FAILED JobReturn instead of an exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.core.utils import JobStatus
from hydra.utils import instantiate

from hydra_plugins.freezesweep_sweeper.launchers import LocalLauncher, SlurmLauncher, _result
from tests.shrink import compose_config


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
    assert launcher._target_ == "hydra_plugins.freezesweep_sweeper.launchers.SlurmLauncher"
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
