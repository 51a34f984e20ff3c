"""The address a sweep prints, opened in a fresh Chromium profile against a real `mlflow server`:
the parent run's `comparison.html` shows every trial of the study, on a log axis, with the front,
pruned and failed trials marked, and each point naming its run's address.

The screenshot is kept as a test artifact: `$FREEZESWEEP_TEST_ARTIFACTS/comparison.png` (default
`test-artifacts/`), the picture in docs/getting-started.md's "Looking at results".
"""

from __future__ import annotations

import re
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from freezesweep.spec import TrackingSpec
from freezesweep.study.report import publish
from freezesweep.tracking import study_parent_run
from tests.cluster.test_mlflow_server import serve_mlflow
from tests.helpers.summary_study import summary_study
from tests.tracking.test_mlflow_ui import ARTIFACTS, CHROMIUM, sync_api

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no chromium executable"),
]


def _study_with_runs(spec: TrackingSpec) -> optuna.Study:
    """The six-trial study, each trial with a real child run of the study's parent run."""
    client = MlflowClient(tracking_uri=spec.uri)
    parent = study_parent_run(spec, "six")
    experiment = client.get_run(parent).info.experiment_id
    runs = {}
    for number in range(6):
        tags = {"mlflow.parentRunId": parent, "freezesweep.trial": str(number)}
        run = client.create_run(experiment, run_name=f"trial-{number:04d}", tags=tags)
        client.set_terminated(run.info.run_id)
        runs[number] = run.info.run_id
    return summary_study("six", runs)


def test_the_printed_address_shows_every_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    backend = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    spec = TrackingSpec(True, backend, str(tmp_path / "mlruns" / "artifacts"), "six")
    study = _study_with_runs(spec)
    address = publish(study, tmp_path / "report", spec)
    assert address is not None
    with serve_mlflow(backend, tmp_path / "served") as server:
        # The printed address names mlflow ui's default port; this server listens elsewhere.
        _browse(address.replace("http://127.0.0.1:5000", server), server)


def _browse(address: str, server: str) -> None:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1100})  # a fresh profile
        page.set_default_timeout(60_000)
        try:
            page.goto(address)
            frame = page.frame_locator("iframe.mlflow-html-iframe")
            points = frame.locator(".point")
            points.first.wait_for()
            # All six trials; front, completed, pruned and failed ones told apart.
            assert points.count() == 6
            kinds = [points.nth(i).get_attribute("data-kind") for i in range(6)]
            assert kinds == ["front", "front", "COMPLETE", "COMPLETE", "PRUNED", "FAIL"]
            ticks = frame.locator(".xtick").all_text_contents()
            assert ticks == ["100", "1,000", "10,000", "100,000", "1,000,000"]
            frame.locator("#front").wait_for()
            # A point, clicked, names its trial, depth, learning rate and run address: the
            # address of the server the page came from.
            frame.locator(".point[data-trial='1'] circle").click()
            picked = frame.locator("#picked").inner_text()
            assert "trial 1 state COMPLETE depth k=1 lr 0.0003" in picked
            run_address = re.search(r"run (http\S+)", picked)
            assert run_address is not None and run_address.group(1).startswith(server + "/#/")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "comparison.png"), full_page=True)
            # That address opens the trial's run.
            run_page = browser.new_page(viewport={"width": 1400, "height": 900})
            run_page.set_default_timeout(60_000)
            run_page.goto(run_address.group(1))
            run_page.get_by_text("trial-0001").first.wait_for()
        finally:
            browser.close()
