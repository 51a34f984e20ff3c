"""The spool is untrusted input: `freezesweep sync` checks every record before it sends one.

Each row tampers with the first of two spooled runs, as someone who can write to a shared sweep
folder could. The tampered entry must be reported in one line naming its file and line, kept
byte for byte for a human, and nothing of it sent; the next entry is still replayed; no run the
entry did not create is touched. Rows of one class (a path, a key, a run) fail the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from freezesweep import cli
from freezesweep.spec import TrackingSpec
from freezesweep.tracking import SPOOL_TAG, claim_study_run, client_for, spool_study_end
from freezesweep.tracking._spool import new_spool_id
from freezesweep.tracking._spool_check import owner_digest
from tests.tracking.test_spool import dead_uri, record_offline_trial, trial_runs

KEPT = "the entry is kept for a human, nothing of it sent."
NOT_INSIDE = "is not a file inside the entry's folder (absolute paths, '..' and links are refused)"
NOT_OURS = (
    "is not this entry's run (not tagged with its spool_id's digest in the experiment it "
    "names); a spool entry only touches the runs it created"
)


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new MLflow database, made once (its migrations take seconds) and copied per test."""
    folder = tmp_path_factory.mktemp("store")
    client_for(TrackingSpec(True, f"sqlite:///{folder}/mlflow.db", "", "toy"))
    return folder / "mlflow.db"


@pytest.fixture
def store(tmp_path: Path, empty_store: Path) -> TrackingSpec:
    (tmp_path / "mlruns").mkdir()
    shutil.copyfile(empty_store, tmp_path / "mlruns" / "mlflow.db")
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    return TrackingSpec(True, uri, str(tmp_path / "mlruns" / "artifacts"), "toy")


@pytest.fixture(autouse=True)
def _no_http_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def records(entry: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (entry / "records.jsonl").read_text().splitlines()]


def rewrite(entry: Path, lines: list[Any]) -> None:
    """Write `lines` as the entry's records (a `str` is written as it is, not as JSON)."""
    text = [line if isinstance(line, str) else json.dumps(line) for line in lines]
    (entry / "records.jsonl").write_text("\n".join(text) + "\n")


def edit(change: Callable[[list[Any]], None]) -> Callable[[Path, Path], None]:
    """A tampering that changes the list of records (header first)."""

    def tamper(entry: Path, _outside: Path) -> None:
        lines: list[Any] = records(entry)
        change(lines)
        rewrite(entry, lines)

    return tamper


def artifact(file: str, artifact_path: str | None = None) -> Callable[[Path, Path], None]:
    """An artifact record naming `file` ({outside} is a file outside the spool)."""

    def tamper(entry: Path, outside: Path) -> None:
        lines: list[Any] = records(entry)
        named = file.replace("{outside}", str(outside))
        lines.insert(2, {"op": "artifact", "file": named, "artifact_path": artifact_path})
        rewrite(entry, lines)

    return tamper


def link_artifact(entry: Path, outside: Path) -> None:
    """The artifact the writer made, replaced by a link to a file outside the spool."""
    (record,) = [line for line in records(entry) if line["op"] == "artifact"]
    (entry / record["file"]).unlink()
    (entry / record["file"]).symlink_to(outside)


