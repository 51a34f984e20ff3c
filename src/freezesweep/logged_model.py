"""A trial's model on its way to MLflow: a `.keras` file and an input example in the trial's
folder, then an MLflow model (Keras flavor) of the trial's own run.

Why a file first: a sweep's trial cannot know whether it will end on the accuracy/trainable-params
front or as the study's best; trials that have not run yet decide that. So each completed trial
of a sweep keeps its fine-tuned model in its folder (`model.keras`, LoRA merged: what
`trainer.save_model` writes, plus `model_input_example.npy`, a few validation rows), and the
sweep's end (`freezesweep.study.promote`) logs the models the study chose into their runs. Being
dominated is final (a later trial can only push a trial off the front, never back onto it): a
trial that a finished trial already dominates keeps nothing, and a model logged once never has to
be taken back. A single run (a study of one) and every trial of `trainer.log_model=all` log their
model at once.

The model is loaded back from its file with `keras.saving.load_model(..., safe_mode=True)` before
it is logged: what MLflow stores is what plain Keras loads, in safe mode.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import keras
import numpy as np

from freezesweep.data import Dataset, TrainingData
from freezesweep.spec import TrackingSpec

MODEL_FILE = "model.keras"
EXAMPLE_FILE = "model_input_example.npy"
# Validation rows kept as the model's input example (MLflow stores them as JSON).
EXAMPLE_ROWS = 2
# The package that provides each Keras backend, in the order looked for.
_BACKEND_PACKAGES = {
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "jax": ("jax",),
    "torch": ("torch",),
}


def input_example(data: TrainingData) -> np.ndarray:
    """The first `EXAMPLE_ROWS` validation images, as the model takes them."""
    if isinstance(data, Dataset):
        return np.ascontiguousarray(data.x_val[:EXAMPLE_ROWS])
    images, _ = next(iter(data.val))
    return np.ascontiguousarray(keras.ops.convert_to_numpy(images)[:EXAMPLE_ROWS])


def save_example(data: TrainingData, path: Path) -> Path:
    """Write the input example of a model saved beside `path` (`model_input_example.npy`)."""
    np.save(path, input_example(data), allow_pickle=False)
    return path


def requirements() -> list[str]:
    """The logged model's pip requirements: Keras and its backend's package, pinned.

    Given explicitly, MLflow skips inferring them (which loads the model in a subprocess, seconds
    per model).
    """
    pinned = [f"keras=={keras.__version__}"]
    for package in _BACKEND_PACKAGES.get(keras.backend.backend(), ()):
        try:
            pinned.append(f"{package}=={metadata.version(package)}")
            break
        except metadata.PackageNotFoundError:
            continue
    return pinned


def log_model_file(spec: TrackingSpec, run_id: str, model_file: Path) -> str:
    """Log a trial's saved model as an MLflow model of run `run_id` (once); its model id.

    Args:
        spec: tracking settings.
        run_id: the trial's run.
        model_file: the trial's `model.keras`, with `model_input_example.npy` beside it.

    Raises:
        FileNotFoundError: the model file or its example is missing.
    """
    from freezesweep import tracking

    found = tracking.logged_model_id(spec, run_id)
    if found is not None:
        return found
    model = keras.saving.load_model(model_file, safe_mode=True, compile=False)
    example = np.load(model_file.with_name(EXAMPLE_FILE), allow_pickle=False)
    prediction = keras.ops.convert_to_numpy(model(example, training=False))
    return tracking.log_keras_model(spec, run_id, model, example, prediction, requirements())


__all__ = ["EXAMPLE_FILE", "MODEL_FILE", "input_example", "log_model_file", "requirements"]
