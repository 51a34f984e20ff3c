"""`freezesweep dashboard` serves optuna-dashboard on the study storage, `journal:` files too."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import optuna
import pytest

from freezesweep.study.attributes import WARM_START_ATTR
from freezesweep.study.pruning import record_run_id, record_trainable_params
from freezesweep.study.storage import normalize_storage_url, open_storage
from tests.cluster.test_mlflow_server import free_port
from tests.helpers.processes import start

pytest.importorskip("optuna_dashboard", reason="optuna-dashboard is not installed (test extra)")


def get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def test_dashboard_reads_a_journal_study_over_http(tmp_path: Path) -> None:
    url = normalize_storage_url(f"journal:{tmp_path}/optuna.log")
    study = optuna.create_study(study_name="watched", storage=open_storage(url))
    study.optimize(_objective, n_trials=3)
    # An earlier study's trial, copied in for the sampler (warm start): not shown.
    study.add_trial(
        optuna.trial.create_trial(
            value=0.0, params={}, distributions={}, system_attrs={WARM_START_ATTR: "old"}
        )
    )
    # The sweeper's side study, which numbers the invocations of `watched`.
    optuna.create_study(study_name="watched:workers", storage=open_storage(url))
    port = free_port()
    command = [sys.executable, "-m", "freezesweep.cli", "dashboard", "--storage", url]
    command += ["--port", str(port), "--config-dir", str(tmp_path / "no-conf")]
    server = start(command, env=dict(os.environ), output="merged", new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                studies = get(f"http://127.0.0.1:{port}/api/studies")["study_summaries"]
                break
            except OSError:
                assert server.poll() is None, server.communicate()[0][-3000:]
                assert time.monotonic() < deadline, "optuna-dashboard did not start"
                time.sleep(0.3)
        # The study and its three own trials, read from the journal file over HTTP; the side
        # study `watched:workers` is not listed, nor the warm-start trial.
        (summary,) = studies
        assert summary["study_name"] == "watched"
        detail = get(f"http://127.0.0.1:{port}/api/studies/{summary['study_id']}")
        assert [trial["number"] for trial in detail["trials"]] == [0, 1, 2]
        # Each trial shows its run's address and its trainable parameters (user attrs).
        attrs = {item["key"]: item["value"] for item in detail["trials"][1]["user_attrs"]}
        assert attrs["mlflow_run_url"] == "http://127.0.0.1:5000/#/experiments/1/runs/run-1"
        assert attrs["trainable_params"] == "1001"
    finally:
        server.terminate()
        server.wait(30)


def _objective(trial: optuna.Trial) -> float:
    """A trial as a sweep's job records it: its run and its size as user attrs."""
    record_run_id(
        trial,
        f"run-{trial.number}",
        f"http://127.0.0.1:5000/#/experiments/1/runs/run-{trial.number}",
    )
    record_trainable_params(trial, 1000 + trial.number)
    return trial.suggest_float("x", 0, 1)


def test_dashboard_needs_a_storage_outside_a_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from freezesweep.cli import main

    # No conf/ and no --storage: one line naming the option, exit status 2.
    assert main(["dashboard", "--config-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"error: --storage is required outside a project folder (no {tmp_path}/)\n"
    )
