"""From a study to registered models: which trials' models are logged, which become the
champion and the knee, and how the aliases follow a better trial."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import optuna
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from freezesweep.data import Dataset
from freezesweep.logged_model import EXAMPLE_FILE, MODEL_FILE, save_example
from freezesweep.model.export import save_merged
from freezesweep.spec import TrackingSpec
from freezesweep.study.promote import champion_and_knee, chosen_trials, describe, promote
from freezesweep.study.report import trials_frame


def _table(rows: list[tuple[str, float | None, int | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"number": n, "state": state, "val_accuracy": acc, "trainable_params": params}
            for n, (state, acc, params) in enumerate(rows)
        ]
    )


def test_the_champion_is_the_most_accurate_and_the_knee_the_smallest_within_one_point() -> None:
    table = _table(
        [
            ("COMPLETE", 0.90, 325),
            ("COMPLETE", 0.95, 145_621),
            ("COMPLETE", 0.945, 74_053),
            ("COMPLETE", 0.94, 20_000),  # exactly 1 pp below: still within
            ("PRUNED", 0.99, 10),  # not completed: never picked
            ("FAIL", None, None),
        ]
    )
    assert champion_and_knee(table) == (1, 3)
    # Pareto logs the front (0, 3, 2, 1); best logs the two picks; all every completed trial.
    assert chosen_trials(table, "pareto") == [0, 1, 2, 3]
    assert chosen_trials(table, "best") == [1, 3]
    assert chosen_trials(table, "all") == [0, 1, 2, 3]
    assert chosen_trials(table, "none") == []


def test_ties_go_to_fewer_params_then_the_earlier_trial() -> None:
    table = _table([("COMPLETE", 0.9, 500), ("COMPLETE", 0.9, 400), ("COMPLETE", 0.9, 400)])
    # Equal accuracy: the champion trains fewer parameters; equal in both: the earlier trial.
    assert champion_and_knee(table) == (1, 1)
    # No completed trial: nothing to pick.
    assert champion_and_knee(_table([("FAIL", None, None)])) is None
    assert champion_and_knee(pd.DataFrame()) is None


def _store(tmp_path: Path) -> TrackingSpec:
    return TrackingSpec(True, f"sqlite:///{tmp_path}/mlflow.db", str(tmp_path / "art"), "s")


def _trial_model(folder: Path, units: int, seed: int) -> Path:
    """A tiny fine-tuned model kept as a trial keeps it: model.keras and its input example."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4, 4, 1))
    dense = keras.layers.Dense(units)
    outputs = keras.layers.Dense(3, activation="softmax")(dense(keras.layers.Flatten()(inputs)))
    model = keras.Model(inputs, outputs)
    dense.enable_lora(2)  # merged into the kernel when saved
    folder.mkdir(parents=True)
    path = save_merged(model, folder / MODEL_FILE)
    images = np.random.default_rng(seed).random((8, 4, 4, 1), dtype=np.float32)
    labels = np.arange(8) % 3
    save_example(Dataset(images[:4], labels[:4], images[4:], labels[4:], 3), folder / EXAMPLE_FILE)
    return path


def _add_trial(
    study: optuna.Study, spec: TrackingSpec, sweep_dir: Path, accuracy: float, params: int
) -> None:
    """A completed trial with its MLflow run and (under its folder) its kept model."""
    client = MlflowClient(spec.uri)
    experiment = client.get_experiment_by_name(study.study_name)
    key = (
        experiment.experiment_id
        if experiment
        else client.create_experiment(study.study_name, spec.artifact_root)
    )
    number = len(study.trials)
    run = client.create_run(key, run_name=f"trial-{number:04d}")
    client.log_metric(run.info.run_id, "val_accuracy", accuracy)
    client.set_terminated(run.info.run_id, "FINISHED")
    path = _trial_model(sweep_dir / f"trial-{number:04d}", units=params % 7 + 1, seed=number)
    study.add_trial(
        optuna.trial.create_trial(
            value=accuracy,
            user_attrs={
                "trainable_params": params,
                "mlflow_run_id": run.info.run_id,
                "model_file": str(path),
            },
        )
    )


def test_promote_logs_the_chosen_models_once_and_moves_the_aliases(tmp_path: Path) -> None:
    spec = _store(tmp_path)
    sweep_dir = tmp_path / "sweeps" / "s"
    study = optuna.create_study(study_name="s", direction="maximize")
    for accuracy, params in [(0.90, 300), (0.80, 200_000), (0.905, 5_000)]:
        _add_trial(study, spec, sweep_dir, accuracy, params)
    done = promote(study, spec, mode="pareto", sweep_dir=sweep_dir)
    # The front is trials 0 and 2 (trial 1 is dominated): their models, and nobody else's.
    assert sorted(done.logged) == [0, 2] and done.missing == {}
    # Champion: trial 2 (0.905); knee: trial 0 (0.90 is within 1 pp, with 300 params).
    assert done.aliases == {"champion": (2, "1"), "knee": (0, "2")}
    client = MlflowClient(spec.uri)
    assert client.get_model_version_by_alias("s", "knee").tags["freezesweep.trial"] == "0"
    lines = describe(done, "s", trials_frame(study))
    assert "models:/s@knee = version 2: trial 0, val_accuracy 0.9000, 300 trainable params" in lines

    # A later invocation finds a better, smaller trial: both aliases move to it, one new version.
    _add_trial(study, spec, sweep_dir, 0.93, 250)
    again = promote(study, spec, mode="pareto", sweep_dir=sweep_dir)
    assert again.aliases == {"champion": (3, "3"), "knee": (3, "3")}
    # Trial 3 now dominates the front alone: its model is the only new one; those logged
    # before stay (being dominated is final, so nothing has to be taken back).
    assert list(again.logged) == [3]
    assert promote(study, spec, mode="pareto", sweep_dir=sweep_dir).logged == again.logged
    experiment = client.get_experiment_by_name("s")
    assert experiment is not None
    assert len(client.search_logged_models([experiment.experiment_id])) == 3
    assert len(client.search_model_versions("name = 's'")) == 3


