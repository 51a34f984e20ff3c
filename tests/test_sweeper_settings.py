"""The sweeper's settings validation and its study helpers (seed, enqueue-once, counts)."""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

import optuna
import pytest

from hydra_plugins.freezesweep_sweeper._settings import read_settings
from hydra_plugins.freezesweep_sweeper._study import (
    ENQUEUED_ATTR,
    count_trials,
    derive_seed,
    enqueue_once,
    worker_identity,
)
from hydra_plugins.freezesweep_sweeper.sweeper import FreezesweepSweeperConf


def settings_with(**changes: Any) -> dict[str, Any]:
    conf = asdict(FreezesweepSweeperConf())
    del conf["_target_"], conf["_recursive_"]
    conf.update(changes)
    return conf


def test_defaults_are_valid_and_name_the_project_objectives() -> None:
    # The dataclass defaults pass validation; the SQLite path becomes absolute for the jobs.
    settings = read_settings(settings_with())
    assert settings.directions == ["maximize"]
    assert settings.objectives == ["val_accuracy"]
    assert settings.storage == f"sqlite:///{os.path.abspath('sweeps/optuna.db')}"
    pareto = read_settings(settings_with(direction=["maximize", "minimize"]))
    assert pareto.objectives == ["val_accuracy", "trainable_params"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"direction": "up"}, "hydra.sweeper.direction must be 'maximize' or 'minimize'"),
        ({"n_trials": 0}, "hydra.sweeper.n_trials must be an integer >= 1; got 0."),
        ({"n_jobs": 0}, "hydra.sweeper.n_jobs must be an integer >= 1; got 0."),
        ({"max_failure_rate": 1.5}, "hydra.sweeper.max_failure_rate must be in [0, 1]"),
        ({"objectives": ["a"], "direction": ["maximize", "minimize"]}, "hydra.sweeper.objectives"),
        ({"storage": "sqlite://"}, "hydra.sweeper.storage: an in-memory SQLite database"),
        ({"sampler": {"_target_": "optuna.samplers.NoSuchSampler"}}, "hydra.sweeper.sampler: "),
        (
            {"pruner": {"_target_": "os.system"}},
            "hydra.sweeper.pruner: _target_ must name one of optuna.pruners.*; got 'os.system'.",
        ),
        ({"pruner": {"_target_": "optuna.pruners.MedianPruner", "bogus": 1}}, "hydra.sweeper."),
        ({"on_sweep_end": "no_such_module.fn"}, "hydra.sweeper.on_sweep_end: cannot import"),
        ({"preflight": "nodots"}, "hydra.sweeper.preflight must be a 'module.function' path"),
        (
            {"heartbeat_interval": 0},
            "hydra.sweeper.heartbeat_interval must be a number of seconds > 0; got 0.",
        ),
        (
            {"heartbeat_interval": 10, "grace_period": 20},
            "hydra.sweeper.grace_period (20) must be at least 3 heartbeat intervals (30), or "
            "live trials of slow workers would be failed as stale.",
        ),
        (
            {"storage": "journal:"},
            "hydra.sweeper.storage: journal: needs a file path, e.g. journal:sweeps/optuna.log.",
        ),
        (
            {"direction": ["maximize", "minimize"], "pruner": {"_target_": "x"}},
            "hydra.sweeper.pruner: Optuna prunes single-objective studies only, and this sweep "
            "has 2 directions ['maximize', 'minimize']; set hydra.sweeper.pruner to null.",
        ),
    ],
)
def test_bad_settings_raise_a_value_error_naming_the_key(
    changes: dict[str, Any], message: str
) -> None:
    # Each bad key fails in setup(), before any storage, with a message that names it.
    with pytest.raises(ValueError) as error:
        read_settings(settings_with(**changes))
    assert str(error.value).startswith(message)


def test_sampler_seed_is_the_base_seed() -> None:
    # Existing sweep files put the seed in the sampler; it becomes the base, not a fixed seed.
    settings = read_settings(
        settings_with(sampler={"_target_": "optuna.samplers.RandomSampler", "seed": 5}, seed=1)
    )
    assert settings.seed == 5
    assert "seed" not in settings.sampler


def test_derived_seed_depends_on_worker_and_trial_count() -> None:
    # Different workers, or the same worker later in the study, get different sampler seeds.
    assert derive_seed(7, "SLURM_ARRAY_TASK_ID=0", 0) == derive_seed(7, "SLURM_ARRAY_TASK_ID=0", 0)
    assert derive_seed(7, "SLURM_ARRAY_TASK_ID=0", 0) != derive_seed(7, "SLURM_ARRAY_TASK_ID=1", 0)
    assert derive_seed(7, "SLURM_ARRAY_TASK_ID=0", 0) != derive_seed(7, "SLURM_ARRAY_TASK_ID=0", 4)


def test_worker_identity_prefers_the_array_task(monkeypatch: pytest.MonkeyPatch) -> None:
    # SLURM_ARRAY_TASK_ID, else SLURM_PROCID, else host and pid.
    monkeypatch.setenv("SLURM_PROCID", "3")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "2")
    assert worker_identity() == "SLURM_ARRAY_TASK_ID=2"
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID")
    assert worker_identity() == "SLURM_PROCID=3"
    monkeypatch.delenv("SLURM_PROCID")
    assert worker_identity().endswith(f":{os.getpid()}")


def test_enqueue_once_remembers_what_the_study_already_had() -> None:
    # A repeated set is not enqueued again; a new one is.
    study = optuna.create_study()
    assert enqueue_once(study, [{"x": 1}, {"x": 2}], created=True) == 2
    assert enqueue_once(study, [{"x": 1}, {"x": 2}], created=False) == 0
    assert enqueue_once(study, [{"x": 2}, {"x": 3}], created=False) == 1
    assert len(study.user_attrs[ENQUEUED_ATTR]) == 3
    assert len(study.get_trials(states=(optuna.trial.TrialState.WAITING,))) == 3


def test_only_the_creator_enqueues_into_a_fresh_study() -> None:
    # A worker that loaded a study its creator has not finished enqueueing adds nothing, so two
    # workers started together never enqueue the baselines twice.
    study = optuna.create_study()
    assert enqueue_once(study, [{"x": 1}], created=False) == 0
    assert study.trials == []
    assert enqueue_once(study, [], created=True) == 0
    assert study.user_attrs[ENQUEUED_ATTR] == []


def test_counts_include_running_trials_but_not_waiting_ones() -> None:
    # finished = COMPLETE + PRUNED + FAIL; RUNNING counted apart; WAITING (enqueued) not at all.
    study = optuna.create_study()
    study.tell(study.ask(), 1.0)
    study.tell(study.ask(), state=optuna.trial.TrialState.PRUNED)
    study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)
    study.ask()
    study.enqueue_trial({"x": 1})
    counts = count_trials(study)
    assert (counts.finished, counts.running) == (3, 1)
