"""Models through a real `mlflow server`: a trial's model logged over HTTP (artifacts proxied by
the server), registered with its aliases, and loaded from `models:/<study>@champion` in a fresh
process, as a cluster's nodes and a deployment would."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from freezesweep.logged_model import requirements
from freezesweep.spec import TrackingSpec
from freezesweep.tracking import log_keras_model, register_aliases
from tests.cluster.test_mlflow_server import serve_mlflow
from tests.helpers.processes import app_environment, run

pytestmark = pytest.mark.cluster

LOAD = """
import sys
import mlflow, numpy as np
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.keras.load_model(
    "models:/study@champion", load_model_kwargs={"safe_mode": True}
)
print(np.asarray(model.predict(np.load(sys.argv[2]), verbose=0)).tolist())
"""


def test_a_model_logged_through_a_server_loads_from_its_alias(tmp_path: Path) -> None:
    (tmp_path / "server").mkdir()
    backend = f"sqlite:///{tmp_path}/server/mlflow.db"
    with serve_mlflow(backend, tmp_path / "server" / "artifacts") as url:
        # artifact_root "": the server decides (mlflow-artifacts:/, proxied).
        spec = TrackingSpec(enabled=True, uri=url, artifact_root="", experiment="study")
        client = MlflowClient(url)
        run_id = client.create_run(client.create_experiment("study")).info.run_id
        client.set_terminated(run_id, "FINISHED")
        inputs = keras.Input((4, 4, 1))
        model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
        images = np.random.default_rng(0).random((3, 4, 4, 1), dtype=np.float32)
        output = keras.ops.convert_to_numpy(model(images))
        model_id = log_keras_model(spec, run_id, model, images[:2], output[:2], requirements())
        assert register_aliases(spec, "study", {"champion": model_id}) == {"champion": "1"}
        np.save(tmp_path / "images.npy", images)
        loaded = run(
            [sys.executable, "-c", LOAD, url, tmp_path / "images.npy"],
            env=app_environment(),
            check=True,
        )
    # The fresh process predicts what the logged model predicted.
    found = np.array(json.loads(loaded.stdout.strip().splitlines()[-1]), dtype=np.float32)
    np.testing.assert_allclose(found, output, rtol=1e-6, atol=1e-6)
