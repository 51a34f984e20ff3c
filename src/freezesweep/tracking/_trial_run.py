"""A trial's MLflow run: params, metrics, tags and artifacts, ended exactly once.

Everything goes through an explicit `MlflowClient` and run ids, never MLflow's global "active
run", so several trials in one process (Hydra's basic launcher) cannot tangle their runs.

In a sweep, a server that stops answering does not stop the trial: from the failed call on, the
run's records go to the sweep's spool (`_spool`), replayed (`_replay`) when it answers again.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.tracking import MlflowClient

from freezesweep.disk import disk_full, is_disk_full
from freezesweep.errors import ConfigError
from freezesweep.redaction import redact
from freezesweep.spec import TrackingSpec
from freezesweep.tracking._datasets import dataset_input
from freezesweep.tracking._replay import replay
from freezesweep.tracking._spool import SpoolWriter, is_connection_error, new_spool_id
from freezesweep.tracking._spool_check import owner_tag
from freezesweep.tracking._store import check_reachable, client_for, experiment_id
from freezesweep.tracking._study_runs import study_run_id
from freezesweep.tracking._tags import STATE_TAG, STUDY_TAG

log = logging.getLogger(__name__)


class TrialRun:
    """One MLflow run: params, metrics and artifacts of a trial, ended exactly once.

    Args:
        client: a client on the tracking store.
        run_id: the run's id; `None` when the server was down before the run could be made.
        spool: where to spool the run when the server stops answering. Defaults to `None`
            (no spool: a failed call raises).
        header: the spool's `create` record (experiment, run name, tags, study). Defaults to
            `None`.
        flush_s: how long deferred metrics may wait for later ones (`log_metrics`). Defaults
            to `0.0` (never).
    """

    def __init__(
        self,
        client: MlflowClient,
        run_id: str | None,
        spool: Path | None = None,
        header: dict[str, Any] | None = None,
        flush_s: float = 0.0,
    ) -> None:
        self.client = client
        self.run_id = run_id
        self._spool = spool
        self._header = dict(header or {})
        self.writer: SpoolWriter | None = None
        self._flush_s = flush_s
        self._waiting: list[Metric] = []
        self._sent_at = time.monotonic()
        if run_id is None:
            self._go_offline(None)

    @property
    def spooled(self) -> bool:
        """Whether the run's records go to the spool (the server stopped answering)."""
        return self.writer is not None

    def _send(self, call: Callable[[], object], keep: Callable[[SpoolWriter], None]) -> None:
        """Make the call; once the server has stopped answering, `keep` the record instead."""
        if self.writer is None:
            try:
                call()
                return
            except Exception as error:
                if self._spool is None or not is_connection_error(error):
                    raise
                self._go_offline(error)
        assert self.writer is not None
        keep(self.writer)

    def _go_offline(self, error: BaseException | None) -> None:
        assert self._spool is not None
        name = str(self._header.get("run_name", "run"))
        self.writer = SpoolWriter(self._spool, name, {**self._header, "run_id": self.run_id})
        cause = "" if error is None else f" ({redact(f'{type(error).__name__}: {error}')})"
        log.warning(
            f"MLflow tracking server unreachable{cause}; run {name} is spooled to "
            f"{self.writer.folder} and replayed when the server answers"
        )

    def log_params(self, params: Mapping[str, str]) -> None:
        clean = {key: redact(value) for key, value in params.items()}
        items = [Param(key, value) for key, value in clean.items()]

        def call() -> None:
            for start in range(0, len(items), 100):  # MLflow's batch limit for params
                self.client.log_batch(str(self.run_id), params=items[start : start + 100])

        self._send(call, lambda spool: spool.append({"op": "params", "params": clean}))

    def log_metrics(
        self, metrics: Mapping[str, float], step: int = 0, *, defer: bool = False
    ) -> None:
        """Send `metrics` at `step`, in one call with any that wait.

        Args:
            metrics: name to value.
            step: the step. Defaults to `0`.
            defer: wait (when the last send is under `flush_s` old) to go with later metrics:
                per-epoch metrics of short epochs cost one call per `flush_s`, not one each.
                The next call without `defer`, and `end`, send whatever waits. Defaults to
                `False`.
        """
        now = int(time.time() * 1000)  # the point's own time, kept while it waits
        self._waiting.extend(Metric(key, float(value), now, step) for key, value in metrics.items())
        if not defer or time.monotonic() - self._sent_at >= self._flush_s:
            self._send_waiting()

    def _send_waiting(self) -> None:
        batch, self._waiting = self._waiting, []
        self._sent_at = time.monotonic()
        if not batch:
            return
        # Timestamps are kept, so a replay can tell a point it already sent.
        points = [[m.key, m.value, m.timestamp, m.step] for m in batch]

        def call() -> None:
            for start in range(0, len(batch), 1000):  # MLflow's batch limit for metrics
                self.client.log_batch(str(self.run_id), metrics=batch[start : start + 1000])

        self._send(call, lambda spool: spool.append({"op": "metrics", "metrics": points}))

    def set_tags(self, tags: Mapping[str, str]) -> None:
        clean = {key: redact(value) for key, value in tags.items()}
        batch = [RunTag(key, value) for key, value in clean.items()]
        self._send(
            lambda: self.client.log_batch(str(self.run_id), tags=batch),
            lambda spool: spool.append({"op": "tags", "tags": clean}),
        )

    def log_dataset(self, record: Mapping[str, Any]) -> None:
        """The run's data as an MLflow dataset input (`_datasets.dataset_input`)."""
        self._send(
            lambda: self.client.log_inputs(str(self.run_id), [dataset_input(record)]),
            lambda spool: spool.append({"op": "dataset", "dataset": dict(record)}),
        )

    def log_text(self, text: str, artifact_file: str) -> None:
        clean = redact(text)
        with self._artifact(artifact_file):
            self._send(
                lambda: self.client.log_text(str(self.run_id), clean, artifact_file),
                lambda spool: spool.artifact(None, clean, artifact_file),
            )

    def log_file(self, path: Path, artifact_path: str | None = None) -> None:
        target = f"{artifact_path}/{path.name}" if artifact_path else path.name
        with self._artifact(target):
            self._send(
                lambda: self.client.log_artifact(str(self.run_id), str(path), artifact_path),
                lambda spool: spool.artifact(path, None, target),
            )

    def end(self, status: str) -> None:
        """End the run with MLflow `status` (FINISHED, FAILED or KILLED), sent or spooled."""
        self._send_waiting()
        end_time = int(time.time() * 1000)
        self._send(
            lambda: self.client.set_terminated(str(self.run_id), status, end_time=end_time),
            lambda spool: spool.append({"op": "end", "status": status, "end_time": end_time}),
        )
        if self.writer is not None:
            self.writer.close()

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
            if not self.spooled:
                uri = self.client.get_run(str(self.run_id)).info.artifact_uri or ""
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
    spool: Path | None = None,
) -> Iterator[TrialRun]:
    """Start a run; end it FINISHED, or FAILED/KILLED when the body raises. Never left RUNNING.

    Args:
        spec: tracking settings.
        run_name: the run's name (`trial-0007` in a sweep).
        experiment: experiment name.
        tags: extra tags. Defaults to `None`.
        study_name: nest the run under this study's parent run. Defaults to `None`.
        spool: the sweep's spool folder (`<sweep dir>/mlflow_spool`): runs spooled there are
            replayed first, and this run is spooled there if the server stops answering.
            Defaults to `None` (no spool: an unreachable server fails the run).
    """
    client = client_for(spec)
    header = {
        "experiment": experiment,
        "run_name": run_name,
        "tags": dict(tags or {}),
        "study_name": study_name,
        "start_time": int(time.time() * 1000),
        # The run is tagged with its digest: only this run's spool entry may touch it.
        "spool_id": new_spool_id(),
    }
    handle = (
        _start(client, spec, header)
        if spool is None
        else _start_or_spool(client, spec, header, spool)
    )
    try:
        yield handle
    except BaseException as error:
        pruned = type(error).__name__ == "TrialPruned"
        state = "PRUNED" if pruned else "FAIL"
        handle.set_tags({STATE_TAG: state, "freezesweep.error": f"{type(error).__name__}: {error}"})
        status = (
            RunStatus.KILLED if pruned or isinstance(error, KeyboardInterrupt) else RunStatus.FAILED
        )
        handle.end(RunStatus.to_string(status))
        raise
    handle.set_tags({STATE_TAG: "COMPLETE"})
    handle.end("FINISHED")