ROWS: list[tuple[str, Callable[[Path, Path], None], int, str]] = [
    # Lines that are not records: JSON or not, each later record stays where it is.
    ("garbage", edit(lambda r: r.insert(1, "rm -rf /")), 2, "not a JSON record"),
    ("python repr", edit(lambda r: r.insert(2, "{'op': 'end'}")), 3, "not a JSON record"),
    ("blank line", edit(lambda r: r.insert(1, "")), 2, "not a JSON record"),
    ("a list", edit(lambda r: r.insert(1, [1, 2])), 2, "a record is a JSON object; got list"),
    (
        "no header",
        edit(lambda r: r.pop(0)),
        1,
        "the first record must be op 'create'; got 'params'",
    ),
    (
        "unknown op",
        edit(lambda r: r.insert(1, {"op": "delete_run"})),
        2,
        "unknown op 'delete_run'; a spool holds create (first line only), params, tags, "
        "metrics, artifact, end",
    ),
    (
        "second create",
        edit(lambda r: r.insert(1, dict(r[0]))),
        2,
        "unknown op 'create'; a spool holds create (first line only), params, tags, "
        "metrics, artifact, end",
    ),
    (
        "unknown key",
        edit(lambda r: r[-1].update(shell="id")),
        0,
        "op 'end' has no key 'shell'",
    ),
    ("missing key", edit(lambda r: r[1].pop("params")), 2, "op 'params' lacks 'params'"),
    (
        "param not a string",
        edit(lambda r: r[1]["params"].update(x=1)),
        2,
        "op 'params': params must map names to strings; got 'x': 1",
    ),
    # Names MLflow refuses stop the entry before any of it is sent (no run left half made).
    (
        "long param name",
        edit(lambda r: r[1]["params"].update({"k" * 251: "1"})),
        2,
        # A long value is shown cut short: the report stays one readable line.
        f"op 'params': params has a name MLflow refuses: '{'k' * 196}...",
    ),
    (
        "param name character",
        edit(lambda r: r[1]["params"].update({"bad*key": "1"})),
        2,
        "op 'params': params has a name MLflow refuses: 'bad*key'",
    ),
    (
        "tag name path",
        edit(lambda r: r.insert(1, {"op": "tags", "tags": {"a/../b": "1"}})),
        2,
        "op 'tags': tags has a name MLflow refuses: 'a/../b'",
    ),
    (
        "metric name",
        edit(lambda r: r.insert(2, {"op": "metrics", "metrics": [["loss\ttab", 1.0, 0, 0]]})),
        3,
        "op 'metrics': metrics must be a list of [name, value, timestamp, step]; "
        "got ['loss\\ttab', 1.0, 0, 0]",
    ),
    (
        "metric value",
        edit(lambda r: r.insert(2, {"op": "metrics", "metrics": [["loss", "1e999", 0, 0]]})),
        3,
        "op 'metrics': metrics must be a list of [name, value, timestamp, step]; "
        "got ['loss', '1e999', 0, 0]",
    ),
    (
        "end status",
        edit(lambda r: r[-1].update(status="RUNNING")),
        0,
        "op 'end': status must be one of FINISHED, FAILED, KILLED; got 'RUNNING'",
    ),
    # Tags that prove ownership or nest a run are the replay's to set, never a record's.
    (
        "nesting tag",
        edit(lambda r: r.insert(1, {"op": "tags", "tags": {"mlflow.parentRunId": "abc"}})),
        2,
        "op 'tags': tags may not set 'mlflow.parentRunId' (the replay sets it, from what it "
        "proves)",
    ),
    (
        "owner tag",
        edit(lambda r: r.insert(1, {"op": "tags", "tags": {f"{SPOOL_TAG}.x": "abc"}})),
        2,
        f"op 'tags': tags may not set '{SPOOL_TAG}.x' (the replay sets it, from what it proves)",
    ),
    (
        "owner tag in the header",
        edit(lambda r: r[0]["tags"].update({SPOOL_TAG: "abc"})),
        1,
        f"op 'create': tags may not set '{SPOOL_TAG}' (the replay sets it, from what it proves)",
    ),
    # Values that reach an MLflow search filter.
    (
        "spool id",
        edit(lambda r: r[0].update(spool_id="x' or tags.a != '")),
        1,
        "op 'create': spool_id must be 32 hexadecimal digits; got \"x' or tags.a != '\"",
    ),
    (
        "study name",
        edit(lambda r: r[0].update(study_name="toy' or tags.a != '")),
        1,
        "op 'create': study_name must be a name without quotes or '\\'; "
        "got \"toy' or tags.a != '\"",
    ),
    # Artifact paths: only files inside the entry's own folder, uploaded only inside the run's.
    ("absolute", artifact("{outside}"), 3, "op 'artifact': file '{outside}' " + NOT_INSIDE),
    ("etc", artifact("/etc/hostname"), 3, "op 'artifact': file '/etc/hostname' " + NOT_INSIDE),
    (
        "dotdot",
        artifact("../../outside.txt"),
        3,
        "op 'artifact': file '../../outside.txt' " + NOT_INSIDE,
    ),
    (
        "dotdot inside",
        artifact("artifacts/../../../outside.txt"),
        3,
        "op 'artifact': file 'artifacts/../../../outside.txt' " + NOT_INSIDE,
    ),
    (
        "backslash",
        artifact("..\\..\\outside.txt"),
        3,
        "op 'artifact': file '..\\\\..\\\\outside.txt' " + NOT_INSIDE,
    ),
    (
        "missing",
        artifact("artifacts/9/none.txt"),
        3,
        "op 'artifact': file 'artifacts/9/none.txt' " + NOT_INSIDE,
    ),
    ("a folder", artifact("artifacts"), 3, "op 'artifact': file 'artifacts' " + NOT_INSIDE),
    ("link", link_artifact, 0, "op 'artifact': file 'artifacts/1/config.yaml' " + NOT_INSIDE),
    (
        "upload path",
        artifact("records.jsonl", "../../elsewhere"),
        3,
        "op 'artifact': artifact_path '../../elsewhere' is not a folder inside the run's "
        "artifacts (absolute paths and '..' are refused)",
    ),
    (
        "absolute upload path",
        artifact("records.jsonl", "/srv/elsewhere"),
        3,
        "op 'artifact': artifact_path '/srv/elsewhere' is not a folder inside the run's "
        "artifacts (absolute paths and '..' are refused)",
    ),
]