def test_a_trial_without_its_model_file_is_reported_not_registered(tmp_path: Path) -> None:
    spec = _store(tmp_path)
    sweep_dir = tmp_path / "sweeps" / "s"
    study = optuna.create_study(study_name="s", direction="maximize")
    _add_trial(study, spec, sweep_dir, 0.9, 300)
    (sweep_dir / "trial-0000" / MODEL_FILE).unlink()
    done = promote(study, spec, mode="best", sweep_dir=sweep_dir)
    # Nothing is logged or registered; the line says why.
    assert done.logged == {} and done.aliases == {}
    reason = (
        "no model was kept for it (it ran with trainer.log_model=none, or before "
        "freezesweep kept models)"
    )
    assert done.missing == {0: reason}
    assert describe(done, "s", trials_frame(study)) == [f"trial 0: model not logged: {reason}"]
    assert MlflowClient(spec.uri).search_registered_models() == []
    # A `trainer.save_model` file alone (no input example kept with it) is not one either.
    folder = sweep_dir / "trial-0000"
    save_merged(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), folder / MODEL_FILE)
    (folder / EXAMPLE_FILE).unlink()
    assert promote(study, spec, mode="best", sweep_dir=sweep_dir).missing == {0: reason}


def test_a_model_moved_with_its_sweep_folder_is_found_there(tmp_path: Path) -> None:
    spec = _store(tmp_path)
    old, new = tmp_path / "old" / "s", tmp_path / "new" / "s"
    study = optuna.create_study(study_name="s", direction="maximize")
    _add_trial(study, spec, old, 0.9, 300)
    # Another machine mounts the sweep elsewhere: the recorded path is gone, the folder is not.
    new.parent.mkdir()
    old.rename(new)
    done = promote(study, spec, sweep_dir=new)
    assert sorted(done.logged) == [0] and done.aliases["champion"] == (0, "1")
    # The example kept beside the model is the logged input example.
    example = np.load(new / "trial-0000" / EXAMPLE_FILE)
    assert example.shape == (2, 4, 4, 1)


def test_sync_logs_and_registers_what_an_outage_kept_from_the_sweeps_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from freezesweep import cli
    from tests.tracking.test_spool import dead_uri, record_offline_trial

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    spec = _store(tmp_path)
    sweep_dir = tmp_path / "sweeps" / "toy"
    # The server was down for the whole sweep: the trial's run waits in the spool, its model in
    # its folder, and its Optuna trial knows no run id.
    record_offline_trial(sweep_dir / "mlflow_spool", dead_uri(), number=0)
    path = _trial_model(sweep_dir / "trial-0000", units=3, seed=0)
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="toy", storage=storage, direction="maximize")
    attrs = {"trainable_params": 300, "model_file": str(path)}
    study.add_trial(optuna.trial.create_trial(value=0.9, user_attrs=attrs))
    (sweep_dir / "multirun.yaml").write_text(
        f"tracking: {{enabled: true, uri: '{spec.uri}', default_uri: null, "
        f"artifact_root: '{spec.artifact_root}', experiment: toy}}\n"
        "trainer: {log_model: pareto}\n"
        f"hydra: {{sweeper: {{study_name: toy, storage: '{storage}'}}}}\n"
    )
    # `sync` sends the run, then does what the sweep's end could not: the model and the aliases.
    assert cli.main(["sync", str(sweep_dir)]) == 0
    line = "models:/toy@champion = version 1: trial 0, val_accuracy 0.9000, 300 trainable params"
    assert line in capsys.readouterr().out.splitlines()
    client = MlflowClient(spec.uri)
    version = client.get_model_version_by_alias("toy", "champion")
    run = client.get_run(version.run_id)
    assert run.data.tags["freezesweep.trial"] == "0" and run.outputs.model_outputs


def test_the_sweeps_end_registers_and_a_failure_there_never_fails_the_sweep(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    from omegaconf import OmegaConf

    from freezesweep.study.hooks import on_sweep_end

    spec = _store(tmp_path)
    sweep_dir = tmp_path / "sweeps" / "s"
    study = optuna.create_study(study_name="s", direction="maximize")
    _add_trial(study, spec, sweep_dir, 0.9, 300)
    tracking = {"enabled": True, "uri": spec.uri, "default_uri": None}
    tracking.update(artifact_root=spec.artifact_root, experiment="s")
    config = OmegaConf.create(
        {
            "hydra": {"sweep": {"dir": str(sweep_dir)}},
            "tracking": tracking,
            "trainer": {"log_model": "pareto"},
        }
    )
    # A link planted under the lock's name: never followed; the step stops with a warning.
    target = tmp_path / "elsewhere"
    (sweep_dir / ".promote.lock").symlink_to(target)
    on_sweep_end(study, config)
    assert "MLflow models not logged or registered (OSError: " in caplog.text
    assert "run `freezesweep promote --study s` once that is fixed" in caplog.text
    assert not target.exists() and MlflowClient(spec.uri).search_registered_models() == []
    # Without it, the sweep's end logs the model and points the aliases, and says so.
    (sweep_dir / ".promote.lock").unlink()
    on_sweep_end(study, config)
    line = "models:/s@champion = version 1: trial 0, val_accuracy 0.9000, 300 trainable params"
    assert line in capsys.readouterr().out.splitlines()
