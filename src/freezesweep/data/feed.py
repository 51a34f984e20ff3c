"""What a trial trains on, and how it is fed to Keras: arrays or batched tf.data pipelines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np


@dataclass(frozen=True)
class Dataset:
    """Train and validation arrays with integer labels in `[0, num_classes)`."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    num_classes: int


@dataclass(frozen=True)
class Pipelines:
    """Batched `tf.data` pipelines of `(images, labels)`, as image folders are streamed."""

    train: Any
    val: Any
    num_classes: int
    class_names: tuple[str, ...]


TrainingData = Dataset | Pipelines


# Validation and evaluation take no gradient, so a larger batch only cuts per-step overhead; the
# numbers are the same (accuracy counts, loss averaged per sample).
EVALUATION_BATCH = 256


def fit_arguments(data: TrainingData, batch_size: int) -> dict[str, Any]:
    """Keyword arguments of `model.fit` for arrays (shuffled each epoch) or pipelines.

    On TensorFlow, arrays go in as `tf.data` pipelines built here: Keras's own array adapter
    builds a heavier pipeline and instantiates it again every epoch (~50 ms an epoch on 2 cores,
    most of an epoch of a small head on cached features). Other backends iterate the arrays
    directly and cheaply.

    Args:
        data: arrays or pipelines. No default.
        batch_size: batch size of arrays (pipelines are batched already). No default.
    """
    if isinstance(data, Pipelines):
        # The training pipeline reshuffles itself each epoch; Keras cannot shuffle a tf.data input.
        return {"x": data.train, "validation_data": data.val, "shuffle": False}
    if keras.backend.backend() == "tensorflow":
        return {
            "x": _pipeline(data.x_train, data.y_train, batch_size, shuffle=True),
            "validation_data": _pipeline(data.x_val, data.y_val, _evaluation_batch(batch_size)),
            "shuffle": False,
        }
    return {
        "x": data.x_train,
        "y": data.y_train,
        "batch_size": batch_size,
        "validation_data": (data.x_val, data.y_val),
        "validation_batch_size": _evaluation_batch(batch_size),
        "shuffle": True,
    }


def evaluate_arguments(data: TrainingData, batch_size: int) -> dict[str, Any]:
    """Keyword arguments of `model.evaluate` on the validation split."""
    if isinstance(data, Pipelines):
        return {"x": data.val}
    return {"x": data.x_val, "y": data.y_val, "batch_size": _evaluation_batch(batch_size)}


def _evaluation_batch(batch_size: int) -> int:
    # Never smaller than the training batch, which is known to fit in memory.
    return max(batch_size, EVALUATION_BATCH)


def _pipeline(x: np.ndarray, y: np.ndarray, batch_size: int, *, shuffle: bool = False) -> Any:
    import tensorflow as tf

    pipeline = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        # Seeded from TensorFlow's global seed, which the schedule resets at each stage's start,
        # so a stage shuffles the same way whatever ran before it in the process.
        pipeline = pipeline.shuffle(len(x), reshuffle_each_iteration=True)
    return pipeline.batch(batch_size).prefetch(2)
