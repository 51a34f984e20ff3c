"""The study's parent run as the sweep's dashboard: study-level metrics per finished trial, and a
description that says where the report and the trial runs are."""

from __future__ import annotations

import time
from collections.abc import Mapping

from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from freezesweep.spec import TrackingSpec
from freezesweep.tracking._spool import new_spool_id
from freezesweep.tracking._spool_check import owner_tag
from freezesweep.tracking._store import client_for, experiment_id
from freezesweep.tracking._study_runs import study_run_id
from freezesweep.tracking._tags import STATE_TAG, STUDY_TAG

# MLflow shows this tag as a run's description (rendered Markdown) on the run's page.
DESCRIPTION_TAG = "mlflow.note.content"
REPORT_FILES = ("comparison.html", "trials.csv", "pareto.csv", "depths.csv", "pareto.png")


def describe_study_run(experiment: str, run_id: str, study_name: str, best_line: str = "") -> str:
    """The parent run's description: the best trial's run (once known) and the comparison page
    first (the UI folds what follows under "Show more"), then the other report artifacts and
    the trial runs' filter.

    Args:
        experiment: the study's experiment id.
        run_id: the parent run's id.
        study_name: the study.
        best_line: a line on the best trial, e.g. `Best trial: [trial-0003](#/...)`. Defaults
            to `""` (none yet).
    """
    base = f"#/experiments/{experiment}/runs/{run_id}/artifacts"
    # The query keeps the UI on its model-training pages (it opens on GenAI pages otherwise).
    links = ", ".join(
        f"[{name}]({base}/{name}?workflowType=machine_learning)" for name in REPORT_FILES
    )
    return (
        (f"{best_line}\n\n" if best_line else "")
        + f"Optuna study `{study_name}`: one child run per trial (`trial-NNNN`).\n\n"
        f"Report, refreshed after each sweep: {links}.\n\n"
        f"Metrics `best_val_accuracy`, `n_complete`, `n_pruned`, `n_failed` (step = trial "
        f"number) chart the sweep as it runs.\n\n"
        f'The trial runs are folded under this run in the runs table: "Group by" '
        f"`{STATE_TAG}` lists them all by final state (or unfold this run). Every run of the "
        f"study is tagged `{STUDY_TAG}` (search: tags.`{STUDY_TAG}` = '{study_name}')."
    )


def open_study_run(spec: TrackingSpec, study_name: str) -> str:
    """The study's parent run id (created on first use), with its description set."""
    client = client_for(spec)
    experiment = experiment_id(client, spec, study_name)
    parent = study_run_id(client, experiment, study_name)
    set_description(client, experiment, parent, study_name)
    return parent


def claim_study_run(spec: TrackingSpec, study_name: str) -> tuple[str, str]:
    """Open the study's parent run (`open_study_run`) and claim it for this sweep invocation:
    a tag of its own lets this invocation's spool entry (the end of the sweep, spooled while
    the server is down) touch the parent run, and no other entry.

    Returns:
        The parent run's id and the spool id to write its spool entry with.
    """
    parent = open_study_run(spec, study_name)
    spool_id = new_spool_id()
    key, digest = owner_tag(spool_id, shared=True)
    client_for(spec).set_tag(parent, key, digest)
    return parent, spool_id


def log_study_progress(
    spec: TrackingSpec, study_name: str, step: int, metrics: Mapping[str, float]
) -> None:
    """Log study-level metrics on the study's parent run (and keep its description current).

    Args:
        spec: tracking settings.
        study_name: the study (= experiment).
        step: the metrics' step, the number of the trial that just finished.
        metrics: e.g. `best_val_accuracy`, `n_complete`, `n_pruned`, `n_failed`.
    """
    client = client_for(spec)
    experiment = experiment_id(client, spec, study_name)
    parent = study_run_id(client, experiment, study_name)
    now = int(time.time() * 1000)
    batch = [Metric(key, float(value), now, step) for key, value in metrics.items()]
    client.log_batch(parent, metrics=batch)


def set_description(
    client: MlflowClient, experiment: str, run_id: str, study_name: str, best_line: str = ""
) -> None:
    """Set the parent run's description (`describe_study_run`) unless it already says that.

    Args:
        client: a client on the store.
        experiment: the study's experiment id.
        run_id: the parent run's id.
        study_name: the study.
        best_line: see `describe_study_run`. Defaults to `""`; when empty, a best-trial line
            the description already has is kept (an invocation's start must not erase it).
    """
    current = client.get_run(run_id).data.tags.get(DESCRIPTION_TAG, "")
    if not best_line and current.startswith("Best trial:"):
        best_line = current.split("\n\n", 1)[0]
    text = describe_study_run(experiment, run_id, study_name, best_line)
    if current == text:
        return
    set_shared_tag(client, run_id, DESCRIPTION_TAG, text)


def set_shared_tag(client: MlflowClient, run_id: str, key: str, value: str) -> None:
    """`client.set_tag` on a run several workers write (the study's parent run).

    Workers finishing together tag the same parent run, and a SQL store's set_tag reads before
    it inserts: the later insert can hit the earlier worker's row (a unique-key violation, seen
    on PostgreSQL). Once more finds the row and updates it; a store that is down fails again and
    raises.
    """
    try:
        client.set_tag(run_id, key, value)
    except MlflowException:
        client.set_tag(run_id, key, value)
