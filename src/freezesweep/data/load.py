"""The configured dataset of a trial, fitted to its backbone's input: the one dataset dispatch."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from freezesweep.data.digits import target_task
from freezesweep.data.feed import Dataset, TrainingData
from freezesweep.data.fit import ArrayCache, fit_to_input
from freezesweep.data.npz import load_npz
from freezesweep.errors import ConfigError
from freezesweep.free_memory import memory_bound
from freezesweep.spec import TrialSpec


def load_data(
    spec: TrialSpec,
    image_shape: tuple[int, ...],
    preprocess: Callable[[np.ndarray], np.ndarray] | None = None,
    cache: ArrayCache | None = None,
) -> TrainingData:
    """The configured data (`data.kind`), fitted to the backbone's input.

    Image folders are read at the backbone's size and channels. Arrays (digits, animals, npz)
    are resized and gray is repeated to RGB for `keras_app` and `zoo` backbones, whose input
    size is a setting; a `.keras` backbone has a fixed input that the arrays must match.

    Args:
        spec: the trial spec (its `data`, and the `trainer` and `backbone` settings that shape
            the data).
        image_shape: the backbone's input shape, height x width x channels.
        preprocess: the architecture's `preprocess_input`. Defaults to `None`.
        cache: where arrays fitted to the input are kept between trials. Defaults to `None`.

    Raises:
        ConfigError: naming `data` when the arrays do not fit a `.keras` backbone's input.
    """
    if spec.data.kind == "image_folder":
        return _image_folder(spec, image_shape, preprocess)
    arrays = _arrays(spec)
    if spec.backbone.source in ("keras_app", "zoo"):
        return fit_to_input(arrays, image_shape, preprocess, cache)
    _check_input(arrays, image_shape)
    return arrays


def check_data(spec: TrialSpec, image_shape: tuple[int, ...]) -> None:
    """The checks of `load_data` on the user's own data, without building its pipelines or
    fitting it to the backbone: a sweep's preflight runs them once, before any study or run
    exists.

    A `.npz` file is read and every array checked (labels `0..C-1`, finite pixels, rows), and
    its images must match a fixed-input backbone; an image folder's classes are listed and every
    image checked (format, size, channels, whole). The packaged datasets need no check.

    Args:
        spec: the trial spec (its `data` and `backbone.source`).
        image_shape: the backbone's input shape, height x width x channels.

    Raises:
        ConfigError: naming `data.path` or `data.directory` (or `data` for images that do not
            fit the backbone), with the message a trial would fail with.
    """
    if spec.data.kind == "image_folder":
        from freezesweep.data.image_folder import check_image_folder

        assert spec.data.directory is not None
        check_image_folder(spec.data.directory, channels=image_shape[-1])
    elif spec.data.kind == "npz":
        arrays = _arrays(spec)
        if spec.backbone.source not in ("keras_app", "zoo"):
            _check_input(arrays, image_shape)


def _check_input(arrays: Dataset, image_shape: tuple[int, ...]) -> None:
    if tuple(arrays.x_train.shape[1:]) != tuple(image_shape):
        raise ConfigError(
            f"data: images are {tuple(arrays.x_train.shape[1:])} but the backbone expects "
            f"{tuple(image_shape)}."
        )


def _arrays(spec: TrialSpec) -> Dataset:
    config = spec.data
    if config.kind == "npz":
        assert config.path is not None
        return load_npz(str(config.path))
    if config.kind == "animal_mnist":
        from freezesweep.data.animals import animal_task

        return animal_task(config.train_per_class, config.split_seed)
    if config.kind == "digits_corrupted":
        from freezesweep.data.corrupt import corrupted_task

        assert config.corruption is not None and config.severity is not None
        return corrupted_task(
            config.corruption, config.severity, config.train_per_class, config.split_seed
        )
    return target_task(config.train_per_class, config.split_seed, config.val_per_class)


def _image_folder(
    spec: TrialSpec,
    image_shape: tuple[int, ...],
    preprocess: Callable[[np.ndarray], np.ndarray] | None,
) -> TrainingData:
    from freezesweep.data.image_folder import load_image_folder

    config = spec.data
    assert config.directory is not None and config.validation_split is not None
    return load_image_folder(
        config.directory,
        image_shape=image_shape,
        batch_size=spec.trainer.batch_size,
        validation_split=config.validation_split,
        seed=config.split_seed,
        cache=bool(config.cache),
        augmentation=config.augmentation,
        preprocess=preprocess,
        # Arrays let the feature cache work; they share its memory bound (free memory included).
        arrays_up_to=0
        if spec.trainer.feature_cache == "off"
        else memory_bound(int(spec.trainer.feature_cache_gb * 10**9)).bytes,
    )
