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
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import (
    BaseSubmititLauncher,
)
from omegaconf import OmegaConf

from freezesweep import compat

log = logging.getLogger(__name__)

# Keys the executor takes at construction; everything else goes to update_parameters.
_INIT_KEYS = {"submitit_folder", "max_num_timeout"}


class _TolerantMixin(BaseSubmititLauncher):
    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        import submitit  # Imported here so that Hydra's plugin scan stays fast.

        assert self.config is not None
        cluster = self._EXECUTOR
        executor = submitit.AutoExecutor(
            cluster=cluster,
            folder=self.params["submitit_folder"],
            **(
                {f"{cluster}_max_num_timeout": self.params["max_num_timeout"]}
                if "max_num_timeout" in self.params
                else {}
            ),
        )
        shared = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{
                key if key in shared else f"{cluster}_{key}": value
                for key, value in self.params.items()
                if key not in _INIT_KEYS
            }
        )
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
        jobs = executor.map_array(self, *zip(*arguments, strict=True))
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
        log.warning(f"job {job.job_id} died at the scheduler level: {type(error).__name__}")
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        died = RuntimeError(
            f"job {job.job_id} died at the scheduler level: {type(error).__name__}: {first_line}"
        )
        failed: JobReturn = compat.failed_job_return(list(overrides), died)
        return failed


class LocalLauncher(_TolerantMixin):
    """`hydra/launcher=submitit_local`: each trial a local subprocess, dead ones FAIL."""

    _EXECUTOR = "local"


class SlurmLauncher(_TolerantMixin):
    """`hydra/launcher=submitit_slurm`: each trial a SLURM job (array), dead ones FAIL."""

    _EXECUTOR = "slurm"
