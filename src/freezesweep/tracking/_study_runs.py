"""A study's runs: its parent run (one per study, shared by every worker), the report on it, and
the runs of trials whose worker died."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import mlflow
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from freezesweep.spec import TrackingSpec
from freezesweep.tracking._store import client_for, experiment_id
from freezesweep.tracking._tags import PARETO_TAG, ROLE_TAG, STATE_TAG, STUDY_TAG, TRIAL_TAG


def end_orphan_runs(spec: TrackingSpec, study_name: str, finished: Mapping[int, str]) -> int:
    """End trial runs still RUNNING whose Optuna trial is over (a killed worker's trials).

    Args:
        spec: tracking settings.
        study_name: the study (= experiment).
        finished: Optuna state name of each finished trial, by trial number.

    Returns:
        How many runs were ended (KILLED, tagged with the trial's state).
    """
    client = client_for(spec)
    experiment = client.get_experiment_by_name(study_name)
    if experiment is None:
        return 0
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string="attributes.status = 'RUNNING'",
        max_results=50000,
    )
    ended = 0
    for run in runs:
        number = run.data.tags.get(TRIAL_TAG)
        if number is None or not number.isdigit() or int(number) not in finished:
            continue
        client.set_tag(run.info.run_id, STATE_TAG, finished[int(number)])
        client.set_tag(
            run.info.run_id,
            "freezesweep.error",
            "its worker died while the trial ran (stale trial)",
        )
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))
        ended += 1
    return ended


def trial_run_statuses(spec: TrackingSpec, study_name: str) -> dict[int, list[str]]:
    """Every run of each trial number (its `freezesweep.trial` tag), as MLflow statuses in
    start order: a check that each trial has one run, ended (`freezesweep bench` P10).

    Args:
        spec: tracking settings.
        study_name: the study (= experiment).
    """
    client = client_for(spec)
    experiment = client.get_experiment_by_name(study_name)
    if experiment is None:
        return {}
    found: dict[int, list[str]] = {}
    for run in client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{STUDY_TAG}` = '{study_name}'",
        order_by=["attributes.start_time ASC"],
        max_results=50000,
    ):
        number = run.data.tags.get(TRIAL_TAG)
        if number is not None and number.isdigit():
            found.setdefault(int(number), []).append(str(run.info.status))
    return found


def trial_run_ids(spec: TrackingSpec, study_name: str) -> dict[int, str]:
    """Each trial's run id by trial number, read from the runs' `freezesweep.trial` tags (the
    newest run of a number wins): how a report finds a run that was spooled, then replayed.

    Args:
        spec: tracking settings.
        study_name: the study (= experiment).
    """
    client = client_for(spec)
    experiment = client.get_experiment_by_name(study_name)
    if experiment is None:
        return {}
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{STUDY_TAG}` = '{study_name}'",
        order_by=["attributes.start_time ASC"],
        max_results=50000,
    )
    found = {}
    for run in runs:
        number = run.data.tags.get(TRIAL_TAG)
        if number is not None and number.isdigit():
            found[int(number)] = str(run.info.run_id)
    return found


def _study_runs(client: MlflowClient, experiment: str, study_name: str) -> list[str]:
    runs = client.search_runs(
        [experiment],
        filter_string=f"tags.`{ROLE_TAG}` = 'study' and tags.`{STUDY_TAG}` = '{study_name}'",
        order_by=["attributes.start_time ASC", "attributes.run_id ASC"],
    )
    return [str(run.info.run_id) for run in runs]


def study_run_id(client: MlflowClient, experiment: str, study_name: str) -> str:
    """The parent run of a study (created on first use, then reused by every invocation).

    Workers that start together may each create one; the earliest (then the smallest run id)
    wins and the others delete theirs, so every worker ends up under the same parent.
    """
    found = _study_runs(client, experiment, study_name)
    if found:
        return found[0]
    created = client.create_run(
        experiment, run_name=study_name, tags={ROLE_TAG: "study", STUDY_TAG: study_name}
    )
    winner = _study_runs(client, experiment, study_name)[0]
    if winner != created.info.run_id:
        client.delete_run(created.info.run_id)
    return winner


def study_parent_run(spec: TrackingSpec, study_name: str) -> str:
    """The study's parent run id in experiment `study_name` (created on first use)."""
    client = client_for(spec)
    return study_run_id(client, experiment_id(client, spec, study_name), study_name)


def publish_study_report(
    spec: TrackingSpec,
    study_name: str,
    files: list[Path],
    pareto_numbers: list[int],
    *,
    end_parent: bool = True,
) -> None:
    """Attach report files to the study's parent run and tag its trial runs on the front.

    Args:
        spec: tracking settings.
        study_name: the study (= experiment).
        files: files to log on the parent run.
        pareto_numbers: trial numbers on the Pareto front.
        end_parent: mark the parent run FINISHED (after a sweep invocation; not from a report
            taken while a sweep runs). Defaults to `True`.
    """
    client = client_for(spec)
    experiment = experiment_id(client, spec, study_name)
    parent = study_run_id(client, experiment, study_name)
    _attach(client, parent, files)
    children = client.search_runs(
        [experiment], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'", max_results=50000
    )
    on_front = {str(number) for number in pareto_numbers}
    for run in children:
        flag = "true" if run.data.tags.get(TRIAL_TAG) in on_front else "false"
        if run.data.tags.get(PARETO_TAG) != flag:
            _set_tag_racing(client, run.info.run_id, PARETO_TAG, flag)
    if end_parent:
        # Ended after every invocation; a later invocation logs to it again.
        client.set_terminated(parent, "FINISHED")


def attach_study_files(spec: TrackingSpec, study_name: str, files: list[Path]) -> None:
    """Log files on the study's parent run (e.g. the zero-cost scores before the first trial).

    Args:
        spec: tracking settings.
        study_name: the study (= experiment).
        files: the files, logged at the artifact root.
    """
    _attach(client_for(spec), study_parent_run(spec, study_name), files)


def _attach(client: MlflowClient, run_id: str, files: list[Path]) -> None:
    for path in files:
        client.log_artifact(run_id, str(path))


def end_study_run(spec: TrackingSpec, study_name: str, status: str = "KILLED") -> None:
    """End the study's parent run without its report (an interrupted sweep in a hurry).

    Args:
        spec: tracking settings.
        study_name: the study (= experiment).
        status: the MLflow run status it ends with. Defaults to `"KILLED"`.
    """
    client = client_for(spec)
    parent = study_run_id(client, experiment_id(client, spec, study_name), study_name)
    client.set_terminated(parent, status)


def _set_tag_racing(client: MlflowClient, run_id: str, key: str, value: str) -> None:
    """`set_tag` that survives another worker setting the same tag at the same moment.

    The tracking server inserts a new tag after looking for it; two workers publishing their
    reports together can both insert, and the loser gets a unique-key error.
    """
    for attempt in range(3):
        try:
            client.set_tag(run_id, key, value)
            return
        except mlflow.exceptions.MlflowException:
            if client.get_run(run_id).data.tags.get(key) == value:
                return  # The other worker set the same value.
            if attempt == 2:
                raise
            time.sleep(0.2)
