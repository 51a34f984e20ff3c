"""Hypothesis over hostile sweep files: a `_target_` outside the allow-list at a random depth,
secrets from the whole printable alphabet in the storage and tracking URLs (percent-encoded
where the URL's parser requires, `$` as written or as `%24`). The real app, Hydra and sweeper
run in this process.

Invariants, whatever was generated: the sweep is refused (exit 1); the refused callable was
neither called nor its module imported; no password reaches stdout, stderr or any file; nothing
outside the test's folders appears and the user's files there are unchanged; no study storage
exists, so no trial can be left RUNNING.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import optuna
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState
from sqlalchemy.engine import make_url

from tests.helpers.app_inprocess import Finished
from tests.helpers.processes import Completed
from tests.sweeps import test_hardening as hardening
from tests.sweeps.test_hardening import run

table_files = hardening._files

pytestmark = pytest.mark.slow

_EVIL = {"_target_": "evil_module.run", "command": "touch pwned"}
# Any printable character: `@`, `%`, `$`, `{`, `\\`, `/`, `#`, quotes, spaces, any script
# (control characters and lone surrogates reach no shell, YAML file or URL as themselves).
# OmegaConf's and the URL parsers' own characters are drawn more often than chance would.
_PASSWORDS = st.lists(
    st.one_of(
        st.characters(blacklist_categories=("Cc", "Cs")),
        st.sampled_from(["${", "\\${", "}", "\\", "$", "@", "%", "%24", "/", "#", "?", ":"]),
    ),
    min_size=8,
    max_size=16,
).map("".join)
# What each parser needs percent-encoded in a password: SQLAlchemy's `make_url` splits at `@`
# and decodes `%`; an HTTP URL's authority also ends at `/`, `?`, `#` (and `[`, `]` are IPv6's).
_ENCODED = {"storage": "%@", "tracking": "%@/?#[]\\"}


def _in_url(password: str, where: str, dollar_encoded: bool) -> str:
    """The password as a URL carries it: percent-encoded where its parser requires, and `$`
    either as written (OmegaConf's `${` then refused in one line) or as `%24`."""
    required = _ENCODED[where] + ("$" if dollar_encoded else "")
    return "".join(quote(char, safe="") if char in required else char for char in password)


@st.composite
def _nested(draw: st.DrawFn) -> Any:
    """The evil target wrapped in 0 to 3 lists or mappings (under an allowed layer's kwarg)."""
    node: Any = dict(_EVIL)
    for _ in range(draw(st.integers(0, 3))):
        node = [node] if draw(st.booleans()) else {draw(st.sampled_from(["a", "b_c"])): node}
    if "_target_" not in node or draw(st.booleans()):  # each augmentation names a layer
        node = {"_target_": "keras.layers.RandomFlip", "mode": "horizontal", "seed": node}
    return node


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    node=_nested(),
    password=_PASSWORDS,
    in_storage=st.booleans(),
    dollar_encoded=st.booleans(),
)
def test_a_hostile_sweep_file_calls_nothing_and_writes_no_secret(
    tmp_path_factory: pytest.TempPathFactory,
    node: Any,
    password: str,
    in_storage: bool,
    dollar_encoded: bool,
) -> None:
    written = _in_url(password, "storage" if in_storage else "tracking", dollar_encoded)
    storage = f"postgresql+psycopg://fs:{written}@127.0.0.1:1/optuna"
    # The password is where we put it, whole (OmegaConf's `${` aside, refused before use).
    assert make_url(storage).host == "127.0.0.1"
    if "${" not in written:
        assert make_url(storage).password == password or not in_storage
    tmp_path = tmp_path_factory.mktemp("fuzz")
    sweep: dict[str, Any] = {
        "defaults": [{"override /data": "image_folder"}],
        "data": {"directory": "/nonexistent", "augmentation": [node]},
    }
    if in_storage:
        sweep["hydra"] = {"sweeper": {"storage": storage}}
    else:
        sweep["tracking"] = {"uri": f"http://fs:{written}@127.0.0.1:9"}
    text = "# @package _global_\n" + yaml.safe_dump(sweep, allow_unicode=True)
    snapshots: list[dict[str, bytes]] = []

    def files(extra: Path) -> None:  # the table's files (a user's among them), then ours
        table_files(extra)
        (extra / "sweep" / "fuzz.yaml").write_text(text)
        snapshots.append(_snapshot(extra))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hardening, "_files", files)
        process, work = run(tmp_path, "-m", "sweep=fuzz")
    (before,) = snapshots
    # Refused in its preflight: before any storage (so no RUNNING trial) or folder exists.
    assert process.returncode == 1, process.stderr[-3000:]
    # By the target, first by an unreachable storage or tracking server, or by OmegaConf's
    # `${` in the password: whichever, in one line.
    assert "Traceback" not in process.stderr
    assert len(hardening.our_lines(process.stderr)) == 1, process.stderr[-3000:]
    # The refused callable never ran, and its module was never imported.
    assert not any(tmp_path.rglob("pwned")) and not any(tmp_path.rglob("IMPORTED"))
    assert "evil_module" not in sys.modules
    # No secret, as typed or as the URL holds it, in the output or any file but the sweep
    # file that holds it.
    for secret in {password, written}:
        assert secret not in process.stdout + process.stderr
    after = _snapshot(tmp_path / "extra")
    assert after == before  # nothing of the user's changed, nothing added
    for name, content in {**_snapshot(work), **after}.items():
        if name != "sweep/fuzz.yaml":
            assert password.encode() not in content and written.encode() not in content, name
    # Nothing outside the test's folders, nothing in the working directory.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["extra", "work"]
    assert list(work.iterdir()) == []


