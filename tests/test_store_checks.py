"""Store checks before anything is built: local files and folders, database servers, fail_reason."""

from __future__ import annotations

import os
from pathlib import Path

import optuna
import pytest

from freezesweep.errors import ConfigError
from freezesweep.hydra_files import redact_saved_configs
from freezesweep.study.attributes import FAIL_REASON_ATTR
from freezesweep.study.storage import check_storage
from freezesweep.writable import check_writable
from hydra_plugins.freezesweep_sweeper.loop._preflight import sample_points
from hydra_plugins.freezesweep_sweeper.trials._outcomes import Outcome, tell
from tests.helpers.mounts import tmpfs


def test_a_missing_folder_that_can_be_created_passes_and_is_not_created(tmp_path: Path) -> None:
    check_writable(tmp_path / "sweeps" / "deep" / "optuna.db", "hydra.sweeper.storage")
    # Checking creates nothing.
    assert list(tmp_path.iterdir()) == []


def test_read_only_files_and_folders_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "optuna.db"
    database.write_bytes(b"")
    # Root ignores permission bits, so the check's view of them is what is tested.
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != database)
    with pytest.raises(ConfigError) as caught:
        check_writable(database, "hydra.sweeper.storage")
    assert str(caught.value) == f"hydra.sweeper.storage: {database} is read-only."
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path)
    with pytest.raises(ConfigError) as caught:
        check_writable(tmp_path / "mlruns" / "mlflow.db", "tracking.uri")
    assert str(caught.value) == (
        f"tracking.uri: cannot create {tmp_path}/mlruns/mlflow.db: the folder {tmp_path} is "
        "read-only."
    )


def test_a_real_read_only_file_system_is_named(tmp_path: Path) -> None:
    # A tmpfs remounted read-only refuses root too: what a user on a read-only share meets.
    with tmpfs(tmp_path / "ro", files={"optuna.db": b""}, read_only=True) as mount:
        with pytest.raises(ConfigError) as caught:
            check_storage(f"sqlite:///{mount}/optuna.db")
        assert str(caught.value) == f"hydra.sweeper.storage: {mount}/optuna.db is read-only."
        with pytest.raises(ConfigError) as caught:
            check_writable(mount / "mlruns" / "mlflow.db", "tracking.uri")
        assert str(caught.value) == (
            f"tracking.uri: cannot create {mount}/mlruns/mlflow.db: the folder {mount} is "
            "read-only."
        )


def test_a_file_where_a_folder_must_be_is_named(tmp_path: Path) -> None:
    (tmp_path / "sweeps").write_text("")
    with pytest.raises(ConfigError) as caught:
        check_storage(f"sqlite:///{tmp_path}/sweeps/optuna.db")
    assert str(caught.value) == (
        f"hydra.sweeper.storage: cannot create {tmp_path}/sweeps/optuna.db: {tmp_path}/sweeps "
        "is not a folder."
    )


def test_a_database_server_that_is_down_is_one_line_without_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        check_storage("postgresql+psycopg://fs:pw-secret@127.0.0.1:1/optuna", timeout_s=2)
    message = str(caught.value)
    assert message.startswith(
        "hydra.sweeper.storage: cannot connect to postgresql+psycopg://fs:***@127.0.0.1:1/optuna "
        "(OperationalError: "
    )
    assert "pw-secret" not in message and "\n" not in message


def test_fail_reason_is_stored_redacted() -> None:
    study = optuna.create_study()
    trial = study.ask()
    reason = "ConnectionError: http://u:pw-secret@mlflow:5000/api?token=t0ken refused"
    frozen = tell(study, trial, Outcome(optuna.trial.TrialState.FAIL, fail_reason=reason))
    assert frozen.user_attrs[FAIL_REASON_ATTR] == (
        "ConnectionError: http://u:***@mlflow:5000/api?token=*** refused"
    )


def test_saved_hydra_configs_are_rewritten_only_when_they_hold_a_secret(tmp_path: Path) -> None:
    hydra = tmp_path / ".hydra"
    hydra.mkdir()
    (hydra / "overrides.yaml").write_text("- tracking.uri=http://u:pw@h:5000\n- +env.api_key=k\n")
    (hydra / "config.yaml").write_text("seed: 0  # untouched\n")
    redact_saved_configs(tmp_path)
    assert (hydra / "overrides.yaml").read_text() == (
        "- tracking.uri=http://u:***@h:5000\n- +env.api_key=***\n"
    )
    assert (hydra / "config.yaml").read_text() == "seed: 0  # untouched\n"


def test_sample_points_cover_every_choice_and_range_end_once() -> None:
    points = sample_points(
        {
            "a": optuna.distributions.CategoricalDistribution(["x", "y", "z"]),
            "b": optuna.distributions.FloatDistribution(1e-5, 1e-2, log=True),
        },
        [{"a": "y", "b": 0.5}],
    )
    # The sum of the choices, not their product; enqueued sets are points of their own.
    assert points == [
        {"a": "x", "b": 1e-5},
        {"a": "y", "b": 1e-5},
        {"a": "z", "b": 1e-5},
        {"a": "x", "b": 1e-2},
        {"a": "y", "b": 0.5},
    ]
