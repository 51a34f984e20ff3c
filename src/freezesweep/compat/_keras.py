"""The private Keras and TensorFlow APIs freezesweep touches (see `freezesweep.compat`)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

TF_CUSTOM_GRADIENT_PREFIX = "CustomGradient-"
"""How TensorFlow 2.21 names the graph-mode gradients `tf.custom_gradient` registers."""


@contextmanager
def tf_custom_gradients_released() -> Iterator[None]:
    """Unregisters the custom gradients TensorFlow registered globally during the block.

    TensorFlow 2.21: `tf.custom_gradient` in graph mode registers each traced gradient in the
    global `ops._gradient_registry` (a `Registry`, its dict `_registry`) and never removes it.
    Keras 3.15.1's TensorFlow optimizer all-reduces gradients in the default replica context,
    whose `all_reduce` is such a custom gradient, so every traced train step kept its whole graph
    reachable after the model was gone: about 25 MiB per in-process trial. Use it around a whole
    trial, whose traced functions are not called again once it ends.
    """
    if "tensorflow" not in sys.modules:  # another backend, and nothing imported TensorFlow
        yield
        return
    from tensorflow.python.framework import ops

    registry = ops._gradient_registry._registry
    before = set(registry)
    try:
        yield
    finally:
        for key in [k for k in registry if k not in before]:
            if key.startswith(TF_CUSTOM_GRADIENT_PREFIX):
                del registry[key]


def flatten_layers(layer: Any, *, include_self: bool = True, recursive: bool = True) -> list[Any]:
    """Every layer inside `layer`, containers before their layers (nested models included).

    Keras 3.15.1: `Layer._flatten_layers`; the public `Model.layers` is one level only.
    """
    return list(layer._flatten_layers(include_self=include_self, recursive=recursive))


@contextmanager
def keras_get_file_replaced(replacement: Callable[..., str]) -> Iterator[None]:
    """Route `keras.applications`' weight downloads to `replacement` while the block runs.

    Keras 3.15.1: the applications call `keras.src.utils.file_utils.get_file` at build time.
    """
    from keras.src.utils import file_utils

    original = file_utils.get_file
    file_utils.get_file = replacement
    try:
        yield
    finally:
        file_utils.get_file = original


def keras_file_hash_matches(path: str, file_hash: str) -> bool:
    """Keras's own check of a cached download against the hash it expects.

    Keras 3.15.1: `keras.src.utils.file_utils.validate_file`.
    """
    from keras.src.utils import file_utils

    return bool(file_utils.validate_file(path, file_hash))
