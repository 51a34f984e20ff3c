"""A password in the storage URL and the tracking URI reaches no file, param, tag or log line.

Real password-bearing URLs on a real PostgreSQL server (trust authentication ignores the
password, so the test needs no role set-up), passed on the command line of a submitit_local
sweep: the case where Hydra and submitit would write them into the most places.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from omegaconf import OmegaConf

from hydra_plugins.freezesweep_sweeper.jobs._passwords import (
    has_password,
    hide,
    hide_in_override,
    scrub,
)
from tests.cluster.test_cluster import finish, load, worker
from tests.helpers.postgres import postgres_database

PASSWORD = "Sup3r-s3cret-pw"


def test_hide_replaces_password_urls_by_environment_references(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"postgresql+psycopg://fs:{PASSWORD}@db.example.org:5432/optuna"
    reference = hide(url)
    assert reference.startswith("${oc.env:FREEZESWEEP_SECRET_") and PASSWORD not in reference
    monkeypatch.setenv("UNUSED", "x")  # the monkeypatch restores os.environ afterwards
    name = reference.removeprefix("${oc.env:").removesuffix("}")
    assert OmegaConf.create({"storage": reference}).storage == url
    monkeypatch.delenv(name)
    assert hide("sqlite:///sweeps/optuna.db") == "sqlite:///sweeps/optuna.db"
    assert not has_password("postgresql://fs@db/optuna") and has_password(url)


def test_hide_in_override_keeps_quoted_values_as_they_are() -> None:
    # Quotes are meaning: a quoted 'a,b' is one string, a quoted choice() is a string param.
    for override in (
        "tracking.experiment='a,b'",
        "hydra.sweeper.params.finetune.top_k='choice(0,1,2,4)'",
        "tracking.uri='http://host:5000/x?a=1&b=2'",
        'tracking.experiment="quoted"',
        "postgresql://fs@db/optuna",
    ):
        assert hide_in_override(override) == override
    # A quoted secret is hidden whole; the reference holds no part of it.
    hidden = hide_in_override(f"tracking.uri='http://u:{PASSWORD}@host/x?token=abc'")
    assert hidden.startswith("tracking.uri=${oc.env:FREEZESWEEP_SECRET_")
    assert PASSWORD not in hidden and "abc" not in hidden


def test_scrub_rewrites_overrides_and_config_values() -> None:
    url = f"postgresql://fs:{PASSWORD}@db/optuna"
    config = OmegaConf.create(
        {
            "tracking": {"uri": None},
            "hydra": {
                "sweeper": {"storage": url},
                "overrides": {"hydra": [f"hydra.sweeper.storage={url}"], "task": ["x=1"]},
            },
        }
    )
    assert scrub(config) == ["hydra.sweeper.storage"]
    text = OmegaConf.to_yaml(config)
    assert PASSWORD not in text
    assert config.hydra.sweeper.storage == url  # still resolves, through the environment


def test_scrub_hands_jobs_a_password_resolved_from_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    # A sweep file's URL whose password is itself an interpolation: the jobs' variable holds the
    # URL resolved (a resolver's result is never read as config syntax again).
    monkeypatch.setenv("FS_PW", PASSWORD)
    config = OmegaConf.create(
        {
            "tracking": {"uri": "http://fs:${oc.env:FS_PW}@mlflow.example"},
            "hydra": {"sweeper": {"storage": None}, "overrides": {"hydra": [], "task": []}},
        }
    )
    assert scrub(config) == ["tracking.uri"]
    assert config.tracking.uri == f"http://fs:{PASSWORD}@mlflow.example"
    assert PASSWORD not in OmegaConf.to_yaml(config)


def _files_containing(root: Path, secret: bytes) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and secret in path.read_bytes()]


@pytest.mark.cluster  # real submitit jobs and a PostgreSQL storage
def test_password_urls_never_reach_files_params_tags_or_logs(tmp_path: Path) -> None:
    with (
        postgres_database(password=PASSWORD) as storage,
        postgres_database(password=PASSWORD) as tracking_uri,
    ):
        assert PASSWORD in storage and PASSWORD in tracking_uri
        code, output = finish(
            worker(
                tmp_path,
                storage,
                "hydra/launcher=submitit_local",
                "hydra.sweeper.n_trials=2",
                "hydra.sweeper.n_jobs=2",
                tracking_uri=tracking_uri,
            )
        )
        assert code == 0, output
        assert PASSWORD not in output
        assert _files_containing(tmp_path, PASSWORD.encode()) == []
        # The jobs did run against the real URLs (through the environment).
        study = load(storage)
        assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
        for trial in study.trials:
            assert PASSWORD not in repr((trial.user_attrs, trial.system_attrs, trial.params))
        assert PASSWORD not in repr(study.user_attrs)
        client = mlflow.MlflowClient(tracking_uri)
        experiment = client.get_experiment_by_name("toy")
        assert experiment is not None
        found = client.search_runs([experiment.experiment_id])
        assert len(found) == 3  # the study's parent and two trials
        for run in found:
            assert PASSWORD not in repr((run.data.params, run.data.tags))
        assert any(
            value == "***" or "***@" in value for run in found for value in run.data.params.values()
        )
