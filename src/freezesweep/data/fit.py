"""Fitting images to a backbone's input: resize, gray to RGB, the architecture's preprocessing."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from freezesweep.data.feed import Dataset
from freezesweep.errors import ConfigError


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
) -> Dataset:
    """A dataset's images fitted to a backbone's input, then preprocessed.

    Args:
        data: the dataset, images with values in [0, 255].
        image_shape: the backbone's input shape.
        preprocess: the architecture's `preprocess_input`. Defaults to `None` (none).
    """

    def prepare(images: np.ndarray) -> np.ndarray:
        fitted = fit_images(images, image_shape)
        return fitted if preprocess is None else preprocess(fitted)

    return Dataset(
        prepare(data.x_train), data.y_train, prepare(data.x_val), data.y_val, data.num_classes
    )
