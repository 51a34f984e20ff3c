"""A cached stage's fit on TensorFlow: each epoch is one compiled call.

Above a feature-cache cut a training step is a few small ops, so `model.fit`'s own machinery
dominates an epoch: the `tf.data` iterator and the optional-value loop around every step, the
separate `evaluate` call for validation, and the Python between them (on 2 cores, a cached
head-only epoch spent about half its time there). Cached features are arrays in memory, so the
whole epoch fits in one `tf.function`: batches gathered by a shuffled order, Keras's own
`train_step` for each, then Keras's own `test_step` over the validation split. The callbacks
(tracking, pruning, early stopping, a progress line) see the same epoch-level events and logs as
from `fit`; batch-level hooks run once per epoch, as `fit` runs them with `steps_per_execution`
equal to the steps of an epoch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import keras
import numpy as np

from freezesweep.data.feed import (
    Dataset,
    epoch_orders,
    evaluation_batch,
    read_rows,
)

# What a disk-backed epoch reads at once (float32 bytes): a round trip per batch would cost more
# than the step above a cut; two such blocks are in memory at a time.
READ_BYTES = 32 * 2**20


def fused_fit(
    model: keras.Model,
    data: Dataset,
    batch_size: int,
    *,
    epochs: int,
    initial_epoch: int = 0,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int = 0,
) -> keras.callbacks.History:
    """`model.fit` on in-memory arrays, one compiled call per epoch (TensorFlow only).

    Each epoch's batches follow `epoch_orders`, as `fit_arguments`'s pipeline of the same arrays
    does; validation batches are `evaluation_batch(batch_size)` long, as in `evaluate`.

    Args:
        model: a compiled model.
        data: train and validation arrays.
        batch_size: training batch size.
        epochs: the epoch to stop before (as `fit`'s `epochs`).
        initial_epoch: the first epoch's index. Defaults to `0`.
        callbacks: Keras callbacks. Defaults to `()`.
        verbose: `0` silent, `1` a progress bar, `2` one line per epoch. Defaults to `0`.

    Returns:
        The `History` of the epochs run.
    """
    orders = iter(epoch_orders(len(data.x_train)))
    steps = math.ceil(len(data.x_train) / batch_size)
    run_epoch = _epoch_runner(model, data, batch_size)
    callback_list = keras.callbacks.CallbackList(
        list(callbacks),
        add_history=True,
        add_progbar=verbose != 0,
        model=model,
        verbose=verbose,
        epochs=epochs,
        steps=steps,
    )
    model.stop_training = False
    callback_list.on_train_begin()
    logs: dict[str, float] = {}
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        callback_list.on_train_batch_begin(0)
        train, val = run_epoch(next(orders))
        logs = _floats(train)
        callback_list.on_train_batch_end(steps - 1, logs)
        logs = {**logs, **{f"val_{name}": value for name, value in _floats(val).items()}}
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end(logs)
    history: keras.callbacks.History = model.history
    return history


def _epoch_runner(model: keras.Model, data: Dataset, batch_size: int) -> Any:
    """The state built, a function from an epoch's order to its train and validation results."""
    import tensorflow as tf

    _build_state(model, data)
    if isinstance(data.x_train, np.memmap):
        return _streamed_epoch_function(model, data, batch_size)
    x, y = tf.convert_to_tensor(data.x_train), tf.convert_to_tensor(data.y_train)
    x_val, y_val = tf.convert_to_tensor(data.x_val), tf.convert_to_tensor(data.y_val)
    return _epoch_function(model, x, y, x_val, y_val, batch_size, evaluation_batch(batch_size))


def _build_state(model: keras.Model, data: Dataset) -> None:
    """Create the optimizer's and the compiled metrics' variables outside the compiled call.

    `tf.function` may create variables only on its first trace; building them here, eagerly and
    on one validation row (no weight changes), keeps the epoch function free of creation.
    """
    model.optimizer.build(model.trainable_variables)
    model.test_step((np.asarray(data.x_val[:1], dtype=np.float32), data.y_val[:1]))
    model.reset_metrics()


def _epoch_function(
    model: keras.Model,
    x: Any,
    y: Any,
    x_val: Any,
    y_val: Any,
    batch_size: int,
    val_batch: int,
) -> Any:
    import tensorflow as tf

    val_count = int(x_val.shape[0])

    def run_epoch(order: Any) -> Any:
        for start in tf.range(0, tf.size(order), batch_size):
            index = order[start : start + batch_size]
            model.train_step((tf.gather(x, index), tf.gather(y, index)))
        train = model.get_metrics_result()
        model.reset_metrics()
        for start in tf.range(0, val_count, val_batch):
            model.test_step((x_val[start : start + val_batch], y_val[start : start + val_batch]))
        return train, model.get_metrics_result()

    return tf.function(run_epoch, reduce_retracing=True)


def _streamed_epoch_function(model: keras.Model, data: Dataset, batch_size: int) -> Any:
    """As `_epoch_function`, on features read from disk: the epoch's order read in blocks of
    whole batches (the next block read while this one trains), each block one compiled call."""
    import tensorflow as tf

    val_batch = evaluation_batch(batch_size)
    row_bytes = 4 * int(np.prod(data.x_train.shape[1:]))
    train_rows, val_rows = _block(batch_size, row_bytes), _block(val_batch, row_bytes)
    val_order = np.arange(len(data.x_val))

    def steps(step: Any, size: int, x: Any, y: Any) -> None:
        for start in tf.range(0, tf.shape(x)[0], size):
            step((x[start : start + size], y[start : start + size]))

    train_block = tf.function(partial(steps, model.train_step, batch_size), reduce_retracing=True)
    val_block = tf.function(partial(steps, model.test_step, val_batch), reduce_retracing=True)

    def run_epoch(order: Any) -> Any:
        for x, y in _blocks(data.x_train, data.y_train, np.asarray(order), train_rows):
            train_block(x, y)
        train = model.get_metrics_result()
        model.reset_metrics()
        for x, y in _blocks(data.x_val, data.y_val, val_order, val_rows):
            val_block(x, y)
        return train, model.get_metrics_result()

    return run_epoch


def _blocks(
    x: np.ndarray, y: np.ndarray, order: np.ndarray, rows: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The rows of `order`, `rows` at a time, each block read while the one before trains."""
    with ThreadPoolExecutor(max_workers=1) as reader:
        pending = reader.submit(read_rows, x, order[:rows])
        for start in range(0, len(order), rows):
            block = pending.result()
            if start + rows < len(order):
                pending = reader.submit(read_rows, x, order[start + rows : start + 2 * rows])
            yield block, y[order[start : start + rows]]


def _block(batch_size: int, row_bytes: int) -> int:
    """Rows read from disk at once: whole batches, about `READ_BYTES` in float32."""
    return batch_size * max(1, READ_BYTES // (batch_size * row_bytes))


def _floats(results: dict[str, Any]) -> dict[str, float]:
    return {name: float(np.asarray(value)) for name, value in results.items()}
