"""The input-shifted task: source digits 0-4 the backbone never saw, corrupted deterministically.

Surgical fine-tuning (Lee et al., ICLR 2023) finds that the block worth training depends on the
shift: an input-level shift (corruptions, as in CIFAR-10-C) favours early blocks, an output-level
shift (new labels, `data=digits`) late ones. This task keeps the labels the backbone was pretrained
on and changes only the pixels, so the two can be compared on the same backbone.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from freezesweep.data.digits import SOURCE_CLASSES, _digits, _stratified_split
from freezesweep.data.feed import Dataset

# Per severity 1..5 (CIFAR-10-C's convention): noise std and blur sigma grow, contrast shrinks.
_NOISE_STD = (0.08, 0.12, 0.18, 0.26, 0.38)  # of the 0-255 range
_BLUR_SIGMA = (0.6, 0.9, 1.2, 1.6, 2.0)  # pixels
_CONTRAST = (0.4, 0.3, 0.2, 0.1, 0.05)  # factor towards each image's mean


def _gaussian_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    noise = rng.normal(0.0, _NOISE_STD[severity - 1] * 255.0, size=x.shape)
    return np.clip(x + noise, 0.0, 255.0)


def _blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    sigma = _BLUR_SIGMA[severity - 1]
    radius = int(np.ceil(3 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    # A separable Gaussian: rows, then columns, with zero padding (MNIST's background is 0).
    out = x
    for axis in (1, 2):
        out = np.apply_along_axis(lambda line: np.convolve(line, taps, mode="same"), axis, out)
    return np.clip(out, 0.0, 255.0)


def _invert(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    return 255.0 - x


def _contrast(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    return (x - mean) * _CONTRAST[severity - 1] + mean


CORRUPTIONS: dict[str, Callable[[np.ndarray, int, np.random.Generator], np.ndarray]] = {
    "gaussian_noise": _gaussian_noise,
    "blur": _blur,
    "invert": _invert,
    "contrast": _contrast,
}


def corrupt(images: np.ndarray, corruption: str, severity: int = 3, seed: int = 0) -> np.ndarray:
    """The images with one corruption applied; the same arguments always give the same pixels.

    Args:
        images: float images in [0, 255], shape `(n, height, width, channels)`.
        corruption: one of `CORRUPTIONS`.
        severity: 1 (mild) to 5 (strong); `invert` has one strength. Defaults to `3`.
        seed: seed of the random corruptions (`gaussian_noise`). Defaults to `0`.

    Raises:
        ValueError: an unknown corruption or a severity outside 1..5.
    """
    if corruption not in CORRUPTIONS:
        raise ValueError(
            f"data.corruption must be one of {', '.join(CORRUPTIONS)}; got {corruption!r}."
        )
    if not 1 <= severity <= 5:
        raise ValueError(f"data.severity must be between 1 and 5; got {severity}.")
    rng = np.random.default_rng(seed)
    return CORRUPTIONS[corruption](images, severity, rng).astype("float32")


def corrupted_task(
    corruption: str, severity: int = 3, train_per_class: int = 20, seed: int = 0
) -> Dataset:
    """Digits 0-4 held out of pretraining, corrupted, with a small stratified training split.

    The pool is the 100 images per class that `freezesweep pretrain` kept for validation, so
    no image of this task was trained on; the labels are the backbone's own.

    Args:
        corruption: one of `CORRUPTIONS`.
        severity: 1 (mild) to 5 (strong). Defaults to `3`.
        train_per_class: training images per class; the rest validate. Defaults to `20`.
        seed: seed of the split and of the corruption. Defaults to `0`.

    Returns:
        The corrupted dataset (5 classes).
    """
    x, y = _digits(SOURCE_CLASSES)
    # The same split as `source_task`: its validation part was never trained on.
    _, held_out = _stratified_split(y, per_class=400, seed=0)
    x, y = x[held_out], y[held_out]
    train, val = _stratified_split(y, per_class=train_per_class, seed=seed)
    x = corrupt(x, corruption, severity, seed)
    return Dataset(x[train], y[train], x[val], y[val], len(SOURCE_CLASSES))
