"""MLflow: the only module that imports it. Experiments, study parent runs, trial runs.

Everything goes through an explicit `MlflowClient` and run ids, never MLflow's global "active
run", so several trials in one process (Hydra's basic launcher) cannot tangle their runs.
"""

from __future__ import annotations

import base64
import fcntl
import os
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# MLflow retries an unreachable server 7 times with exponential backoff (minutes) by default; a
# worker should fail fast instead, and a short outage still gets a few seconds of retries.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")

import mlflow  # telemetry must be off before this import
from mlflow.entities import Metric, Param, RunStatus
from mlflow.tracking import MlflowClient

from freezesweep.spec import TrackingSpec

STATE_TAG = "freezesweep.state"
STUDY_TAG = "freezesweep.study"
ROLE_TAG = "freezesweep.role"
TRIAL_TAG = "freezesweep.trial"
PARETO_TAG = "freezesweep.pareto"
_SECRET_IN_URL = re.compile(r"(?P<prefix>[a-zA-Z][\w+.-]*://[^:/@\s]*:)(?P<secret>[^@\s]+)@")
_SECRET_KEYS = re.compile(r"password|passwd|secret|token|api_key", re.IGNORECASE)
_MAX_PARAM_LENGTH = 6000


def redact(text: str) -> str:
    """Replace the password of any `scheme://user:password@host` in `text` with `***`."""
    return _SECRET_IN_URL.sub(r"\g<prefix>***@", text)


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested dicts and lists to dotted keys (`schedule.stages.1.epochs`), redacted.

    Args:
        config: the resolved configuration. No default.
        prefix: key prefix. Defaults to `""`.
    """
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list | tuple) and any(isinstance(v, Mapping) for v in value):
            flat.update(flatten({str(i): v for i, v in enumerate(value)}, f"{name}."))
        elif _SECRET_KEYS.search(str(key)) and value is not None:
            flat[name] = "***"
        else:
            flat[name] = redact(str(value))[:_MAX_PARAM_LENGTH]
    return flat


def client_for(spec: TrackingSpec) -> MlflowClient:
    """An MLflow client on the configured tracking URI (creating a local store's folder).

    A new SQLite store is created under a file lock: workers that start together would
    otherwise run MLflow's schema migrations at the same time and fail
    ("table _alembic_tmp_metrics already exists").
    """
    if not spec.uri.startswith("sqlite:///"):
        return MlflowClient(tracking_uri=spec.uri)
    database = Path(spec.uri.removeprefix("sqlite:///"))
    database.parent.mkdir(parents=True, exist_ok=True)  # SQLite cannot create the folder.
    with open(database.with_name(database.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            # The client opens (creates, migrates) the store as it is constructed.
            return MlflowClient(tracking_uri=spec.uri)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def check_reachable(spec: TrackingSpec, timeout_s: float = 5.0) -> None:
    """Fail within seconds, naming the URI, when an HTTP tracking server does not answer.

    Args:
        spec: tracking settings. No default.
        timeout_s: how long to wait for the server's `/health`. Defaults to `5.0`.

    Raises:
        ValueError: the server is unreachable or unhealthy.
    """
    if not spec.uri.startswith(("http://", "https://")):
        return
    parts = urllib.parse.urlsplit(spec.uri)
    # Credentials in the URI go in a header: urllib does not take them from the host part.
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc += f":{parts.port}"
    url = urllib.parse.urlunsplit(
        (parts.scheme, netloc, parts.path.rstrip("/") + "/health", "", "")
    )
    request = urllib.request.Request(url)
    if parts.username is not None:
        token = base64.b64encode(f"{parts.username}:{parts.password or ''}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            if response.status == 200:
                return
            reason = f"HTTP {response.status}"
    except (OSError, ValueError) as error:
        reason = f"{type(error).__name__}: {getattr(error, 'reason', error)}"
    raise ValueError(
        f"tracking.uri: no MLflow tracking server answers at {redact(spec.uri)} ({reason}); "
        "start it (mlflow server ...) or fix tracking.uri / MLFLOW_TRACKING_URI."
    )


def end_orphan_runs(spec: TrackingSpec, study_name: str, finished: Mapping[int, str]) -> int:
    """End trial runs still RUNNING whose Optuna trial is over (a killed worker's trials).

    Args:
        spec: tracking settings. No default.
        study_name: the study (= experiment). No default.
        finished: Optuna state name of each finished trial, by trial number. No default.

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
        handle = TrialRun(client, run.info.run_id)
        handle.set_tags(
            {
                STATE_TAG: finished[int(number)],
                "freezesweep.error": "its worker died while the trial ran (stale trial)",
            }
        )
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))
        ended += 1
    return ended


