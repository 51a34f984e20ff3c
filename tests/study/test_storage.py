"""Storage URLs: journal:PATH and database URLs, absolute paths, passwords never printed."""

from __future__ import annotations

import os
from pathlib import Path

import optuna
import pytest

from freezesweep.redaction import redact
from freezesweep.study.storage import file_exists, normalize_storage_url, open_storage


def test_relative_paths_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert (
        normalize_storage_url("journal:sweeps/optuna.log")
        == f"journal:{tmp_path}/sweeps/optuna.log"
    )
    assert normalize_storage_url("sqlite:///a/b.db") == f"sqlite:///{tmp_path}/a/b.db"
    url = "postgresql+psycopg://fs:pw@db/optuna"
    assert normalize_storage_url(url) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (None, "hydra.sweeper.storage must be an Optuna RDB URL or journal:PATH; got None."),
        ("journal:", "hydra.sweeper.storage: journal: needs a file path"),
        ("sqlite://", "hydra.sweeper.storage: an in-memory SQLite database cannot be shared"),
        (
            "not a url",
            "hydra.sweeper.storage: 'not a url' is neither a database URL nor journal:PATH.",
        ),
    ],
)
def test_bad_urls_are_refused_naming_the_key(url: object, message: str) -> None:
    with pytest.raises(ValueError) as error:
        normalize_storage_url(url)
    assert str(error.value).startswith(message)


def test_journal_storage_holds_a_study_across_processes_objects(tmp_path: Path) -> None:
    # Two storage objects on one journal file see each other's trials (as two workers would).
    url = normalize_storage_url(f"journal:{tmp_path}/deep/optuna.log")
    first = optuna.create_study(study_name="s", storage=open_storage(url))
    first.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    second = optuna.load_study(study_name="s", storage=open_storage(url))
    assert len(second.trials) == 2
    assert os.path.exists(f"{tmp_path}/deep/optuna.log")


def test_redacted_hides_the_password_only() -> None:
    assert redact("postgresql://fs:pw@db:5432/optuna") == "postgresql://fs:***@db:5432/optuna"
    assert redact("journal:/shared/optuna.log") == "journal:/shared/optuna.log"


def test_file_exists_asks_without_creating_anything(tmp_path: Path) -> None:
    # A local file is looked for, not opened (opening creates it); a server is assumed there.
    sqlite, journal = f"sqlite:///{tmp_path}/a/optuna.db", f"journal:{tmp_path}/b/optuna.log"
    assert not file_exists(sqlite) and not file_exists(journal)
    assert list(tmp_path.iterdir()) == []
    assert file_exists("postgresql+psycopg://u@127.0.0.1:1/db")
    open_storage(sqlite), open_storage(journal)
    assert file_exists(sqlite) and os.path.exists(f"{tmp_path}/a/optuna.db")
