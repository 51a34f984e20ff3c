"""Fitting images to a backbone's input: resize, gray to RGB, the architecture's preprocessing.

Fitting is done once per dataset and input: with a cache (the trial's feature-cache store), the
fitted arrays are kept under a key of the source arrays, the input shape, the preprocessing and
the backend, so every later trial of a sweep (in-process, or any process sharing the sweep's
`cache/` folder) reads them instead of resizing again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Protocol

import numpy as np

from freezesweep.data.feed import Dataset
from freezesweep.errors import ConfigError

logger = logging.getLogger(__name__)


class ArrayCache(Protocol):
    """Where fitted arrays are kept: `freezesweep.train.store.ArrayStore` is one."""

    def get(self, key: str) -> dict[str, np.ndarray] | None: ...

    def put(self, key: str, entry: dict[str, np.ndarray]) -> None: ...


def fit_images(images: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """Resize NHWC images to a backbone's input and convert gray to RGB.

    Args:
        images: float images, NHWC.
        image_shape: the backbone's input shape, height x width x channels.

    Returns:
        The images at `image_shape` (bilinear resizing; one gray channel repeated to three).

    Raises:
        ConfigError: naming `data` when the channels cannot be converted.
    """
    height, width, channels = image_shape
    have = images.shape[-1]
    if have != channels:
        if (have, channels) != (1, 3):
            raise ConfigError(
                f"data: images have {have} channel(s) but the backbone expects {channels}; only "
                "gray to RGB (1 -> 3) is converted."
            )
        images = np.repeat(images, 3, axis=-1)
    if images.shape[1:3] == (height, width):
        return images.astype("float32")
    import keras

    # In chunks: one resize of a whole dataset at 224 px would need gigabytes at once.
    chunks = [
        keras.ops.convert_to_numpy(
            keras.ops.image.resize(images[start : start + 512], (height, width))
        )
        for start in range(0, len(images), 512)
    ]
    return np.concatenate(chunks).astype("float32")


def fit_to_input(
    data: Dataset,
    image_shape: tuple[int, ...],
    preprocess: Callable[[np.ndarray], np.ndarray] | None = None,
    cache: ArrayCache | None = None,
) -> Dataset:
    """A dataset's images fitted to a backbone's input, then preprocessed.

    Args:
        data: the dataset, images with values in [0, 255].
        image_shape: the backbone's input shape.
        preprocess: the architecture's `preprocess_input`. Defaults to `None` (none).
        cache: where fitted arrays are kept between trials. Defaults to `None` (fit each time).
    """
    key = fitted_key(data, image_shape, preprocess) if cache is not None else ""
    entry = cache.get(key) if cache is not None else None
    if entry is not None and _matches(entry, data, image_shape):
        logger.info("data: images fitted to %s read from the cache", image_shape)
        return Dataset(entry["x_train"], data.y_train, entry["x_val"], data.y_val, data.num_classes)

    def prepare(images: np.ndarray) -> np.ndarray:
        fitted = fit_images(images, image_shape)
        return fitted if preprocess is None else preprocess(fitted)

    x_train, x_val = prepare(data.x_train), prepare(data.x_val)
    if cache is not None:
        cache.put(key, {"x_train": x_train, "x_val": x_val})
    return Dataset(x_train, data.y_train, x_val, data.y_val, data.num_classes)


def fitted_key(
    data: Dataset,
    image_shape: tuple[int, ...],
    preprocess: Callable[[np.ndarray], np.ndarray] | None,
) -> str:
    """What fitted images depend on: the source arrays, the input, the preprocessing, the backend.

    The backend is part of it because each backend's bilinear resize rounds its own way.
    """
    import keras

    digest = hashlib.sha256()
    for array in (data.x_train, data.x_val):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    name = "none" if preprocess is None else f"{preprocess.__module__}.{preprocess.__qualname__}"
    digest.update(f"|{tuple(image_shape)}|{name}|{keras.backend.backend()}".encode())
    return "fitted-" + digest.hexdigest()[:32]


def _matches(entry: dict[str, np.ndarray], data: Dataset, image_shape: tuple[int, ...]) -> bool:
    """An entry holds both splits at the input's shape, one row per image."""
    if set(entry) != {"x_train", "x_val"}:
        return False
    shapes = (entry["x_train"].shape, entry["x_val"].shape)
    return shapes == ((len(data.x_train), *image_shape), (len(data.x_val), *image_shape))
