"""What a trial trains on, and how it is fed to Keras: arrays or batched tf.data pipelines."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
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
    # Unaugmented images only: builds the same images unaugmented and uncached, the training rows
    # in one fixed order, so the feature cache can read them (`None`: augmented, random per epoch).
    frozen: Callable[[], tuple[Any, Any]] | None = None


TrainingData = Dataset | Pipelines


# Validation and evaluation take no gradient, so a larger batch only cuts per-step overhead; the
# numbers are the same (accuracy counts, loss averaged per sample).
EVALUATION_BATCH = 256


def fit_arguments(data: TrainingData, batch_size: int) -> dict[str, Any]:
    """Keyword arguments of `model.fit` for arrays (shuffled each epoch) or pipelines.

    On TensorFlow, arrays go in as `tf.data` pipelines built here: Keras's own array adapter
    builds a heavier pipeline and instantiates it again every epoch. The training pipeline
    follows `epoch_orders`, as `fused_fit` does, so a stage trains on the same batches in the
    same order whether it runs in full or on cached features. Other backends iterate the arrays
    directly and cheaply (Keras shuffles them).

    Args:
        data: arrays or pipelines.
        batch_size: batch size of arrays (pipelines are batched already).
    """
    if isinstance(data, Pipelines):
        # The training pipeline reshuffles itself each epoch; Keras cannot shuffle a tf.data input.
        return {"x": data.train, "validation_data": data.val, "shuffle": False}
    if keras.backend.backend() == "tensorflow":
        return {
            "x": _training_pipeline(data.x_train, data.y_train, batch_size),
            "steps_per_epoch": math.ceil(len(data.x_train) / batch_size),
            "validation_data": validation_pipeline(
                data.x_val, data.y_val, evaluation_batch(batch_size)
            ),
            "shuffle": False,
        }
    return {
        "x": data.x_train,
        "y": data.y_train,
        "batch_size": batch_size,
        "validation_data": (data.x_val, data.y_val),
        "validation_batch_size": evaluation_batch(batch_size),
        "shuffle": True,
    }


def evaluate_arguments(data: TrainingData, batch_size: int) -> dict[str, Any]:
    """Keyword arguments of `model.evaluate` on the validation split."""
    if isinstance(data, Pipelines):
        return {"x": data.val}
    if keras.backend.backend() == "tensorflow" and isinstance(data.x_val, np.memmap):
        return {"x": validation_pipeline(data.x_val, data.y_val, evaluation_batch(batch_size))}
    return {"x": data.x_val, "y": data.y_val, "batch_size": evaluation_batch(batch_size)}


def evaluation_batch(batch_size: int) -> int:
    """The batch of validation and evaluation: never smaller than the training batch, which is
    known to fit in memory."""
    return max(batch_size, EVALUATION_BATCH)


def epoch_orders(count: int) -> Any:
    """An endless `tf.data` stream of orders of `count` training rows, one per epoch.

    Each order is a stateless shuffle keyed by a seed drawn here from numpy's global generator
    (which the schedule reseeds at each stage's start) and by the epoch's index in the stream.
    So an epoch's order depends on the stage's seed and the epoch alone, not on how often Keras
    re-iterates a dataset, and a stage fed by order (`fit_arguments`'s pipeline, `fused_fit`)
    sees the same batches whichever way it runs.

    Args:
        count: the number of training rows.
    """
    import tensorflow as tf

    seed = int(np.random.randint(2**31 - 1))
    rows = tf.range(count, dtype=tf.int64)
    return tf.data.Dataset.counter().map(
        lambda epoch: tf.random.experimental.stateless_shuffle(rows, seed=tf.stack([seed, epoch]))
    )


def _parallel(x: np.ndarray) -> dict[str, Any]:
    """Reads from disk overlap in several threads, in order; gathers in memory need none."""
    import tensorflow as tf

    if isinstance(x, np.memmap):
        return {"num_parallel_calls": tf.data.AUTOTUNE, "deterministic": True}
    return {}


def _row_reader(x: np.ndarray, y: np.ndarray) -> Any:
    import tensorflow as tf

    labels = tf.convert_to_tensor(y)
    if isinstance(x, np.memmap):
        return lambda index: (_mapped_rows(x, index), tf.gather(labels, index))
    features = tf.convert_to_tensor(x)
    return lambda index: (tf.gather(features, index), tf.gather(labels, index))


def _training_pipeline(x: np.ndarray, y: np.ndarray, batch_size: int) -> Any:
    """Batches of each epoch's order, epoch after epoch; `fit` reads `steps_per_epoch` of them
    per epoch from one iterator, so the last batch of an epoch may be short, never mixed."""
    import tensorflow as tf

    read = _row_reader(x, y)
    batches = epoch_orders(len(x)).flat_map(
        lambda order: tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
    )
    return batches.map(read, **_parallel(x)).prefetch(2)


def validation_pipeline(x: np.ndarray, y: np.ndarray, batch_size: int) -> Any:
    """The rows in their order, in batches of `batch_size` (memory-mapped ones read as float32)."""
    import tensorflow as tf

    if not isinstance(x, np.memmap):
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size).prefetch(2)
    count = len(x)
    index = tf.data.Dataset.range(0, count, batch_size).map(
        lambda start: tf.range(start, tf.minimum(start + batch_size, count))
    )
    return index.map(_row_reader(x, y), **_parallel(x)).prefetch(2)


def read_rows(x: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The rows at `positions`, in that order, as float32; read in file order (a memory map
    then reads each page once, front to back)."""
    order = np.argsort(positions, kind="stable")
    rows = np.empty((len(positions), *x.shape[1:]), dtype=np.float32)
    rows[order] = x[positions[order]]
    return rows


def _mapped_rows(x: np.memmap, index: Any) -> Any:
    """The rows `index` of a memory-mapped array as a float32 tensor."""
    import tensorflow as tf

    rows = tf.numpy_function(partial(read_rows, x), [index], tf.float32, stateful=False)
    rows.set_shape((None, *x.shape[1:]))
    return rows
