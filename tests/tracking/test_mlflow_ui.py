"""The MLflow UI in a real browser over a finished small sweep: the experiment opens on its runs,
the trial runs show `val_accuracy` and `trainable_params`, and a scatter of one against the other
can be drawn. Chromium is Debian's package (`.ci/run` installs it); Playwright only drives it.

The screenshot is kept as a test artifact: `$FREEZESWEEP_TEST_ARTIFACTS/mlflow_ui.png`
(default `test-artifacts/`), the picture in docs/getting-started.md's "Looking at results".
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.cluster.test_mlflow_server import rest, serve_mlflow
from tests.helpers.shrink import ROOT
from tests.sweeps.test_real import ok, run_sweep

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="no chromium executable (Debian: apt-get install chromium; .ci/run does)",
    ),
]
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')"
)

ARTIFACTS = Path(os.environ.get("FREEZESWEEP_TEST_ARTIFACTS", ROOT / "test-artifacts"))
# The UI's own switch between its GenAI and model-training pages (see docs/getting-started.md).
MODEL_TRAINING = "workflowType=machine_learning"


def test_the_mlflow_ui_shows_a_sweep_as_accuracy_against_trainable_params(tmp_path: Path) -> None:
    # A finished three-trial sweep in the default local store, then a server over that store.
    ok(run_sweep(tmp_path, "hydra.sweeper.n_trials=3"))
    backend = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    with serve_mlflow(backend, tmp_path / "served") as server:
        experiment = rest(server, "experiments/get-by-name?experiment_name=top_k_lr")["experiment"]
        tags = {tag["key"]: tag["value"] for tag in experiment["tags"]}
        assert tags["mlflow.experimentKind"] == "custom_model_development"
        _browse(f"{server}/#/experiments/{experiment['experiment_id']}?{MODEL_TRAINING}")


def _browse(url: str) -> None:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(60_000)
        try:
            page.goto(url)
            # The experiment opens on its runs (not on the GenAI overview of traces).
            page.wait_for_url("**/runs?**")
            page.get_by_text("top_k_lr", exact=True).last.wait_for()
            assert page.get_by_text("Token Usage").count() == 0
            # The study's parent run unfolds into one run per trial.
            name_cells = "[role=gridcell][col-id='attributes.`Run Name`']"
            page.locator(f"{name_cells} button").first.click()
            for number in range(3):
                page.get_by_text(f"trial-{number:04d}", exact=True).wait_for()
            # The chart view: a scatter of val_accuracy against trainable_params.
            page.locator("label:has(input[value=CHART])").click()
            page.get_by_role("button", name="Add chart").first.click()
            page.get_by_role("menuitem", name="Scatter chart").click()
            dialog = page.get_by_role("dialog")
            _choose(page, dialog.locator("#dubois-select-1"), "trainable_params")
            _choose(page, dialog.locator("#dubois-select-2"), "val_accuracy")
            dialog.get_by_role("button", name="Add chart").click()
            dialog.wait_for(state="hidden")
            _close_assistant(page)
            # Only the charts of val_accuracy: the final value, the per-epoch curves
            # (`epoch_val_accuracy`), the per-stage points, and the scatter.
            page.get_by_placeholder("Search metric charts").fill("val_accuracy")
            scatter = page.locator(".js-plotly-plot", has_text="trainable_params")
            scatter.wait_for()
            page.get_by_text("trainable_params vs. val_accuracy", exact=True).wait_for()
            # One point per trial run (the parent has neither metric).
            assert scatter.locator(".scatterlayer .point").count() == 3
            page.get_by_text("epoch_val_accuracy", exact=True).first.wait_for()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "mlflow_ui.png"))
            _group_by_state(browser.new_page(viewport={"width": 1600, "height": 1000}), url)
        finally:
            browser.close()


def _group_by_state(page: sync_api.Page, url: str) -> None:
    """The view docs/getting-started.md shows for trial runs without unfolding: group the runs
    by `freezesweep.state`."""
    page.set_default_timeout(60_000)
    page.goto(url)
    page.get_by_text("top_k_lr", exact=True).last.wait_for()
    # A fresh page: the trial runs are folded under the parent.
    assert page.get_by_text("trial-0000", exact=True).count() == 0
    page.get_by_role("button", name="Group by").click()
    menu = page.locator("[role=menu], [role=listbox]").first
    menu.get_by_text("freezesweep.state", exact=True).click()
    page.keyboard.press("Escape")
    # Grouped by state, every trial run is listed without unfolding the parent.
    for number in range(3):
        page.get_by_text(f"trial-{number:04d}", exact=True).wait_for()


def _choose(page: sync_api.Page, select: sync_api.Locator, option: str) -> None:
    """Pick a metric in one of the dialog's searchable selects (its list is virtualized)."""
    # The dialog slides in: a forced click skips Playwright's own wait for a settled element.
    sync_api.expect(select).to_be_in_viewport()
    select.click(force=True)  # the shown value sits on top of the input
    page.keyboard.type(option)
    page.locator(f".du-bois-light-select-item-option[title='{option}']:visible").click()


def _close_assistant(page: sync_api.Page) -> None:
    """The MLflow Assistant side panel takes a third of the page; close it when it is open."""
    close = page.locator("button[aria-label='Close']:visible")
    if close.count():
        close.first.click()
        page.get_by_placeholder("Ask a question...").wait_for(state="hidden")
