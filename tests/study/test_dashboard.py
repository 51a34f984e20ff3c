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
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
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
        # The study and its three trials, read from the journal file over HTTP.
        (summary,) = studies
        assert summary["study_name"] == "watched"
        detail = get(f"http://127.0.0.1:{port}/api/studies/{summary['study_id']}")
        assert [trial["number"] for trial in detail["trials"]] == [0, 1, 2]
    finally:
        server.terminate()
        server.wait(30)


def test_dashboard_needs_a_storage_outside_a_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from freezesweep.cli import main

    # No conf/ and no --storage: one line naming the option, exit status 2.
    assert main(["dashboard", "--config-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"error: --storage is required outside a project folder (no {tmp_path}/)\n"
    )
