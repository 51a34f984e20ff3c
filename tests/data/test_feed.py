"""How arrays reach `fit`: every row once an epoch, reshuffled, reproducible after a reseed."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from freezesweep.data import Dataset, evaluate_arguments, fit_arguments
from freezesweep.data.feed import EVALUATION_BATCH, epoch_orders, read_rows

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="the tf.data feed is TensorFlow's"
)


def _data(train: int = 70, val: int = 600) -> Dataset:
    x_train = np.arange(train, dtype="float32").reshape(train, 1)
    x_val = np.arange(val, dtype="float32").reshape(val, 1)
    return Dataset(x_train, np.arange(train) % 3, x_val, np.arange(val) % 3, 3)


def _epoch(pipeline: object) -> list[list[float]]:
    return [batch[0].numpy().ravel().tolist() for batch in pipeline]  # type: ignore[attr-defined]


def _epochs(arguments: dict[str, object], count: int) -> list[list[list[float]]]:
    """`count` epochs of the training pipeline, read as `fit` reads it: `steps_per_epoch`
    batches an epoch from one iterator."""
    steps = int(arguments["steps_per_epoch"])  # type: ignore[call-overload]
    batches = iter(arguments["x"])  # type: ignore[call-overload]
    return [[next(batches)[0].numpy().ravel().tolist() for _ in range(steps)] for _ in range(count)]


def _rows(batches: list[list[float]]) -> list[float]:
    return [row for batch in batches for row in batch]


def test_training_rows_come_once_an_epoch_in_a_new_order_each_epoch() -> None:
    keras.utils.set_random_seed(3)
    arguments = fit_arguments(_data(), batch_size=32)
    assert arguments["shuffle"] is False  # the pipeline shuffles; Keras cannot shuffle tf.data
    assert arguments["steps_per_epoch"] == 3
    first, second = _epochs(arguments, 2)
    assert [len(batch) for batch in first] == [len(batch) for batch in second] == [32, 32, 6]
    assert sorted(_rows(first)) == sorted(_rows(second)) == list(range(70))
    assert _rows(first) != _rows(second)


def test_an_epoch_order_depends_on_the_seed_and_the_epoch_only() -> None:
    keras.utils.set_random_seed(3)
    expected = _epochs(fit_arguments(_data(), batch_size=32), 2)
    keras.utils.set_random_seed(3)
    fit_arguments(_data(), batch_size=8)  # another fit's pipeline, built first
    keras.utils.set_random_seed(3)
    arguments = fit_arguments(_data(), batch_size=32)
    # A fresh iterator (as Keras makes after peeking at a batch) starts again at epoch 0.
    iter(arguments["x"]).get_next()  # type: ignore[call-overload]
    assert _epochs(arguments, 2) == expected
    # The orders themselves, as a cached stage's fused epochs draw them.
    keras.utils.set_random_seed(3)
    orders = iter(epoch_orders(70))
    assert [_rows(epoch) for epoch in expected] == [next(orders).numpy().tolist() for _ in range(2)]


def test_validation_runs_in_order_in_large_batches() -> None:
    arguments = fit_arguments(_data(), batch_size=32)
    batches = _epoch(arguments["validation_data"])
    assert [len(batch) for batch in batches] == [EVALUATION_BATCH, EVALUATION_BATCH, 88]
    assert _rows(batches) == list(range(600))
    assert evaluate_arguments(_data(), batch_size=32)["batch_size"] == EVALUATION_BATCH


def _mapped(data: Dataset, folder: Path) -> Dataset:
    """The same rows as float16 `.npy` files opened memory-mapped (features on disk)."""
    arrays = []
    for name, array in (("train", data.x_train), ("val", data.x_val)):
        np.save(folder / f"{name}.npy", array.astype("float16"))
        arrays.append(np.load(folder / f"{name}.npy", mmap_mode="r"))
    return Dataset(arrays[0], data.y_train, arrays[1], data.y_val, data.num_classes)


def test_memory_mapped_rows_come_in_the_same_batches_as_arrays(tmp_path: Path) -> None:
    mapped = _mapped(_data(), tmp_path)
    keras.utils.set_random_seed(3)
    expected = _epochs(fit_arguments(_data(), batch_size=32), 2)
    keras.utils.set_random_seed(3)
    # Read from disk batch by batch, as float32: the same rows, batches and order.
    assert _epochs(fit_arguments(mapped, batch_size=32), 2) == expected
    # Rows read in file order come back in the order asked for, as float32.
    rows = read_rows(mapped.x_train, np.array([5, 0, 69, 5]))
    assert rows.dtype == np.float32 and rows.ravel().tolist() == [5.0, 0.0, 69.0, 5.0]
    # Validation in order, in the evaluation batch, from the memory map too.
    assert _epoch(evaluate_arguments(mapped, batch_size=32)["x"]) == _epoch(
        fit_arguments(_data(), batch_size=32)["validation_data"]
    )
