"""Tests for freezesweep.model.flops: the analytic count agrees with published figures."""

from __future__ import annotations

import keras
import pytest

from freezesweep.model.flops import forward_macs


def test_a_dense_and_a_convolution_cost_their_kernel_per_output_value() -> None:
    inputs = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)  # 8*8*4 * 3*3*3
    flat = keras.layers.Flatten()(conv)  # 256 values, one operation each
    outputs = keras.layers.Dense(5)(flat)  # 5 * 256
    model = keras.Model(inputs, outputs)
    assert forward_macs(model) == 8 * 8 * 4 * 27 + 256 + 5 * 256


def test_mobilenet_v2_is_about_its_published_300_million_multiply_adds() -> None:
    # Sandler et al. (2018), Table 4: MobileNetV2 (1.0, 224 px), 300M multiply-adds.
    model = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
    assert forward_macs(model) == pytest.approx(300e6, rel=0.1)
