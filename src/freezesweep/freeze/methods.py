"""Fine-tuning methods: which weights of a window's layers train under `finetune.method`.

`unfreeze` trains every weight of the window's layers. The parameter-efficient methods train a
few variables of each layer and keep the rest frozen, with Keras's per-variable `trainable` flag:
`lora` the factors Keras's `enable_lora` adds (the base kernel stays frozen), `bitfit` the
additive biases and normalization offsets (beta), `norm` the scale and offset of normalization
layers. Pure Keras: knows nothing of Hydra, Optuna or MLflow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras

from freezesweep.errors import ConfigError
from freezesweep.spec import MethodSpec, StageSpec

_NORMALIZATION = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
)
# What each method trains, for the message of a window that has none of it.
_WHAT = {
    "lora": "layers Keras can add LoRA to (Dense, EinsumDense, Embedding, Conv1D/2D/3D)",
    "bitfit": "biases or normalization offsets",
    "norm": "normalization scale or offset",
}


def supports_lora(layer: keras.layers.Layer) -> bool:
    """Whether Keras can add LoRA factors to `layer` (not depthwise or separable convolutions).

    Args:
        layer: a weight-bearing layer.
    """
    return callable(getattr(layer, "enable_lora", None)) and not getattr(
        layer, "kernel_constraint", None
    )


def _variable(layer: keras.layers.Layer, name: str) -> list[keras.Variable]:
    value = getattr(layer, name, None)
    return [value] if isinstance(value, keras.Variable) else []


def method_variables(layer: keras.layers.Layer, method: str) -> list[keras.Variable]:
    """The variables of one window layer that train under a parameter-efficient method.

    Args:
        layer: a layer of the window (LoRA already enabled where it applies).
        method: `lora`, `bitfit` or `norm`.

    Returns:
        The variables to train; `[]` when the method trains nothing in this layer.
    """
    if method == "lora":
        if not getattr(layer, "lora_enabled", False):
            return []
        return [layer.lora_kernel_a, layer.lora_kernel_b]
    if method == "bitfit":
        return _variable(layer, "bias") + _variable(layer, "beta")
    if method == "norm" and isinstance(layer, _NORMALIZATION):
        return _variable(layer, "gamma") + _variable(layer, "beta")
    return []


def _kernel_shape(layer: keras.layers.Layer) -> tuple[int, ...]:
    # An Embedding's table is its kernel.
    kernel = layer.embeddings if isinstance(layer, keras.layers.Embedding) else layer.kernel
    return tuple(kernel.shape)


def _lora_limit(layer: keras.layers.Layer) -> int:
    # Keras factors a kernel of shape (..., out) as (..., rank) @ (rank, out).
    shape = _kernel_shape(layer)
    return min(math.prod(shape[:-1]), shape[-1])


def check_method(
    method: MethodSpec, stage: StageSpec, layers: Sequence[keras.layers.Layer]
) -> None:
    """Whether a method can train the layers of one stage's window, before anything changes.

    Args:
        method: the method and its parameters.
        stage: the stage (for the keys its message names).
        layers: the layers of the stage's window.

    Raises:
        ConfigError: the window has nothing the method trains, or `lora_rank` exceeds the
            smallest dimension of a kernel it adapts.
    """
    if method.name == "unfreeze" or not layers:
        return
    window = f"{stage.unfreeze_key or 'unfreeze'}={stage.unfreeze}"
    if method.name == "lora":
        adapted = [layer for layer in layers if supports_lora(layer)]
    else:
        adapted = [layer for layer in layers if method_variables(layer, method.name)]
    if not adapted:
        raise ConfigError(
            f"finetune.method={method.name} has nothing to train in the window of {window} "
            f"(stage {stage.name!r}): its layers have no {_WHAT[method.name]}."
        )
    if method.name == "lora":
        smallest = min(adapted, key=_lora_limit)
        limit = _lora_limit(smallest)
        if method.lora_rank > limit:
            raise ConfigError(
                f"finetune.lora_rank must be between 1 and {limit}, the smallest kernel "
                f"dimension in the window of {window} (layer {smallest.name!r}, kernel "
                f"{_kernel_shape(smallest)}); got {method.lora_rank}."
            )


def enable_adapters(method: MethodSpec, layers: Sequence[keras.layers.Layer]) -> None:
    """Add LoRA factors to every supported layer that has none yet (a no-op for other methods).

    Args:
        method: the method and its parameters.
        layers: the layers of every stage's window.
    """
    if method.name != "lora":
        return
    for layer in layers:
        if supports_lora(layer) and not layer.lora_enabled:
            layer.enable_lora(method.lora_rank, lora_alpha=method.lora_alpha)


__all__ = ["check_method", "enable_adapters", "method_variables", "supports_lora"]
