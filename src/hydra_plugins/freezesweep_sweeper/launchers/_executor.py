"""The submitit executor for the launcher's `hydra.launcher` keys, as hydra-submitit-launcher
builds it: shared by the launchers (to submit) and the sbatch preflight (to test the same job)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from omegaconf import OmegaConf

# Keys the executor takes at construction; everything else goes to update_parameters.
_INIT_KEYS = {"submitit_folder", "max_num_timeout"}


def build_executor(cluster: str, params: Mapping[str, Any]) -> Any:
    """A `submitit.AutoExecutor` for `cluster` ("slurm" or "local") with the launcher's keys.

    Args:
        cluster: submitit's cluster name.
        params: the launcher's resolved keys (`submitit_folder`, `timeout_min`, ...).

    Returns:
        The executor, parameters set; nothing is submitted.
    """
    import submitit  # Imported here so that Hydra's plugin scan stays fast.

    executor = submitit.AutoExecutor(
        cluster=cluster,
        folder=params["submitit_folder"],
        **(
            {f"{cluster}_max_num_timeout": params["max_num_timeout"]}
            if "max_num_timeout" in params
            else {}
        ),
    )
    shared = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(
        **{
            key if key in shared else f"{cluster}_{key}": value
            for key, value in params.items()
            if key not in _INIT_KEYS
        }
    )
    return executor
