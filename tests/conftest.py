"""Shared test setup: Keras, Matplotlib and MLflow kept quiet and out of the home directory."""

from __future__ import annotations

import os
import tempfile

# Set before Keras or TensorFlow is imported anywhere in the session.
_SESSION_DIR = tempfile.mkdtemp(prefix="freezesweep-tests-")
os.environ.setdefault("KERAS_HOME", os.path.join(_SESSION_DIR, "keras"))
os.environ.setdefault("MPLCONFIGDIR", os.path.join(_SESSION_DIR, "matplotlib"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_keras_session() -> None:
    """Every test starts from a clean Keras global state (layer names, graphs)."""
    # Without Python's garbage collection, which costs a quarter second per test once TF is loaded.
    keras.backend.clear_session(free_memory=False)
