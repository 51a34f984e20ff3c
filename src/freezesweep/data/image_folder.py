"""Image folders: one subfolder per class, streamed with `keras.utils.image_dataset_from_directory`.

Either a folder of class subfolders split into train and validation by a seeded split, or a folder
with `train/` and `val/` subfolders that each hold the same class subfolders. Images are resized to
the backbone's input and read in its channels (gray files become RGB for RGB backbones). The
pipelines cache decoded images, shuffle the training split each epoch, apply optional augmentation
layers to training batches only, apply the architecture's preprocessing, and prefetch.

Pure Keras and tf.data: the pipelines run on TensorFlow whichever Keras backend trains the model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import keras
import numpy as np

from freezesweep import targets
from freezesweep.data.feed import Dataset, Pipelines, TrainingData
from freezesweep.data.image_file import check_image
from freezesweep.errors import ConfigError

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_COLOR_MODES = {1: "grayscale", 3: "rgb", 4: "rgba"}


def class_folders(directory: Path, channels: int = 3) -> dict[str, list[Path]]:
    """Class name -> image files, checked: at least 2 classes, each with decodable images.

    Args:
        directory: a folder of class subfolders.
        channels: the channels the images are read in (the backbone's). Defaults to `3`.

    Raises:
        ConfigError: naming `data.directory`: a missing folder, fewer than 2 classes, an empty
            class, a dangling link, an unreadable file, or a file that is not a whole PNG, JPEG,
            GIF or BMP image.
    """
    if not directory.is_dir():
        raise ConfigError(f"data.directory: folder not found: {directory}.")
    classes = {
        folder.name: sorted(
            path for path in folder.rglob("*") if path.suffix.lower() in IMAGE_EXTENSIONS
        )
        for folder in sorted(directory.iterdir())
        if folder.is_dir()
    }
    if len(classes) < 2:
        raise ConfigError(
            f"data.directory: {directory} needs one subfolder per class and at least 2 classes; "
            f"found {len(classes)} ({', '.join(classes) or 'none'})."
        )
    for name, files in classes.items():
        if not files:
            raise ConfigError(f"data.directory: class folder {directory / name} has no images.")
        for path in files:
            check_image(path, channels)
    return classes


def augmentation_layers(specs: Sequence[Mapping[str, Any]]) -> list[keras.layers.Layer]:
    """Keras layers from `{_target_: keras.layers.RandomFlip, mode: horizontal}` entries.

    Args:
        specs: one mapping per layer, `_target_` plus keyword arguments.

    Raises:
        ConfigError: naming `data.augmentation.N` when a target is not a Keras layer.
    """
    layers = []
    for index, raw in enumerate(specs):
        kwargs = dict(raw)
        target = str(kwargs.pop("_target_", ""))
        key = f"data.augmentation.{index}._target_"
        layer_class = targets.resolve(target, key=key, allowed=targets.KERAS_LAYERS)
        # Checked before it is called: a function of keras.layers could build anything.
        if not (isinstance(layer_class, type) and issubclass(layer_class, keras.layers.Layer)):
            raise ConfigError(f"data.augmentation.{index}: {target!r} is not a Keras layer.")
        try:
            layer = layer_class(**kwargs)
        except (ValueError, TypeError) as error:
            raise ConfigError(
                f"data.augmentation.{index}: cannot build {target!r}: {error}"
            ) from error
        if not isinstance(layer, keras.layers.Layer):
            raise ConfigError(f"data.augmentation.{index}: {target!r} is not a Keras layer.")
        layers.append(layer)
    return layers


def load_image_folder(
    directory: Path,
    *,
    image_shape: tuple[int, ...],
    batch_size: int = 32,
    validation_split: float = 0.2,
    seed: int = 0,
    cache: bool = True,
    augmentation: Sequence[Mapping[str, Any]] = (),
    preprocess: Callable[[np.ndarray], np.ndarray] | None = None,
    arrays_up_to: int = 0,
) -> TrainingData:
    """Train and validation pipelines from an image folder, or arrays when small enough.

    Args:
        directory: class subfolders, or `train/` and `val/` folders of class subfolders.
        image_shape: the backbone's input, height x width x channels (1, 3 or 4).
        batch_size: batch size. Defaults to `32`.
        validation_split: fraction held out when there are no `train/` and `val/` folders.
            Defaults to `0.2`.
        seed: seed of the split and of the shuffling. Defaults to `0`.
        cache: keep decoded images in memory after the first epoch. Defaults to `True`.
        augmentation: layer specs applied to training batches only. Defaults to `()`.
        preprocess: the architecture's `preprocess_input`, applied after augmentation.
            Defaults to `None`.
        arrays_up_to: without augmentation, decode every image into arrays when they take at
            most this many bytes, so the feature cache applies (it needs arrays: a stream may be
            augmented). Defaults to `0` (always stream).

    Returns:
        Batched, prefetched pipelines and the class names (sorted folder names), or the
        preprocessed images as a `Dataset` (training rows reshuffled by `fit` each epoch).
    """
    split, train_classes, val_classes = _classes(directory, image_shape[-1])
    height, width, channels = image_shape
    train, val = _decoded(directory, split, image_shape, validation_split, seed)
    size = sum(len(files) for files in train_classes.values())
    finish = _Finish(cache, seed, batch_size, augmentation_layers(augmentation), preprocess)
    # The images the feature cache reads when the folder streams: no augmentation to freeze.
    uncached = dataclasses.replace(finish, cache=False)
    decode = partial(_decoded, directory, split, image_shape, validation_split, seed)
    frozen = partial(_frozen, uncached, decode, size, seed)
    pipelines = Pipelines(
        train=finish(train, training=True, size=size),
        val=finish(val, training=False, size=size),
        num_classes=len(train_classes),
        class_names=tuple(train_classes),
        frozen=None if finish.layers else frozen,
    )
    # Without train/ and val/ folders, `size` counts every file (both splits) already.
    total = size + sum(len(files) for files in val_classes.values())
    if finish.layers or total * height * width * channels * 4 > arrays_up_to:
        return pipelines
    x_train, y_train = _arrays(pipelines.train)
    x_val, y_val = _arrays(pipelines.val)
    return Dataset(x_train, y_train, x_val, y_val, pipelines.num_classes)


def check_image_folder(directory: Path, channels: int = 3) -> None:
    """The checks `load_image_folder` makes before building its pipelines: the class folders
    (or `train/` and `val/` with the same ones) and every image (`check_image`).

    Args:
        directory: class subfolders, or `train/` and `val/` folders of class subfolders.
        channels: the channels the images are read in (the backbone's). Defaults to `3`.

    Raises:
        ConfigError: naming `data.directory`, as `class_folders` does.
    """
    _classes(directory, channels)


def _classes(directory: Path, channels: int = 3) -> tuple[bool, dict[str, Any], dict[str, Any]]:
    """Whether the folder has `train/` and `val/` folders, and the class folders of each (the
    validation ones empty without them)."""
    split = (directory / "train").is_dir() and (directory / "val").is_dir()
    train_classes = class_folders(directory / "train" if split else directory, channels)
    if not split:
        return split, train_classes, {}
    val_classes = class_folders(directory / "val", channels)
    if list(val_classes) != list(train_classes):
        raise ConfigError(
            f"data.directory: {directory}/train and {directory}/val must hold the same class "
            f"folders; got {', '.join(train_classes)} and {', '.join(val_classes)}."
        )
    return split, train_classes, val_classes


def _decoded(
    directory: Path,
    split: bool,
    image_shape: tuple[int, ...],
    validation_split: float,
    seed: int,
) -> tuple[Any, Any]:
    """The unbatched training and validation images, decoded at the backbone's input."""
    height, width, channels = image_shape
    common: dict[str, Any] = dict(
        labels="inferred",
        label_mode="int",
        color_mode=_COLOR_MODES.get(channels, "rgb"),
        image_size=(height, width),
        batch_size=None,  # batched below, after the cache and the shuffle
        seed=seed,
        verbose=False,
    )
    dataset = keras.utils.image_dataset_from_directory
    if split:
        train = dataset(str(directory / "train"), shuffle=True, **common)
        val = dataset(str(directory / "val"), shuffle=False, **common)
        return train, val
    return dataset(
        str(directory),
        shuffle=True,
        validation_split=validation_split,
        subset="both",
        **common,
    )


@dataclass(frozen=True)
class _Finish:
    """Turns decoded images into a pipeline: cache, shuffle (training), batch, augment
    (training), preprocess, prefetch."""

    cache: bool
    seed: int
    batch_size: int
    layers: list[keras.layers.Layer]
    preprocess: Callable[[np.ndarray], np.ndarray] | None

    def __call__(self, pipeline: Any, *, training: bool, size: int) -> Any:
        import tensorflow as tf

        if self.cache:
            pipeline = pipeline.cache()
        if training:
            shuffle = min(size, 10_000)
            pipeline = pipeline.shuffle(shuffle, seed=self.seed, reshuffle_each_iteration=True)
        pipeline = pipeline.batch(self.batch_size)
        if training and self.layers:
            pipeline = pipeline.map(
                lambda x, y: (self._augment(x), y), num_parallel_calls=tf.data.AUTOTUNE
            )
        preprocess = self.preprocess
        if preprocess is not None:
            pipeline = pipeline.map(
                lambda x, y: (_numpy_map(preprocess, x, tf), y),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
        return pipeline.prefetch(tf.data.AUTOTUNE)

    def _augment(self, images: Any) -> Any:
        # Layer by layer, not as a keras.Sequential: Keras's preprocessing layers switch to
        # TensorFlow inside tf.data on every backend, a Sequential around them does not.
        for layer in self.layers:
            images = layer(images, training=True)
        return images


def _frozen(
    finish: _Finish, decode: Callable[[], tuple[Any, Any]], size: int, seed: int
) -> tuple[Any, Any]:
    """The folder decoded afresh, its training rows in one order whenever this is called.

    Each pass of a pipeline reshuffles it, so each call builds new ones and reads their first
    pass; TensorFlow draws a seeded shuffle's order from the global seed too, which a schedule
    sets per stage, so it is set to the split's `seed` first (Keras's layers and the epoch orders
    draw from their own generators, not from it). Keras seeds numpy's global generator to split
    the files: that one is put back, so the stage draws its epoch orders as it would have.
    """
    import tensorflow as tf

    state = np.random.get_state()
    try:
        tf.random.set_seed(seed)
        train, val = decode()
    finally:
        np.random.set_state(state)
    return finish(train, training=True, size=size), finish(val, training=False, size=size)


def _arrays(pipeline: Any) -> tuple[np.ndarray, np.ndarray]:
    """Every `(images, labels)` batch of a finite pipeline, concatenated."""
    batches = [(np.asarray(x, dtype="float32"), np.asarray(y)) for x, y in pipeline]
    return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])


def _numpy_map(function: Callable[[np.ndarray], np.ndarray], images: Any, tf: Any) -> Any:
    # The architectures' preprocess_input runs on numpy, so it is the same on every backend.
    result = tf.numpy_function(function, [images], tf.float32)
    result.set_shape(images.shape)
    return result
