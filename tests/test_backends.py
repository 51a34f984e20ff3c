"""One small real sweep under whichever Keras backend runs the tests (`.ci/run` runs JAX and torch).

The rest of the backend subset is the tests marked `backend_portable`: freezing, the audit,
training, single trials, keras_app backbones and image folders.
"""

from __future__ import annotations

from pathlib import Path

import keras
import pytest
from optuna.trial import TrialState

from tests.sweeps.test_real import load_study, ok, run_sweep, tracked

pytestmark = [
    pytest.mark.backend_portable,
    pytest.mark.skipif(
        keras.backend.backend() == "tensorflow",
        reason="on TensorFlow, the real sweeps of tests/sweeps/test_real.py (slow tier) cover it",
    ),
]


def test_a_small_sweep_completes_and_logs_its_backend(tmp_path: Path) -> None:
    ok(
        run_sweep(
            tmp_path,
            "hydra.sweeper.study_name=backends",
            "hydra.sweeper.n_trials=2",
            "hydra.sweeper.pruner=null",
        )
    )
    study = load_study(tmp_path, "backends")
    # The two enqueued baselines (head only, all blocks) complete in the child processes...
    assert [trial.state for trial in study.trials] == [TrialState.COMPLETE] * 2
    assert sorted(trial.params["finetune.top_k"] for trial in study.trials) == [0, 4]
    # ...on the backend under test, as each trial's MLflow run records.
    runs = tracked(tmp_path, "backends").children
    assert {run.data.tags["freezesweep.backend"] for run in runs.values()} == {
        keras.backend.backend()
    }
