"""The sweeper's settings validation and its study helpers (seed, enqueue-once, counts)."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import GridSampler

from freezesweep.study.attributes import ENQUEUED_ATTR
from hydra_plugins.freezesweep_sweeper.config import PRUNERS, SAMPLERS, FreezesweepSweeperConf
from hydra_plugins.freezesweep_sweeper.definition._sampler import build_sampler
from hydra_plugins.freezesweep_sweeper.definition._settings import read_settings
from hydra_plugins.freezesweep_sweeper.trials._shared_study import (
    count_trials,
    derive_seed,
    enqueue_once,
    open_study,
    worker_identity,
)

_STUDY_NAME = (
    "hydra.sweeper.study_name names the study's folder: a plain name, without '/' or '\\', "
    "and not '.' or '..'; got "
)


def settings_with(**changes: Any) -> dict[str, Any]:
    conf = asdict(FreezesweepSweeperConf())
    del conf["_target_"], conf["_recursive_"], conf["defaults"]
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
        (
            {"on_sweep_end": "freezesweep.no_such_module.fn"},
            "hydra.sweeper.on_sweep_end: cannot import",
        ),
        ({"on_trial_end": "freezesweep.study.hooks.nope"}, "hydra.sweeper.on_trial_end: cannot"),
        # Paths outside the fence are refused before anything is imported.
        *(
            (
                {key: path},
                f"hydra.sweeper.{key} must name a function of freezesweep, of a module in "
                f"allowed_targets or of a module beside the app; got {path!r}.",
            )
            for key, path in (
                ("on_sweep_start", "os.system"),
                ("custom_search_space", "builtins.exec"),
                ("preflight", "subprocess.run"),
                ("on_sweep_end", "no_such_module.fn"),
                ("on_trial_end", "numpy.save"),
            )
        ),
        (
            {"on_sweep_start": "freezesweep.errors.ConfigError"},
            "hydra.sweeper.on_sweep_start: 'freezesweep.errors.ConfigError' is not a "
            "Python function.",
        ),
        ({"preflight": "nodots"}, "hydra.sweeper.preflight must be a 'module.function' path"),
        (
            {"heartbeat_interval": 0},
            "hydra.sweeper.heartbeat_interval must be a number of seconds > 0; got 0.",
        ),
        ({"tell_attempts": 0}, "hydra.sweeper.tell_attempts must be an integer >= 1; got 0."),
        (
            {"tell_backoff": -1},
            "hydra.sweeper.tell_backoff must be a number of seconds > 0; got -1.",
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
            {"sampler": {"_target_": "os.system"}},
            "hydra.sweeper.sampler._target_ must name one of optuna.samplers.*; got 'os.system'.",
        ),
        (
            {
                "sampler": {
                    "_target_": "optuna.samplers.QMCSampler",
                    "independent_sampler": {"_target_": "builtins.print"},
                }
            },
            # The nested target is named by its own key.
            "hydra.sweeper.sampler.independent_sampler._target_ must name one of "
            "optuna.samplers.*; got 'builtins.print'.",
        ),
        ({"worker": ""}, "hydra.sweeper.worker must be a non-empty string; got ''."),
        # A study name is a folder name: no path out of the sweeps folder.
        *[
            ({"study_name": name}, f"{_STUDY_NAME}{name!r}.")
            for name in ["../escape", "/tmp/absolute", "a\\b", ".", ".."]
        ],
        (
            {"constraints": {"trainable_params": 0}},
            "hydra.sweeper.constraints.trainable_params must be a positive integer; got 0.",
        ),
        (
            {"constraints": {"trainable_params": 5e4}},
            "hydra.sweeper.constraints.trainable_params must be a positive integer; got 50000.0.",
        ),
        (
            {"constraints": {"trainable_params": True}},
            "hydra.sweeper.constraints.trainable_params must be a positive integer; got True.",
        ),
        (
            {"constraints": {"val_accuracy": 1}},
            "hydra.sweeper.constraints.val_accuracy: unknown metric; a budget may name "
            "trainable_params (known before training).",
        ),
        (
            {"constraints": 5000},
            "hydra.sweeper.constraints must be a mapping {metric: limit}, e.g. "
            "{trainable_params: 50000}; got 5000.",
        ),
        (
            {"warm_start": "old"},
            "hydra.sweeper.warm_start must be a list of study names or {study: NAME, storage: "
            "URL} mappings; got 'old'.",
        ),
        (
            {"warm_start": [{"name": "old"}]},
            "hydra.sweeper.warm_start[0] must be a study name or {study: NAME, storage: URL}; "
            "got {'name': 'old'}.",
        ),
        (
            {"warm_start": ["a", {"study": "b", "storage": "journal:"}]},
            "hydra.sweeper.warm_start[1].storage: journal: needs a file path, e.g. "
            "journal:sweeps/optuna.log.",
        ),
        (
            {"warm_start": [{"study": "a", "storage": "postgresql://u:secret@h/db"}, 7]},
            "hydra.sweeper.warm_start[1] must be a study name or {study: NAME, storage: URL}; "
            "got 7.",
        ),
        (
            {"warm_start": ["a", {"study": "a"}]},
            "hydra.sweeper.warm_start[1]: study 'a' in sqlite:///",
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


def test_warm_start_entries_name_a_study_here_or_in_another_storage(tmp_path: Path) -> None:
    # A bare name lives in the sweep's storage; a mapping may name another (made absolute).
    settings = read_settings(
        settings_with(
            storage=f"sqlite:///{tmp_path}/a.db",
            warm_start=["old", {"study": "older", "storage": "journal:other.log"}],
        )
    )
    assert [(source.study, source.storage) for source in settings.warm_start] == [
        ("old", f"sqlite:///{tmp_path}/a.db"),
        ("older", f"journal:{os.path.abspath('other.log')}"),
    ]
    # None (the default) and an empty list: no warm start.
    assert read_settings(settings_with()).warm_start == ()
    assert read_settings(settings_with(warm_start=[])).warm_start == ()


def test_constraints_default_to_none_and_keep_a_budget() -> None:
    # No budget unless set; a budget is kept as {metric: int}.
    assert read_settings(settings_with()).constraints == {}
    budget = read_settings(settings_with(constraints={"trainable_params": 20000}))
    assert budget.constraints == {"trainable_params": 20000}


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


def test_worker_identity_prefers_the_explicit_name_then_slurm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # hydra.sweeper.worker, else SLURM_ARRAY_TASK_ID, else SLURM_PROCID, else none (never a pid).
    monkeypatch.setenv("SLURM_PROCID", "3")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "2")
    assert worker_identity("gpu-a") == "worker=gpu-a"
    assert worker_identity() == "SLURM_ARRAY_TASK_ID=2"
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID")
    assert worker_identity() == "SLURM_PROCID=3"
    monkeypatch.delenv("SLURM_PROCID")
    assert worker_identity() is None


def test_unnamed_concurrent_workers_register_in_order_and_draw_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two invocations open one fresh study before either asks (same trial count, same process):
    # the storage numbers them 0 and 1, so their seeds and first suggestions differ. A fresh
    # storage gives the first invocation the same seed again.
    for variable in ("SLURM_ARRAY_TASK_ID", "SLURM_PROCID"):
        monkeypatch.delenv(variable, raising=False)
    space = {"x": FloatDistribution(0, 1)}
    settings = read_settings(
        settings_with(storage=f"sqlite:///{tmp_path}/a.db", seed=7, study_name="s")
    )
    first, second = open_study(settings, space), open_study(settings, space)
    assert (first.worker, second.worker) == ("registered=0", "registered=1")
    assert first.sampler_seed != second.sampler_seed
    assert first.study.ask(space).params != second.study.ask(space).params
    # "Another machine": the host name plays no part in the seed.
    monkeypatch.setattr("socket.gethostname", lambda: "another-machine")
    again = open_study(
        read_settings(settings_with(storage=f"sqlite:///{tmp_path}/b.db", seed=7, study_name="s")),
        space,
    )
    assert (again.worker, again.sampler_seed) == ("registered=0", first.sampler_seed)
    # The tickets live in a side study; the swept study holds only the two trials asked above.
    assert len(optuna.load_study(study_name="s:workers", storage=settings.storage).trials) == 2
    assert len(first.study.trials) == 2


def test_grid_sampler_takes_its_grid_from_params() -> None:
    # Hydra's `grid` option: every value of each searched key (stepped floats included).
    space = {
        "x": CategoricalDistribution([-1, 1]),
        "y": FloatDistribution(-1.0, 0.0, step=1.0),
        "n": IntDistribution(1, 5, step=2),
    }
    sampler = build_sampler({"_target_": "optuna.samplers.GridSampler"}, 3, space)
    assert isinstance(sampler, GridSampler)
    assert sampler._search_space == {"n": [1, 3, 5], "x": [-1, 1], "y": [-1.0, 0.0]}
    with pytest.raises(ValueError) as error:
        build_sampler(
            {"_target_": "optuna.samplers.GridSampler"}, 3, {"lr": FloatDistribution(0, 1)}
        )
    assert str(error.value) == (
        "hydra.sweeper.params.lr: the grid sampler needs choice() or range(), not "
        "FloatDistribution(high=1.0, log=False, low=0.0, step=None)."
    )


def test_null_storage_and_study_name_behave_as_in_hydras_sweeper(tmp_path: Path) -> None:
    # storage: null -> a fresh SQLite file in the sweep directory (jobs must re-attach from
    # other processes); study_name: null -> a new uniquely named study, as Optuna names it.
    settings = read_settings(
        settings_with(storage=None, study_name=None), sweep_dir=str(tmp_path / "multirun")
    )
    assert settings.storage == f"sqlite:///{tmp_path}/multirun/optuna.db"
    assert settings.study_name.startswith("no-name-")
    assert read_settings(settings_with(study_name=None)).study_name != settings.study_name


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


@pytest.mark.parametrize("option", sorted(SAMPLERS) + sorted(PRUNERS))
def test_every_group_option_declares_its_class_arguments(option: str) -> None:
    # The options list each keyword argument of their Optuna 5 class (so no `+` is needed on the
    # command line): a renamed or new argument in a later Optuna shows up here.
    target, arguments = SAMPLERS[option] if option in SAMPLERS else PRUNERS[option]
    module, _, name = target.rpartition(".")
    parameters = inspect.signature(getattr(importlib.import_module(module), name)).parameters
    expected = [key for key in parameters if key not in ("seed", "search_space")]
    assert list(arguments) == expected


def test_null_arguments_mean_optunas_default() -> None:
    # A group option's null arguments are dropped: the TPE option with a QMC target builds QMC.
    settings = read_settings(
        settings_with(
            sampler={"_target_": "optuna.samplers.QMCSampler", "n_startup_trials": None},
            pruner={"_target_": "optuna.pruners.MedianPruner", "n_warmup_steps": 3, "x": None},
        )
    )
    assert settings.sampler == {"_target_": "optuna.samplers.QMCSampler"}
    assert settings.pruner == {"_target_": "optuna.pruners.MedianPruner", "n_warmup_steps": 3}


@pytest.mark.parametrize(
    "path",
    [
        "tests.helpers.processes.start",  # starts any command
        "tests.helpers.memory_hog.HungryAdam",
        "tests.conftest.pytest_configure",
    ],
)
def test_a_package_beside_the_app_is_not_a_hook_module(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hydra_plugins.freezesweep_sweeper.definition._user_functions import resolve_hook
    from tests.helpers.shrink import ROOT

    # In a checkout, tests/ sits beside sweep.py: its helpers are not hooks by a path alone.
    monkeypatch.setattr(sys, "argv", [str(ROOT / "sweep.py")])
    with pytest.raises(ValueError) as caught:
        resolve_hook("on_sweep_start", path)
    assert str(caught.value) == (
        "hydra.sweeper.on_sweep_start must name a function of freezesweep, of a module in "
        f"allowed_targets or of a module beside the app; got {path!r}."
    )


def test_a_module_file_beside_the_app_is_a_hook_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hydra_plugins.freezesweep_sweeper.definition._user_functions import resolve_hook

    (tmp_path / "app.py").write_text("")
    (tmp_path / "fs_beside_hooks.py").write_text("def start(study, config):\n    pass\n")
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "app.py")])
    monkeypatch.syspath_prepend(str(tmp_path))
    # Where Hydra's examples keep their hooks: a file next to the app script.
    hook = resolve_hook("on_sweep_start", "fs_beside_hooks.start")
    assert hook is not None and hook.__name__ == "start"