def _line_of(entry: Path, row_line: int, name: str) -> int:
    """The row's line number; 0 stands for the line of the entry's only artifact or its end."""
    if row_line:
        return row_line
    ops = [record["op"] for record in records(entry)]
    wanted = "artifact" if name == "link" else "end"
    return ops.index(wanted) + 1


def snapshot(folder: Path) -> dict[str, bytes | str]:
    return {
        str(path.relative_to(folder)): (
            f"-> {os.readlink(path)}" if path.is_symlink() else path.read_bytes()
        )
        for path in sorted(folder.rglob("*"))
        if path.is_file() or path.is_symlink()
    }


@pytest.mark.parametrize(("name", "tamper", "line", "problem"), ROWS, ids=[row[0] for row in ROWS])
def test_a_tampered_entry_is_reported_in_one_line_and_kept(
    tmp_path: Path,
    store: TrackingSpec,
    capsys: pytest.CaptureFixture[str],
    name: str,
    tamper: Callable[[Path, Path], None],
    line: int,
    problem: str,
) -> None:
    spool = tmp_path / "sweep" / "mlflow_spool"
    record_offline_trial(spool, dead_uri(), number=1)
    record_offline_trial(spool, dead_uri(), number=2)
    outside = tmp_path / "outside.txt"
    outside.write_text("not the spool's")
    entry = spool / "trial-0001"
    tamper(entry, outside)
    before = snapshot(entry)
    line = _line_of(entry, line, name)
    assert cli.main(["sync", str(tmp_path / "sweep"), "--tracking-uri", store.uri]) == 1
    captured = capsys.readouterr()
    expected = problem.replace("{outside}", str(outside))
    # One line naming the file and the line; the entry kept as it was, the next one sent.
    assert captured.err == f"error: {entry}/records.jsonl line {line}: {expected}; {KEPT}\n"
    assert captured.out == f"replayed 1 spooled run(s) to {store.uri}\n"
    assert snapshot(entry) == before
    (run,) = trial_runs(store)
    assert run.data.tags["freezesweep.trial"] == "2"
    assert outside.read_text() == "not the spool's"


