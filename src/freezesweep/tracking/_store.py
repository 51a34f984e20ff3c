"""The MLflow store: a client on the configured URI, experiments, and the server's health check.

MLflow's environment defaults are set before `mlflow` is first imported: telemetry off, and a
bounded retry of an unreachable server so a worker fails fast instead of retrying for minutes.
"""

from __future__ import annotations

import base64
import fcntl
import os
import re
import urllib.parse
import urllib.request
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# MLflow retries an unreachable server 7 times with exponential backoff (minutes) by default; a
# worker should fail fast instead, and a short outage still gets a few seconds of retries.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")

import mlflow
from mlflow.tracking import MlflowClient

from freezesweep.errors import ConfigError
from freezesweep.redaction import redact
from freezesweep.spec import TrackingSpec
from freezesweep.tracking._tags import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG
from freezesweep.writable import check_writable


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


def check_store(spec: TrackingSpec, *, require_server: bool = True) -> None:
    """Whether the tracking store can be written, before any model is built or run exists.

    A local SQLite store and a local artifact folder must be writable or creatable (nothing is
    created here); a tracking server must answer (see `check_reachable`).

    Args:
        spec: tracking settings.
        require_server: check that a tracking server answers. A sweep's trial passes `False`:
            the sweep checked it before it began, and a trial spools its run through an outage.
            Defaults to `True`.

    Raises:
        ConfigError: naming the setting and the cause.
    """
    if spec.uri.startswith("sqlite:///"):
        check_writable(Path(spec.uri.removeprefix("sqlite:///")), "tracking.uri")
    elif spec.uri.startswith("file://"):
        check_writable(Path(urllib.parse.urlsplit(spec.uri).path), "tracking.uri", folder=True)
    if require_server:
        check_reachable(spec)
    root = spec.artifact_root
    if root and (root.startswith("file://") or "://" not in root):
        local = urllib.parse.urlsplit(root).path if root.startswith("file://") else root
        check_writable(Path(local), "tracking.artifact_root", folder=True)


def check_reachable(spec: TrackingSpec, timeout_s: float = 5.0) -> None:
    """Fail within seconds, naming the URI, when an HTTP tracking server does not answer.

    Args:
        spec: tracking settings.
        timeout_s: how long to wait for the server's `/health`. Defaults to `5.0`.

    Raises:
        ConfigError: the server is unreachable or unhealthy.
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
    raise ConfigError(
        f"tracking.uri: no MLflow tracking server answers at {redact(spec.uri)} ({reason}); "
        "start it (mlflow server ...) or fix tracking.uri / MLFLOW_TRACKING_URI."
    )


def experiment_id(client: MlflowClient, spec: TrackingSpec, name: str) -> str:
    """Get or create an experiment; local artifact roots become absolute `file://` URIs.

    An empty artifact root leaves the location to the tracking server (its
    `--artifacts-destination`, served to every worker through `mlflow-artifacts:/`). The
    experiment is tagged so the MLflow UI opens it on its training runs (also when it was made
    before the tag existed, or by hand).
    """
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.tags.get(EXPERIMENT_KIND_TAG) is None:
            client.set_experiment_tag(
                experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND
            )
        return str(experiment.experiment_id)
    root = spec.artifact_root
    if not root:
        location = None
    elif re.match(r"^[a-zA-Z][\w+.-]*:/", root):  # a URI: s3://, mlflow-artifacts:/, file:///
        location = root.rstrip("/") + "/" + name
    else:
        location = (Path(root).resolve() / name).as_uri()
    try:
        return str(
            client.create_experiment(
                name, artifact_location=location, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
            )
        )
    except mlflow.exceptions.MlflowException:
        # Another worker created it between our lookup and our create.
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return str(experiment.experiment_id)