def _override_value(node: Any) -> str:
    """A mapping or list as Hydra's override grammar writes it (`{a: [1]}`)."""
    if isinstance(node, dict):
        return "{" + ", ".join(f"{key}: {_override_value(v)}" for key, v in node.items()) + "}"
    if isinstance(node, list):
        return "[" + ", ".join(_override_value(v) for v in node) + "]"
    return str(node).replace(" ", "_")


@st.composite
def _hostile_override(draw: st.DrawFn) -> tuple[str, str]:
    """A command-line override a careless or hostile user could type, and what it attacks:
    a `_target_` outside the allow-list at any depth, or a study name that leaves its folder."""
    if draw(st.booleans()):
        node = _override_value([draw(_nested())])
        return f"data.augmentation={node}", "target"
    prefix = draw(st.sampled_from(["..", "../..", "{extra}", "a/../..", "./../b"]))
    name = draw(st.text(st.sampled_from("abcxyz_-"), min_size=1, max_size=6))
    return f"hydra.sweeper.study_name={prefix}/{name}", "path"


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(override=_hostile_override())
def test_a_hostile_command_line_override_calls_nothing_and_writes_nowhere(
    tmp_path_factory: pytest.TempPathFactory, override: tuple[str, str]
) -> None:
    text, attack = override
    tmp_path = tmp_path_factory.mktemp("fuzz_override")
    snapshots: list[dict[str, bytes]] = []

    def files(extra: Path) -> None:
        table_files(extra)
        snapshots.append(_snapshot(extra))

    arguments = ["-m", "data=image_folder", "data.directory=/nonexistent", text]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hardening, "_files", files)
        process, work = run(tmp_path, *arguments)
    (before,) = snapshots
    # Refused in one line before anything exists (exit 1: a config error, no traceback).
    assert process.returncode == 1, process.stderr[-3000:]
    assert "Traceback" not in process.stderr
    if attack == "target":
        # Refused by the allow-list itself (not by the missing folder), naming the key's path.
        assert "_target_ must name one of keras.layers.*; got 'evil_module.run'." in process.stderr
        assert not any(tmp_path.rglob("pwned")) and "evil_module" not in sys.modules
    else:
        assert "hydra.sweeper.study_name names the study's folder: a plain name" in process.stderr
    # Nothing of the user's changed, nothing written here or above the working directory.
    assert _snapshot(tmp_path / "extra") == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["extra", "work"]
    assert list(work.iterdir()) == []


