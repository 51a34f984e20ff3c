"""End to end, from a sweep to models you can ship: the real `python sweep.py -m` logs the front's
models, registers `<study>@champion` and `@knee` (re-pointed by a later invocation), and a fresh
process loading them reproduces their runs' val_accuracy; `freezesweep promote` on the finished
study; `trainer.log_model=none` logs and registers nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from mlflow.tracking import MlflowClient

from freezesweep.cli import main
from freezesweep.data.load import load_data
from freezesweep.spec.read import trial_spec
from freezesweep.study.promote import champion_and_knee
from freezesweep.study.report import trials_frame
from freezesweep.train.feature_cache import data_digest
from tests.helpers.processes import app_environment, run, run_script
from tests.helpers.shrink import compose_config

pytestmark = pytest.mark.slow

STUDY = "ship"
FAST = ["schedule.stages.0.epochs=1", "schedule.stages.1.epochs=2", "data.train_per_class=10"]
# A fresh process: what a deployment does with the registered model, and nothing else.
LOAD = """
import json, sys
import mlflow, numpy as np
mlflow.set_tracking_uri(sys.argv[1])
arrays = np.load(sys.argv[2])
found = {}
for alias in ("champion", "knee"):
    model = mlflow.keras.load_model(
        f"models:/{sys.argv[3]}@{alias}", load_model_kwargs={"safe_mode": True}
    )
    scores = model.predict(arrays["x"], batch_size=256, verbose=0)
    found[alias] = float(np.mean(np.argmax(scores, axis=-1) == arrays["y"]))
print(json.dumps(found))
"""


def _sweep(tmp_path: Path, n_trials: int, *overrides: str) -> None:
    done = run_script(
        tmp_path, "-m", *FAST, f"hydra.sweeper.study_name={STUDY}",
        f"hydra.sweeper.n_trials={n_trials}", *overrides,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr


def _study(tmp_path: Path) -> optuna.Study:
    return optuna.load_study(study_name=STUDY, storage=f"sqlite:///{tmp_path}/sweeps/optuna.db")


def _client(tmp_path: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")


def _validation(tmp_path: Path) -> Path:
    """The sweep's validation split (the same for every trial), saved for the fresh process."""
    spec = trial_spec(compose_config(tmp_path, *FAST, small=False), environment={})
    data = load_data(spec, (28, 28, 1))
    path = tmp_path / "validation.npz"
    np.savez(path, x=data.x_val, y=data.y_val)
    return path


def _aliased_trials(client: MlflowClient) -> dict[str, int]:
    return {
        alias: int(client.get_model_version_by_alias(STUDY, alias).tags["freezesweep.trial"])
        for alias in ("champion", "knee")
    }


def test_a_sweep_registers_models_that_reproduce_their_accuracy(tmp_path: Path) -> None:
    _sweep(tmp_path, 4)
    client = _client(tmp_path)
    study = _study(tmp_path)
    table = trials_frame(study)
    champion, knee = champion_and_knee(table)  # type: ignore[misc]
    # The aliases point at the study's champion and knee, each version from that trial's run.
    assert _aliased_trials(client) == {"champion": champion, "knee": knee}
    versions = {a: client.get_model_version_by_alias(STUDY, a) for a in ("champion", "knee")}
    for alias, number in (("champion", champion), ("knee", knee)):
        assert versions[alias].run_id == table.set_index("number").loc[number, "run_id"]
    # In a fresh process, the registered models score exactly what their runs logged.
    loaded = run(
        [sys.executable, "-c", LOAD, f"sqlite:///{tmp_path}/mlruns/mlflow.db",
         _validation(tmp_path), STUDY],
        env=app_environment(), check=True,
    )  # fmt: skip
    scores = json.loads(loaded.stdout.strip().splitlines()[-1])
    for alias, version in versions.items():
        logged = client.get_run(version.run_id).data.metrics["val_accuracy"]
        assert abs(scores[alias] - logged) <= 1e-6, (alias, scores[alias], logged)
    # Every trial run records the same data (the feature cache's digest) and backbone.
    experiment = client.get_experiment_by_name(STUDY)
    assert experiment is not None
    runs = [r for r in client.search_runs([experiment.experiment_id]) if r.inputs.dataset_inputs]
    digest = data_digest(load_data(trial_spec(compose_config(tmp_path, *FAST, small=False),
                                              environment={}), (28, 28, 1)))  # fmt: skip
    assert len(runs) == 4
    assert {r.inputs.dataset_inputs[0].dataset.digest for r in runs} == {digest[:32]}
    assert len({r.data.tags["freezesweep.backbone_digest"] for r in runs}) == 1
    # Only the front's trials (champion and knee among them) have a model.
    front = {int(n) for n in table[table["state"] == "COMPLETE"]["number"]}
    with_model = {int(r.data.tags["freezesweep.trial"]) for r in runs if r.outputs.model_outputs}
    assert {champion, knee} <= with_model <= front

    # A later invocation of the same study: the aliases follow the whole study's best.
    _sweep(tmp_path, 6)
    champion, knee = champion_and_knee(trials_frame(_study(tmp_path)))  # type: ignore[misc]
    assert _aliased_trials(client) == {"champion": champion, "knee": knee}
    # One version per model ever pointed at: nothing registered twice.
    sources = [v.source for v in client.search_model_versions(f"name = '{STUDY}'")]
    assert len(sources) == len(set(sources))


def test_promote_registers_a_finished_study_again_from_its_logged_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _sweep(tmp_path, 3, "trainer.log_model=best")
    client = _client(tmp_path)
    experiment = client.get_experiment_by_name(STUDY)
    assert experiment is not None
    models = client.search_logged_models([experiment.experiment_id])
    before = _aliased_trials(client)
    client.delete_registered_model(STUDY)
    monkeypatch.chdir(tmp_path)
    code = main(
        ["promote", "--study", STUDY, "--storage", "sqlite:///sweeps/optuna.db",
         "--tracking-uri", "sqlite:///mlruns/mlflow.db"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr()
    # The same champion and knee, from the models the sweep logged (none logged again).
    assert _aliased_trials(client) == before
    assert len(client.search_logged_models([experiment.experiment_id])) == len(models)
    out = capsys.readouterr().out
    assert f"models:/{STUDY}@champion = version 1: trial {before['champion']}, " in out


def test_log_model_none_logs_and_registers_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _sweep(tmp_path, 2, "trainer.log_model=none")
    client = _client(tmp_path)
    experiment = client.get_experiment_by_name(STUDY)
    assert experiment is not None
    # No logged model, no registered model, no model file in any trial's folder.
    assert client.search_logged_models([experiment.experiment_id]) == []
    assert client.search_registered_models() == []
    assert not list((tmp_path / "sweeps" / STUDY).rglob("model*"))
    # `promote` says, per trial, why there is nothing to register.
    monkeypatch.chdir(tmp_path)
    code = main(
        ["promote", "--study", STUDY, "--storage", "sqlite:///sweeps/optuna.db",
         "--tracking-uri", "sqlite:///mlruns/mlflow.db"]
    )  # fmt: skip
    assert code == 1
    champion, _ = champion_and_knee(trials_frame(_study(tmp_path)))  # type: ignore[misc]
    assert (
        f"trial {champion}: model not logged: no model was kept for it (it ran with "
        "trainer.log_model=none, or before freezesweep kept models)"
    ) in capsys.readouterr().out.splitlines()