def experiment_id(client: MlflowClient, spec: TrackingSpec, name: str) -> str:
    """Get or create an experiment; local artifact roots become absolute `file://` URIs.

    An empty artifact root leaves the location to the tracking server (its
    `--artifacts-destination`, served to every worker through `mlflow-artifacts:/`).
    """
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    root = spec.artifact_root
    if not root:
        location = None
    elif re.match(r"^[a-zA-Z][\w+.-]*:/", root):  # a URI: s3://, mlflow-artifacts:/, file:///
        location = root.rstrip("/") + "/" + name
    else:
        location = (Path(root).resolve() / name).as_uri()
    try:
        return str(client.create_experiment(name, artifact_location=location))
    except mlflow.exceptions.MlflowException:
        # Another worker created it between our lookup and our create.
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return str(experiment.experiment_id)


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
        spec: tracking settings. No default.
        study_name: the study (= experiment). No default.
        files: files to log on the parent run. No default.
        pareto_numbers: trial numbers on the Pareto front. No default.
        end_parent: mark the parent run FINISHED (after a sweep invocation; not from a report
            taken while a sweep runs). Defaults to `True`.
    """
    client = client_for(spec)
    experiment = experiment_id(client, spec, study_name)
    parent = study_run_id(client, experiment, study_name)
    for path in files:
        client.log_artifact(parent, str(path))
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


class TrialRun:
    """One MLflow run: params, metrics and artifacts of a trial, ended exactly once."""

    def __init__(self, client: MlflowClient, run_id: str) -> None:
        self.client = client
        self.run_id = run_id

    def log_params(self, params: Mapping[str, str]) -> None:
        items = [Param(key, value) for key, value in params.items()]
        for start in range(0, len(items), 100):  # MLflow's batch limit for params
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        now = int(time.time() * 1000)
        batch = [Metric(key, float(value), now, step) for key, value in metrics.items()]
        self.client.log_batch(self.run_id, metrics=batch)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, redact(value))

    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, redact(text), artifact_file)

    def log_file(self, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)


@contextmanager
def trial_run(
    spec: TrackingSpec,
    *,
    run_name: str,
    experiment: str,
    tags: Mapping[str, str] | None = None,
    study_name: str | None = None,
) -> Iterator[TrialRun]:
    """Start a run; end it FINISHED, or FAILED/KILLED when the body raises. Never left RUNNING.

    Args:
        spec: tracking settings. No default.
        run_name: the run's name (`trial-0007` in a sweep). No default.
        experiment: experiment name. No default.
        tags: extra tags. Defaults to `None`.
        study_name: nest the run under this study's parent run. Defaults to `None`.
    """
    client = client_for(spec)
    experiment_key = experiment_id(client, spec, experiment)
    run_tags = dict(tags or {})
    if study_name is not None:
        run_tags["mlflow.parentRunId"] = study_run_id(client, experiment_key, study_name)
        run_tags[STUDY_TAG] = study_name
    run = client.create_run(experiment_key, run_name=run_name, tags=run_tags)
    handle = TrialRun(client, run.info.run_id)
    try:
        yield handle
    except BaseException as error:
        pruned = type(error).__name__ == "TrialPruned"
        state = "PRUNED" if pruned else "FAIL"
        handle.set_tags({STATE_TAG: state, "freezesweep.error": f"{type(error).__name__}: {error}"})
        status = (
            RunStatus.KILLED if pruned or isinstance(error, KeyboardInterrupt) else RunStatus.FAILED
        )
        client.set_terminated(handle.run_id, RunStatus.to_string(status))
        raise
    handle.set_tags({STATE_TAG: "COMPLETE"})
    client.set_terminated(handle.run_id, "FINISHED")
