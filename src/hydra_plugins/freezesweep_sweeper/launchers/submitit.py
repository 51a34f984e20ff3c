"""Submitit launchers (SLURM, local) whose dead jobs become FAIL trials, not a dead sweep.

hydra-submitit-launcher collects results with `job.results()`, which raises when a job died at
the scheduler level (killed for memory, node failure, `scancel`, time limit), and that exception
ends the whole sweep. These subclasses submit the same way and turn such a job into a FAILED
`JobReturn` carrying the error, which the sweeper records as a FAIL trial with its reason.

Selected by `hydra/launcher=submitit_slurm` / `submitit_local`: the project's configs of those
names (conf/hydra/launcher/) point `_target_` here and take the plugin's keys.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, filter_overrides
from hydra.types import HydraContext, TaskFunction
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import (
    BaseSubmititLauncher,
)
from omegaconf import DictConfig

from freezesweep import compat

from ._executor import build_executor
from ._sbatch import check, refusal

log = logging.getLogger(__name__)


class _TolerantMixin(BaseSubmititLauncher):
    def __call__(self, *arguments: Any) -> JobReturn:
        """In the job's process: the job (Hydra's `run_job`), its storage outage, if any, said
        while its error still has its cause chain and traceback (`carry_outage`)."""
        # Here, not at the top: Hydra's plugin scan imports this module, and SQLAlchemy is slow.
        from freezesweep.study.outages import carry_outage

        result: JobReturn = super().__call__(*arguments)
        return carry_outage(result)

    def _submit(self, executor: Any, arguments: list[tuple[Any, ...]]) -> list[Any]:
        """Submits one job (array task) per argument tuple; returns submitit's jobs."""
        return list(executor.map_array(self, *zip(*arguments, strict=True)))

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        assert self.config is not None
        executor = build_executor(self._EXECUTOR, self.params)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        arguments = []
        for offset, overrides in enumerate(job_overrides):
            index = initial_job_idx + offset
            log.info(f"\t#{index} : {' '.join(filter_overrides(overrides))}")
            arguments.append(
                (
                    list(overrides),
                    "hydra.sweep.dir",
                    index,
                    f"job_id_for_{index}",
                    Singleton.get_state(),
                )
            )
        jobs = self._submit(executor, arguments)
        try:
            return [
                _result(job, overrides) for job, overrides in zip(jobs, job_overrides, strict=True)
            ]
        except BaseException:
            # SIGTERM/SIGINT in the sweeper: its trials are failed and re-queued, so their jobs
            # must not go on training (and later report into finished trials).
            for job in jobs:
                job.cancel(check=False)
            raise


def _result(job: Any, overrides: Sequence[str]) -> JobReturn:
    try:
        result: JobReturn = job.results()[0]
        return result
    except Exception as error:
        # The job never returned: its process died. The sweep goes on without it.
        state = _scheduler_state(job)
        where = f"job {job.job_id} died at the scheduler level{f' ({state})' if state else ''}"
        log.warning(f"{where}: {type(error).__name__}")
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        died = RuntimeError(f"{where}: {type(error).__name__}: {first_line}")
        failed: JobReturn = compat.failed_job_return(list(overrides), died)
        return failed


def _scheduler_state(job: Any) -> str:
    """The job's last state as the scheduler reported it (CANCELLED, OUT_OF_MEMORY, TIMEOUT,
    NODE_FAIL...), from the watcher's cache; "" when there is none to read."""
    watcher = getattr(job, "watcher", None)
    if watcher is None:
        return ""
    try:
        state = str(watcher.get_state(job.job_id, mode="cache"))
    except Exception:  # A reason for the message only; never worth failing the sweep over.
        return ""
    return "" if state.upper() == "UNKNOWN" else state


class LocalLauncher(_TolerantMixin):
    """`hydra/launcher=submitit_local`: each trial a local subprocess, dead ones FAIL."""

    _EXECUTOR = "local"


class SlurmLauncher(_TolerantMixin):
    """`hydra/launcher=submitit_slurm`: each trial a SLURM job (array), dead ones FAIL.

    sbatch's refusals (no GPUs on the partition, an unknown partition, resources over a node's)
    end the sweep with one line naming the `hydra.launcher` key: checked with `sbatch
    --test-only` when the sweeper sets the launcher up, before any trial is asked, and again at
    submission should the cluster change in between. Job states come from sacct, or from squeue
    on clusters without accounting, so a cancelled job is noticed there too.
    """

    _EXECUTOR = "slurm"

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
        check(self.params, self._array_size())

    def _submit(self, executor: Any, arguments: list[tuple[Any, ...]]) -> list[Any]:
        from submitit.core.utils import FailedJobError, FailedSubmissionError

        from ._watcher import WATCHER

        try:
            jobs = super()._submit(executor, arguments)
        except (FailedJobError, FailedSubmissionError) as error:
            # submitit wraps sbatch's stderr; keep its reason, not the 20-line traceback.
            raise refusal(self.params, len(arguments), str(error)) from None
        # Job states from squeue where sacct has no accounting database to read (see `_watcher`);
        # submitit builds array jobs with its own class, so the watcher is set per job.
        for job in jobs:
            job.watcher = WATCHER
            WATCHER.register_job(job.job_id)
        return jobs

    def _array_size(self) -> int:
        assert self.config is not None
        sweeper = self.config.hydra.get("sweeper") or {}
        return int(sweeper.get("n_jobs", 1) or 1)
