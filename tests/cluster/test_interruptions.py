"""Interruptions a person or a machine causes, with real worker processes: Ctrl-C twice, and
`kill -9` followed at once by the same command.

Every test ends with no Optuna trial and no MLflow run left RUNNING, and the interrupted trial
failed with a reason that says what happened and re-queued once.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from freezesweep.study.attributes import FAIL_REASON_ATTR, REQUEUED_ATTR, RETRY_OF_ATTR
from hydra_plugins.freezesweep_sweeper.trials._shared_study import count_trials
from tests.cluster.test_cluster import finish, load, runs, trial_runs, wait_for, worker
from tests.helpers.processes import Started

pytestmark = pytest.mark.cluster

# What the sweeper prints once the first signal's trial is failed and re-queued.
_CLEANED_UP = "received SIGINT: the current trial(s) failed and re-queued; exiting"


def _read_until(process: Started, text: str) -> str:
    """The worker's output up to the first line holding `text` (the process keeps running)."""
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"the worker ended without printing {text!r}:\n{''.join(seen)}")


@pytest.mark.parametrize("second", ["mid_cleanup", "after_requeue"])
def test_a_second_sigint_skips_the_report_and_leaves_nothing_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, second: str
) -> None:
    # Ctrl-C twice: the second lands while the first one's cleanup runs (0.2 s later: ending
    # the trial's run, failing and re-queueing it) or once the trial is re-queued (the report).
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")  # the test reads the worker's lines as printed
    storage = f"journal:{tmp_path}/optuna.log"
    tracking_uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    process = worker(tmp_path, storage, "hydra.sweeper.n_trials=3", "sleep_s=2", "epochs=10")
    wait_for(lambda: (tmp_path / "multirun" / "trial-0000" / "result.json").exists())
    time.sleep(1.0)
    os.kill(process.pid, signal.SIGINT)
    before = ""
    if second == "mid_cleanup":
        time.sleep(0.2)
    else:
        before = _read_until(process, _CLEANED_UP)
    os.kill(process.pid, signal.SIGINT)
    code, output = finish(process, timeout=60)
    output = before + output
    # Exit 130 (a person stopped it), one line for the second Ctrl-C, no traceback.
    assert code == 130, output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    assert "received SIGINT again: skipping the report" in output, output
    # The end of the sweep asks again before each slow step: the second Ctrl-C skips what is
    # left when it lands (the report, or, once the report is written, the models).
    skipped = [
        "report skipped: `freezesweep report --study toy` writes it",
        "models skipped: `freezesweep promote --study toy` logs them",
    ]
    assert sum(line in output for line in skipped) == 1, output
    # The trial: FAIL with the true reason, re-queued once; nothing RUNNING in Optuna.
    trials = load(storage).trials
    assert trials[0].state == TrialState.FAIL
    assert "SIGINT" in trials[0].user_attrs[FAIL_REASON_ATTR]
    assert trials[0].system_attrs[REQUEUED_ATTR] is True
    assert [t.user_attrs.get(RETRY_OF_ATTR) for t in trials if t.state == TrialState.WAITING] == [0]
    assert all(t.state != TrialState.RUNNING for t in trials)
    # MLflow: the trial's run KILLED, the study's parent run ended KILLED (no report), none RUNNING.
    assert trial_runs(tracking_uri)["0"].info.status == "KILLED"
    parents = [r for r in runs(tracking_uri) if r.data.tags.get("freezesweep.role") == "study"]
    assert [r.info.status for r in parents] == ["KILLED"]
    assert all(r.info.status != "RUNNING" for r in runs(tracking_uri))
    assert (tmp_path / "multirun" / "report").exists() == (skipped[1] in output)


def test_the_next_run_after_a_double_sigint_finishes_the_study(tmp_path: Path) -> None:
    # Nothing lost: the same command again runs the re-queued trial and reaches the total.
    storage = f"journal:{tmp_path}/optuna.log"
    tracking_uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    overrides = ("hydra.sweeper.n_trials=3", "sleep_s=0.5", "epochs=6")
    process = worker(tmp_path, storage, *overrides)
    wait_for(lambda: (tmp_path / "multirun" / "trial-0000" / "result.json").exists())
    time.sleep(1.0)
    os.kill(process.pid, signal.SIGINT)
    time.sleep(0.2)
    os.kill(process.pid, signal.SIGINT)
    code, output = finish(process, timeout=60)
    assert code == 130, output
    code, output = finish(worker(tmp_path, storage, *overrides))
    assert code == 0, output
    study = load(storage)
    assert count_trials(study).finished == 3
    retries = [t for t in study.trials if t.user_attrs.get(RETRY_OF_ATTR) == 0]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == study.trials[0].params
    assert all(r.info.status != "RUNNING" for r in runs(tracking_uri))


def test_kill_9_then_the_same_command_at_once_waits_for_the_stale_trial_and_finishes(
    tmp_path: Path,
) -> None:
    # kill -9 in the study's last trial, then the same command at once: the dead trial's
    # heartbeat is fresh (under two 10 s intervals old, so not yet "late"). The rerun waits,
    # says why, fails the trial as stale, re-queues and runs it: exactly 3 trials finished,
    # none run twice or lost. (Before, it exited at once: "still running in other workers".)
    # SQLite, the default storage (a journal file's lock, left by the killed worker, would
    # hold the rerun back past the grace period by itself).
    storage = f"sqlite:///{tmp_path}/optuna.db"
    tracking_uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    overrides = (
        "hydra.sweeper.n_trials=3",
        "sleep_s=0.5",
        "epochs=40",
        "hydra.sweeper.heartbeat_interval=10",
        "hydra.sweeper.grace_period=30",
    )
    first = worker(tmp_path, storage, *overrides)
    wait_for(lambda: (tmp_path / "multirun" / "trial-0002" / "result.json").exists(), 240)
    time.sleep(1.0)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert load(storage).trials[2].state == TrialState.RUNNING  # what the dead worker left

    code, output = finish(worker(tmp_path, storage, *overrides))
    assert code == 0, output
    assert "waiting for trial(s) [2] of other workers" in output, output
    study = load(storage)
    killed = study.trials[2]
    assert killed.state == TrialState.FAIL
    assert killed.user_attrs[FAIL_REASON_ATTR].startswith("stale: no heartbeat for ")
    assert killed.system_attrs[REQUEUED_ATTR] is True
    retries = [t for t in study.trials if t.user_attrs.get(RETRY_OF_ATTR) == 2]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == killed.params
    assert count_trials(study).finished == 3
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) == 3
    assert all(t.state not in (TrialState.RUNNING, TrialState.WAITING) for t in study.trials)
    # The dead trial's run KILLED by the rerun, nothing RUNNING.
    assert trial_runs(tracking_uri)["2"].info.status == "KILLED"
    assert all(r.info.status != "RUNNING" for r in runs(tracking_uri))