def _start(
    client: MlflowClient,
    spec: TrackingSpec,
    header: dict[str, Any],
    spool: Path | None = None,
) -> TrialRun:
    experiment_key = experiment_id(client, spec, header["experiment"])
    key, digest = owner_tag(header["spool_id"])
    run_tags = {**header["tags"], key: digest}
    study_name = header["study_name"]
    if study_name is not None:
        run_tags["mlflow.parentRunId"] = study_run_id(client, experiment_key, study_name)
        run_tags[STUDY_TAG] = study_name
    run = client.create_run(
        experiment_key,
        start_time=header["start_time"],
        run_name=header["run_name"],
        tags=run_tags,
    )
    return TrialRun(client, run.info.run_id, spool, header, spec.epoch_metrics_flush_s)


def _start_or_spool(
    client: MlflowClient, spec: TrackingSpec, header: dict[str, Any], spool: Path
) -> TrialRun:
    """Replay what earlier trials spooled, then start the run; spool it if the server is down
    (one that fails its health check is not called at all: each call would retry for seconds)."""
    try:
        check_reachable(spec)
    except ConfigError:
        return TrialRun(client, None, spool, header, spec.epoch_metrics_flush_s)
    try:
        replay(client, spec, spool)
    except Exception as error:  # a spool that cannot be replayed must not fail this trial
        log.warning(
            f"spooled MLflow runs not replayed: {redact(f'{type(error).__name__}: {error}')}"
        )
    try:
        return _start(client, spec, header, spool)
    except Exception as error:
        if not is_connection_error(error):
            raise
        return TrialRun(client, None, spool, header, spec.epoch_metrics_flush_s)
