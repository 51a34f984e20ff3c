"""A trial's MLflow run: params, metrics, tags and artifacts, ended exactly once.

Everything goes through an explicit `MlflowClient` and run ids, never MLflow's global "active
run", so several trials in one process (Hydra's basic launcher) cannot tangle their runs.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from mlflow.entities import Metric, Param, RunStatus
from mlflow.tracking import MlflowClient

from freezesweep.disk import disk_full, is_disk_full
from freezesweep.redaction import redact
from freezesweep.spec import TrackingSpec
from freezesweep.tracking._store import client_for, experiment_id
from freezesweep.tracking._study_runs import study_run_id
from freezesweep.tracking._tags import STATE_TAG, STUDY_TAG


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
        with self._artifact(artifact_file):
            self.client.log_text(self.run_id, redact(text), artifact_file)

    def log_file(self, path: Path, artifact_path: str | None = None) -> None:
        name = f"{artifact_path}/{path.name}" if artifact_path else path.name
        with self._artifact(name):
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    @contextmanager
    def _artifact(self, name: str) -> Iterator[None]:
        """A full local artifact store: the partial copy removed, `DiskFull` naming the artifact.

        (A remote store's upload either lands whole or not at all.)
        """
        try:
            yield
        except OSError as error:
            if not is_disk_full(error):
                raise
            target = Path(name)
            uri = self.client.get_run(self.run_id).info.artifact_uri or ""
            if uri.startswith("file:") or uri.startswith("/"):
                target = Path(uri.removeprefix("file://").removeprefix("file:")) / name
                with contextlib.suppress(OSError):
                    target.unlink()
            raise disk_full(error, f"MLflow artifact {name}", target) from None


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
