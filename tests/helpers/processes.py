"""Every process a test starts: a command run to its end (`run`), an app script the way a user
runs it (`run_script`), and a long-running server or worker (`start`, then `finish` or `stop`).

Test files start processes only through these, so each gets the same handling: output captured
as text, a timeout, and a failure message that shows the command, its exit status and the end
of what it printed. `app_environment` is the one place for what an app process inherits: the
test's environment without an MLflow URI or SLURM job variables from outside (they would
redirect the stores or seed the sampler), with telemetry off and TensorFlow's C++ logging quiet.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, TypeAlias

from tests.helpers.shrink import ROOT

SWEEP = ROOT / "sweep.py"

# What `run` returns and what `start` returns, for the tests' annotations.
Completed: TypeAlias = subprocess.CompletedProcess[str]
Started: TypeAlias = subprocess.Popen[str]

# How much of each stream a failure message shows (the end, where the error is).
SHOWN_CHARACTERS = 4000


class Failed(subprocess.CalledProcessError):
    """A command run with `check=True` exited non-zero; its message is the whole story."""

    def __str__(self) -> str:
        command = shlex.join(str(part) for part in self.cmd)
        parts = [f"`{command}` exited with status {self.returncode}"]
        for name, text in (("stdout", self.stdout), ("stderr", self.stderr)):
            if text:
                parts.append(f"--- {name} (last {SHOWN_CHARACTERS} characters):")
                parts.append(text[-SHOWN_CHARACTERS:])
        return "\n".join(parts)


def run(
    command: Sequence[str | os.PathLike[str]],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    check: bool = False,
) -> Completed:
    """Runs `command` to its end and returns it finished, stdout and stderr captured as text.

    Args:
        command: the program and its arguments. No default.
        cwd: the working directory. Defaults to `None` (this process's).
        env: the process's whole environment. Defaults to `None` (this process's).
        timeout: seconds before the process is killed and `subprocess.TimeoutExpired` raised.
            Defaults to `600`.
        check: fail when the command exits non-zero. Defaults to `False` (the caller reads
            `returncode`).

    Raises:
        Failed: `check` is set and the command exited non-zero; the message shows the command,
            its status and the end of its output (a `subprocess.CalledProcessError`).
    """
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and done.returncode != 0:
        raise Failed(done.returncode, done.args, done.stdout, done.stderr)
    return done


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
) -> Completed:
    """Runs `python script *arguments` in `cwd` and returns it finished, output captured.

    Args:
        cwd: the working directory. No default.
        arguments: the command line after the script.
        script: the app. Defaults to the project's `sweep.py`.
        env: variables added to `app_environment()`. Defaults to `None`.
        timeout: seconds before the process is killed. Defaults to `600`.
    """
    return run(
        [sys.executable, script, *arguments], cwd=cwd, env=app_environment(env), timeout=timeout
    )


def start(
    command: Sequence[str | os.PathLike[str]],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    output: Literal["captured", "merged", "discarded"] = "captured",
    new_session: bool = False,
) -> Started:
    """Starts `command` and returns it running (a server, a worker, processes started together).

    Args:
        command: the program and its arguments. No default.
        cwd: the working directory. Defaults to `None` (this process's).
        env: the process's whole environment. Defaults to `None` (this process's).
        output: `"captured"` keeps stdout and stderr apart, `"merged"` sends stderr into stdout
            (both read as text), `"discarded"` drops both (a server that would fill a pipe).
            Defaults to `"captured"`.
        new_session: start it in its own session and process group (as a scheduler would; `stop`
            then ends the whole group). Defaults to `False`.
    """
    streams = {
        "captured": (subprocess.PIPE, subprocess.PIPE),
        "merged": (subprocess.PIPE, subprocess.STDOUT),
        "discarded": (subprocess.DEVNULL, subprocess.DEVNULL),
    }[output]
    return subprocess.Popen(
        [str(part) for part in command],
        cwd=cwd,
        env=None if env is None else dict(env),
        stdout=streams[0],
        stderr=streams[1],
        text=True,
        start_new_session=new_session,
    )


def finish(process: Started, timeout: float = 600) -> Completed:
    """Waits for a started process to end and returns it as `run` would (output captured)."""
    stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def stop(process: Started, timeout: float = 30) -> None:
    """Ends a process started with `new_session=True` and everything in its group: SIGTERM, then
    SIGKILL when the group leader has not exited after `timeout` seconds."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)
