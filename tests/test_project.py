"""The study commands' shared reading of `--study` / `--storage` (`freezesweep.project`): a study
that cannot be read is one line, and reading never creates a file."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from freezesweep.project import load_study


def test_a_storage_that_cannot_be_read_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupt = tmp_path / "optuna.db"
    corrupt.write_bytes(b"not a database" * 400)
    cases = {
        f"sqlite:///{corrupt}": "error: --storage: study 's' in sqlite:///{tmp}/optuna.db cannot "
        "be read: file is not a database",
        f"sqlite:///{tmp_path}/none.db": "error: --storage: study 's': "
        "sqlite:///{tmp}/none.db does not exist.",
        "sqlite:////proc/optuna.db": "error: --storage: study 's': sqlite:////proc/optuna.db "
        "does not exist.",
    }
    for url, line in cases.items():
        assert load_study("s", url) is None
        assert capsys.readouterr().err == line.replace("{tmp}", str(tmp_path)) + "\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["optuna.db"]  # nothing created


def test_a_study_is_read_from_its_storage_and_a_missing_one_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/optuna.db"
    optuna.create_study(study_name="s", storage=url).optimize(lambda t: 1.0, n_trials=1)
    study = load_study("s", url)
    assert study is not None and [t.value for t in study.trials] == [1.0]
    assert load_study("other", url) is None
    assert capsys.readouterr().err == (
        f"error: --storage: study 'other' in {url} does not exist.\n"
    )
