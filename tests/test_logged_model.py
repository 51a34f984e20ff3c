"""A trial's model and lineage in MLflow: the model logged with the Keras flavor (a single run
logs its own at once), its data as a dataset input with the feature cache's digest, its
backbone's digest. A whole sweep, and `trainer.log_model=none`: `tests/sweeps/test_models.py`."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from freezesweep.data.load import load_data
from freezesweep.errors import ConfigError
from freezesweep.spec.read import trial_spec
from freezesweep.train.feature_cache import data_digest
from freezesweep.trial import run_trial
from tests.helpers.shrink import compose_config


def _single_run(tmp_path: Path, *overrides: str) -> mlflow.entities.Run:
    cfg = compose_config(tmp_path, *overrides)
    run_trial(cfg, output_dir=tmp_path / "job")
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("freezesweep")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    return run


def test_a_single_run_logs_its_model_and_its_lineage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run = _single_run(tmp_path, "finetune.method=lora", "finetune.lora_rank=2")
    # A run outside a sweep is its own front: its model is logged at once, into its run.
    [output] = run.outputs.model_outputs
    assert run.data.tags["freezesweep.model_id"] == output.model_id
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    loaded = mlflow.keras.load_model(
        f"models:/{output.model_id}", load_model_kwargs={"safe_mode": True}
    )
    # LoRA merged: a plain model, the one kept beside the audit (same weights, no adapters).
    kept = keras.saving.load_model(tmp_path / "job" / "model.keras", safe_mode=True)
    assert not any(getattr(layer, "lora_enabled", False) for layer in loaded._flatten_layers())
    for ours, theirs in zip(loaded.weights, kept.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(ours), theirs.numpy())
    # The data: one dataset input whose digest is the feature cache's data digest.
    spec = trial_spec(compose_config(tmp_path, "finetune.method=lora"), environment={})
    data = load_data(spec, (28, 28, 1))
    [dataset_input] = run.inputs.dataset_inputs
    dataset = dataset_input.dataset
    assert dataset.name == "digits" and dataset.digest == data_digest(data)[:32]
    assert json.loads(dataset.source)["tags"]["sha256"] == data_digest(data)
    assert json.loads(dataset.profile) == {
        "classes": 5,
        "train_rows": len(data.x_train),
        "val_rows": len(data.x_val),
        "image_shape": [28, 28, 1],
    }
    # LoRA merged, the logged model scores on the validation data exactly what the run logged.
    scores = loaded.predict(data.x_val, batch_size=256, verbose=0)
    accuracy = float(np.mean(np.argmax(scores, axis=-1) == data.y_val))
    assert abs(accuracy - run.data.metrics["val_accuracy"]) <= 1e-6
    # The backbone's digest: 64 hex digits, the same in every run of this backbone.
    assert len(run.data.tags["freezesweep.backbone_digest"]) == 64


def test_an_unknown_log_model_value_is_one_line_naming_the_key(tmp_path: Path) -> None:
    # Read from the config alone, before anything is built, trained or tracked.
    with pytest.raises(ConfigError) as raised:
        trial_spec(compose_config(tmp_path, "trainer.log_model=champion"), environment={})
    assert str(raised.value) == (
        "trainer.log_model must be one of pareto, best, all, none; got 'champion'."
    )
    # The default is the front.
    assert trial_spec(compose_config(tmp_path), environment={}).trainer.log_model == "pareto"
