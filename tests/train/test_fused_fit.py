"""A cached stage's fused epochs train exactly as `fit` would, and callbacks see the same epochs."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest

from freezesweep.data import Dataset, fit_arguments
from freezesweep.runtime import seed_everything
from freezesweep.train.fused_fit import fused_fit

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="fused epochs are TensorFlow's cached path"
)


def _data(train: int = 30, val: int = 300) -> Dataset:
    rng = np.random.default_rng(0)
    return Dataset(
        rng.normal(size=(train, 6)).astype("float32"),
        rng.integers(0, 3, train),
        rng.normal(size=(val, 6)).astype("float32"),
        rng.integers(0, 3, val),
        3,
    )


def _model() -> keras.Model:
    """A seeded head with dropout (a random layer above the cut), compiled with a fresh Adam."""
    seed_everything(1)
    inputs = keras.Input((6,))
    hidden = keras.layers.Dropout(0.3)(keras.layers.Dense(8, activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(hidden))
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    return model


class _Epochs(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, int]] = []

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.seen.append(("begin", epoch))

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.seen.append(("end", epoch))


def test_fused_epochs_give_fit_s_history_and_weights() -> None:
    # 30 rows in batches of 8: the last batch of every epoch is short; 300 validation rows
    # take two validation batches.
    data = _data()
    fitted = _model()
    expected = fitted.fit(**fit_arguments(data, 8), epochs=4, verbose=0).history
    fused = _model()
    history = fused_fit(fused, data, 8, epochs=4).history

    assert list(history) == list(expected)  # accuracy, loss, val_accuracy, val_loss
    for name, values in expected.items():
        assert history[name] == pytest.approx(values, rel=1e-5), name
    for mine, theirs in zip(fused.weights, fitted.weights, strict=True):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)


def test_callbacks_see_each_epoch_from_the_initial_one_and_can_stop_early() -> None:
    epochs = _Epochs()
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=0, min_delta=10.0)
    history = fused_fit(_model(), _data(), 8, initial_epoch=2, epochs=9, callbacks=[epochs, stop])
    # EarlyStopping sees no improvement of 10 after epoch 2 and stops after epoch 3.
    assert epochs.seen == [("begin", 2), ("end", 2), ("begin", 3), ("end", 3)]
    assert len(history.history["val_accuracy"]) == 2


def test_a_progress_line_per_epoch_at_verbose_two(capsys: pytest.CaptureFixture[str]) -> None:
    fused_fit(_model(), _data(), 8, epochs=2, verbose=2)
    lines = [line for line in capsys.readouterr().out.splitlines() if "val_accuracy" in line]
    assert len(lines) == 2
    assert all(line.startswith("4/4 - ") for line in lines)
