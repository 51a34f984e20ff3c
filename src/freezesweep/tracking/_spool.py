"""The MLflow spool: a trial run's records kept on disk while the tracking server is down.

One folder per run under `<sweep dir>/mlflow_spool/` (`trial-0007/`; for the study's parent
run, `study-<study>/` holds a sweep's end and `study-<study>.metrics-0007/` the study metrics
after trial 7): `records.jsonl`, one JSON record a line (`create`, `params`, `metrics`,
`tags`, `dataset`, `artifact`, `end`), and `artifacts/` with copies of the files to upload.
The writer holds an exclusive `flock` on `.lock` until its run ends, so a replay never reads a
run that is still being written. Nothing in it comes from the tracking URI: params, tags and
texts are redacted before they reach a record, as they are before they reach MLflow. A replay
reads an entry as untrusted input all the same (`_spool_check`).
"""

from __future__ import annotations

import fcntl
import json
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from freezesweep.tracking._spool_check import RECORDS

SPOOL_FOLDER = "mlflow_spool"
LOCK = ".lock"


def new_spool_id() -> str:
    """A writer's spool id: the secret whose digest (`owner_tag`) marks the runs it may touch."""
    return uuid.uuid4().hex


def is_connection_error(error: BaseException) -> bool:
    """Whether an MLflow call failed because the tracking server did not answer.

    MLflow wraps the `requests` error in an `MlflowException` without `from`, so the cause is
    found in the exception's context chain.
    """
    import requests

    seen: BaseException | None = error
    for _ in range(8):  # a chain is short; the bound only guards against cycles
        if seen is None:
            return False
        if isinstance(
            seen,
            ConnectionError | requests.exceptions.ConnectionError | requests.exceptions.RetryError,
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class SpoolWriter:
    """Appends one run's records to its spool folder, holding the folder's lock until `close`.

    The folder is made under a hidden name and renamed once locked and headed, so a replay
    never sees a folder without its lock held or its `create` record.

    Args:
        root: the spool folder (`<sweep dir>/mlflow_spool`).
        name: the run's name, the folder's name (`trial-0007`).
        header: the `create` record: `experiment`, `run_name`, `tags`, `study_name`, and the
            `run_id` when the run exists on the server, with the `spool_id` its owner tag was
            made from (`_spool_check.owner_tag`); a new id when there is none.
    """

    def __init__(self, root: Path, name: str, header: dict[str, Any]) -> None:
        self.spool_id = str(header.get("spool_id") or new_spool_id())
        root.mkdir(parents=True, exist_ok=True)
        staging = root / f".{name}.{self.spool_id[:8]}"
        staging.mkdir()
        self._lock: IO[str] = open(staging / LOCK, "w")  # noqa: SIM115 - held until close()
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self._records = staging / RECORDS
        self._artifacts = 0
        self.append({"op": "create", **header, "spool_id": self.spool_id})
        final = root / name
        if final.exists():  # a leftover of the same name (e.g. a single run): keep both
            final = root / f"{name}.{self.spool_id[:8]}"
        staging.rename(final)
        self.folder = final
        self._records = final / RECORDS

    def append(self, record: dict[str, Any]) -> None:
        """Write one record and flush it: a killed worker loses at most the line it wrote."""
        with open(self._records, "a") as records:
            records.write(json.dumps(record) + "\n")

    def artifact(self, path: Path | None, text: str | None, artifact_file: str) -> None:
        """Copy a file (or write a text) to upload as `artifact_file` (a relative path)."""
        self._artifacts += 1
        local = f"artifacts/{self._artifacts}/{Path(artifact_file).name}"
        target = self.folder / local
        target.parent.mkdir(parents=True)
        if path is not None:
            shutil.copyfile(path, target)
        else:
            target.write_text(text or "")
        parent = str(Path(artifact_file).parent)
        self.append(
            {"op": "artifact", "file": local, "artifact_path": None if parent == "." else parent}
        )

    def close(self) -> None:
        """Release the folder to replays."""
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()


def spool_study_end(root: Path, study_name: str, files: list[Path], claim: tuple[str, str]) -> Path:
    """Spool the end of a sweep invocation: the report files for the study's parent run, and
    the parent run's end (FINISHED), for a server that is down when the sweep ends.

    Args:
        root: the spool folder (`<sweep dir>/mlflow_spool`).
        study_name: the study (= experiment, = the parent run's name).
        files: the report files to attach.
        claim: the parent run's id and this invocation's spool id for it
            (`claim_study_run`, when the sweep started).

    Returns:
        The entry's folder.
    """
    now = int(time.time() * 1000)
    writer = SpoolWriter(root, f"study-{study_name}", _study_header(study_name, claim, now))
    for path in files:
        writer.artifact(path, None, path.name)
    writer.append({"op": "end", "status": "FINISHED", "end_time": now})
    writer.close()
    return writer.folder


def spool_study_metrics(
    root: Path, study_name: str, claim: tuple[str, str], step: int, metrics: dict[str, float]
) -> Path:
    """Spool the study metrics logged after a trial (`log_study_progress`) while the server is
    down: an entry of the parent run with one `metrics` record and no `end` (the parent run
    goes on; its end is the sweep's).

    Args:
        root: the spool folder (`<sweep dir>/mlflow_spool`).
        study_name: the study (= experiment, = the parent run's name).
        claim: the parent run's id and this invocation's spool id (`claim_study_run`).
        step: the trial's number, the metrics' step.
        metrics: the study metrics, as they would have been logged then.

    Returns:
        The entry's folder (`study-<study>.metrics-NNNN`).
    """
    now = int(time.time() * 1000)
    header = _study_header(study_name, claim, now)
    writer = SpoolWriter(root, f"study-{study_name}.metrics-{step:04d}", header)
    points = [[key, float(value), now, int(step)] for key, value in metrics.items()]
    writer.append({"op": "metrics", "metrics": points})
    writer.close()
    return writer.folder


def _study_header(study_name: str, claim: tuple[str, str], now: int) -> dict[str, Any]:
    """The `create` record of an entry for the study's parent run (it exists: `run_id`)."""
    run_id, spool_id = claim
    header: dict[str, Any] = {"experiment": study_name, "run_name": study_name, "tags": {}}
    header |= {"study_name": study_name, "role": "study", "start_time": now}
    return header | {"run_id": run_id, "spool_id": spool_id}


def entries(root: Path) -> Iterator[Path]:
    """The spooled runs under `root`, oldest trial first: folders (or links) holding records
    (hidden folders are being made; a folder without records is not an entry)."""
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        if folder.is_symlink() or (folder / RECORDS).exists() or (folder / RECORDS).is_symlink():
            yield folder


def try_lock(folder: Path) -> IO[str] | None:
    """The entry's lock, held; `None` while its writer (or another replay) holds it."""
    handle = open(folder / LOCK, "a")  # noqa: SIM115 - held until the entry is removed
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def remove(folder: Path, lock: IO[str], files: list[str]) -> None:
    """Delete a replayed entry's files (its records, its lock, the artifacts its records name),
    then the folders they leave empty, then let go of its lock. A file the writer did not make
    keeps the folder (a folder without records is no longer an entry)."""
    for name in [*files, RECORDS]:
        (folder / name).unlink(missing_ok=True)
        for parent in Path(name).parents:
            if parent != Path(".") and not any((folder / parent).iterdir()):
                (folder / parent).rmdir()
    (folder / LOCK).unlink(missing_ok=True)
    lock.close()
    if not any(folder.iterdir()):
        folder.rmdir()
