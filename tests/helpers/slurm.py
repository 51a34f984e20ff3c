"""Helpers for the `slurm` tier: is a cluster there, a clean checkout, sbatch and waiting on jobs.

The tier needs a running SLURM cluster whose client commands find it (SLURM_CONF), started by
`.ci/slurm_cluster.sh start DIR`, and FREEZESWEEP_TEST_SLURM=1; without them it skips, saying why.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers.processes import run

ENABLE_VARIABLE = "FREEZESWEEP_TEST_SLURM"

# docs/cluster.md's options for a CPU-only partition, sized for the throw-away cluster's
# 2-core node.
CPU_NODE = ["--gpus-per-task=0", "--cpus-per-task=1", "--mem=1G", "--time=15"]


def why_no_cluster() -> str | None:
    """Why the slurm tier cannot run here, or None when a cluster answers."""
    if os.environ.get(ENABLE_VARIABLE) != "1":
        return (
            f"{ENABLE_VARIABLE}=1 is not set (the slurm tier needs a SLURM cluster: "
            ".ci/slurm_cluster.sh start DIR, then SLURM_CONF=DIR/slurm.conf)"
        )
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "sinfo/sbatch are not on PATH: no SLURM client on this machine"
    try:
        answer = run(["sinfo", "-h", "-o", "%a"], timeout=15)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 15 s: no SLURM controller reachable"
    if answer.returncode != 0 or "up" not in answer.stdout:
        return f"no SLURM cluster answers sinfo: {answer.stderr.strip() or answer.stdout.strip()}"
    return None


def job_environment(checkout: Path, env_file: Path) -> dict[str, str]:
    """What sbatch hands the jobs (SLURM exports the submitter's environment): this Python first
    on PATH, the checkout's own sources, the env file, and no SLURM_* of an enclosing job."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SLURM_") or key == "SLURM_CONF"
    }
    environment["PATH"] = f"{Path(sys.executable).parent}:{environment.get('PATH', '')}"
    environment["PYTHONPATH"] = str(checkout / "src")
    environment["FREEZESWEEP_ENV_FILE"] = str(env_file)
    environment["MLFLOW_DISABLE_TELEMETRY"] = "true"
    return environment


def sbatch(arguments: list[str], cwd: Path, environment: dict[str, str]) -> str:
    """Submits a batch job; returns its job id."""
    done = run(["sbatch", "--parsable", *arguments], cwd=cwd, env=environment, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().split(";")[0]


def queued(job_id: str) -> list[str]:
    """The job's (or array's) tasks still in the queue, as `ID STATE` lines."""
    done = run(["squeue", "-h", "-r", "-j", job_id, "-o", "%i %T"], timeout=30)
    return done.stdout.split("\n")[:-1] if done.returncode == 0 else []


def wait_gone(job_id: str, timeout: float) -> None:
    """Waits until no task of the job is queued or running; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while queued(job_id):
        assert time.monotonic() < deadline, f"job {job_id} still queued: {queued(job_id)}"
        time.sleep(1)


def cancel(job_id: str) -> None:
    """Cancels whatever is left of the job (a test's cleanup) and waits until it is gone."""
    run(["scancel", job_id], timeout=30)
    wait_gone(job_id, timeout=60)


def job_field(job_id: str, field: str) -> str:
    """One `Key=value` of `scontrol show job` (e.g. Restarts), "" when the job is forgotten."""
    shown = run(["scontrol", "show", "job", job_id], timeout=30).stdout
    found = re.search(rf"\b{field}=(\S*)", shown)
    return found.group(1) if found else ""
