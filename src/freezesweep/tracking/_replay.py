"""Replay spooled runs to the tracking server, idempotently, deleting each entry once sent.

Every step may be repeated without duplicating anything: the run is found by its id or its
`freezesweep.spool_id` tag before one is created, params and tags are re-set to the same values,
metric points already in the run's history are skipped, artifacts overwrite themselves, and the
run is ended with its recorded status and end time. An entry is deleted only after all of it
was sent, so a replay cut short by another outage resumes where it stopped, next time.

An entry is untrusted input: all of its records are checked first (`_spool_check`), and it may
touch only a run it created, proven by the run's owner tag; otherwise it is kept as it is and
reported in one line (`Replayed.kept`), and the replay goes on with the next entry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from freezesweep.errors import SpoolEntryError
from freezesweep.redaction import redact
from freezesweep.tracking._datasets import dataset_input
from freezesweep.tracking._spool import LOCK, entries, is_connection_error, remove, try_lock
from freezesweep.tracking._spool_check import (
    RECORDS,
    check_entry_files,
    checked_records,
    entry_error,
    owner_tag,
    owns,
)
from freezesweep.tracking._store import client_for, experiment_id
from freezesweep.tracking._study_runs import study_run_id
from freezesweep.tracking._tags import STATE_TAG, STUDY_TAG

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Replayed:
    """What one replay did: runs sent (and deleted from the spool), entries left, and why."""

    sent: list[str]
    busy: list[str]  # still being written (or replayed by another process)
    left: list[str]  # not sent: the server stopped answering
    # Not sent, kept for a human: one line each, naming the file and line and the problem.
    kept: list[str] = field(default_factory=list)


def replay(client: MlflowClient, spec: Any, root: Path) -> Replayed:
    """Send every spooled run under `root` that nobody is writing; stop at the first outage.

    Args:
        client: a client on the tracking server.
        spec: the `TrackingSpec` (for the experiment's artifact location).
        root: the spool folder (`<sweep dir>/mlflow_spool`).
    """
    sent: list[str] = []
    busy: list[str] = []
    kept: list[str] = []
    pending = list(entries(root))
    for index, folder in enumerate(pending):
        try:
            check_entry_files(folder, LOCK)  # before the lock is opened: never through a link
        except SpoolEntryError as error:
            kept.append(str(error))
            continue
        lock = try_lock(folder)
        if lock is None:
            busy.append(folder.name)
            continue
        try:
            files = _replay_entry(client, spec, folder)
        except Exception as error:
            lock.close()
            if is_connection_error(error):
                left = [entry.name for entry in pending[index:] if entry.name not in busy]
                return Replayed(sent, busy, left, kept)
            if isinstance(error, SpoolEntryError | MlflowException):  # kept; on to the next
                kept.append(
                    str(error) if isinstance(error, SpoolEntryError) else _refused(folder, error)
                )
                continue
            raise
        remove(folder, lock, files)
        sent.append(folder.name)
        log.info(f"replayed spooled MLflow run {folder.name}")
    return Replayed(sent, busy, [], kept)


def replay_spool(spec: Any, root: Path) -> Replayed:
    """`replay` on a client of `spec`'s store (what `freezesweep sync` and the hooks call).

    Args:
        spec: the `TrackingSpec` of the store to send to.
        root: the spool folder (`<sweep dir>/mlflow_spool`).
    """
    return replay(client_for(spec), spec, root)


def _replay_entry(client: MlflowClient, spec: Any, folder: Path) -> list[str]:
    """Send the entry's records (all checked first); the artifact files it sent."""
    if not (folder / RECORDS).is_file():
        return []  # removed by another replay between the listing and the lock
    records = checked_records(folder)
    if not records:
        return []  # cut off before its header: nothing was recorded
    header, body = records[0], records[1:]
    run_id = _run_for(client, spec, header, folder)
    history: dict[str, set[tuple[int, int, float]]] = {}
    files: list[str] = []
    ended = False
    for record in body:
        op = record["op"]
        if op == "params":
            items = [Param(key, value) for key, value in record["params"].items()]
            for start in range(0, len(items), 100):  # MLflow's batch limit for params
                client.log_batch(run_id, params=items[start : start + 100])
        elif op == "tags":
            for key, value in record["tags"].items():
                client.set_tag(run_id, key, value)
        elif op == "metrics":
            fresh = [
                Metric(key, value, timestamp, step)
                for key, value, timestamp, step in record["metrics"]
                if (step, timestamp, value) not in _history(client, run_id, key, history)
            ]
            if fresh:
                client.log_batch(run_id, metrics=fresh)
                for metric in fresh:
                    history[metric.key].add((metric.step, metric.timestamp, metric.value))
        elif op == "dataset":  # MLflow links a dataset to a run once, however often it is sent
            client.log_inputs(run_id, [dataset_input(record["dataset"])])
        elif op == "artifact":
            client.log_artifact(run_id, str(folder / record["file"]), record["artifact_path"])
            files.append(record["file"])
        elif op == "end":
            client.set_terminated(run_id, record["status"], end_time=record["end_time"])
            ended = True
    if not ended and header.get("role") != "study":
        # Its worker died while the run was spooled (the lock is free, the end never written).
        # (A study's parent run is ended by its sweep, live or spooled, never by an entry of
        # study metrics.)
        client.set_tag(run_id, STATE_TAG, "FAIL")
        client.set_tag(run_id, "freezesweep.error", "its worker died while the run was spooled")
        client.set_terminated(run_id, RunStatus.to_string(RunStatus.KILLED))
    return files


def _refused(folder: Path, error: MlflowException) -> str:
    """The one line for an entry the tracking server refused a record of (a key MLflow does not
    accept, a value over its limits); a replay later repeats nothing it already holds."""
    cause = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
    return (
        f"{folder / RECORDS}: the tracking server refused a record ({redact(cause)}); the entry "
        "is kept for a human (what was sent before it stays on the run)."
    )


def _history(
    client: MlflowClient, run_id: str, key: str, cache: dict[str, set[tuple[int, int, float]]]
) -> set[tuple[int, int, float]]:
    if key not in cache:
        points = client.get_metric_history(run_id, key)
        cache[key] = {(point.step, point.timestamp, point.value) for point in points}
    return cache[key]


def _run_for(client: MlflowClient, spec: Any, header: dict[str, Any], folder: Path) -> str:
    """The run the entry belongs to: its recorded id (a run it owns), else the run tagged with
    its owner tag, else a new run created with that tag (atomically, so a crash cannot make two).

    Raises:
        SpoolEntryError: the recorded run is not one this entry created.
    """
    if header.get("run_id"):
        return _owned_run(client, header, folder)
    experiment = experiment_id(client, spec, header["experiment"])
    key, digest = owner_tag(header["spool_id"])
    found = client.search_runs(
        [experiment], filter_string=f"tags.`{key}` = '{digest}'", max_results=1
    )
    if found:
        return str(found[0].info.run_id)
    tags = {**header.get("tags", {}), key: digest}
    study = header.get("study_name")
    if study is not None:
        tags["mlflow.parentRunId"] = study_run_id(client, experiment, study)
        tags[STUDY_TAG] = study
    run = client.create_run(
        experiment, start_time=header.get("start_time"), run_name=header["run_name"], tags=tags
    )
    return str(run.info.run_id)


def _owned_run(client: MlflowClient, header: dict[str, Any], folder: Path) -> str:
    """The header's `run_id`, when that run is in the header's experiment and carries the owner
    tag of the header's spool id; else the entry names a run it did not create."""
    run_id = str(header["run_id"])
    try:
        run = client.get_run(run_id)
        ours = owns(run.data.tags, header["spool_id"])
        ours = ours and client.get_experiment(run.info.experiment_id).name == header["experiment"]
    except MlflowException as error:
        if is_connection_error(error):
            raise
        ours = False  # no such run
    if not ours:
        raise entry_error(
            folder,
            1,
            f"run {run_id} is not this entry's run (not tagged with its spool_id's digest in "
            "the experiment it names); a spool entry only touches the runs it created",
        )
    return run_id
