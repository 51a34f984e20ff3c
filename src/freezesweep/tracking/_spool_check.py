"""A spool entry read as untrusted input: every record checked before any of it is sent.

A spool folder may sit on a shared disk where others can write, so `freezesweep sync` takes
nothing in it on trust: each line must be a record freezesweep writes (its `op`, its keys and
their types), an artifact must be a file inside the entry's own folder (no absolute path, no
`..`, no link), and tags that prove ownership or nest a run are never taken from a record. The
first problem ends the check with `SpoolEntryError`, naming the file and line; the entry is then
kept as it is, for a human, and nothing of it is sent. Which run an entry may touch is proven
on the server (`owns`): only a run tagged with the digest of the entry's own spool id.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from freezesweep.errors import SpoolEntryError

RECORDS = "records.jsonl"
# On a run the project made: the digest of the spool id of the writer that may spool it (the id
# itself stays in the writer's memory and its spool entry, never on the server). A study's
# parent run, shared by many writers, carries one `freezesweep.spool_id.<digest[:12]>` per writer.
SPOOL_TAG = "freezesweep.spool_id"
# MLflow's own rule for a run id.
_RUN_ID = re.compile(r"^[A-Za-z0-9][\w-]{0,255}$")
_SPOOL_ID = re.compile(r"^[0-9a-f]{32}$")
# A study name goes into MLflow search filters: no quote or backslash may end its string.
_STUDY = re.compile("^[^'\"`\\\\\n]+$")
_STATUSES = ("FINISHED", "FAILED", "KILLED")
# MLflow 3's rule for param, metric and tag names (`mlflow.utils.validation`): checked here, so a
# name the server would refuse stops the entry before any of it is sent.
_MLFLOW_NAME = re.compile(r"^[/\w.\- :]{1,250}$")
# A trial's records take kilobytes to a few megabytes; a larger file is not read.
MAX_RECORDS_BYTES = 256 * 2**20


def owner_digest(spool_id: str) -> str:
    """What a run's `SPOOL_TAG` holds for the writer whose spool id is `spool_id`."""
    return hashlib.sha256(spool_id.encode()).hexdigest()[:32]


def owner_tag(spool_id: str, *, shared: bool = False) -> tuple[str, str]:
    """The tag letting `spool_id`'s entry touch a run (on a `shared` one, a key of its own)."""
    digest = owner_digest(spool_id)
    return (f"{SPOOL_TAG}.{digest[:12]}" if shared else SPOOL_TAG), digest


def owns(tags: Mapping[str, str], spool_id: str) -> bool:
    """Whether a run with `tags` was claimed by the writer of `spool_id`."""
    digest = owner_digest(spool_id)
    return digest in (tags.get(SPOOL_TAG), tags.get(f"{SPOOL_TAG}.{digest[:12]}"))


def checked_records(folder: Path) -> list[dict[str, Any]]:
    """The entry's records, each checked; a last line cut short by a killed writer is dropped.

    Args:
        folder: the entry (`<sweep dir>/mlflow_spool/trial-0007`).

    Returns:
        The records, the `create` header first; `[]` when the writer died before its header.

    Raises:
        SpoolEntryError: `<folder>/records.jsonl line N: <problem>; ...` for the first problem.
    """
    size = (folder / RECORDS).stat().st_size
    if size > MAX_RECORDS_BYTES:
        raise SpoolEntryError(
            f"{folder / RECORDS} is {size:,} bytes, over the {MAX_RECORDS_BYTES:,} a spool entry "
            f"may have; it is not read: {_KEPT}"
        )
    text = (folder / RECORDS).read_text(errors="replace")
    lines = text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # not JSON, a number too long, nesting too deep
            if number == len(lines) and not text.endswith("\n"):
                break  # the writer was killed mid-line: it wrote nothing else after it
            raise entry_error(folder, number, "not a JSON record") from None
        problem = _record_problem(record, number, folder)
        if problem is not None:
            raise entry_error(folder, number, problem)
        records.append(record)
    return records


