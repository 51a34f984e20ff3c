"""A resumed study keeps its definition (search space, direction, objectives, schedule): a change
is refused with the difference, or accepted or moved to a new study on request."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import TrialState

from freezesweep.study.attributes import DEFINITION_ATTR
from hydra_plugins.freezesweep_sweeper.definition._fingerprint import (
    differences,
    fingerprint,
    sweep_definition,
)
from hydra_plugins.freezesweep_sweeper.definition._settings import read_settings
from tests.sweeper.test_app import load_study, run_app
from tests.sweeper.test_settings import settings_with


def _definition(**conf: object) -> dict[str, object]:
    settings = read_settings(settings_with(**conf))
    return sweep_definition(settings, {"x": FloatDistribution(0, 1)}, None)


def test_fingerprint_is_stable_and_sees_every_part() -> None:
    # Same definition, same fingerprint; a direction or a search-space change alters it.
    base = _definition()
    assert base["fingerprint"] == fingerprint(base) == _definition()["fingerprint"]
    assert _definition(direction="minimize")["fingerprint"] != base["fingerprint"]
    settings = read_settings(settings_with())
    wider = sweep_definition(settings, {"x": IntDistribution(0, 2)}, None)
    assert wider["fingerprint"] != base["fingerprint"]


def test_differences_name_each_changed_leaf() -> None:
    # One `key: old -> new` per changed leaf; absent keys show as <none>.
    old = {"direction": ["maximize"], "schedule": {"stages": [{"epochs": 1}]}, "fingerprint": "a"}
    new = {"direction": ["minimize"], "schedule": {"stages": [{"epochs": 2}]}, "extra": 1}
    assert differences(old, new) == [
        'direction: ["maximize"] -> ["minimize"]',
        "extra: <none> -> 1",
        "schedule.stages.0.epochs: 1 -> 2",
    ]


def test_on_definition_change_is_validated() -> None:
    # A typo in the override is one line naming the key.
    with pytest.raises(ValueError) as error:
        read_settings(settings_with(on_definition_change="acept"))
    assert str(error.value) == (
        "hydra.sweeper.on_definition_change must be one of refuse, accept, new_study; got 'acept'."
    )


def _error_line(stderr: str) -> str:
    """The sweeper's one line (Hydra adds its HYDRA_FULL_ERROR hint after it)."""
    lines = [line for line in stderr.splitlines() if line.startswith("hydra.sweeper.")]
    assert len(lines) == 1, stderr
    return lines[0]


def _no_running(storage: str) -> None:
    for summary in optuna.get_all_study_summaries(storage):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        assert not study.get_trials(states=(TrialState.RUNNING,)), summary.study_name


@pytest.mark.slow  # five sweeps of the toy app, ~30 s
@pytest.mark.timeout(240)
def test_changed_definition_is_refused_accepted_or_moved_to_a_new_study(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/optuna.db"
    run_app(tmp_path, "hydra.sweeper.n_trials=2", "++schedule.epochs=1")
    multirun = (tmp_path / "multirun" / "multirun.yaml").read_text()
    stored = load_study(tmp_path).user_attrs[DEFINITION_ATTR]
    # Each kind of change is refused with one line showing it, before the sweep folder changes.
    changes = {
        "'hydra.sweeper.params={x: \"interval(0, 2)\"}'": "params.x: FloatDistribution(high=1.0,",
        "hydra.sweeper.direction=minimize": 'direction: ["maximize"] -> ["minimize"]',
        "hydra.sweeper.objectives=[score]": 'objectives: ["val_accuracy"] -> ["score"]',
        "++schedule.epochs=2": "schedule.epochs: 1 -> 2",
    }
    for change, shown in changes.items():
        override = change.strip("'")
        epochs = [] if override.startswith("++schedule") else ["++schedule.epochs=1"]
        process = run_app(tmp_path, "hydra.sweeper.n_trials=3", *epochs, override, ok=False)
        assert process.returncode == 1, process.stderr
        line = _error_line(process.stderr)
        assert line.startswith(
            f"hydra.sweeper.study_name: study 'toy' in {storage} was defined differently "
            f"(fingerprint {stored['fingerprint']} -> "
        ), line
        assert shown in line and line.endswith(
            "Set hydra.sweeper.on_definition_change=new_study to start a new study, or =accept "
            "to continue this one with the change."
        ), line
    assert (tmp_path / "multirun" / "multirun.yaml").read_text() == multirun
    assert len(load_study(tmp_path).trials) == 2
    # accept: the same study continues, and records the new definition.
    run_app(
        tmp_path, "hydra.sweeper.n_trials=3", "++schedule.epochs=2",
        "hydra.sweeper.on_definition_change=accept",
    )  # fmt: skip
    study = load_study(tmp_path)
    assert len(study.trials) == 3
    assert study.user_attrs[DEFINITION_ATTR]["schedule"] == {"epochs": 2}
    # accept cannot turn a study's direction around: Optuna fixes it at creation.
    process = run_app(
        tmp_path, "hydra.sweeper.n_trials=3", "++schedule.epochs=2",
        "hydra.sweeper.direction=minimize", "hydra.sweeper.on_definition_change=accept", ok=False,
    )  # fmt: skip
    assert process.returncode == 1
    assert _error_line(process.stderr) == (
        f"hydra.sweeper.on_definition_change=accept cannot change the direction of study 'toy' "
        f"in {storage} (['maximize'] -> ['minimize']); use new_study."
    )
    # new_study: a study named by the new fingerprint, its jobs in a folder of that name.
    run_app(
        tmp_path, "hydra.sweeper.n_trials=2", "++schedule.epochs=2",
        "hydra.sweeper.direction=minimize", "hydra.sweeper.on_definition_change=new_study",
    )  # fmt: skip
    names = {s.study_name for s in optuna.get_all_study_summaries(storage)} - {"toy:workers"}
    (new,) = names - {"toy"}
    moved = optuna.load_study(study_name=new, storage=storage)
    assert new == f"toy-{moved.user_attrs[DEFINITION_ATTR]['fingerprint']}"
    assert moved.directions == [optuna.study.StudyDirection.MINIMIZE]
    assert [t.state for t in moved.trials] == [TrialState.COMPLETE] * 2
    assert sorted(p.name for p in (tmp_path / "multirun" / new).glob("trial-*")) == [
        "trial-0000",
        "trial-0001",
    ]
    assert len(load_study(tmp_path).trials) == 3  # the old study untouched
    _no_running(storage)
