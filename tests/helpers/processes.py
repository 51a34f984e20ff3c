"""`python sweep.py ...` (or another app script) as its own process, the way a user runs it.

One place for the environment such a process gets: the test's own, without an MLflow URI or
SLURM job variables from outside (they would redirect the stores or seed the sampler), with
telemetry off and TensorFlow's C++ logging quiet.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.helpers.shrink import ROOT

SWEEP = ROOT / "sweep.py"


def app_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment for an app process, with `extra` on top."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key != "MLFLOW_TRACKING_URI" and not key.startswith("SLURM_")
    }
    environment.update(MLFLOW_DISABLE_TELEMETRY="true", TF_CPP_MIN_LOG_LEVEL="3")
    environment.update(extra or {})
    return environment


def run_script(
    cwd: Path,
    *arguments: str,
    script: Path = SWEEP,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Runs `python script *arguments` in `cwd` and returns it finished, output captured.

    Args:
        cwd: the working directory. No default.
        arguments: the command line after the script.
        script: the app. Defaults to the project's `sweep.py`.
        env: variables added to `app_environment()`. Defaults to `None`.
        timeout: seconds before the process is killed. Defaults to `600`.
    """
    return subprocess.run(
        [sys.executable, str(script), *arguments],
        cwd=cwd,
        env=app_environment(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
