"""`keras.applications` backbones: any architecture by name, offline weights, its own preprocessing.

Weights are `imagenet`, the path of a weights file, or `None`. A trial never downloads: with
`imagenet` the file Keras would fetch must already be in Keras's cache (`$KERAS_HOME/models/`, by
default `~/.keras/models/`), otherwise building fails with a message naming the file, where to put
it and where to get it, before any data is loaded or any run is created.

The architecture's `preprocess_input` is applied to the images in the data pipeline, not inside the
model: several modes (`caffe`: RGB->BGR and mean subtraction) need a `Lambda` layer, which a model
loaded in safe mode may not contain.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from freezesweep import compat, targets
from freezesweep.errors import ConfigError

Preprocess = Callable[[np.ndarray], np.ndarray]


def is_application(name: str) -> bool:
    """Whether `name` is an architecture builder in `keras.applications` (`ResNet50`, not `resnet`).

    Args:
        name: the attribute name.
    """
    builder = getattr(keras.applications, name, None)
    return name[:1].isupper() and callable(builder) and not inspect.isclass(builder)


def keras_cache_dirs() -> list[Path]:
    """Where Keras looks for cached downloads, in order (`get_file`'s own rules).

    `$KERAS_HOME` (else `~/.keras`), and `/tmp/.keras` which Keras falls back to when the first
    is not writable.
    """
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return [Path(home), Path("/tmp/.keras")]


def _offline_get_file(
    fname: str | None = None,
    origin: str | None = None,
    *,
    cache_subdir: str = "datasets",
    file_hash: str | None = None,
    **_: Any,
) -> str:
    name = fname or os.path.basename(str(origin))
    for base in keras_cache_dirs():
        candidate = base / cache_subdir / name
        if candidate.is_file():
            if file_hash and not compat.keras_file_hash_matches(str(candidate), file_hash):
                raise ConfigError(
                    f"backbone.weights=imagenet: {candidate} is corrupt (its hash differs from "
                    f"the one Keras expects); replace it with a fresh copy of {origin}."
                )
            return str(candidate)
    folder = keras_cache_dirs()[0] / cache_subdir
    raise ConfigError(
        f"backbone.weights=imagenet needs {name}, which is not in Keras's cache ({folder}/), and "
        f"freezesweep never downloads during a trial. Download it once from {origin} and copy it "
        f"into {folder}/ (or set KERAS_HOME), or set backbone.weights=/path/to/{name}."
    )


def build_application(
    name: str,
    *,
    weights: str | None = None,
    input_shape: tuple[int, int, int] = (224, 224, 3),
    pooling: str | None = None,
) -> keras.Model:
    """A `keras.applications` backbone without its top, never touching the network.

    Args:
        name: the builder's name in `keras.applications` (`MobileNetV3Small`).
        weights: `"imagenet"` (from Keras's cache only), a weights file, or `None` (random).
            Defaults to `None`.
        input_shape: image shape, height x width x channels. Defaults to `(224, 224, 3)`.
        pooling: `"avg"`, `"max"` or `None` (a 4-D feature map). Defaults to `None`.

    Returns:
        The backbone as a Functional model.

    Raises:
        ConfigError: unknown name, missing cached weights, or a shape the architecture refuses.

    Example:

    >>> backbone = build_application("MobileNetV3Small", input_shape=(32, 32, 3))
    >>> backbone.name
    'MobileNetV3Small'
    """
    if not is_application(name):
        raise ConfigError(
            f"backbone.name must be a keras.applications architecture (e.g. MobileNetV3Small, "
            f"ResNet50, EfficientNetB0); got {name!r}."
        )
    builder = targets.resolve(
        f"keras.applications.{name}", key="backbone.name", allowed=targets.KERAS_APPLICATIONS
    )
    with compat.keras_get_file_replaced(_offline_get_file):
        try:
            return builder(
                include_top=False, weights=weights, input_shape=input_shape, pooling=pooling
            )
        except ConfigError:
            raise
        except (ValueError, OSError) as error:  # Keras's own check of shapes and weight files
            raise ConfigError(
                f"backbone: cannot build {name} with input_shape={input_shape}, "
                f"weights={weights!r}: {error}"
            ) from error


def preprocessing(name: str) -> Preprocess:
    """The architecture's own `preprocess_input`, for images with values in [0, 255].

    Args:
        name: the builder's name in `keras.applications`.

    Returns:
        A function from a float32 NHWC array to the array the architecture expects (the identity
        for architectures that rescale inside the model: EfficientNet, MobileNetV3, ConvNeXt).
    """
    # Every builder's implementation module has a public namesake in keras.applications (Keras
    # 3.15.1: e.g. keras.src.applications.mobilenet_v2 -> keras.applications.mobilenet_v2).
    module_name = getattr(keras.applications, name).__module__.rsplit(".", 1)[-1]
    function = getattr(keras.applications, module_name).preprocess_input

    # Named after the architecture's function: the fitted-image cache keys on the name.
    @functools.wraps(function)
    def apply(images: np.ndarray) -> np.ndarray:
        # Keras's numpy path may work in place; never touch the caller's array.
        return np.asarray(function(np.array(images, dtype="float32")), dtype="float32")

    return apply