def _other_experiments_run(client: MlflowClient, spec: TrackingSpec) -> str:
    experiment = client.create_experiment("someone-elses")
    run = client.create_run(
        experiment, run_name="theirs", tags={SPOOL_TAG: owner_digest(new_spool_id())}
    )
    return str(run.info.run_id)


def _same_experiment_untagged(client: MlflowClient, spec: TrackingSpec) -> str:
    from freezesweep.tracking import experiment_id

    run = client.create_run(experiment_id(client, spec, "toy"), run_name="trial-0009")
    return str(run.info.run_id)


def _another_writers_run(client: MlflowClient, spec: TrackingSpec) -> str:
    from freezesweep.tracking import experiment_id

    tags = {SPOOL_TAG: owner_digest(new_spool_id())}
    run = client.create_run(experiment_id(client, spec, "toy"), run_name="trial-0009", tags=tags)
    return str(run.info.run_id)


def _another_studys_parent(client: MlflowClient, spec: TrackingSpec) -> str:
    parent, _ = claim_study_run(spec, "toy")
    return parent


def _no_such_run(client: MlflowClient, spec: TrackingSpec) -> str:
    return "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    "victim",
    [
        _other_experiments_run,
        _same_experiment_untagged,
        _another_writers_run,
        _another_studys_parent,
        _no_such_run,
    ],
)
@pytest.mark.parametrize("role", [None, "study"])
def test_an_entry_naming_a_run_it_did_not_create_touches_nothing(
    tmp_path: Path,
    store: TrackingSpec,
    capsys: pytest.CaptureFixture[str],
    victim: Callable[[MlflowClient, TrackingSpec], str],
    role: str | None,
) -> None:
    client = client_for(store)
    run_id = victim(client, store)
    spool = tmp_path / "mlflow_spool"
    record_offline_trial(spool, dead_uri(), number=1)
    entry = spool / "trial-0001"
    lines: list[Any] = records(entry)
    lines[0]["run_id"] = run_id
    if role is not None:
        lines[0]["role"] = role
    rewrite(entry, lines)
    existing = client.get_run(run_id) if victim is not _no_such_run else None
    assert cli.main(["sync", str(tmp_path), "--tracking-uri", store.uri]) == 1
    err = capsys.readouterr().err
    assert err == f"error: {entry}/records.jsonl line 1: run {run_id} {NOT_OURS}; {KEPT}\n"
    # Not renamed, no param, tag, metric, artifact or status of the entry's.
    if existing is not None:
        after = client.get_run(run_id)
        assert after.info.run_name == existing.info.run_name
        assert after.info.status == existing.info.status
        assert after.data.params == {} and after.data.metrics == {}
        assert after.data.tags == existing.data.tags
        assert client.list_artifacts(run_id) == []
    assert entry.is_dir() and (entry / "records.jsonl").exists()


