"""What a trial trains on, and how it is fed to Keras: arrays or batched tf.data pipelines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


def fit_arguments(data: TrainingData, batch_size: int) -> dict[str, Any]:
    """Keyword arguments of `model.fit` for arrays (shuffled each epoch) or pipelines.

    Args:
        data: arrays or pipelines. No default.
        batch_size: batch size of arrays (pipelines are batched already). No default.
    """
    if isinstance(data, Pipelines):
        # The training pipeline reshuffles itself each epoch; Keras cannot shuffle a tf.data input.
        return {"x": data.train, "validation_data": data.val, "shuffle": False}
    return {
        "x": data.x_train,
        "y": data.y_train,
        "batch_size": batch_size,
        "validation_data": (data.x_val, data.y_val),
        "shuffle": True,
    }


def evaluate_arguments(data: TrainingData, batch_size: int) -> dict[str, Any]:
    """Keyword arguments of `model.evaluate` on the validation split."""
    if isinstance(data, Pipelines):
        return {"x": data.val}
    return {"x": data.x_val, "y": data.y_val, "batch_size": max(batch_size, 256)}
