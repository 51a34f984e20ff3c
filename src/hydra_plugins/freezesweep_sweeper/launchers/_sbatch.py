"""sbatch's refusals of the launcher's resources, as one line naming the `hydra.launcher` key.

`hydra/launcher=submitit_slurm` with a resource the cluster cannot give (GPUs on a CPU partition,
an unknown partition, more CPUs or memory than a node has) is refused by sbatch, which submitit
turns into a 20-line `FailedJobError` after the sweeper has already asked (and burned) a batch of
trials. `check` asks `sbatch --test-only` with the exact batch script submitit would submit,
before the study is opened; `refusal` finds which key sbatch objects to by asking again without
each set key in turn, so the message names the key to change.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from typing import Any

from hydra.errors import CompactHydraException

from freezesweep import compat

from ._executor import build_executor

# Keys whose absence sbatch accepts, in the order they are tried (the usual suspects first).
_RESOURCE_KEYS = (
    "gpus_per_task",
    "gpus_per_node",
    "gres",
    "partition",
    "cpus_per_task",
    "cpus_per_gpu",
    "mem_gb",
    "mem_per_gpu",
    "mem_per_cpu",
    "timeout_min",
    "nodes",
    "tasks_per_node",
    "qos",
    "account",
    "constraint",
    "exclude",
)
_HINTS = {
    "gpus_per_task": "null on a partition without GPUs",
    "gpus_per_node": "null on a partition without GPUs",
    "gres": "null on a partition without GPUs",
    "partition": "a partition `sinfo` lists, or null for the default one",
}
_SBATCH_TIMEOUT_S = 30
# sbatch's own failures, before any request reaches a controller (no slurm.conf, no controller).
_UNREACHABLE = ("sbatch: fatal:", "Unable to contact slurm controller")


class SbatchRefused(CompactHydraException):
    """sbatch refused the launcher's job: Hydra prints compact exceptions as one line."""


def check(params: Mapping[str, Any], n_jobs: int) -> None:
    """Raises `SbatchRefused` when sbatch would refuse an array of `n_jobs` with `params`.

    Args:
        params: the launcher's resolved `hydra.launcher` keys.
        n_jobs: the array size the sweeper submits (`hydra.sweeper.n_jobs`).

    Raises:
        SbatchRefused: sbatch is missing, or refuses the job; the message names the key.
    """
    if shutil.which("sbatch") is None:
        raise SbatchRefused(
            "hydra/launcher=submitit_slurm: sbatch is not on PATH (no SLURM client on this host)"
        )
    reason = _test_only(params, n_jobs)
    if reason is None:
        return
    if reason.startswith(_UNREACHABLE):
        raise SbatchRefused(f"hydra/launcher=submitit_slurm: no SLURM cluster answers: {reason}")
    raise refusal(params, n_jobs, reason)


def refusal(params: Mapping[str, Any], n_jobs: int, reason: str) -> SbatchRefused:
    """The one-line error for sbatch's `reason`, naming the key(s) sbatch objects to.

    The culprits are the fewest set keys without which sbatch no longer gives this reason (it
    accepts the job, or objects to something else): removed one by one until that happens, then
    each put back if sbatch still does not give the reason without it.

    Args:
        params: the launcher's resolved `hydra.launcher` keys.
        n_jobs: the array size that was (or would be) submitted.
        reason: sbatch's error, any number of lines (its last non-empty line is kept).

    Returns:
        The exception to raise.
    """
    reason = _last_line(reason)

    def gone(keys: list[str]) -> bool:
        return _test_only({**params, **dict.fromkeys(keys)}, n_jobs) != reason

    removed: list[str] = []
    for key in (key for key in _RESOURCE_KEYS if params.get(key) is not None):
        removed.append(key)
        if gone(removed):
            break
    else:
        return SbatchRefused(f"hydra.launcher: sbatch refuses the job: {reason}")
    culprits = list(removed)
    for key in removed[:-1]:
        rest = [other for other in culprits if other != key]
        if gone(rest):
            culprits = rest
    named = ", ".join(f"hydra.launcher.{key}={params[key]}" for key in culprits)
    if len(culprits) == 1:
        hint = _HINTS.get(culprits[0], "a value the partition allows")
        return SbatchRefused(
            f"{named}: sbatch refuses the job: {reason} "
            f"(set hydra.launcher.{culprits[0]} to {hint})"
        )
    return SbatchRefused(
        f"{named}: sbatch refuses the job: {reason} (set them to values the partition allows)"
    )


def _test_only(params: Mapping[str, Any], n_jobs: int) -> str | None:
    """sbatch's error for the job submitit would submit, or None when sbatch would take it."""
    try:
        executor = build_executor("slurm", params)
    except (TypeError, ValueError) as error:
        return str(error)
    text = compat.submitit_sbatch_script(executor, command="true", array_size=max(n_jobs, 1))
    with tempfile.NamedTemporaryFile("w", suffix=".sh", prefix="freezesweep-preflight-") as file:
        file.write(text)
        file.flush()
        # --test-only: SLURM checks the request and schedules nothing (no --output file opened).
        done = subprocess.run(
            ["sbatch", "--test-only", file.name],
            capture_output=True,
            text=True,
            timeout=_SBATCH_TIMEOUT_S,
            check=False,
        )
    if done.returncode == 0:
        return None
    return _last_line(done.stderr + done.stdout) or f"sbatch exited {done.returncode}"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    # "sbatch: error: Batch job submission failed: X" and "allocation failure: X": keep X.
    return (
        lines[-1]
        .rsplit("failed: ", 1)[-1]
        .split("failure: ", 1)[-1]
        .removeprefix("sbatch: error: ")
    )