def check_entry_files(folder: Path, lock: str) -> None:
    """Refuses an entry whose folder, lock or records are links (read or locked through a link,
    they would be another folder's), or that has no records file.

    Args:
        folder: the entry.
        lock: its lock file's name.

    Raises:
        SpoolEntryError: `<path> is a symbolic link; ...`.
    """
    for path in (folder, folder / lock, folder / RECORDS):
        if path.is_symlink():
            raise SpoolEntryError(
                f"{path} is a symbolic link; a spool entry is read only from its own files: {_KEPT}"
            )


def entry_error(folder: Path, line: int, problem: str) -> SpoolEntryError:
    """The one line that reports a refused entry."""
    return SpoolEntryError(f"{folder / RECORDS} line {line}: {problem}; {_KEPT}")


_KEPT = "the entry is kept for a human, nothing of it sent."


def _record_problem(record: Any, number: int, folder: Path) -> str | None:
    if not isinstance(record, dict):
        return f"a record is a JSON object; got {type(record).__name__}"
    op = record.get("op")
    if number == 1 and op != "create":
        return f"the first record must be op 'create'; got {_show(op)}"
    if not isinstance(op, str) or op not in _SCHEMA or (op == "create") != (number == 1):
        return (
            f"unknown op {_show(op)}; a spool holds create (first line only), "
            "params, tags, metrics, artifact, end"
        )
    schema = _SCHEMA[op]
    for key in record:
        if key != "op" and key not in schema:
            return f"op {op!r} has no key {_show(key)}"
    for key, (check, required) in schema.items():
        if key not in record:
            if required:
                return f"op {op!r} lacks {key!r}"
            continue
        problem = check(record[key], folder)
        if problem is not None:
            return f"op {op!r}: {key} {problem}"
    if op == "create" and record.get("role") == "study" and not record.get("run_id"):
        return "op 'create': the end of a sweep names its study's parent run (run_id)"
    return None


def _show(value: Any) -> str:
    """A value quoted for a one-line message (what an attacker wrote may be long)."""
    shown = repr(value)
    return shown if len(shown) <= 200 else shown[:197] + "..."


def _text(value: Any, _folder: Path) -> str | None:
    return (
        None
        if isinstance(value, str) and value
        else f"must be a non-empty string; got {_show(value)}"
    )


def _optional(check: Callable[[Any, Path], str | None]) -> Callable[[Any, Path], str | None]:
    return lambda value, folder: None if value is None else check(value, folder)


def _time(value: Any, _folder: Path) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return None
    return f"must be milliseconds (an integer >= 0); got {_show(value)}"


def _pattern(regex: re.Pattern[str], what: str) -> Callable[[Any, Path], str | None]:
    def check(value: Any, _folder: Path) -> str | None:
        if isinstance(value, str) and regex.match(value):
            return None
        return f"must be {what}; got {_show(value)}"

    return check


def _strings(value: Any, _folder: Path) -> str | None:
    if not isinstance(value, dict):
        return f"must map names to strings; got {type(value).__name__}"
    for key, item in value.items():
        if not isinstance(item, str):
            return f"must map names to strings; got {_show(key)}: {_show(item)}"
        if not _is_mlflow_name(key):
            return f"has a name MLflow refuses: {_show(key)}"
    return None


def _is_mlflow_name(name: str) -> bool:
    """Letters, digits, `_ - . : /` and spaces, 1 to 250 of them, and a plain path (no `..`,
    no leading `/`, nothing `normpath` would change): what MLflow accepts as a key."""
    return (
        bool(_MLFLOW_NAME.match(name))
        and posixpath.normpath(name) == name
        and not (name.startswith(("/", "..")))
    )