def test_the_end_of_a_sweep_touches_only_the_parent_run_it_claimed(
    tmp_path: Path, store: TrackingSpec, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "trials.csv"
    report.write_text("number,value\n")
    parent, spool_id = claim_study_run(store, "toy")
    # The same parent, claimed by another invocation: each claim lets only its own entry in.
    claim_study_run(store, "toy")
    spool_study_end(tmp_path / "mlflow_spool", "toy", [report], (parent, spool_id))
    assert cli.main(["sync", str(tmp_path), "--tracking-uri", store.uri]) == 0
    assert client_for(store).get_run(parent).info.status == "FINISHED"
    forged = spool_study_end(tmp_path / "mlflow_spool", "toy", [report], (parent, new_spool_id()))
    assert cli.main(["sync", str(tmp_path), "--tracking-uri", store.uri]) == 1
    assert capsys.readouterr().err.startswith(
        f"error: {forged}/records.jsonl line 1: run {parent} "
    )


@pytest.mark.parametrize("linked", ["", ".lock", "records.jsonl"])
def test_an_entry_read_through_a_link_is_kept(
    tmp_path: Path, store: TrackingSpec, capsys: pytest.CaptureFixture[str], linked: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    record_offline_trial(elsewhere / "mlflow_spool", dead_uri())
    target = elsewhere / "mlflow_spool" / "trial-0001"
    spool = tmp_path / "sweep" / "mlflow_spool"
    if linked:
        record_offline_trial(spool, dead_uri())
        (spool / "trial-0001" / linked).unlink()
        (spool / "trial-0001" / linked).symlink_to(target / linked)
    else:
        spool.mkdir(parents=True)
        (spool / "trial-0001").symlink_to(target, target_is_directory=True)
    before = snapshot(elsewhere)
    assert cli.main(["sync", str(tmp_path / "sweep"), "--tracking-uri", store.uri]) == 1
    path = spool / "trial-0001" / linked if linked else spool / "trial-0001"
    assert capsys.readouterr().err == (
        f"error: {path} is a symbolic link; a spool entry is read only from its own files: {KEPT}\n"
    )
    # Nothing read, locked, sent or removed through the link.
    assert snapshot(elsewhere) == before
    assert (spool / "trial-0001").is_symlink() or (spool / "trial-0001" / linked).is_symlink()
    assert not client_for(store).search_experiments(filter_string="name = 'toy'")


def test_a_last_line_cut_short_by_a_killed_writer_is_dropped_not_refused(
    tmp_path: Path, store: TrackingSpec
) -> None:
    spool = tmp_path / "mlflow_spool"
    record_offline_trial(spool, dead_uri())
    path = spool / "trial-0001" / "records.jsonl"
    path.write_text(path.read_text() + '{"op": "metrics", "metr')
    # No newline after it: the writer died mid-line, so the line is dropped and the rest sent.
    assert cli.main(["sync", str(tmp_path), "--tracking-uri", store.uri]) == 0
    assert len(trial_runs(store)) == 1


def test_a_replayed_entry_removes_only_the_files_its_writer_made(
    tmp_path: Path, store: TrackingSpec
) -> None:
    spool = tmp_path / "mlflow_spool"
    record_offline_trial(spool, dead_uri(), number=1)
    record_offline_trial(spool, dead_uri(), number=2)
    (spool / "trial-0001" / "notes.txt").write_text("a human's")
    assert cli.main(["sync", str(tmp_path), "--tracking-uri", store.uri]) == 0
    # The entry's records, lock and artifacts are gone; a file its writer did not make stays.
    assert snapshot(spool) == {"trial-0001/notes.txt": b"a human's"}
    assert len(trial_runs(store)) == 2


def _saved_sweep(folder: Path, uri: str) -> Path:
    """A sweep folder with its `multirun.yaml` (tracking section) and one spooled run."""
    record_offline_trial(folder / "mlflow_spool", dead_uri())
    saved = folder / "multirun.yaml"
    saved.write_text(
        f"tracking: {{enabled: true, uri: '{uri}', default_uri: null, "
        f"artifact_root: '{folder}/artifacts', experiment: toy}}\n"
    )
    return saved


@pytest.mark.parametrize(
    "variable", ["FREEZESWEEP_SECRET_0A1B2C3D4E5F", "FREEZESWEEP_SECRET_FFFFFFFFFFFF", "MY_URI"]
)
def test_sync_without_the_sweeps_secret_variable_asks_for_the_uri(
    tmp_path: Path,
    store: TrackingSpec,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    monkeypatch.delenv(variable, raising=False)
    saved = _saved_sweep(tmp_path, "${oc.env:" + variable + "}")
    # The sweep kept its password in a variable of its own environment, not set here.
    assert cli.main(["sync", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"error: {saved}: its tracking settings cannot be read here (KeyError raised while "
        f"resolving interpolation: \"Environment variable '{variable}' not found\"); pass "
        "--tracking-uri or set MLFLOW_TRACKING_URI.\n"
    )
    assert (tmp_path / "mlflow_spool" / "trial-0001").is_dir()
    # Either way of naming the store sends the spool.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    assert cli.main(["sync", str(tmp_path)]) == 0
    assert len(trial_runs(store)) == 1


def test_sync_takes_no_destination_from_another_users_file(
    tmp_path: Path,
    store: TrackingSpec,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    saved = _saved_sweep(tmp_path, store.uri)
    owner = saved.stat().st_uid
    # As seen by another user: the file would choose where the records (and credentials) go.
    monkeypatch.setattr(os, "getuid", lambda: owner + 1)
    assert cli.main(["sync", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"error: {saved} belongs to another user; sync takes no destination from it; pass "
        "--tracking-uri or set MLFLOW_TRACKING_URI.\n"
    )
    assert not trial_runs_or_none(store)
    assert cli.main(["sync", str(tmp_path), "--tracking-uri", store.uri]) == 0
    assert len(trial_runs(store)) == 1


def trial_runs_or_none(spec: TrackingSpec) -> list[Any]:
    experiment = client_for(spec).get_experiment_by_name("toy")
    return [] if experiment is None else trial_runs(spec)


@pytest.mark.parametrize("secret", ["s3cr3t", "p/w#x", "a:b@c"])
def test_sync_prints_no_credential_mlflow_prints(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    secret: str,
) -> None:
    from freezesweep import tracking

    uri = f"http://alice:{secret}@127.0.0.1:5000"

    def replay_like_mlflow(spec: TrackingSpec, root: Path) -> tracking.Replayed:
        # What MLflow's client writes when it ends a run on a tracking server.
        sys.stdout.write(f"🏃 View run trial-0001 at: {spec.uri}/#/experiments/1/runs/abc\n")
        sys.stderr.write(f"error reaching {spec.uri}\n")
        return tracking.Replayed(["trial-0001"], [], [])

    monkeypatch.setattr(tracking, "replay_spool", replay_like_mlflow)
    assert cli.main(["sync", str(tmp_path), "--tracking-uri", uri]) == 0
    captured = capsys.readouterr()
    assert secret not in captured.out + captured.err
    assert "View run trial-0001 at: http://alice:***@127.0.0.1:5000/#/" in captured.out


def test_a_record_the_tracking_server_refuses_keeps_the_entry(
    tmp_path: Path,
    store: TrackingSpec,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlflow.exceptions import MlflowException

    spool = tmp_path / "mlflow_spool"
    record_offline_trial(spool, dead_uri(), number=1)
    entry = spool / "trial-0001"

    def refuse(*args: object, **kwargs: object) -> None:
        raise MlflowException("INVALID_PARAMETER_VALUE: a limit of this server\nsecond line")

    # A server with rules of its own refuses a record the checks let through.
    monkeypatch.setattr(MlflowClient, "log_batch", refuse)
    assert cli.main(["sync", str(tmp_path), "--tracking-uri", store.uri]) == 1
    assert capsys.readouterr().err == (
        f"error: {entry}/records.jsonl: the tracking server refused a record "
        "(INVALID_PARAMETER_VALUE: a limit of this server); the entry is kept for a human (what "
        "was sent before it stays on the run).\n"
    )
    assert (entry / "records.jsonl").exists()


@pytest.mark.cluster  # a real `mlflow server` (seconds to start)
def test_sync_to_a_real_server_prints_mlflows_view_run_lines_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.cluster.test_mlflow_server import serve_mlflow

    (tmp_path / "server").mkdir()
    backend = f"sqlite:///{tmp_path}/server/mlflow.db"
    with serve_mlflow(backend, tmp_path / "server" / "artifacts") as base:
        record_offline_trial(tmp_path / "sweep" / "mlflow_spool", dead_uri())
        uri = base.replace("http://", "http://alice:s3cr3t@")
        assert cli.main(["sync", str(tmp_path / "sweep"), "--tracking-uri", uri]) == 0
    captured = capsys.readouterr()
    # MLflow printed its link to the run, with the URI it was given, masked.
    assert "View run trial-0001 at: http://alice:***@127.0.0.1:" in captured.out
    assert "s3cr3t" not in captured.out + captured.err
