"""The MLflow side of watching a sweep: experiments open on their runs, and the study's parent
run charts the sweep (study-level metrics per finished trial) and says where everything is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from freezesweep import cli, tracking
from freezesweep.errors import ConfigError
from freezesweep.spec import TrackingSpec
from freezesweep.study.hooks import on_sweep_start, on_trial_end, study_metrics
from freezesweep.tracking._study_progress import DESCRIPTION_TAG, set_description


def _spec(tmp_path: Path) -> TrackingSpec:
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    return TrackingSpec(enabled=True, uri=uri, artifact_root=str(tmp_path / "art"), experiment="x")


def test_experiments_carry_the_kind_that_opens_the_ui_on_runs(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    client = tracking.client_for(spec)
    made = tracking.experiment_id(client, spec, "study-a")
    # A new experiment is created with the tag; the MLflow UI then lands on its training runs.
    assert client.get_experiment(made).tags["mlflow.experimentKind"] == "custom_model_development"
    older = client.create_experiment("study-b")  # as made before the tag existed
    assert tracking.experiment_id(client, spec, "study-b") == older
    # An existing experiment without the tag gets it when the project next uses it.
    assert client.get_experiment(older).tags["mlflow.experimentKind"] == "custom_model_development"


def _study() -> optuna.Study:
    study = optuna.create_study(direction="maximize", study_name="s")
    for state, value in [
        (optuna.trial.TrialState.COMPLETE, 0.5),
        (optuna.trial.TrialState.PRUNED, None),
        (optuna.trial.TrialState.COMPLETE, 0.75),
        (optuna.trial.TrialState.FAIL, None),
    ]:
        trial = study.ask()
        study.tell(trial, value, state=state)
    return study


def test_study_metrics_count_states_and_keep_the_best_accuracy() -> None:
    # One number per state, and the best val_accuracy among COMPLETE trials only.
    assert study_metrics(_study()) == {
        "n_complete": 2.0,
        "n_pruned": 1.0,
        "n_failed": 1.0,
        "best_val_accuracy": 0.75,
    }
    # In a Pareto sweep the accuracy is found by its objective name.
    pareto = optuna.create_study(directions=["maximize", "minimize"])
    pareto.add_trial(optuna.trial.create_trial(values=[0.6, 10.0]))
    pareto.add_trial(optuna.trial.create_trial(values=[0.9, 99.0]))
    best = study_metrics(pareto, ["val_accuracy", "trainable_params"])["best_val_accuracy"]
    assert best == 0.9
    # No accuracy objective: no best_val_accuracy metric rather than a wrong one.
    assert "best_val_accuracy" not in study_metrics(pareto, ["loss", "trainable_params"])


def test_on_trial_end_charts_the_study_on_its_parent_run(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    config = OmegaConf.create(
        {
            "tracking": {
                "enabled": True,
                "uri": spec.uri,
                "artifact_root": spec.artifact_root,
                "experiment": "x",
            }
        }
    )
    study = _study()
    parent = tracking.open_study_run(spec, "s")
    for trial in study.trials:
        on_trial_end(study=study, trial=trial, config=config)
    client = tracking.client_for(spec)
    history = client.get_metric_history(parent, "n_failed")
    # One point per finished trial, step = trial number.
    assert [point.step for point in history] == [0, 1, 2, 3]
    assert client.get_run(parent).data.metrics["best_val_accuracy"] == 0.75
    note = client.get_run(parent).data.tags["mlflow.note.content"]
    # The description links the report and says how to list the trial runs without unfolding.
    assert f"runs/{parent}/artifacts/trials.csv" in note
    assert "tags.`freezesweep.study` = 's'" in note
    assert '"Group by" `freezesweep.state` lists them all' in note


def test_a_worker_that_loses_the_description_race_updates_the_row_the_other_wrote(
    tmp_path: Path,
) -> None:
    class LosesTheRace(MlflowClient):
        """The other worker inserts the tag between this one's read and its insert (as seen on
        PostgreSQL: a unique-key violation), once."""

        raced = False

        def set_tag(self, run_id: str, key: str, value: object, **kwargs: object) -> None:  # type: ignore[override]
            if not self.raced:
                self.raced = True
                super().set_tag(run_id, key, "the other worker's text")
                raise MlflowException("duplicate key value violates unique constraint tag_pk")
            super().set_tag(run_id, key, value)

    client = LosesTheRace(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.create_experiment("toy")
    run_id = client.create_run(experiment).info.run_id
    set_description(client, experiment, run_id, "toy")
    assert client.raced
    assert client.get_run(run_id).data.tags[DESCRIPTION_TAG].startswith("Optuna study `toy`")

    class StoreDown(MlflowClient):
        def set_tag(self, run_id: str, key: str, value: object, **kwargs: object) -> None:  # type: ignore[override]
            raise MlflowException("connection refused")

    down = StoreDown(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    other = down.create_run(experiment).info.run_id
    with pytest.raises(MlflowException, match="connection refused"):
        set_description(down, experiment, other, "toy")


def _sweep_config(spec: TrackingSpec, sweep_dir: Path) -> Any:
    tracking_keys = {"enabled": True, "uri": spec.uri, "artifact_root": spec.artifact_root}
    return OmegaConf.create(
        {"tracking": {**tracking_keys, "experiment": "x"}, "hydra": {"sweep": {"dir": sweep_dir}}}
    )


def _charted(spec: TrackingSpec, down_for: set[int], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The trials of `_study()` told one by one through the hooks, the server down after those in
    `down_for`; then the spool replayed. The parent run's metric histories: key -> points."""
    sweep_dir = Path(spec.artifact_root).parent / "multirun"
    config = _sweep_config(spec, sweep_dir)
    done = _study()
    study = optuna.create_study(direction="maximize", study_name="s")
    on_sweep_start(study=study, config=config)
    answers = tracking.check_reachable
    for told in done.trials:  # told one by one, as a sweep tells them
        study.add_trial(told)
        trial = study.trials[-1]

        def reachable(spec: TrackingSpec, number: int = trial.number) -> None:
            if number in down_for:
                raise ConfigError("tracking.uri: no MLflow tracking server answers at x")
            answers(spec)

        monkeypatch.setattr(tracking, "check_reachable", reachable)
        on_trial_end(study=study, trial=trial, config=config)
    monkeypatch.setattr(tracking, "check_reachable", answers)
    assert cli.main(["sync", str(sweep_dir), "--tracking-uri", spec.uri]) == 0
    client = tracking.client_for(spec)
    parent = tracking.study_run_id(client, tracking.experiment_id(client, spec, "s"), "s")
    keys = ["best_val_accuracy", "n_complete", "n_pruned", "n_failed"]
    charted = {
        key: sorted((p.step, p.value) for p in client.get_metric_history(parent, key))
        for key in keys
    }
    return charted, client.get_run(parent).info.status


def test_study_metrics_of_trials_told_while_the_server_was_down_reach_the_parent_by_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uninterrupted, _ = _charted(_spec(tmp_path / "a"), set(), monkeypatch)
    # The server is down after trials 1 and 2: their study metrics are spooled, then synced.
    spec = _spec(tmp_path / "b")
    replayed, status = _charted(spec, {1, 2}, monkeypatch)
    # The parent run charts the same points an uninterrupted sweep logs, each once.
    assert replayed == uninterrupted
    assert replayed["n_complete"] == [(0, 1.0), (1, 1.0), (2, 2.0), (3, 2.0)]
    assert replayed["best_val_accuracy"] == [(0, 0.5), (1, 0.5), (2, 0.75), (3, 0.75)]
    # An entry of study metrics does not end the parent run: the sweep's end does.
    assert status == "RUNNING"
    # Sent, so gone from the spool.
    assert list((tmp_path / "b" / "multirun" / "mlflow_spool").iterdir()) == []