def _tags(value: Any, folder: Path) -> str | None:
    problem = _strings(value, folder)
    if problem is not None:
        return problem
    for key in value:
        if key == "mlflow.parentRunId" or key.startswith(SPOOL_TAG):
            return f"may not set {_show(key)} (the replay sets it, from what it proves)"
    return None


def _metrics(value: Any, _folder: Path) -> str | None:
    if not isinstance(value, list):
        return f"must be a list of [name, value, timestamp, step]; got {type(value).__name__}"
    for point in value:
        shape = isinstance(point, list) and len(point) == 4 and isinstance(point[0], str)
        shape = shape and _is_mlflow_name(point[0])
        numbers = shape and all(
            isinstance(item, int | float) and not isinstance(item, bool) for item in point[1:]
        )
        if not (numbers and isinstance(point[2], int) and isinstance(point[3], int)):
            return f"must be a list of [name, value, timestamp, step]; got {_show(point)}"
    return None


def _file(value: Any, folder: Path) -> str | None:
    refused = (
        f"{_show(value)} is not a file inside the entry's folder "
        "(absolute paths, '..' and links are refused)"
    )
    if not isinstance(value, str) or not value or "\\" in value or "\x00" in value:
        return refused
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts:
        return refused
    target = folder / path
    try:
        # A link anywhere on the way makes the resolved path differ from the written one.
        if target.resolve() != folder.resolve() / path or not target.is_file():
            return refused
    except OSError:  # a name too long, a loop of links
        return refused
    return None


def _folder(value: Any, _folder: Path) -> str | None:
    path = PurePosixPath(value) if isinstance(value, str) and value else None
    if path is None or path.is_absolute() or ".." in path.parts or "\\" in value:
        return (
            f"{_show(value)} is not a folder inside the run's artifacts "
            "(absolute paths and '..' are refused)"
        )
    return None


def _status(value: Any, _folder: Path) -> str | None:
    return (
        None if value in _STATUSES else f"must be one of {', '.join(_STATUSES)}; got {_show(value)}"
    )


def _role(value: Any, _folder: Path) -> str | None:
    return None if value == "study" else f"must be 'study'; got {_show(value)}"


def _dataset(value: Any, _folder: Path) -> str | None:
    """A trial's data record (`trial_records.data_record`): a SHA-256 or null, plain values."""
    if not isinstance(value, dict) or set(value) != {"name", "digest", "source", "profile"}:
        return "must be a mapping of a name, a digest, a source and a profile"
    if (digest := value["digest"]) is not None and not re.fullmatch(r"[0-9a-f]{64}", str(digest)):
        return f"has a digest that is not 64 hexadecimal digits: {_show(digest)}"
    plain = (str, int, float, bool, list, type(None))
    if not isinstance(value["name"], str) or not all(
        isinstance(part, dict) and all(isinstance(v, plain) for v in part.values())
        for part in (value["source"], value["profile"])
    ):
        return "has a name, source or profile that is not plain"
    return None


_Check = Callable[[Any, Path], "str | None"]
# Each op's keys: (check, required).
_SCHEMA: dict[str, dict[str, tuple[_Check, bool]]] = {
    "create": {
        "spool_id": (_pattern(_SPOOL_ID, "32 hexadecimal digits"), True),
        "experiment": (_text, True),
        "run_name": (_text, True),
        "tags": (_tags, False),
        "study_name": (_optional(_pattern(_STUDY, "a name without quotes or '\\'")), False),
        "start_time": (_optional(_time), False),
        "run_id": (_optional(_pattern(_RUN_ID, "an MLflow run id")), False),
        "role": (_role, False),
    },
    "params": {"params": (_strings, True)},
    "tags": {"tags": (_tags, True)},
    "metrics": {"metrics": (_metrics, True)},
    "dataset": {"dataset": (_dataset, True)},
    "artifact": {"file": (_file, True), "artifact_path": (_optional(_folder), True)},
    "end": {"status": (_status, True), "end_time": (_time, True)},
}
