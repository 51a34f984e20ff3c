"""Fuzzing the spool reader: whatever bytes a spool entry holds, `checked_records` accepts only
what freezesweep writes, or refuses it with one line naming the file; never another error, and an
accepted artifact is always a regular file inside the entry's own folder."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from freezesweep.errors import SpoolEntryError
from freezesweep.tracking._spool_check import RECORDS, checked_records

OPS = ["create", "params", "tags", "metrics", "artifact", "end", "drop", None]
KEYS = [
    "op", "spool_id", "experiment", "run_name", "tags", "study_name", "start_time", "run_id",
    "role", "params", "metrics", "file", "artifact_path", "status", "end_time",
]  # fmt: skip
PATHS = st.one_of(
    st.sampled_from(
        [
            "artifacts/1/config.yaml",
            "artifacts/1/link.txt",
            "artifacts/../../outside.txt",
            "../outside.txt",
            "/etc/hostname",
            "artifacts",
            "records.jsonl",
            ".",
            "",
            "a" * 5000,
        ]
    ),
    st.text(max_size=40),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | PATHS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
RECORD = st.fixed_dictionaries(
    {"op": st.sampled_from(OPS)},
    optional={key: JSON for key in KEYS if key != "op"},
)
HEADER = {
    "op": "create", "spool_id": "0" * 32, "experiment": "toy", "run_name": "trial-0001",
    "tags": {}, "study_name": "toy", "start_time": 1, "run_id": None,
}  # fmt: skip
LINE = st.one_of(
    # An artifact record as the writer makes it, naming any path.
    PATHS.map(lambda path: json.dumps({"op": "artifact", "file": path, "artifact_path": None})),
    RECORD.map(json.dumps),
    JSON.map(json.dumps),
    st.text(max_size=30),
    st.just("[" * 100_000),  # nesting deep enough to break a recursive parser
    st.just("9" * 10_000),  # more digits than Python turns into an int
)


def _entry(root: Path, lines: list[str], header: bool, ending: str) -> Path:
    folder = root / "trial-0001"
    (folder / "artifacts" / "1").mkdir(parents=True)
    (folder / "artifacts" / "1" / "config.yaml").write_text("x: 1\n")
    (root / "outside.txt").write_text("not the spool's")
    (folder / "artifacts" / "1" / "link.txt").symlink_to(root / "outside.txt")
    text = "\n".join(([json.dumps(HEADER)] if header else []) + lines)
    (folder / RECORDS).write_text(text + ending)
    return folder


def _accepted_artifacts_are_inside(folder: Path, records: list[dict[str, Any]]) -> None:
    for record in records:
        if record["op"] == "artifact":
            path = folder / record["file"]
            assert not path.is_symlink() and path.is_file()
            assert path.resolve().is_relative_to(folder.resolve())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(LINE, max_size=6),
    header=st.booleans(),
    ending=st.sampled_from(["\n", ""]),
)
def test_any_spool_entry_is_accepted_whole_or_refused_in_one_line(
    lines: list[str], header: bool, ending: str
) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        folder = _entry(Path(temporary), lines, header, ending)
        try:
            records = checked_records(folder)
        except SpoolEntryError as error:
            message = str(error)
            assert "\n" not in message and message.startswith(f"{folder / RECORDS}")
            assert message.endswith("the entry is kept for a human, nothing of it sent.")
            return
        # Accepted: the header first, every op one freezesweep writes.
        assert all(isinstance(record, dict) for record in records)
        if records:
            assert records[0]["op"] == "create"
            assert {record["op"] for record in records[1:]} <= {
                "params", "tags", "metrics", "artifact", "end"
            }  # fmt: skip
        _accepted_artifacts_are_inside(folder, records)
