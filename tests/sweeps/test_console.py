"""What a sweep prints: one line per trial and a progress line, no Keras epoch logs and no
TensorFlow C++ log lines; a single run keeps Keras's own progress output."""

from __future__ import annotations

import os
import platform
import re
import sys
from pathlib import Path

import pytest

from freezesweep.console import quiet_tensorflow
from freezesweep.spec.read import trial_spec
from tests.helpers.processes import run
from tests.helpers.shrink import ROOT, compose_config

# absl/TSL lines ("I0000 00:00:17.. 9361 port.cc:153] oneDNN custom operations are on",
# "E0000 ... NodeDef mentions attribute use_unbounded_threadpool") and absl's pre-init notice.
CPP_LOG = re.compile(r"^[IWEF]\d{4} |absl::InitializeLog|oneDNN custom operations")
TRIAL_LINE = re.compile(r"\[HYDRA\] trial (\d+) (COMPLETE|PRUNED|FAIL) ")
PROGRESS_LINE = re.compile(
    r"\[HYDRA\] \[(\d+)/2\] best \S+ \(#\d\) · \d+s elapsed · (ETA \d+s|done)$"
)


def test_verbose_auto_is_silent_in_a_sweep_job_only(tmp_path: Path) -> None:
    single = compose_config(tmp_path, "trainer.verbose=auto")
    job = compose_config(tmp_path, "trainer.verbose=auto", "trial.number=3")
    # A plain run keeps `auto` (a progress bar on a terminal); a sweep job trains silently.
    assert trial_spec(single, environment={}).trainer.verbose == "auto"
    assert trial_spec(job, environment={}).trainer.verbose == 0
    # An explicit value still wins inside a sweep.
    forced = compose_config(tmp_path, "trainer.verbose=2", "trial.number=3")
    assert trial_spec(forced, environment={}).trainer.verbose == 2


def test_a_level_the_user_set_is_kept() -> None:
    environment = {"TF_CPP_MIN_LOG_LEVEL": "0"}
    # The user asked for TensorFlow's logs: nothing is changed or captured.
    assert quiet_tensorflow(environment) is False
    assert environment == {"TF_CPP_MIN_LOG_LEVEL": "0"}


IMPORT = "from freezesweep.console import quiet_tensorflow; quiet_tensorflow(); import keras"


@pytest.mark.slow  # moved from the default tier to keep it under 10 minutes on 2 cores
@pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow" or platform.machine() != "x86_64",
    reason="TensorFlow's start-up notices are printed by x86-64 TensorFlow builds",
)
def test_tensorflow_loads_without_cpp_log_lines_unless_asked() -> None:
    def stderr_of(**extra: str) -> str:
        environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
        return run([sys.executable, "-c", IMPORT], env={**environment, **extra}, timeout=300).stderr

    # Left to freezesweep: not one C++ log line while TensorFlow loads.
    assert [line for line in stderr_of().splitlines() if CPP_LOG.search(line)] == []
    # The user's own level stands: TF_CPP_MIN_LOG_LEVEL=0 shows TensorFlow's notices again
    # (which ones depends on the CPU: the oneDNN notice, the CPU-feature notice, ...).
    shown = stderr_of(TF_CPP_MIN_LOG_LEVEL="0")
    assert [line for line in shown.splitlines() if CPP_LOG.search(line)], shown


@pytest.mark.slow
def test_a_sweep_prints_one_line_per_trial_and_its_progress(tmp_path: Path) -> None:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("MLFLOW_TRACKING_URI", "TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")
        and not key.startswith("SLURM_")
    }
    environment["MLFLOW_DISABLE_TELEMETRY"] = "true"
    command = [sys.executable, str(ROOT / "sweep.py"), "-m", "hydra.sweeper.n_trials=2"]
    command += ["schedule.stages.0.epochs=1", "schedule.stages.1.epochs=2"]
    command += ["data.train_per_class=5"]  # trainer.verbose stays at its default, auto
    process = run(command, cwd=tmp_path, env=environment)
    assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-4000:]
    lines = (process.stdout + process.stderr).splitlines()
    # No TensorFlow/absl C++ log line, and no Keras epoch output.
    assert [line for line in lines if CPP_LOG.search(line)] == []
    assert [line for line in lines if re.search(r"Epoch \d|\d+/\d+ .*step", line)] == []
    # Between the study's first line and its summary: a trial line, then its progress line,
    # for each trial, and nothing else.
    first = next(i for i, line in enumerate(lines) if "[HYDRA] study 'top_k_lr' in " in line)
    last = next(i for i, line in enumerate(lines) if "[HYDRA] study 'top_k_lr': 2 trials" in line)
    body = [line for line in lines[first + 1 : last] if "mlflow.store.db.utils" not in line]
    assert len(body) == 4, body
    assert [TRIAL_LINE.search(line) is not None for line in body] == [True, False, True, False]
    progress = [PROGRESS_LINE.search(line) for line in body[1::2]]
    assert [match.group(1) for match in progress if match] == ["1", "2"], body
    # freezesweep's own INFO lines (the feature cache's status) go to each job's log file only.
    logs = "".join(path.read_text() for path in (tmp_path / "sweeps").rglob("trial-*/*.log"))
    assert "feature cache for stage 'head'" in logs