# What a sweep writes in its folder, where a link may wait before it starts: refused in one line
# before the study (Hydra would write a job's files into a `trial-NNNN` link).
_REFUSED = ["multirun.yaml", "report", "report/trials.csv", "cache", "trial-0000"]
# What it writes around: the cache's manifest and an entry, the models' lock. Never written
# through; the sweep trains.
_AROUND = ["cache/.freezesweep-entries", "cache/0123abcd.npz", ".promote.lock"]
_TARGETS = st.sampled_from(["file", "folder", "missing"])
# One real trial, shrunk: 5 images per class, one epoch per stage.
_SHRUNK = [
    "hydra.sweeper.n_trials=1",
    "data.train_per_class=5",
    "schedule.stages.0.epochs=1",
    "schedule.stages.1.epochs=1",
    "trainer.verbose=0",
]


def _tree(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every entry under `folder`: its bytes (a folder's: none) and its modification time."""
    return {
        str(path.relative_to(folder)): (
            path.read_bytes() if path.is_file() else b"",
            path.stat().st_mtime_ns,
        )
        for path in sorted(folder.rglob("*"))
    }


def _sweep_with_links(tmp_path: Path, links: dict[str, str]) -> tuple[Completed | Finished, Path]:
    """`python sweep.py -m` (shrunk) with `links` (place -> target kind) in its sweep folder,
    each pointing into `tmp_path/outside`: at the user's file, the user's folder, or nothing.
    Checks that the run printed no traceback and that nothing outside, the links included,
    changed; returns the run and its working directory."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "notes.txt").write_text("the user's")
    pointed = {"file": outside / "notes.txt", "folder": outside, "missing": outside / "absent"}
    sweep_dir = tmp_path / "extra" / "out"
    targets = {place: pointed[kind] for place, kind in links.items()}

    snapshots: list[dict[str, tuple[bytes, int]]] = []

    def files(extra: Path) -> None:  # the table's files, then the links
        table_files(extra)
        for place, target in targets.items():
            (sweep_dir / place).parent.mkdir(parents=True, exist_ok=True)
            (sweep_dir / place).symlink_to(target)
        snapshots.append(_tree(outside))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hardening, "_files", files)
        # An absolute store: MLflow caches a store by its URI, and these runs share a process.
        store = f"tracking.default_uri=sqlite:///{tmp_path}/work/mlruns/mlflow.db"
        process, work = run(tmp_path, "-m", f"hydra.sweep.dir={sweep_dir}", store, *_SHRUNK)
    assert "Traceback" not in process.stderr
    # Whatever happened: each link is still the user's, pointing where it did, and nothing it
    # points at or beside changed (bytes and times) or appeared.
    for place, target in targets.items():
        assert (sweep_dir / place).readlink() == target
    assert _tree(outside) == snapshots[0]
    return process, work


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(place=st.sampled_from(_REFUSED), target=_TARGETS)
def test_a_link_where_the_sweep_writes_is_refused_and_nothing_outside_changes(
    tmp_path_factory: pytest.TempPathFactory, place: str, target: str
) -> None:
    tmp_path = tmp_path_factory.mktemp("fuzz_link")
    process, work = _sweep_with_links(tmp_path, {place: target})
    # One line naming the link, before the study: no storage, no trial, no run.
    assert process.returncode == 1, process.stderr[-3000:]
    (line,) = hardening.our_lines(process.stderr)
    link = tmp_path / "extra" / "out" / place
    assert line.startswith(f"{link} (") and "is a symbolic link" in line, line
    assert list(work.iterdir()) == []


@settings(
    max_examples=2,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(targets=st.tuples(_TARGETS, _TARGETS, _TARGETS))
def test_links_around_what_the_sweep_writes_leave_it_training_and_are_never_followed(
    tmp_path_factory: pytest.TempPathFactory, targets: tuple[str, str, str]
) -> None:
    tmp_path = tmp_path_factory.mktemp("fuzz_link")
    process, work = _sweep_with_links(tmp_path, dict(zip(_AROUND, targets, strict=True)))
    assert process.returncode == 0, process.stderr[-3000:]
    # The trial trained and was told; nothing is left RUNNING in Optuna or MLflow.
    study = optuna.load_study(study_name="top_k_lr", storage=f"sqlite:///{work}/sweeps/optuna.db")
    assert [t.state for t in study.trials if t.state.is_finished()] == [TrialState.COMPLETE]
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    client = MlflowClient(f"sqlite:///{work}/mlruns/mlflow.db")
    experiments = [e.experiment_id for e in client.search_experiments()]
    statuses = [r.info.status for r in client.search_runs(experiments)]
    assert statuses and "RUNNING" not in statuses
