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

from freezesweep.console import _stderr_without_cpp_logs  # noqa: E402

# TensorFlow's start-up notices (oneDNN, absl) bypass TF_CPP_MIN_LOG_LEVEL; each xdist worker would
# print them once on the terminal.
if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
    with _stderr_without_cpp_logs():
        import tensorflow  # noqa: F401

import keras  # noqa: E402
import pytest  # noqa: E402

# The most workers `-n auto` starts: each worker imports its own TensorFlow and builds its own
# models, and TensorFlow already uses a few threads per test, so more workers stop paying.
MAX_AUTO_WORKERS = 4


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (the default in pyproject's addopts): one worker per core, at most four.

    One core gives 0, which runs the tests in this process without a worker to start.
    """
    del config
    override = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS")
    if override:
        return int(override)
    # The cores this process may use (a container or `taskset` may allow fewer than the machine).
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = min(cores or 1, MAX_AUTO_WORKERS)
    return 0 if cores == 1 else cores


@pytest.fixture(autouse=True)
def _fresh_keras_session() -> None:
    """Every test starts from a clean Keras global state (layer names, graphs)."""
    # Without Python's garbage collection, which costs a quarter second per test once TF is loaded.
    keras.backend.clear_session(free_memory=False)
    # Each test starts with an empty in-process feature/prefix cache (trials of one test share it).
    from freezesweep.train.store import clear_shared_stores

    clear_shared_stores()
