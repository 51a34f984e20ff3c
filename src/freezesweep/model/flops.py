"""Multiply-accumulates of a model's forward pass, counted from its layers' shapes.

An analytic count for the benchmark's bound, not a profiler: convolutions and dense layers
cost their kernel's size per output value, every other layer one operation per output value
(batch normalization, activations, additions, pooling), which is small beside them.
"""

from __future__ import annotations

import math
from typing import Any

import keras

from freezesweep.compat import flatten_layers

__all__ = ["forward_macs"]


def forward_macs(model: keras.Model) -> int:
    """Multiply-accumulates of one image's forward pass through `model` (nested models opened).

    Args:
        model: a built functional model.
    """
    return sum(
        _layer_macs(layer)
        for layer in flatten_layers(model, include_self=False)
        if not isinstance(layer, keras.Model)  # its own layers are counted
    )


def _layer_macs(layer: Any) -> int:
    try:
        output = layer.output
    except (AttributeError, ValueError):  # never called in a functional graph
        return 0
    if not isinstance(output, keras.KerasTensor) or isinstance(layer, keras.layers.InputLayer):
        return 0
    values = math.prod(dim or 1 for dim in output.shape[1:])
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return values * math.prod(layer.kernel_size)
    if isinstance(layer, keras.layers.Conv2D | keras.layers.Conv1D | keras.layers.Conv3D):
        # kernel: (*window, inputs per group, filters): each output value sums window x inputs.
        return values * math.prod(layer.kernel.shape[:-1])
    if isinstance(layer, keras.layers.Dense):
        return values * int(layer.kernel.shape[0])
    return values
