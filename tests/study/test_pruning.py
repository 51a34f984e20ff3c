"""The job side of pruning: attach to the sweeper's trial, report per epoch, stop when told."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import optuna
import pytest
from optuna.distributions import IntDistribution

from freezesweep import compat
from freezesweep.study.attributes import PRUNER_ATTR, WARM_START_ATTR
from freezesweep.study.pruning import (
    PruningCallback,
    attach_trial,
    pruner_from_spec,
    record_trainable_params,
)


def sweeper_trial(tmp_path: Path, pruner: dict[str, object] | None) -> tuple[str, int]:
    """What the sweeper does: a study in storage, a RUNNING trial with params and a pruner spec."""
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    study.tell(study.ask(), 1.0)
    trial = study.ask({"top_k": IntDistribution(0, 4)})
    trial.storage.set_trial_system_attr(trial._trial_id, PRUNER_ATTR, pruner)
    return storage, trial.number


def tiny_model() -> keras.Model:
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(2, activation="softmax")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def fit(model: keras.Model, callback: keras.callbacks.Callback, **kwargs: int) -> int:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)), rng.integers(0, 2, size=16)
    history = model.fit(
        x, y, validation_data=(x, y), callbacks=[callback], verbose=0, batch_size=8, **kwargs
    )
    return len(history.epoch)


def test_attach_trial_returns_the_live_trial_with_the_sweepers_pruner(tmp_path: Path) -> None:
    # Same number and params; report/should_prune use the pruner spec the sweeper stored.
    storage, number = sweeper_trial(
        tmp_path, {"_target_": "optuna.pruners.ThresholdPruner", "lower": 0.5}
    )
    trial = attach_trial("s", storage, number)
    assert trial.number == number and "top_k" in trial.params
    assert isinstance(trial.study.pruner, optuna.pruners.ThresholdPruner)
    trial.report(0.4, step=0)
    assert trial.should_prune()
    record_trainable_params(trial, 74053)
    stored = optuna.load_study(study_name="s", storage=storage).trials[number]
    assert stored.intermediate_values == {0: 0.4}
    assert stored.user_attrs["trainable_params"] == 74053


def test_attach_trial_refuses_unknown_or_finished_trials(tmp_path: Path) -> None:
    # A wrong number or study is a KeyError; a trial already told is a RuntimeError.
    storage, _ = sweeper_trial(tmp_path, None)
    with pytest.raises(KeyError, match="no trial 9 of study 's'"):
        attach_trial("s", storage, 9)
    with pytest.raises(KeyError, match="no trial 0 of study 'other'"):
        attach_trial("other", storage, 0)
    with pytest.raises(RuntimeError, match="trial 0 of study 's' is COMPLETE, not RUNNING"):
        attach_trial("s", storage, 0)


def test_the_pruner_judges_a_trial_by_the_studys_own_trials(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    space = {"top_k": IntDistribution(0, 4)}
    for top_k in range(4):  # an earlier study's trials, copied in for the sampler (no curves)
        study.add_trial(
            optuna.trial.create_trial(
                params={"top_k": top_k},
                distributions=space,
                value=0.95,
                system_attrs={WARM_START_ATTR: "old"},
            )
        )
    own = study.ask(space)
    own.report(0.9, step=0)
    study.tell(own, 0.9)
    trial = study.ask(space)
    median = {"_target_": "optuna.pruners.MedianPruner", "n_startup_trials": 5}
    trial.storage.set_trial_system_attr(trial._trial_id, PRUNER_ATTR, median)
    attached = attach_trial("s", storage, trial.number)
    attached.report(0.1, step=0)
    # One own COMPLETE trial is below n_startup_trials=5: the four warm-start ones do not count.
    assert not attached.should_prune()
    assert attached.study.best_trial.number == own.number and len(attached.study.trials) == 2
    # Optuna's pruner on the whole study would count them, and prune.
    frozen = study.trials[trial.number]
    assert optuna.pruners.MedianPruner(n_startup_trials=5).prune(study, frozen)


def test_jobs_of_one_process_share_one_caching_storage(tmp_path: Path) -> None:
    # In-process jobs attach once per trial: the finished trials one job's pruner read stay
    # cached for the next job (a fresh cache read the whole study again: bench P9, 7 s a trial
    # at 5,000 trials), and the RDB storage sits behind Optuna's cache, not bare.
    storage, number = sweeper_trial(tmp_path, None)
    first = attach_trial("s", storage, number)
    sweeper = optuna.load_study(study_name="s", storage=storage)
    sweeper.tell(number, 0.5)
    second = attach_trial("s", storage, sweeper.ask({"top_k": IntDistribution(0, 4)}).number)
    shared = compat.study_storage(second.study)
    assert compat.study_storage(first.study) is shared
    assert not isinstance(shared, optuna.storages.RDBStorage)
    assert [t.value for t in second.study.get_trials(deepcopy=False)][:2] == [1.0, 0.5]


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_pruner_from_spec_builds_optuna_pruners_only() -> None:
    # null -> NopPruner; nested _target_ specs are built; other modules are refused.
    assert isinstance(pruner_from_spec(None), optuna.pruners.NopPruner)
    patient = pruner_from_spec(
        {
            "_target_": "optuna.pruners.PatientPruner",
            "wrapped_pruner": {"_target_": "optuna.pruners.MedianPruner"},
            "patience": 1,
        }
    )
    assert isinstance(patient, optuna.pruners.PatientPruner)
    # Refused before anything is imported or called.
    with pytest.raises(ValueError) as refused:
        pruner_from_spec({"_target_": "os.system", "command": "true"})
    assert str(refused.value) == "_target_ must name one of optuna.pruners.*; got 'os.system'."
    with pytest.raises(ValueError, match=r"optuna\.pruners\.MedianPruner: "):
        pruner_from_spec({"_target_": "optuna.pruners.MedianPruner", "bogus": 1})


def test_callback_reports_cumulative_epochs_and_stops_when_pruned() -> None:
    # Pruned at the first epoch it sees (epoch 2 of a later stage): fit stops, step = 2.
    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=2.0)
    )
    trial = study.ask()
    callback = PruningCallback(trial)
    assert fit(tiny_model(), callback, initial_epoch=2, epochs=6) == 1
    assert callback.pruned and callback.pruned_at_epoch == 2
    assert list(study.trials[0].intermediate_values) == [2]
    # A pruned trial trains no further stage.
    with pytest.raises(optuna.TrialPruned):
        fit(tiny_model(), callback, initial_epoch=3, epochs=4)


def test_callback_without_pruning_reports_every_epoch_across_stages() -> None:
    # Two fits (stages) with initial_epoch: steps 0..3, never pruned.
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    callback = PruningCallback(trial)
    model = tiny_model()
    assert fit(model, callback, epochs=2) == 2
    assert fit(model, callback, initial_epoch=2, epochs=4) == 2
    assert not callback.pruned
    assert sorted(study.trials[0].intermediate_values) == [0, 1, 2, 3]


def test_callback_reports_the_warm_up_but_asks_the_pruner_only_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Asking a median pruner during its warm-up reads every trial for a certain "no": the
    # callback reports those steps and asks from the first step the pruner may prune on.
    pruner = optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=2)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    done = study.ask()
    for step in range(4):
        done.report(1.0, step)
    study.tell(done, 1.0)
    trial = study.ask()
    asked: list[int] = []
    should_prune = trial.should_prune

    def counting() -> bool:
        asked.append(max(study.trials[1].intermediate_values))
        return should_prune()

    monkeypatch.setattr(trial, "should_prune", counting)
    callback = PruningCallback(trial)
    # val_accuracy of a random model is far below the first trial's 1.0: pruned at the first
    # step after the warm-up, as without the shortcut.
    assert fit(tiny_model(), callback, epochs=4) == 3
    assert callback.pruned_at_epoch == 2
    assert asked == [2]
    assert sorted(study.trials[1].intermediate_values) == [0, 1, 2]


def test_callback_is_inert_on_multi_objective_studies() -> None:
    # Optuna cannot prune Pareto studies: nothing is reported and training runs to the end.
    study = optuna.create_study(directions=["maximize", "minimize"])
    callback = PruningCallback(study.ask())
    assert fit(tiny_model(), callback, epochs=2) == 2
    assert study.trials[0].intermediate_values == {}


def test_callback_names_a_missing_monitor() -> None:
    # Without validation data there is no val_accuracy to report: say so.
    study = optuna.create_study(direction="maximize")
    callback = PruningCallback(study.ask())
    model = tiny_model()
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="'val_accuracy' is not in the epoch logs"):
        model.fit(rng.normal(size=(8, 3)), np.zeros(8), callbacks=[callback], verbose=0)


def test_a_trial_beaten_on_both_axes_already_is_dominated() -> None:
    from freezesweep.study.pruning import dominated

    study = optuna.create_study(direction="maximize")
    for value, params in [(0.90, 1_000), (0.80, 300)]:
        attrs = {"trainable_params": params}
        study.add_trial(optuna.trial.create_trial(value=value, user_attrs=attrs))
    running = study.ask()
    # Beaten on both axes (or equal on one, better on the other): dominated, so it keeps no model.
    assert dominated(running, 0.85, 2_000)
    assert dominated(running, 0.80, 500)
    # Better on one axis than every trial, or equal to one on both: still possibly on the front.
    assert not dominated(running, 0.95, 5_000)
    assert not dominated(running, 0.70, 100)
    assert not dominated(running, 0.90, 1_000)
