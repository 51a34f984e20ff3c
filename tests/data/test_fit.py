"""Images fitted to a backbone's input once, then read from the trial's cache (`data/fit.py`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from freezesweep.data import Dataset, fit
from freezesweep.data.fit import fit_to_input, fitted_key
from freezesweep.model.keras_app import preprocessing
from freezesweep.train.store import ArrayStore


def _gray(rows: int = 6, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(rows, 8, 8, 1)).astype("float32")
    labels = np.arange(rows) % 2
    return Dataset(images, labels, images[:4].copy(), labels[:4].copy(), 2)


def _refuse_fitting(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(images: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
        raise AssertionError("images were fitted again")

    monkeypatch.setattr(fit, "fit_images", refuse)


def test_fitted_images_are_read_back_by_another_process_without_resizing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _gray()
    first = fit_to_input(data, (16, 16, 3), cache=ArrayStore(tmp_path / "cache"))
    assert first.x_train.shape == (6, 16, 16, 3) and first.x_val.shape == (4, 16, 16, 3)
    # A new store on the same folder is what the next process of the sweep opens.
    _refuse_fitting(monkeypatch)
    again = fit_to_input(data, (16, 16, 3), cache=ArrayStore(tmp_path / "cache"))
    np.testing.assert_array_equal(again.x_train, first.x_train)
    np.testing.assert_array_equal(again.x_val, first.x_val)
    np.testing.assert_array_equal(again.y_train, data.y_train)
    assert again.num_classes == 2


def test_the_cache_gives_what_fitting_gives(tmp_path: Path) -> None:
    data = _gray()
    plain = fit_to_input(data, (12, 12, 3))
    store = ArrayStore(tmp_path)
    fit_to_input(data, (12, 12, 3), cache=store)
    cached = fit_to_input(data, (12, 12, 3), cache=store)
    np.testing.assert_array_equal(cached.x_train, plain.x_train)
    np.testing.assert_array_equal(cached.x_val, plain.x_val)


def test_other_data_another_input_or_another_preprocessing_is_fitted_anew() -> None:
    data = _gray()
    key = fitted_key(data, (16, 16, 3), None)
    assert fitted_key(_gray(seed=1), (16, 16, 3), None) != key
    assert fitted_key(data, (24, 24, 3), None) != key
    # Each architecture's preprocessing is its own: the same images differ after it.
    mobilenet = fitted_key(data, (16, 16, 3), preprocessing("MobileNetV2"))
    resnet = fitted_key(data, (16, 16, 3), preprocessing("ResNet50"))
    assert len({key, mobilenet, resnet}) == 3
    assert fitted_key(data, (16, 16, 3), preprocessing("MobileNetV2")) == mobilenet


def test_an_entry_of_the_wrong_shape_is_fitted_again(tmp_path: Path) -> None:
    data = _gray()
    store = ArrayStore(tmp_path)
    key = fitted_key(data, (16, 16, 3), None)
    store.put(key, {"x_train": np.zeros((2, 16, 16, 3)), "x_val": np.zeros((4, 16, 16, 3))})
    fitted = fit_to_input(data, (16, 16, 3), cache=store)
    assert fitted.x_train.shape == (6, 16, 16, 3)
    assert fitted.x_train.any()
